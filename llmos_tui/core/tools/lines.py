"""Lines of a file with bounded memory, however long a line is (issue 11, finding 6).

`LineReader` reads a descriptor in 1 MB chunks and hands out each line cut to `keep` bytes,
with the line's full length; the rest of a long line is skipped as it streams past, never held.
Read and Grep use it, so a file with a 1 GB line costs about `keep` + one chunk of memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

CHUNK = 1 << 20
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that do not start a character


def utf8_chars(data: bytes) -> int:
    """How many characters `data` holds as UTF-8 (each invalid byte counts as one)."""
    return len(data.translate(None, _CONTINUATION))


class Line(NamedTuple):
    head: bytes  # the line's first `keep` bytes, without its newline
    size: int  # the line's full length in bytes
    rest_chars: int  # characters after `head` (only counted when the reader counts them)


class LineReader:
    """The lines of `fd` (from its current offset), each cut to `keep` bytes.

    `first` is data already read from the descriptor (a sniffed head). With `count_chars`, a
    line longer than `keep` also reports how many characters were cut (Read's note); it may be
    switched on and off between lines (lines Read skips need no count).
    """

    def __init__(self, fd: int, keep: int, *, first: bytes = b"", count_chars: bool = False) -> None:
        self._fd = fd
        self._keep = keep
        self.count_chars = count_chars
        self._first = first
        self._lines: list[bytes] = []  # complete lines split from the current chunk
        self._i = 0
        self._pending = b""  # the start of a line still being read (at most `keep` bytes)
        self._long: bytes | None = None  # head of a line longer than `keep`, while it streams
        self._long_size = 0
        self._long_chars = 0
        self._eof = False

    def _read(self) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        if self._eof:
            return b""
        data = os.read(self._fd, CHUNK)
        if not data:
            self._eof = True
        return data

    def __iter__(self) -> Iterator[Line]:
        keep = self._keep
        while True:
            lines = self._lines
            for i in range(self._i, len(lines)):
                raw = lines[i]
                self._i = i + 1  # kept current so count_rest() knows what was handed out
                if len(raw) > keep:
                    rest = utf8_chars(raw[keep:]) if self.count_chars else 0
                    yield Line(raw[:keep], len(raw), rest)
                else:
                    yield Line(raw, len(raw), 0)
            chunk = self._read()
            if not chunk:
                if self._long is not None:
                    yield Line(self._long, self._long_size, self._long_chars)
                    self._long = None
                elif self._pending:
                    raw, self._pending = self._pending, b""
                    yield Line(raw, len(raw), 0)
                return
            if self._long is not None:
                nl = chunk.find(b"\n")
                part = chunk if nl < 0 else chunk[:nl]
                self._long_size += len(part)
                if self.count_chars:
                    self._long_chars += utf8_chars(part)
                if nl < 0:
                    continue
                line = Line(self._long, self._long_size, self._long_chars)
                self._long = None
                self._split(chunk[nl + 1 :])
                yield line
            else:
                self._split(chunk)

    def _split(self, chunk: bytes) -> None:
        data = self._pending + chunk if self._pending else chunk
        self._lines = data.split(b"\n")
        self._i = 0
        self._pending = self._lines.pop()
        if len(self._pending) > self._keep:
            tail = self._pending
            self._pending = b""
            self._long = tail[: self._keep]
            self._long_size = len(tail)
            # Counted whatever count_chars says now (at most one chunk): the switch is set for
            # the line about to be handed out, and this one may come after it.
            self._long_chars = utf8_chars(tail[self._keep :])

    def count_rest(self) -> int:
        """How many lines are left, counted without splitting them (the rest of the file streams)."""
        n = len(self._lines) - self._i
        self._lines, self._i = [], 0
        open_line = bool(self._pending) or self._long is not None
        self._pending, self._long = b"", None
        while chunk := self._read():
            newlines = chunk.count(b"\n")
            n += newlines
            open_line = not chunk.endswith(b"\n") if newlines else True
        return n + (1 if open_line else 0)


def line_blocks(fd: int, keep: int, *, first: bytes = b"", chunk: int = CHUNK) -> Iterator[tuple[bytes, int]]:
    """The file as blocks of whole lines (about one chunk each), every line cut to `keep` bytes.

    Yields (block, lines cut in it). A block ends with a newline except, possibly, the last
    and a cut line: a line longer than `keep` comes alone as its first `keep` bytes, its rest
    skipped as it streams past. Grep searches a block at a time (one regex call for a block
    without a match) with at most `keep` + two chunks in memory. `first` is data already read.
    """
    pending = b""  # the start of an unfinished line (at most `keep` bytes)
    long: bytes | None = None  # the head of a line longer than `keep`, while its rest streams
    data = first or os.read(fd, chunk)
    while data:
        if long is not None:
            nl = data.find(b"\n")
            if nl < 0:
                data = os.read(fd, chunk)
                continue
            yield long, 1  # a block of one line, without its newline (the rest of it was skipped)
            long, data = None, data[nl + 1 :]
            if not data:
                data = os.read(fd, chunk)
            continue
        buf = pending + data if pending else data
        end = buf.rfind(b"\n") + 1
        block, pending = buf[:end], buf[end:]
        del buf, data
        if block:
            yield _cap_lines(block, keep) if len(block) > keep else (block, 0)
        if len(pending) > keep:
            long, pending = pending[:keep], b""
        data = os.read(fd, chunk)
    if long is not None:
        yield long, 1
    elif pending:
        yield pending, 0


def _cap_lines(block: bytes, keep: int) -> tuple[bytes, int]:
    """`block` with every line cut to `keep` bytes, and how many were cut (rare: a block is ~1 chunk)."""
    lines = block.split(b"\n")
    cut = sum(1 for line in lines if len(line) > keep)
    if not cut:
        return block, 0
    return b"\n".join(line[:keep] for line in lines), cut
