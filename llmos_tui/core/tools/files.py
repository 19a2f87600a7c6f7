"""Read, Write and Edit: Claude Code's file tools, confined to the sandbox.

Every file is opened through the sandbox's descriptor walk (fsaccess.py): what the sandbox
checked is what is opened, even if a folder is swapped for a symlink meanwhile; files with more
than one hard link are refused; Write and Edit replace a file by renaming a fresh temp file
over it, never writing through an existing inode. Memory is bounded: Read streams and cuts each
line at 2,000 characters; Edit refuses files over 10 MB before reading them.

Small files are handled inline because a thread hop costs more than the I/O; only files over
1 MB go through `asyncio.to_thread` so a big read never stalls the event loop (and the TUI).
A descriptor handed to a thread is closed by that thread. Every failure becomes a one-line
ToolError the model can act on.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput
from llmos_tui.core.tools.fsaccess import (
    Beneath,
    check_may_replace,
    check_regular,
    read_all,
    replace_file,
)
from llmos_tui.core.tools.lines import Line, LineReader, utf8_chars
from llmos_tui.core.tools.sandbox import Sandbox

LARGE_FILE = 1024 * 1024  # above this, blocking I/O moves to a thread
DEFAULT_LIMIT = 2000  # lines shown by Read when no limit is given
MAX_LINE = 2000  # characters per shown line
MAX_LINE_BYTES = MAX_LINE * 4  # bytes of a line kept by Read: always at least MAX_LINE characters
MAX_IMAGE = 5 * 1024 * 1024  # the Messages API refuses bigger images
MAX_EDIT = 10 * 1024 * 1024  # Edit holds the file (and its new version) in memory
SNIFF = 8192  # bytes checked for NUL to call a file binary


def _image_type(head: bytes) -> str | None:
    """The media type of an image the API accepts, judged by magic bytes (not the name)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _int_input(inputs: dict[str, Any], key: str, default: int | None, minimum: int) -> int | None:
    value = inputs.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ToolError(f"{key} must be a whole number, got {value!r}.")
    if value < minimum:
        raise ToolError(f"{key} must be at least {minimum}, got {value}.")
    return int(value)


def _str_input(inputs: dict[str, Any], key: str) -> str:
    value = inputs.get(key)
    if not isinstance(value, str):
        raise ToolError(f"{key} is required and must be a string.")
    return value


def _number(n: int, line: Line) -> str:
    """One numbered line, cut at MAX_LINE characters with a note of how many were cut."""
    head, size, rest_chars = line
    text = head.decode("utf-8", errors="replace")
    if size == len(head):
        if text.endswith("\r"):
            text = text[:-1]
        if len(text) <= MAX_LINE:
            return f"{n:>6}\t{text}"
        more = len(text) - MAX_LINE
    else:  # cut while reading: count what was not kept
        more = utf8_chars(head) + rest_chars - MAX_LINE
    return f"{n:>6}\t{text[:MAX_LINE]}… [line truncated, {more} more characters]"


def _open_read(sandbox: Sandbox, file_path: str) -> tuple[int, os.stat_result, str]:
    """Resolve, check and open a file for reading: (descriptor, its fstat, how to show it)."""
    real = sandbox.resolve_read(file_path)
    shown = sandbox.display(real)
    fd, st = sandbox.open_read(real, shown)
    try:
        check_regular(st, shown, for_read=True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st, shown


# -- Read ---------------------------------------------------------------------------------------


def _read_file(fd: int, shown: str, size: int, offset: int, limit: int, cap: int) -> ToolOutput:
    """The blocking part of Read (it owns and closes `fd`): an image, or numbered text lines."""
    try:
        head = os.read(fd, SNIFF)
        media = _image_type(head)
        if media is not None:
            if size > MAX_IMAGE:
                raise ToolError(f"{shown} is an image of {size} bytes; images over 5 MB cannot be shown.")
            data = head + read_all(fd, MAX_IMAGE + 1 - len(head))
            if len(data) > MAX_IMAGE:
                raise ToolError(f"{shown} grew past 5 MB while being read; images over 5 MB cannot be shown.")
            block = {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": media,
                    "data": base64.b64encode(data).decode("ascii"),
                },
            }
            return ToolOutput(f"Image {shown} ({media}, {len(data)} bytes)", images=(block,))
        if b"\x00" in head:
            raise ToolError(f"{shown} is a binary file ({size} bytes); Read shows text and images only.")
        if not head:
            return ToolOutput(f"{shown} is empty (0 bytes).")
        reader = LineReader(fd, MAX_LINE_BYTES, first=head, count_chars=True)
        return _number_lines(reader, shown, offset, limit, cap)
    except OSError as exc:
        raise ToolError(f"Cannot read {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _number_lines(reader: LineReader, shown: str, offset: int, limit: int, cap: int) -> ToolOutput:
    """Numbered lines from `offset`, at most `limit` of them and about `cap` characters in all.

    Lines before `offset` are skipped as they stream; once the page is full the rest of the
    file is only counted (for the "… N more lines" note), never held.
    """
    out: list[str] = []
    used = 0
    n = 0
    total = -1
    last_shown = offset - 1
    reader.count_chars = offset <= 1
    for line in reader:
        n += 1
        if n < offset:
            reader.count_chars = n + 1 >= offset  # only a shown line's cut is counted
            continue
        if n >= offset + limit:
            total = n + reader.count_rest()
            break
        entry = _number(n, line)
        if out and used + len(entry) + 1 > cap:
            total = n + reader.count_rest()
            break
        out.append(entry)
        used += len(entry) + 1
        last_shown = n
        if n + 1 >= offset + limit:
            reader.count_chars = False  # the next line is only counted
    if total < 0:
        total = n
    if total == 0:
        return ToolOutput(f"{shown} is empty (0 lines).")
    if offset > total:
        raise ToolError(f"{shown} has {total} lines; offset {offset} is past the end.")
    remaining = total - last_shown
    if remaining > 0:
        unit = "line" if remaining == 1 else "lines"
        out.append(f"… {remaining} more {unit}; use offset={last_shown + 1} to read on")
    return ToolOutput("\n".join(out))


class ReadTool:
    """Read a text file as numbered lines, or an image as an image block."""

    name = "Read"
    description = (
        "Read a file from the workspace. Text comes back as numbered lines (cat -n style); "
        f"by default the first {DEFAULT_LIMIT} lines, use offset (1-based line) and limit to page "
        f"through long files. Lines longer than {MAX_LINE} characters are cut (the note says how "
        "much). PNG, JPEG, GIF and WEBP images are shown as images. "
        "Folders cannot be read: use Glob or Bash ls."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "Path of the file to read."},
            "offset": {
                "type": "integer",
                "minimum": 0,
                "description": "Line number to start reading from (1-based).",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "description": f"Number of lines to read (default {DEFAULT_LIMIT}).",
            },
        },
        "required": ["file_path"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        file_path = _str_input(inputs, "file_path")
        offset = max(1, _int_input(inputs, "offset", 1, 0) or 1)
        limit = _int_input(inputs, "limit", DEFAULT_LIMIT, 1) or DEFAULT_LIMIT
        fd, st, shown = _open_read(ctx.sandbox, file_path)
        args = (fd, shown, st.st_size, offset, limit, max(ctx.output_cap, 1))
        if st.st_size > LARGE_FILE:
            return await asyncio.to_thread(_read_file, *args)
        return _read_file(*args)


# -- Write --------------------------------------------------------------------------------------


def _write_bytes(sandbox: Sandbox, real: Path, shown: str, data: bytes) -> bool:
    """Write `data` as `real`, creating parent folders; returns True if a file was replaced."""
    walk, parts = sandbox.beneath(real, shown, write=True)
    with walk:
        name = walk.final(walk.walk(parts, create=True), create=True)
        walk.check_writable_leaf(name)
        if not name:
            raise ToolError(f"{shown} is a directory, not a file; give a file path.")
        existing = check_may_replace(walk.dir_fd, name, shown)
        replace_file(walk.dir_fd, name, data, shown, like=existing)
        return existing is not None


class WriteTool:
    """Create or overwrite a whole file."""

    name = "Write"
    description = (
        "Write a file in the workspace, creating parent folders as needed. Overwrites the file "
        "if it exists. Prefer Edit for changing part of an existing file."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "Path of the file to write."},
            "content": {"type": "string", "description": "The full content of the file."},
        },
        "required": ["file_path", "content"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        real = ctx.sandbox.resolve_write(_str_input(inputs, "file_path"))
        content = _str_input(inputs, "content")
        shown = ctx.sandbox.display(real)
        # Lone surrogates (possible in JSON strings) have no UTF-8 form; they become '?' rather
        # than failing the whole call.
        data = content.encode("utf-8", errors="replace")
        if len(data) > LARGE_FILE:
            existed = await asyncio.to_thread(_write_bytes, ctx.sandbox, real, shown, data)
        else:
            existed = _write_bytes(ctx.sandbox, real, shown, data)
        how = "overwrote the existing file" if existed else "created a new file"
        return ToolOutput(f"Wrote {len(data)} bytes to {shown} ({how}).")


# -- Edit ---------------------------------------------------------------------------------------

SNIPPET_CONTEXT = 2  # lines shown before and after the first edit
SNIPPET_MAX_LINES = 16
SNIPPET_MAX_LINE = 200


def _too_big(shown: str, size: int) -> ToolError:
    return ToolError(
        f"{shown} is {size / 1048576:.1f} MB; Edit changes files up to {MAX_EDIT >> 20} MB (it holds the "
        "whole file in memory). Use Bash (sed or a script) for a bigger file, or Write a new version."
    )


def _open_edit(sandbox: Sandbox, real: Path, shown: str) -> tuple[Beneath, int, str, os.stat_result]:
    """Open the file to edit beneath its root and judge it before reading a byte.

    Returns the walk (standing in the file's folder), the descriptor, the file's name in that
    folder and its fstat; the caller hands both to _edit_file, which closes them.
    """
    walk, parts = sandbox.beneath(real, shown, write=True)
    try:
        fd, name = walk.open(walk.walk(parts))
        try:
            walk.check_writable_leaf(name)
            st = os.fstat(fd)
            check_regular(st, shown, for_read=False)
            if st.st_size > MAX_EDIT:
                raise _too_big(shown, st.st_size)
        except BaseException:
            os.close(fd)
            raise
    except BaseException:
        walk.close()
        raise
    return walk, fd, name, st


def _edit_file(
    walk: Beneath, fd: int, name: str, st: os.stat_result, shown: str, old: str, new: str, replace_all: bool
) -> str:
    """The blocking part of Edit (it owns `walk` and `fd`): read, replace, write back by rename."""
    with walk:
        try:
            raw = read_all(fd, MAX_EDIT + 1)
        except OSError as exc:
            raise ToolError(f"Cannot read {shown}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        if len(raw) > MAX_EDIT:
            raise _too_big(shown, len(raw))
        if b"\x00" in raw[:SNIFF]:
            raise ToolError(f"{shown} is a binary file ({st.st_size} bytes); Edit changes text only.")
        # surrogateescape keeps invalid UTF-8 bytes intact, so untouched parts round-trip exactly.
        text = raw.decode("utf-8", errors="surrogateescape")
        del raw
        count = text.count(old)
        if count == 0 and "\r\n" in text and "\n" in old and "\r\n" not in old:
            # The model usually writes "\n"; a CRLF file spells the same text with "\r\n".
            crlf_old = old.replace("\n", "\r\n")
            if text.count(crlf_old):
                old, new = crlf_old, new.replace("\r\n", "\n").replace("\n", "\r\n")
                count = text.count(old)
        if count == 0:
            raise ToolError(
                f"old_string was not found in {shown}; Read the file and copy the exact text, "
                "including whitespace and indentation."
            )
        if count > 1 and not replace_all:
            raise ToolError(
                f"old_string occurs {count} times in {shown}; add surrounding context to make it "
                "unique, or set replace_all to true to change every occurrence."
            )
        first = text.index(old)
        updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        del text
        data = updated.encode("utf-8", errors="surrogateescape")
        check_may_replace(walk.dir_fd, name, shown)  # still a plain, singly-linked, writable file
        replace_file(walk.dir_fd, name, data, shown, like=st)
    n = count if replace_all else 1
    what = f"{n} replacement" + ("s" if n != 1 else "")
    return f"Edited {shown}: {what}.\n{_snippet(updated, first, new)}"


def _snippet(text: str, start: int, new: str) -> str:
    """Numbered lines around the first edit, so the model sees the result without a Read.

    Only the lines shown are sliced out of `text` (no split of the whole file).
    """
    first_line = text.count("\n", 0, start) + 1
    new_lines = new.count("\n") + 1
    lo = max(1, first_line - SNIPPET_CONTEXT)
    hi = first_line + new_lines - 1 + SNIPPET_CONTEXT
    hi = min(hi, lo + SNIPPET_MAX_LINES - 1)
    pos = text.rfind("\n", 0, start) + 1  # the start of first_line
    for _ in range(first_line - lo):
        pos = text.rfind("\n", 0, pos - 1) + 1
    out = []
    for n in range(lo, hi + 1):
        if pos > len(text) or (pos == len(text) and text.endswith("\n")):
            break  # the newline ending the last line does not start another one
        end = text.find("\n", pos)
        if end < 0:
            end = len(text)
        length = end - pos
        if length and text[end - 1] == "\r":
            length -= 1
        line = text[pos : pos + min(length, SNIPPET_MAX_LINE)]
        line = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if length > SNIPPET_MAX_LINE:
            line += "…"
        out.append(f"{n:>6}\t{line}")
        pos = end + 1
    return "\n".join(out)


class EditTool:
    """Replace an exact string in an existing file."""

    name = "Edit"
    description = (
        "Replace old_string with new_string in an existing file. old_string must match the file "
        "exactly (whitespace included) and be unique unless replace_all is true. Files over "
        f"{MAX_EDIT >> 20} MB are refused (use Bash for those)."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "Path of the file to edit."},
            "old_string": {"type": "string", "description": "The exact text to replace."},
            "new_string": {"type": "string", "description": "The text to put in its place."},
            "replace_all": {
                "type": "boolean",
                "default": False,
                "description": "Replace every occurrence instead of requiring a unique one.",
            },
        },
        "required": ["file_path", "old_string", "new_string"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        real = ctx.sandbox.resolve_write(_str_input(inputs, "file_path"))
        old = _str_input(inputs, "old_string")
        new = _str_input(inputs, "new_string")
        replace_all = inputs.get("replace_all", False)
        if not isinstance(replace_all, bool):
            raise ToolError(f"replace_all must be true or false, got {replace_all!r}.")
        if not old:
            raise ToolError("old_string is empty; to create or replace a whole file use Write.")
        if old == new:
            raise ToolError("old_string and new_string are identical; there is nothing to change.")
        shown = ctx.sandbox.display(real)
        walk, fd, name, st = _open_edit(ctx.sandbox, real, shown)
        args = (walk, fd, name, st, shown, old, new, replace_all)
        if st.st_size > LARGE_FILE:
            text = await asyncio.to_thread(_edit_file, *args)
        else:
            text = _edit_file(*args)
        return ToolOutput(text)
