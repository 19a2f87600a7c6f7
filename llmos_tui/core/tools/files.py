"""Read, Write and Edit: Claude Code's file tools, confined to the sandbox.

Small files are handled inline because a thread hop costs more than the I/O; only files over
1 MB go through `asyncio.to_thread` so a big read never stalls the event loop (and the TUI).
Every failure becomes a one-line ToolError the model can act on.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path
from typing import Any

from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput

LARGE_FILE = 1024 * 1024  # above this, blocking I/O moves to a thread
DEFAULT_LIMIT = 2000  # lines shown by Read when no limit is given
MAX_LINE = 2000  # characters per shown line
MAX_IMAGE = 5 * 1024 * 1024  # the Messages API refuses bigger images
SNIFF = 8192  # bytes checked for NUL to call a file binary


def _oserror(action: str, shown: str, exc: OSError) -> ToolError:
    return ToolError(f"Cannot {action} {shown}: {exc.strerror or exc}")


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


def _number(n: int, line: str) -> str:
    if len(line) > MAX_LINE:
        line = f"{line[:MAX_LINE]}… [line truncated, {len(line) - MAX_LINE} more characters]"
    return f"{n:>6}\t{line}"


def _stat_regular(real: Path, shown: str, *, for_read: bool) -> os.stat_result:
    """stat `real`, refusing missing files, folders and special files (a FIFO would hang)."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise ToolError(f"File not found: {shown}") from None
    except NotADirectoryError:
        raise ToolError(f"File not found: {shown} (a parent is a file, not a folder)") from None
    except OSError as exc:
        raise _oserror("access", shown, exc) from None
    if stat.S_ISDIR(st.st_mode):
        hint = "use Glob or Bash `ls` to list it" if for_read else "give a file path"
        raise ToolError(f"{shown} is a directory, not a file; {hint}.")
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{shown} is not a regular file (device, socket or pipe).")
    return st


# -- Read ---------------------------------------------------------------------------------------


def _read_file(real: Path, shown: str, size: int, offset: int, limit: int, cap: int) -> ToolOutput:
    """The blocking part of Read: sniff the head, then show an image or numbered text lines."""
    try:
        with open(real, "rb") as f:
            head = f.read(SNIFF)
            media = _image_type(head)
            if media is not None:
                if size > MAX_IMAGE:
                    raise ToolError(f"{shown} is an image of {size} bytes; images over 5 MB cannot be shown.")
                data = head + f.read()
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
            if size <= LARGE_FILE:
                raw_lines = (head + f.read()).split(b"\n")
                if raw_lines[-1] == b"":
                    raw_lines.pop()
                return _number_lines(iter(raw_lines), shown, offset, limit, cap)
            f.seek(0)
            return _number_lines(_stream_lines(f), shown, offset, limit, cap)
    except OSError as exc:
        raise _oserror("read", shown, exc) from None


def _stream_lines(f: Any) -> Any:
    """Lines of a big file without loading it whole (a UTF-8 char never contains b'\\n')."""
    for raw in f:
        yield raw[:-1] if raw.endswith(b"\n") else raw


def _number_lines(lines: Any, shown: str, offset: int, limit: int, cap: int) -> ToolOutput:
    out: list[str] = []
    used = 0
    n = 0
    last_shown = offset - 1
    stopped_by_cap = False
    for raw in lines:
        n += 1
        if n < offset:
            continue
        if n >= offset + limit or stopped_by_cap:
            continue  # keep counting to say how many lines remain
        text = raw.decode("utf-8", errors="replace")
        if text.endswith("\r"):
            text = text[:-1]
        entry = _number(n, text)
        if out and used + len(entry) + 1 > cap:
            stopped_by_cap = True
            continue
        out.append(entry)
        used += len(entry) + 1
        last_shown = n
    if n == 0:
        return ToolOutput(f"{shown} is empty (0 lines).")
    if offset > n:
        raise ToolError(f"{shown} has {n} lines; offset {offset} is past the end.")
    remaining = n - last_shown
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
        "through long files. PNG, JPEG, GIF and WEBP images are shown as images. "
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
        real = ctx.sandbox.resolve_read(_str_input(inputs, "file_path"))
        offset = max(1, _int_input(inputs, "offset", 1, 0) or 1)
        limit = _int_input(inputs, "limit", DEFAULT_LIMIT, 1) or DEFAULT_LIMIT
        shown = ctx.sandbox.display(real)
        st = _stat_regular(real, shown, for_read=True)
        args = (real, shown, st.st_size, offset, limit, max(ctx.output_cap, 1))
        if st.st_size > LARGE_FILE:
            return await asyncio.to_thread(_read_file, *args)
        return _read_file(*args)


# -- Write --------------------------------------------------------------------------------------


def _write_bytes(real: Path, shown: str, data: bytes) -> bool:
    """Write `data` to `real`, creating parent folders; returns True if the file existed."""
    existed = os.path.lexists(real)
    if existed:
        _stat_regular(real, shown, for_read=False)
    try:
        os.makedirs(real.parent, exist_ok=True)
    except OSError as exc:
        raise ToolError(f"Cannot create folder {real.parent.name!r} for {shown}: {exc.strerror or exc}") from None
    try:
        with open(real, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise _oserror("write", shown, exc) from None
    return existed


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
            existed = await asyncio.to_thread(_write_bytes, real, shown, data)
        else:
            existed = _write_bytes(real, shown, data)
        how = "overwrote the existing file" if existed else "created a new file"
        return ToolOutput(f"Wrote {len(data)} bytes to {shown} ({how}).")


# -- Edit ---------------------------------------------------------------------------------------

SNIPPET_CONTEXT = 2  # lines shown before and after the first edit
SNIPPET_MAX_LINES = 16
SNIPPET_MAX_LINE = 200


def _edit_file(real: Path, shown: str, old: str, new: str, replace_all: bool) -> str:
    st = _stat_regular(real, shown, for_read=False)
    try:
        with open(real, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise _oserror("read", shown, exc) from None
    if b"\x00" in raw[:SNIFF]:
        raise ToolError(f"{shown} is a binary file ({st.st_size} bytes); Edit changes text only.")
    # surrogateescape keeps invalid UTF-8 bytes intact, so untouched parts round-trip exactly.
    text = raw.decode("utf-8", errors="surrogateescape")
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
    data = updated.encode("utf-8", errors="surrogateescape")
    try:
        with open(real, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise _oserror("write", shown, exc) from None
    n = count if replace_all else 1
    what = f"{n} replacement" + ("s" if n != 1 else "")
    return f"Edited {shown}: {what}.\n{_snippet(updated, first, new)}"


def _snippet(text: str, start: int, new: str) -> str:
    """Numbered lines around the first edit, so the model sees the result without a Read."""
    first_line = text.count("\n", 0, start) + 1
    new_lines = new.count("\n") + 1
    lo = max(1, first_line - SNIPPET_CONTEXT)
    hi = first_line + new_lines - 1 + SNIPPET_CONTEXT
    hi = min(hi, lo + SNIPPET_MAX_LINES - 1)
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the newline ending the last line does not start another one
    out = []
    for n in range(lo, min(hi, len(lines)) + 1):
        line = lines[n - 1].rstrip("\r")
        line = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if len(line) > SNIPPET_MAX_LINE:
            line = line[:SNIPPET_MAX_LINE] + "…"
        out.append(f"{n:>6}\t{line}")
    return "\n".join(out)


class EditTool:
    """Replace an exact string in an existing file."""

    name = "Edit"
    description = (
        "Replace old_string with new_string in an existing file. old_string must match the file "
        "exactly (whitespace included) and be unique unless replace_all is true."
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
        try:
            size = os.path.getsize(real)
        except OSError:
            size = 0  # _edit_file reports the real problem
        if size > LARGE_FILE:
            text = await asyncio.to_thread(_edit_file, real, shown, old, new, replace_all)
        else:
            text = _edit_file(real, shown, old, new, replace_all)
        return ToolOutput(text)
