"""Grep and Glob: find text and files in the workspace without shelling out.

Pure Python (`re`, `os.scandir`) so results do not depend on which grep/rg is installed and
every path can be checked against the sandbox. Both skip what a person never means to search:
dot-folders (.git, .venv …), binary and huge files, and — when searching from the workspace
root — llmos-tui's own state (`runs/`, `execution_state.md`, the lock file). Naming such a
place in `path` searches it anyway. Symlinks are listed only when they point inside the
sandbox, and symlinked folders are not descended into (no loops, no escapes).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput, cap_text
from llmos_tui.core.tools.sandbox import Sandbox

MAX_GREP_FILE = 10 * 1024 * 1024  # larger files are skipped by Grep
SNIFF = 8192  # bytes checked for NUL to call a file binary
MAX_LINE = 2000  # characters per shown line
GLOB_SHOWN = 100  # files listed by Glob before "… N more"
INLINE_FILE = 1024 * 1024  # a single file up to this size is grepped without a thread
GLOB_META = frozenset("*?[{")
MAX_BRACE_EXPANSIONS = 256

# Patterns whose per-line meaning can differ from their meaning on the whole text; for these
# the whole-text prefilter is not safe and every line is tried.
_PREFILTER_UNSAFE = ("\\A", "\\Z", "(?<", "(?=", "(?!")


# -- glob patterns ------------------------------------------------------------------------------


def _expand_braces(pattern: str) -> list[str]:
    """`*.{ts,tsx}` -> [`*.ts`, `*.tsx`], nested sets included; a lone `{` stays literal."""
    depth = 0
    start = -1
    for i, c in enumerate(pattern):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                body = pattern[start + 1 : i]
                parts, level, last = [], 0, 0
                for j, d in enumerate(body):
                    if d == "{":
                        level += 1
                    elif d == "}":
                        level -= 1
                    elif d == "," and level == 0:
                        parts.append(body[last:j])
                        last = j + 1
                parts.append(body[last:])
                if len(parts) == 1:
                    continue  # `{x}` without a comma is literal, like in bash
                out: list[str] = []
                for tail in _expand_braces(pattern[i + 1 :]):
                    for part in parts:
                        for head in _expand_braces(pattern[:start] + part):
                            out.append(head + tail)
                            if len(out) > MAX_BRACE_EXPANSIONS:
                                raise ToolError(f"Glob {pattern!r} expands to too many patterns.")
                return out
    return [pattern]


def _translate(pattern: str) -> str:
    """One brace-free glob as a regex: `*`/`?` stay within a folder, `**/` spans folders."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                if pattern.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                else:
                    out.append(".*")
                    i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A regex that fully matches `/`-separated relative paths the glob describes."""
    alternatives = [_translate(p) for p in _expand_braces(pattern)]
    try:
        return re.compile("(?:" + "|".join(alternatives) + r")\Z", re.DOTALL)
    except re.error as exc:
        raise ToolError(f"Invalid glob {pattern!r}: {exc}") from None


# -- walking ------------------------------------------------------------------------------------


def _walk(sandbox: Sandbox, base: str, max_depth: int | None = None) -> Iterator[tuple[str, str]]:
    """(path, path relative to base with `/`) of every searchable file under `base`."""
    at_root = base == os.fspath(sandbox.root)
    stack: list[tuple[str, str, int]] = [(base, "", 1)]
    while stack:
        folder, rel, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if at_root and not rel and name in sandbox.reserved:
                continue
            entry_rel = f"{rel}/{name}" if rel else name
            try:
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                    if not sandbox.is_allowed_read(real) or not os.path.isfile(real):
                        continue  # leads outside, dangles, or is a folder we do not descend
                    yield entry.path, entry_rel
                elif entry.is_dir(follow_symlinks=False):
                    if name.startswith("."):
                        continue
                    if max_depth is None or depth < max_depth:
                        stack.append((entry.path, entry_rel, depth + 1))
                elif entry.is_file(follow_symlinks=False):
                    yield entry.path, entry_rel
            except OSError:
                continue


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _newest_first(paths: list[str]) -> list[str]:
    return sorted(paths, key=lambda p: (-_mtime(p), p))


def _resolve_folder_or_file(sandbox: Sandbox, path: Any) -> tuple[Path, os.stat_result]:
    if path is None:
        path = "."
    if not isinstance(path, str):
        raise ToolError(f"path must be a string, got {path!r}.")
    real = sandbox.resolve_read(path)
    try:
        st = os.stat(real)
    except OSError:
        raise ToolError(f"Path not found: {sandbox.display(real)}") from None
    return real, st


# -- Grep ---------------------------------------------------------------------------------------


def _opt_int(inputs: dict[str, Any], key: str) -> int | None:
    value = inputs.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ToolError(f"{key} must be a whole number ≥ 0, got {value!r}.")
    return value


def _opt_bool(inputs: dict[str, Any], key: str, default: bool) -> bool:
    value = inputs.get(key, default)
    if not isinstance(value, bool):
        raise ToolError(f"{key} must be true or false, got {value!r}.")
    return value


def _short(line: str) -> str:
    line = line[:-1] if line.endswith("\r") else line
    if len(line) > MAX_LINE:
        return f"{line[:MAX_LINE]}… [line truncated, {len(line) - MAX_LINE} more characters]"
    return line


class _Search:
    """One Grep call's settings, and the per-file matching."""

    def __init__(self, inputs: dict[str, Any]) -> None:
        pattern = inputs.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ToolError("pattern is empty; give a regular expression to search for.")
        self.mode = inputs.get("output_mode") or "files_with_matches"
        if self.mode not in ("files_with_matches", "content", "count"):
            raise ToolError(f"output_mode must be files_with_matches, content or count, got {self.mode!r}.")
        self.multiline = _opt_bool(inputs, "multiline", False)
        self.numbers = _opt_bool(inputs, "-n", True)
        ignore_case = _opt_bool(inputs, "-i", False)
        context = _opt_int(inputs, "-C") or 0
        after, before = _opt_int(inputs, "-A"), _opt_int(inputs, "-B")
        self.after = context if after is None else after
        self.before = context if before is None else before
        self.head_limit = _opt_int(inputs, "head_limit") or 0  # 0: no limit
        flags = re.IGNORECASE if ignore_case else 0
        try:
            if self.multiline:
                self.regex = re.compile(pattern, flags | re.MULTILINE | re.DOTALL)
                self.whole = None
            else:
                self.regex = re.compile(pattern, flags)
                safe = not any(s in pattern for s in _PREFILTER_UNSAFE)
                self.whole = re.compile(pattern, flags | re.MULTILINE) if safe else None
        except re.error as exc:
            raise ToolError(f"Invalid regex {pattern!r}: {exc}") from None

    def matching_lines(self, path: str) -> tuple[list[str], list[int]] | None:
        """(lines, 0-based indexes of matching lines), or None for skipped/unmatched files."""
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_GREP_FILE:
                return None
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            return None
        if b"\x00" in raw[:SNIFF]:
            return None
        text = raw.decode("utf-8", errors="replace")
        if self.multiline:
            hits: set[int] = set()
            starts: list[int] = []
            for m in self.regex.finditer(text):
                if not starts:
                    starts = [0] + [m2.end() for m2 in re.finditer("\n", text)]
                first = bisect.bisect_right(starts, m.start()) - 1
                last = bisect.bisect_right(starts, max(m.start(), m.end() - 1)) - 1
                hits.update(range(first, last + 1))
            if not hits:
                return None
            lines = text.split("\n")
            if len(lines) > 1 and lines[-1] == "":
                lines.pop()
            return lines, sorted(i for i in hits if i < len(lines))
        if self.whole is not None and self.whole.search(text) is None:
            return None
        lines = text.split("\n")
        if lines and lines[-1] == "" and text.endswith("\n"):
            lines.pop()
        search = self.regex.search
        hits_list = [i for i, line in enumerate(lines) if search(line)]
        return (lines, hits_list) if hits_list else None

    def content(self, shown: str, lines: list[str], hits: list[int]) -> list[str]:
        """rg-style lines: `path:N:text` for matches, `path-N-text` for context, `--` between."""
        out: list[str] = []
        hit_set = set(hits)
        last = -1
        for h in hits:
            lo = max(0, h - self.before, last + 1)
            hi = min(len(lines) - 1, h + self.after)
            if out and lo > last + 1 and (self.before or self.after):
                out.append("--")
            for i in range(lo, hi + 1):
                sep = ":" if i in hit_set else "-"
                num = f"{i + 1}{sep}" if self.numbers else ""
                out.append(f"{shown}{sep}{num}{_short(lines[i])}")
            last = max(last, hi)
        return out


def _grep(sandbox: Sandbox, search: _Search, real: Path, is_dir: bool, glob: str | None) -> str:
    if is_dir:
        while glob and glob.startswith("./"):
            glob = glob[2:]
        matcher = compile_glob(glob) if glob else None
        basename_only = glob is not None and "/" not in glob
        files = []
        for path, rel in _walk(sandbox, os.fspath(real)):
            if matcher is not None:
                subject = rel.rsplit("/", 1)[-1] if basename_only else rel
                if not matcher.match(subject):
                    continue
            files.append(path)
    else:
        files = [os.fspath(real)]  # an explicitly named file is searched whatever its name

    limit = search.head_limit
    if search.mode == "files_with_matches":
        found = [p for p in files if search.matching_lines(p) is not None]
        if not found:
            return "No matches found"
        found = _newest_first(found)
        shown = found[:limit] if limit else found
        out = [f"Found {len(found)} file{'s' if len(found) != 1 else ''}"]
        out += [sandbox.display(Path(p)) for p in shown]
        if len(found) > len(shown):
            out.append(f"… {len(found) - len(shown)} more files (head_limit={limit})")
        return "\n".join(out)

    entries: list[str] = []
    total = kept = 0
    for p in sorted(files):
        result = search.matching_lines(p)
        if result is None:
            continue
        lines, hits = result
        shown_path = sandbox.display(Path(p))
        if search.mode == "count":
            new = [f"{shown_path}:{len(hits)}"]
        else:
            new = search.content(shown_path, lines, hits)
            if entries and (search.before or search.after):
                new.insert(0, "--")
        for e in new:
            if e == "--":
                if not limit or kept < limit:
                    entries.append(e)
                continue
            total += 1
            if not limit or kept < limit:
                entries.append(e)
                kept += 1
    if total == 0:
        return "No matches found"
    while entries and entries[-1] == "--":
        entries.pop()
    if total > kept:
        unit = "lines" if search.mode == "content" else "files"
        entries.append(f"… {total - kept} more {unit} (head_limit={limit})")
    return "\n".join(entries)


class GrepTool:
    """Search file contents with a Python regular expression."""

    name = "Grep"
    description = (
        "Search file contents with a regular expression (Python `re` syntax). output_mode: "
        "files_with_matches (default, newest first), content (matching lines, with -n line "
        "numbers and -A/-B/-C context) or count. glob filters files (e.g. '*.py', "
        "'**/*.md', '*.{ts,tsx}'). Skips binary files, dot-folders and llmos-tui's run state."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Regular expression to search for."},
            "path": {
                "type": "string",
                "description": "File or folder to search (default: the workspace).",
            },
            "glob": {"type": "string", "description": "Only search files matching this glob."},
            "output_mode": {
                "type": "string",
                "enum": ["content", "files_with_matches", "count"],
                "description": "What to show (default files_with_matches).",
            },
            "-i": {"type": "boolean", "description": "Case-insensitive search."},
            "-n": {
                "type": "boolean",
                "description": "Show line numbers (content mode; default true).",
            },
            "-A": {"type": "integer", "minimum": 0, "description": "Lines of context after."},
            "-B": {"type": "integer", "minimum": 0, "description": "Lines of context before."},
            "-C": {"type": "integer", "minimum": 0, "description": "Lines of context around."},
            "head_limit": {
                "type": "integer",
                "minimum": 0,
                "description": "Show at most this many entries (lines, files or counts).",
            },
            "multiline": {
                "type": "boolean",
                "description": "Let the pattern span lines ('.' also matches newlines).",
            },
        },
        "required": ["pattern"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        search = _Search(inputs)
        glob = inputs.get("glob")
        if glob is not None and (not isinstance(glob, str) or not glob):
            raise ToolError("glob must be a non-empty string such as '*.py'.")
        real, st = _resolve_folder_or_file(ctx.sandbox, inputs.get("path"))
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_dir or st.st_size > INLINE_FILE:
            text = await asyncio.to_thread(_grep, ctx.sandbox, search, real, is_dir, glob)
        else:
            text = _grep(ctx.sandbox, search, real, is_dir, glob)
        return ToolOutput(cap_text(text, ctx.output_cap))


# -- Glob ---------------------------------------------------------------------------------------


def _glob(sandbox: Sandbox, base: Path, rest: list[str]) -> list[str]:
    pattern = "/".join(rest)
    if not any(GLOB_META & set(seg) for seg in rest):
        target = base.joinpath(*rest)
        try:
            real = sandbox.resolve_read(os.fspath(target))
        except ToolError:
            return []
        return [os.fspath(target)] if os.path.isfile(real) else []
    matcher = compile_glob(pattern)
    depth = None if "**" in pattern else len(rest)
    hits = [p for p, rel in _walk(sandbox, os.fspath(base), depth) if matcher.match(rel)]
    return _newest_first(hits)


class GlobTool:
    """List files whose paths match a glob pattern, newest first."""

    name = "Glob"
    description = (
        "Find files by glob pattern (e.g. '**/*.py', 'src/*.{ts,tsx}'), matched relative to "
        f"path (default: the workspace). Newest files first, at most {GLOB_SHOWN} listed. "
        "Skips dot-folders and llmos-tui's run state."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Glob pattern to match files against."},
            "path": {
                "type": "string",
                "description": "Folder to search in (default: the workspace).",
            },
        },
        "required": ["pattern"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        sandbox = ctx.sandbox
        pattern = inputs.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip():
            raise ToolError("pattern is empty; give a glob such as '**/*.py'.")
        if "\x00" in pattern:
            raise ToolError(f"Glob pattern {pattern!r} contains a NUL byte.")
        segments = pattern.split("/")
        if ".." in segments:
            raise ToolError(
                f"Glob pattern {pattern!r} contains '..'; patterns match inside the search "
                "folder only — set path to another folder inside the workspace instead."
            )
        absolute = pattern.startswith("/")
        segments = [s for s in segments if s not in ("", ".")]
        prefix: list[str] = []
        while len(segments) > 1 and not GLOB_META & set(segments[0]):
            prefix.append(segments.pop(0))
        if absolute:
            base_path = "/" + "/".join(prefix)
        else:
            folder, st = _resolve_folder_or_file(sandbox, inputs.get("path"))
            if not stat.S_ISDIR(st.st_mode):
                raise ToolError(f"path {sandbox.display(folder)} is a file, not a folder.")
            base_path = os.path.join(folder, *prefix)
        base = sandbox.resolve_read(base_path)
        if not segments:
            segments = ["*"]
        if not base.is_dir():
            return ToolOutput("No files found")
        hits = await asyncio.to_thread(_glob, sandbox, base, segments)
        if not hits:
            return ToolOutput("No files found")
        lines = [sandbox.display(Path(p)) for p in hits[:GLOB_SHOWN]]
        if len(hits) > GLOB_SHOWN:
            lines.append(f"… {len(hits) - GLOB_SHOWN} more (showing the {GLOB_SHOWN} newest)")
        return ToolOutput("\n".join(lines))
