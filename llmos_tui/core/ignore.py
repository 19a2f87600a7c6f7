"""Ignore patterns in gitignore syntax, matched in Python (the checkpoint store's walk decides what
is recorded, so no `.gitignore` in the workspace can hide a file from it).

`IgnoreRules(patterns).ignored(rel, name, is_dir)`: the last matching pattern wins, `!pattern`
takes one back, a trailing `/` matches folders only, a pattern with a `/` in it is anchored to
the top, `**` crosses folders. Without `!` patterns a match is one set lookup and at most a few
regular expressions. A walk does not enter an ignored folder, so (as in git) nothing under it can
be re-included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


def translate(pat: str) -> str:
    """A gitignore glob as a regular expression (wildmatch with '/' special)."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            j = i
            while j < n and pat[j] == "*":
                j += 1
            if j - i >= 2 and (i == 0 or pat[i - 1] == "/") and (j == n or pat[j] == "/"):
                if j == n:
                    out.append(".*")  # trailing "**": everything inside
                else:
                    out.append("(?:.*/)?")  # "**/": zero or more folders
                    j += 1
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            negate = j < n and pat[j] in "!^"
            if negate:
                j += 1
            body: list[str] = []
            if j < n and pat[j] == "]":
                body.append(r"\]")
                j += 1
            while j < n and pat[j] != "]":
                if pat[j] == "\\" and j + 1 < n:
                    body.append(re.escape(pat[j + 1]))
                    j += 2
                    continue
                body.append("-" if pat[j] == "-" else re.escape(pat[j]))
                j += 1
            if j >= n:  # no closing bracket: a plain '['
                out.append(re.escape("["))
                i += 1
                continue
            out.append("[" + ("^/" if negate else "") + "".join(body) + "]")
            i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pat[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class Rule:
    negate: bool
    dir_only: bool
    anchored: bool  # matched against the whole relative path, else against the name
    regex: re.Pattern[str]


class IgnoreRules:
    """The ignore patterns: `ignored(rel, name, is_dir)`, the last matching pattern wins. The
    walk does not enter an ignored folder, so (as in git) nothing under it can be re-included."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self.rules: list[Rule] = []
        for raw in patterns:
            rule = self._parse(raw)
            if rule is not None:
                self.rules.append(rule)
        self.negations = any(r.negate for r in self.rules)
        # the usual case, no '!': one set lookup and one or two regular expressions
        self.names: set[str] = set()
        self.dir_names: set[str] = set()
        name_res: list[str] = []
        dir_name_res: list[str] = []
        path_res: list[str] = []
        dir_path_res: list[str] = []
        for r in self.rules:
            src = r.regex.pattern
            literal = re.fullmatch(r"(?:[^\\\[\]*?.^$+(){}|]|\\.)*", src) is not None
            if not r.anchored and literal:
                (self.dir_names if r.dir_only else self.names).add(re.sub(r"\\(.)", r"\1", src))
            elif not r.anchored:
                (dir_name_res if r.dir_only else name_res).append(src)
            else:
                (dir_path_res if r.dir_only else path_res).append(src)

        def one(parts: list[str]) -> re.Pattern[str] | None:
            return re.compile("(?:" + "|".join(parts) + ")", re.S) if parts else None

        self.name_re = one(name_res)
        self.dir_name_re = one(dir_name_res)
        self.path_re = one(path_res)
        self.dir_path_re = one(dir_path_res)

    @staticmethod
    def _parse(raw: str) -> Rule | None:
        line = raw.rstrip("\n").rstrip("\r")
        if not line or line.startswith("#"):
            return None
        # trailing spaces go unless escaped
        stripped = line.rstrip(" ")
        if stripped.endswith("\\") and len(stripped) < len(line):
            stripped += " "
        line = stripped
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        elif line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            return None
        anchored = "/" in line
        line = line.lstrip("/") if line.startswith("/") else line
        if not line:
            return None
        return Rule(negate, dir_only, anchored, re.compile(translate(line), re.S))

    def ignored(self, rel: str, name: str, is_dir: bool) -> bool:
        if not self.negations:
            if name in self.names:
                return True
            if self.name_re is not None and self.name_re.fullmatch(name):
                return True
            if self.path_re is not None and self.path_re.fullmatch(rel):
                return True
            if is_dir:
                if name in self.dir_names:
                    return True
                if self.dir_name_re is not None and self.dir_name_re.fullmatch(name):
                    return True
                if self.dir_path_re is not None and self.dir_path_re.fullmatch(rel):
                    return True
            return False
        for r in reversed(self.rules):
            if r.dir_only and not is_dir:
                continue
            if r.regex.fullmatch(rel if r.anchored else name):
                return not r.negate
        return False

    def ignored_path(self, rel: str, is_dir: bool) -> bool:
        """Whether a path (not met in a walk) is ignored: it, or a folder above it."""
        parts = rel.split("/")
        for k in range(1, len(parts) + 1):
            last = k == len(parts)
            if self.ignored("/".join(parts[:k]), parts[k - 1], is_dir or not last):
                return True
        return False
