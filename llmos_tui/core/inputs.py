"""Reading an input file a person (or anyone) may have put there: every file is untrusted.

One function reads them all — the state file, SystemAgent.md, the ToolMap,
TrainingDataCollector.md, memory_log.md, themes, scripts — so each is refused the same way, as
one line naming the file (a FileFormatError, exit 2 on the command line), never a traceback and
never a hang:

- only a regular file is read: a folder, a fifo, a socket or a device (a symlink to /dev/zero)
  is refused after `fstat` of what was opened (opened non-blocking, so a fifo cannot hang us);
- a file over its stated size is refused before it is read;
- text must be UTF-8: an invalid byte is reported with its line;
- a byte-order mark at the start is accepted and dropped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from llmos_tui.core.errors import FileFormatError

KB = 1024
MB = 1024 * KB

# The stated limits (docs/design.md, "Input files"). Generous for what llmos-tui writes itself:
# a state file shows the recent steps and a summary of the pending call; a memory log grows by
# about a kilobyte a run.
STATE_FILE_MAX = 16 * MB
SYSTEM_FILE_MAX = 1 * MB  # SystemAgent.md, the ToolMap, TrainingDataCollector.md
MEMORY_LOG_MAX = 32 * MB
THEME_MAX = 64 * KB
SCRIPT_MAX = 64 * MB

BOM = "\ufeff"


def _size(n: int) -> str:
    if n >= MB:
        return f"{n / MB:.1f} MB"
    if n >= KB:
        return f"{n / KB:.0f} KB"
    return f"{n} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _open(p: str) -> int:
    try:
        return os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileFormatError(p, None, f"cannot be read: {exc.strerror or exc}") from None


def open_regular(path: Path | str) -> BinaryIO:
    """A regular file opened for reading in binary (no size limit: for journals, read a line at
    a time); FileNotFoundError when missing, FileFormatError when it is not a regular file."""
    p = str(path)
    fd = _open(p)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileFormatError(p, None, f"is {_kind(st.st_mode)}, not a regular file; refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path | str, *, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. FileNotFoundError when it is not
    there (callers decide what a missing file means); FileFormatError for anything else."""
    p = str(path)
    fd = _open(p)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileFormatError(p, None, f"is {_kind(st.st_mode)}, not a regular file; refused")
        if st.st_size > limit:
            raise FileFormatError(
                p, None, f"is {_size(st.st_size)}; files over {_size(limit)} are refused (is this the right file?)"
            )
        chunks: list[bytes] = []
        total = 0
        while True:  # the file may grow while it is read: never more than limit + 1 bytes
            chunk = os.read(fd, min(1 * MB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileFormatError(p, None, f"grew past {_size(limit)} while it was read; refused")
        return b"".join(chunks)
    except OSError as exc:
        raise FileFormatError(p, None, f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def decode(data: bytes, path: Path | str) -> str:
    """UTF-8 text without a leading byte-order mark; an invalid byte is reported with its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise FileFormatError(str(path), line, f"is not UTF-8 text (byte 0x{bad} at offset {exc.start})") from None
    return text[1:] if text.startswith(BOM) else text


def read_text(path: Path | str, *, limit: int) -> str:
    """A regular file of at most `limit` bytes as UTF-8 text (see the module's docstring)."""
    return decode(read_bytes(path, limit=limit), path)
