"""Durable file primitives: atomic replace and synced appends."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, *, sync: bool = True) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half.

    Temp file in the same directory, fsync, os.replace, then fsync the directory so the rename
    itself survives a power cut.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a state file is for everyone to read
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if sync:
        fsync_dir(path.parent)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask is process-wide and set at start


def _umask() -> int:
    return _UMASK


def fsync_dir(path: Path) -> None:
    """fsync a directory (makes a rename or a new file durable); a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def append_line(path: Path, line: str) -> None:
    """Append one line with a single O_APPEND write, so concurrent writers never interleave. A
    torn last line (a writer killed mid-line) is closed first, so it cannot swallow this one: it
    becomes a line of its own, which the reader reports as malformed."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: Path, name: str) -> int:
    """Delete temp files that `atomic_write` of `name` left behind when its process was killed.

    Call only while holding the lock that makes this process the sole writer of `name`.
    """
    removed = 0
    for tmp in Path(folder).glob(f".{name}.*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
