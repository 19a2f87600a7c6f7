"""Grep and Glob: find text and files in the workspace without shelling out.

Pure Python (`re`, `os.scandir`) so results do not depend on which grep/rg is installed and
every path can be checked against the sandbox. Both skip what a person never means to search:
dot-folders (.git, .venv …), binary and huge files, and — when searching from the workspace
root — llmos-tui's own state (`runs/`, `execution_state.md`, the lock file). Naming such a
place in `path` searches it anyway. Symlinks are listed only when they point inside the
sandbox, and symlinked folders are not descended into (no loops, no escapes).

Trees are walked by descriptor (fsaccess.walk_tree), so a folder swapped for a symlink during
the walk is skipped, not followed. Grep does not search files with more than one hard link
(and says how many it skipped). Memory is bounded: a file streams a block of lines at a time,
each line searched in its first 10 MB; only multiline search holds a whole file (up to 10 MB);
the answer keeps about four times the output cap and counts the rest. Files over 10 MB are
skipped in a walk (and counted); one named in `path` is searched whatever its size.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections import deque
from pathlib import Path
from typing import Any

from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput, cap_text
from llmos_tui.core.tools.fsaccess import READ_FLAGS, Missing, check_regular, read_all, walk_tree
from llmos_tui.core.tools.lines import line_blocks
from llmos_tui.core.tools.sandbox import Sandbox

MAX_GREP_FILE = 10 * 1024 * 1024  # larger files are skipped in a walk (a named one is streamed)
MAX_SCAN_LINE = MAX_GREP_FILE  # bytes of a line searched (longer: its start); files ≤ 10 MB whole
BLOCK = 256 * 1024  # bytes of lines split at a time when a block has a match
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


def _open_entry(
    sandbox: Sandbox, base: str, rel: str, dir_fd: int, name: str, is_link: bool
) -> tuple[int, os.stat_result] | None:
    """Open a walked file for reading: by descriptor, or a symlink by the sandbox's rules.

    None when it is gone, leads outside what may be read, or cannot be opened.
    """
    try:
        if not is_link:
            fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
            try:
                return fd, os.fstat(fd)
            except OSError:
                os.close(fd)
                return None
        path = os.path.join(base, rel)
        real = os.path.realpath(path)
        if not sandbox.is_allowed_read(real):
            return None
        return sandbox.open_read(Path(real), sandbox.display(path))
    except (OSError, ToolError):
        return None


def _open_base(sandbox: Sandbox, path: Any) -> tuple[str, int, os.stat_result]:
    """Resolve and open Grep's or Glob's `path`: (real path, descriptor, fstat); the caller closes."""
    if path is None:
        path = "."
    if not isinstance(path, str):
        raise ToolError(f"path must be a string, got {path!r}.")
    real = sandbox.resolve_read(path)
    shown = sandbox.display(real)
    try:
        fd, st = sandbox.open_read(real, shown)
    except Missing:
        raise ToolError(f"Path not found: {shown}") from None
    return os.fspath(real), fd, st


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
        self.long_lines = 0  # lines searched only in their first MAX_SCAN_LINE bytes
        self.budget = 120_000  # characters of entries kept (the answer is capped below that anyway)
        self.used = 0
        self.dropped = 0  # entries not kept once the budget was spent
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

    def scan(self, fd: int, size: int, shown: str) -> tuple[int, list[str]] | None:
        """(matching lines, content-mode entries) of an open file, or None (no match, binary).

        Lines stream a block at a time (lines.line_blocks), each cut at MAX_SCAN_LINE bytes;
        only multiline search holds the whole file, so it takes files up to MAX_GREP_FILE.
        """
        head = os.read(fd, BLOCK)  # most files in one read; the rest streams
        if b"\x00" in head[:SNIFF]:
            return None
        if not self.multiline:
            return self._scan_blocks(fd, head, shown)
        if size > MAX_GREP_FILE:
            raise ToolError(
                f"{shown} is {size / 1048576:.0f} MB; multiline search holds the whole file and "
                f"works on files up to {MAX_GREP_FILE >> 20} MB. Search it without multiline."
            )
        raw = head + read_all(fd, max(0, MAX_GREP_FILE - len(head)))
        return self._scan_multiline(raw.decode("utf-8", errors="replace"), shown)

    def _entry(self, shown: str, n: int, sep: str, text: str) -> str:
        num = f"{n}{sep}" if self.numbers else ""
        return f"{shown}{sep}{num}{_short(text)}"

    def _emit(self, out: list[str], entry: str) -> None:
        """Keep an entry while the answer's budget lasts; count it as dropped after that."""
        if self.used > self.budget:
            self.dropped += 1
            return
        out.append(entry)
        self.used += len(entry) + 1

    def _separate(self, out: list[str], first: int, last: int) -> None:
        """rg's `--` between groups of lines that are not adjacent (only with context)."""
        if out and first > last + 1 and (self.before or self.after) and self.used <= self.budget:
            out.append("--")

    def _scan_blocks(self, fd: int, head: bytes, shown: str) -> tuple[int, list[str]] | None:
        """Line by line, a block at a time: a block the whole-text regex misses is only counted."""
        content = self.mode == "content"
        before: deque[tuple[int, str]] = deque(maxlen=self.before or 1)  # (line, its entry as context)
        out: list[str] = []
        hits = n = last = after_left = 0
        search = self.regex.search
        for block, cut in line_blocks(fd, MAX_SCAN_LINE, first=head, chunk=BLOCK):
            self.long_lines += cut
            text = block.decode("utf-8", errors="replace")
            if not after_left and self.whole is not None and self.whole.search(text) is None:
                if not content:
                    continue  # line numbers only matter for content
                body = text[:-1] if text.endswith("\n") else text
                count = body.count("\n") + 1
                if content and self.before:
                    tail = body.rsplit("\n", self.before)[-self.before :]
                    first = n + count - len(tail) + 1
                    before.extend((first + i, self._entry(shown, first + i, "-", t)) for i, t in enumerate(tail))
                n += count
                continue
            lines = text.split("\n")
            if lines[-1] == "":
                lines.pop()
            for line in lines:
                n += 1
                if search(line):
                    hits += 1
                    if self.mode == "files_with_matches":
                        return 1, []
                    if content:
                        if self.before:
                            kept = [(bn, e) for bn, e in before if bn > last]
                            self._separate(out, kept[0][0] if kept else n, last)
                            for _, e in kept:
                                self._emit(out, e)
                            before.clear()
                        else:
                            self._separate(out, n, last)
                        self._emit(out, self._entry(shown, n, ":", line))
                        last, after_left = n, self.after
                elif after_left:
                    self._emit(out, self._entry(shown, n, "-", line))
                    last, after_left = n, after_left - 1
                elif content and self.before:
                    before.append((n, self._entry(shown, n, "-", line)))
            del lines, text  # before the next block is split: one block's lines at a time
        return (hits, out) if hits else None

    def _scan_multiline(self, text: str, shown: str) -> tuple[int, list[str]] | None:
        """Matches may span lines: hit lines are kept as merged ranges, lines sliced as shown."""
        total_lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        ranges: list[list[int]] = []  # [first, last] 0-based hit lines, merged
        pos = line = 0
        for m in self.regex.finditer(text):
            line += text.count("\n", pos, m.start())
            pos = m.start()
            end_line = line + text.count("\n", pos, max(pos, m.end() - 1))
            if line >= total_lines:
                break  # an empty match after the last newline starts no line
            end_line = min(end_line, total_lines - 1)
            if ranges and line <= ranges[-1][1] + 1:
                ranges[-1][1] = max(ranges[-1][1], end_line)
            else:
                ranges.append([line, end_line])
            if self.mode == "files_with_matches":
                break
        if not ranges:
            return None
        count = sum(b - a + 1 for a, b in ranges)
        if self.mode != "content":
            return count, []
        out: list[str] = []
        cursor = at = 0  # line `cursor` starts at text[at]
        last = -1
        r = 0  # the first range that may still hold a shown line
        for k, (a, b) in enumerate(ranges):
            lo, hi = max(0, a - self.before, last + 1), min(total_lines - 1, b + self.after)
            self._separate(out, lo, last)
            while cursor < lo:
                at = text.index("\n", at) + 1
                cursor += 1
            for i in range(lo, hi + 1):
                stop = text.find("\n", at)
                stop = len(text) if stop < 0 else stop
                while r < len(ranges) - 1 and ranges[r][1] < i:
                    r += 1
                sep = ":" if ranges[r][0] <= i <= ranges[r][1] else "-"
                self._emit(out, self._entry(shown, i + 1, sep, text[at:stop]))
                at, cursor = stop + 1, cursor + 1
            last = max(last, hi)
            if self.used > self.budget:
                self.dropped += sum(y - x + 1 for x, y in ranges[k + 1 :])
                break
        return count, out


class _Skipped:
    """Files a walk did not search, said at the end of Grep's answer."""

    def __init__(self) -> None:
        self.big = 0
        self.linked = 0

    def note(self, search: _Search) -> str:
        parts = []
        if self.linked:
            s = "s" if self.linked != 1 else ""
            parts.append(f"{self.linked} file{s} with more than one hard link not searched")
        if self.big:
            s = "s" if self.big != 1 else ""
            parts.append(
                f"{self.big} file{s} over {MAX_GREP_FILE >> 20} MB not searched: name one in path to search it"
            )
        if search.long_lines:
            n = search.long_lines
            lines = "1 line" if n == 1 else f"{n} lines"
            its = "its" if n == 1 else "their"
            parts.append(
                f"{lines} longer than {MAX_SCAN_LINE >> 20} MB searched in {its} first {MAX_SCAN_LINE >> 20} MB only"
            )
        return f"\n({'; '.join(parts)})" if parts else ""


def _scan_named(search: _Search, fd: int, st: os.stat_result, shown: str) -> list[tuple[str, float, int, list[str]]]:
    found = search.scan(fd, st.st_size, shown)
    return [] if found is None else [(shown, st.st_mtime, *found)]


def _scan_tree(
    sandbox: Sandbox, search: _Search, base: str, fd: int, glob: str | None, skipped: _Skipped
) -> list[tuple[str, float, int, list[str]]]:
    """(shown path, mtime, matching lines, entries) of every matching file, in path order."""
    while glob and glob.startswith("./"):
        glob = glob[2:]
    matcher = compile_glob(glob) if glob else None
    basename_only = glob is not None and "/" not in glob
    skip_top = sandbox.reserved if base == os.fspath(sandbox.root) else frozenset()
    results = []
    for rel, dir_fd, name, is_link in walk_tree(fd, skip_top=skip_top):
        if matcher is not None and not matcher.match(name if basename_only else rel):
            continue
        opened = _open_entry(sandbox, base, rel, dir_fd, name, is_link)
        if opened is None:
            continue
        file_fd, st = opened
        try:
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_nlink > 1:
                skipped.linked += 1
                continue
            if st.st_size > MAX_GREP_FILE:
                skipped.big += 1
                continue
            shown = sandbox.display(os.path.join(base, rel))
            found = search.scan(file_fd, st.st_size, shown)
        except OSError:
            continue
        finally:
            os.close(file_fd)
        if found is not None:
            results.append((shown, st.st_mtime, *found))
    return results


def _grep(sandbox: Sandbox, search: _Search, base: str, fd: int, st: os.stat_result, glob: str | None, cap: int) -> str:
    """The blocking part of Grep (it owns and closes `fd`, the folder or file named in `path`)."""
    skipped = _Skipped()
    search.budget = 4 * cap
    try:
        if stat.S_ISDIR(st.st_mode):
            results = _scan_tree(sandbox, search, base, fd, glob, skipped)
        else:  # an explicitly named file is searched whatever its name
            results = _scan_named(search, fd, st, sandbox.display(base))
    except OSError as exc:
        raise ToolError(f"Cannot search {sandbox.display(base)}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return _answer(search, results, cap) + skipped.note(search)


def _answer(search: _Search, results: list[tuple[str, float, int, list[str]]], cap: int) -> str:
    limit = search.head_limit
    if search.mode == "files_with_matches":
        if not results:
            return "No matches found"
        found = [shown for shown, _, _, _ in sorted(results, key=lambda r: (-r[1], r[0]))]
        shown_files = found[:limit] if limit else found
        out = [f"Found {len(found)} file{'s' if len(found) != 1 else ''}", *shown_files]
        if len(found) > len(shown_files):
            out.append(f"… {len(found) - len(shown_files)} more files (head_limit={limit})")
        return "\n".join(out)

    entries: list[str] = []
    total, kept = search.dropped, 0  # entries the scan already let go (over the budget) count too
    budget = 4 * cap  # characters kept before the rest is only counted (the answer is capped anyway)
    used = 0
    for shown, _, count, lines in results:
        new = [f"{shown}:{count}"] if search.mode == "count" else lines
        if search.mode == "content" and entries and (search.before or search.after):
            new = ["--", *new]
        for e in new:
            if e == "--":
                if (not limit or kept < limit) and used <= budget:
                    entries.append(e)
                continue
            total += 1
            if (not limit or kept < limit) and used <= budget:
                entries.append(e)
                used += len(e) + 1
                kept += 1
    if total == 0:
        return "No matches found"
    while entries and entries[-1] == "--":
        entries.pop()
    if total > kept:
        unit = "lines" if search.mode == "content" else "files"
        why = f"head_limit={limit}" if limit and kept >= limit else "output cap"
        entries.append(f"… {total - kept} more {unit} ({why})")
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
        base, fd, st = _open_base(ctx.sandbox, inputs.get("path"))
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir:
            try:
                check_regular(st, ctx.sandbox.display(base), for_read=True)
            except BaseException:
                os.close(fd)
                raise
        args = (ctx.sandbox, search, base, fd, st, glob, max(ctx.output_cap, 1))
        if is_dir or st.st_size > INLINE_FILE:
            text = await asyncio.to_thread(_grep, *args)
        else:
            text = _grep(*args)
        return ToolOutput(cap_text(text, ctx.output_cap))


# -- Glob ---------------------------------------------------------------------------------------


def _glob(sandbox: Sandbox, base: str, fd: int, rest: list[str]) -> list[str]:
    """Paths under `base` (open as `fd`, closed here) matching the glob `rest`, newest first."""
    try:
        pattern = "/".join(rest)
        if not any(GLOB_META & set(seg) for seg in rest):
            target = os.path.join(base, *rest)
            try:
                real = sandbox.resolve_read(target)
                file_fd, st = sandbox.open_read(real, sandbox.display(real))
            except ToolError:
                return []
            os.close(file_fd)
            return [target] if stat.S_ISREG(st.st_mode) else []
        matcher = compile_glob(pattern)
        depth = None if "**" in pattern else len(rest)
        skip_top = sandbox.reserved if base == os.fspath(sandbox.root) else frozenset()
        hits: list[tuple[float, str]] = []
        for rel, dir_fd, name, is_link in walk_tree(fd, skip_top=skip_top, max_depth=depth):
            if not matcher.match(rel):
                continue
            mtime = _file_mtime(sandbox, base, rel, dir_fd, name, is_link)
            if mtime is not None:
                hits.append((-mtime, os.path.join(base, rel)))
        return [p for _, p in sorted(hits)]
    finally:
        os.close(fd)


def _file_mtime(sandbox: Sandbox, base: str, rel: str, dir_fd: int, name: str, is_link: bool) -> float | None:
    """The mtime of a walked regular file (a symlink's target if it may be read), else None."""
    if not is_link:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return None
        return st.st_mtime if stat.S_ISREG(st.st_mode) else None
    opened = _open_entry(sandbox, base, rel, dir_fd, name, is_link)
    if opened is None:
        return None
    os.close(opened[0])
    return opened[1].st_mtime if stat.S_ISREG(opened[1].st_mode) else None


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
            folder, fd, st = _open_base(sandbox, inputs.get("path"))
            os.close(fd)
            if not stat.S_ISDIR(st.st_mode):
                raise ToolError(f"path {sandbox.display(folder)} is a file, not a folder.")
            base_path = os.path.join(folder, *prefix)
        base = sandbox.resolve_read(base_path)
        if not segments:
            segments = ["*"]
        try:
            fd, st = sandbox.open_read(base, sandbox.display(base))
        except Missing:
            return ToolOutput("No files found")
        if not stat.S_ISDIR(st.st_mode):
            os.close(fd)
            return ToolOutput("No files found")
        hits = await asyncio.to_thread(_glob, sandbox, os.fspath(base), fd, segments)
        if not hits:
            return ToolOutput("No files found")
        lines = [sandbox.display(p) for p in hits[:GLOB_SHOWN]]
        if len(hits) > GLOB_SHOWN:
            lines.append(f"… {len(hits) - GLOB_SHOWN} more (showing the {GLOB_SHOWN} newest)")
        return ToolOutput("\n".join(lines))
