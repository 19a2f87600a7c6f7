"""Which paths the file tools may read and write.

The model names paths; the sandbox turns each one into a real, symlink-free absolute path and
checks that it lies inside the workspace (or an extra read/write root). Resolving *before*
checking is the point: `..`, absolute paths and symlinks anywhere in the path are all judged
by where they actually lead, not by how they are spelled.

That check is a judgement, not an open: the tools then open the judged path through
`beneath()` (fsaccess.py), a descriptor walk from the root that cannot be led outside by a
folder swapped for a symlink after the check.

Bash is not confined by this class: it runs with the workspace as cwd and can do anything the
user can. The sandbox keeps the file tools (Read/Write/Edit/Grep/Glob) honest and keeps the
run's own bookkeeping (`runs/`, `execution_state.md`, the lock file) out of reach of writes.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

from llmos_tui.core.lock import LOCK_NAME
from llmos_tui.core.tools.errors import ToolError
from llmos_tui.core.tools.fsaccess import MAX_PATH, READ_FLAGS, Beneath
from llmos_tui.core.workspace import RUNS_NAME, STATE_NAME

DEFAULT_RESERVED = (RUNS_NAME, STATE_NAME, LOCK_NAME)


def _error(message: str) -> ToolError:
    return ToolError(message)


def _realpath(path: str, shown: str | None = None) -> str:
    """realpath that also resolves not-yet-existing targets.

    os.path.realpath (non-strict) already follows every symlink in the existing part of the
    path and normalises the rest lexically, which is what "realpath of the deepest existing
    parent plus the rest" means. It raises OSError when a link it saw is gone or replaced
    before it reads it (EINVAL: a swapped folder); that is tried again, then refused.
    """
    for _ in range(3):
        try:
            return os.path.realpath(path)
        except OSError:
            continue
    raise _changing(path if shown is None else shown)


def _changing(path: str) -> ToolError:
    return _error(f"Path {path!r} keeps changing while it is resolved (a symlink swapped in and out); try again.")


def _printable(s: str) -> str:
    """`s` with control and invisible characters escaped (a newline in a name stays visible)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root if root.endswith(os.sep) else root + os.sep)


class Sandbox:
    """Resolve model-given paths and refuse any that lead outside the allowed roots."""

    def __init__(
        self,
        root: Path,
        *,
        read_roots: Sequence[Path] = (),
        write_roots: Sequence[Path] = (),
        reserved: Sequence[str] = DEFAULT_RESERVED,
    ) -> None:
        self._root = _realpath(os.fspath(root))
        self.root = Path(self._root)
        self._write_roots = tuple(_realpath(os.fspath(p)) for p in write_roots)
        # Anything writable is readable too.
        self._read_roots = tuple(_realpath(os.fspath(p)) for p in read_roots) + self._write_roots
        self.reserved: frozenset[str] = frozenset(reserved)

    # -- public API ---------------------------------------------------------------------------

    def resolve_read(self, path: str) -> Path:
        """The real path for reading `path`, or ToolError if it leads outside what may be read."""
        real = self._resolve(path)
        if _inside(real, self._root) or any(_inside(real, r) for r in self._read_roots):
            return Path(real)
        raise self._outside(path, real)

    def resolve_write(self, path: str) -> Path:
        """The real path for writing `path`; refuses outside paths and llmos-tui's own state."""
        real = self._resolve(path)
        if _inside(real, self._root):
            if real == self._root:
                raise _error(f"Path {path!r} is the workspace folder itself, not a file.")
            if self._reserved_name(real) is not None:
                name = self._reserved_name(real)
                raise _error(
                    f"Path {path!r} is reserved for llmos-tui's own state ({name}); tools may read it but not write it."
                )
            return Path(real)
        if any(_inside(real, r) for r in self._write_roots):
            return Path(real)
        for r in self._read_roots:
            if _inside(real, r):
                raise _error(f"Path {path!r} is in a read-only folder ({r}); tools may read it but not write it.")
        raise self._outside(path, real)

    def display(self, p: Path | str) -> str:
        """How to show `p` to the model: relative to the workspace when inside it, on one line."""
        s = os.fspath(p)
        root = self._root
        if s == root:
            return "."
        prefix = root if root.endswith(os.sep) else root + os.sep
        if s.startswith(prefix):
            s = s[len(prefix) :]
        return s if s.isprintable() else _printable(s)

    def beneath(self, real: Path, shown: str, *, write: bool) -> tuple[Beneath, list[str]]:
        """A descriptor walk from the root that holds `real` (a resolve_* result), and the parts to walk.

        Writes walk from the workspace (llmos-tui's own state reserved) or a write root; reads
        from any allowed root. The walk re-checks every step, so a change since the check can
        make the call fail but never lead it outside the root.
        """
        s = os.fspath(real)
        roots = self._write_roots if write else self._read_roots
        for root, where in ((self._root, "the workspace"), *((r, "an allowed folder") for r in roots)):
            if _inside(s, root):
                reserved = self.reserved if write and root == self._root else frozenset()
                return Beneath(root, shown, where=where, reserved=reserved), s[len(root) :].split(os.sep)
        raise self._outside(shown, s)

    def open_read(self, real: Path, shown: str) -> tuple[int, os.stat_result]:
        """Open `real` (a resolve_read result) for reading, race-free; the descriptor and its fstat.

        Non-blocking (a fifo cannot hang) and never through a symlink that leaves the root.
        The caller closes the descriptor.
        """
        walk, parts = self.beneath(real, shown, write=False)
        with walk:
            fd, _ = walk.open(walk.walk(parts), READ_FLAGS)
        try:
            return fd, os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise

    def is_reserved(self, p: Path) -> bool:
        """True when `p` (a resolved path) is one of llmos-tui's own entries at the root."""
        return self._reserved_name(os.fspath(p)) is not None

    def is_allowed_read(self, real: str) -> bool:
        """True when the already-resolved path `real` may be read (used when walking trees)."""
        return _inside(real, self._root) or any(_inside(real, r) for r in self._read_roots)

    # -- internals ----------------------------------------------------------------------------

    def _reserved_name(self, real: str) -> str | None:
        if not _inside(real, self._root) or real == self._root:
            return None
        rel = real[len(self._root) :].lstrip(os.sep)
        first = rel.split(os.sep, 1)[0]
        return first if first in self.reserved else None

    def _resolve(self, path: str) -> str:
        if not isinstance(path, str):
            raise _error(f"Path must be a string, got {type(path).__name__}.")
        if not path.strip():
            raise _error("Path is empty; give a file path relative to the workspace.")
        if "\x00" in path:
            raise _error(f"Path {path!r} contains a NUL byte.")
        try:
            encoded = os.fsencode(path)
        except UnicodeError:
            raise _error(f"Path {path!r} has characters no file name can hold (a lone surrogate).") from None
        if len(encoded) > MAX_PATH:
            raise _error(f"Path {path[:60]!r}… is longer than {MAX_PATH} bytes.")
        if path.startswith("~"):
            raise _error(
                f"Path {path!r} starts with '~'; home expansion is not done. Use a path relative to the workspace."
            )
        joined = path if os.path.isabs(path) else os.path.join(self._root, path)
        real = _realpath(joined, path)
        # A symlink loop leaves realpath on the link itself; opening it would fail with ELOOP.
        # (A link swapped in after realpath passed that point looks the same, but resolves.)
        if os.path.islink(real):
            try:
                os.stat(real)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise _error(f"Path {path!r} is a symlink loop.") from None
            raise _changing(path)
        return real

    def _outside(self, path: str, real: str) -> ToolError:
        where = f"outside the workspace ({self._root})"
        if _inside(self._root, real):
            where = f"a parent of the workspace ({self._root})"
        lexical = os.path.normpath(path if os.path.isabs(path) else os.path.join(self._root, path))
        if (_inside(lexical, self._root) or any(_inside(lexical, r) for r in self._read_roots)) and lexical != real:
            return _error(
                f"Path {path!r} leads through a symlink to {real}, which is {where}; "
                "tools may only touch files inside it."
            )
        return _error(f"Path {path!r} is {where}; tools may only touch files inside it.")
