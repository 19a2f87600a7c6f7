"""Open what was checked: the file tools' descriptor walk beneath a root.

The sandbox (sandbox.py) judges a path by where it really leads. Opening that path again by
name would let a process in the workspace swap a folder for a symlink between the check and the
open (issue 11, finding 2). So every file tool opens through a `Beneath` walk instead:

- the root (the workspace, or an allowed read/write root) is opened once per call;
- each folder on the way is opened relative to its parent's descriptor with
  `O_PATH | O_NOFOLLOW | O_DIRECTORY`, so the kernel never follows a symlink for us;
- a symlink met on the way is read (readlinkat) and its target walked by the same rules:
  relative targets from the link's folder, `..` popping the walk's own stack (never above the
  root), absolute targets only when they name the root or something beneath it (then walked
  from the root's descriptor); more than 40 links is a loop;
- the leaf is opened relative to its folder's descriptor with `O_NOFOLLOW` (and `O_NONBLOCK`,
  so a fifo cannot hang a read), and judged by `fstat` of the open descriptor;
- writes go to a fresh `O_CREAT | O_EXCL` temp file in the leaf's folder and are renamed over
  the leaf with both folder descriptors, so they never write through an existing inode.

Anything that leaves the root or cannot be opened is a one-line ToolError, never an OSError.
Why a walk and not Linux `openat2(RESOLVE_BENEATH)`: the walk costs ~3.4 µs for a two-folder
path against ~1.8 µs for openat2 through ctypes (both far below a tool call's ~200 µs), works
where openat2 is missing or filtered (kernels before 5.6, seccomp profiles, macOS), follows
absolute in-workspace symlinks (RESOLVE_BENEATH refuses them) and says which link led out.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections import deque
from collections.abc import Iterable, Iterator

from llmos_tui.core.tools.errors import ToolError

_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)  # Linux; elsewhere a read-only open does the job
DIR_FLAGS = _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC  # a folder on the way
LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC  # a folder to list
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC  # a leaf
MAX_LINKS = 40  # the kernel's own limit on symlinks in one lookup
MAX_PATH = 4096  # bytes; a longer path is refused before any walk (PATH_MAX on Linux)


class Missing(ToolError):
    """The path (or a folder on it) does not exist; tools reword it ("File not found", …)."""


class Beneath:
    """A walk beneath `root`: a stack of open folder descriptors that never pops the root.

    `shown` is the path as the model gave it (for messages); `reserved` are top-level names a
    write may not enter (llmos-tui's own state), checked on the folders actually walked so a
    symlink swapped in mid-call cannot lead a write into them. Use as a context manager.
    """

    def __init__(self, root: str, shown: str, *, where: str, reserved: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.shown = shown
        self.where = where  # "the workspace" or "an allowed folder", for messages
        self.reserved = reserved
        self.names: list[str] = []  # the folders walked, below the root
        self._links = 0
        try:
            self._fds = [os.open(root, DIR_FLAGS)]
        except OSError as exc:
            raise ToolError(f"Cannot open {where} ({root}): {_why(exc)}") from None

    def __enter__(self) -> Beneath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())

    @property
    def dir_fd(self) -> int:
        """The folder the walk has reached."""
        return self._fds[-1]

    @property
    def at_root(self) -> bool:
        return len(self._fds) == 1

    # -- walking ------------------------------------------------------------------------------

    def walk(self, parts: Iterable[str], *, create: bool = False) -> str:
        """Descend through all but the last part; return the last name ('' for the folder itself).

        With `create`, missing folders are made (Write's "creating parent folders").
        """
        return self._walk(deque(parts), create)

    def _walk(self, pending: deque[str], create: bool) -> str:
        while pending:
            name = pending.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                self._up()
                continue
            if not pending:
                return name
            self._down(name, pending, create)
        return ""

    def _down(self, name: str, pending: deque[str], create: bool) -> None:
        if self.reserved and self.at_root and name in self.reserved:
            raise self.reserved_error(name)
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=self.dir_fd)
        except FileNotFoundError:
            if not create:
                raise Missing(f"File not found: {self.shown}") from None
            self._mkdir(name)
            pending.appendleft(name)  # open what is there now (ours, or a racer's: judged again)
            return
        except (NotADirectoryError, OSError) as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise ToolError(f"Cannot open {self.shown}: {_why(exc)}") from None
            target = self._readlink(name)
            if target is not None:
                self._splice(target, pending)
                return
            if self._changed(name):
                pending.appendleft(name)  # swapped between the open and the readlink: look again
                return
            if create:
                raise ToolError(
                    f"Cannot create folder {name!r} for {self.shown}: a file of that name is in the way."
                ) from None
            raise Missing(f"File not found: {self.shown} (a parent is a file, not a folder)") from None
        self._fds.append(fd)
        self.names.append(name)

    def _mkdir(self, name: str) -> None:
        self._count_link()  # bounds a create/delete race like a link loop
        try:
            os.mkdir(name, 0o777, dir_fd=self.dir_fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ToolError(f"Cannot create folder {name!r} for {self.shown}: {_why(exc)}") from None

    def _up(self) -> None:
        if self.at_root:
            raise ToolError(
                f"Path {self.shown!r} leads above {self.where} ({self.root}) through a symlink; "
                "tools may only touch files inside it."
            )
        os.close(self._fds.pop())
        self.names.pop()

    def _readlink(self, name: str) -> str | None:
        try:
            return os.readlink(name, dir_fd=self.dir_fd)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return None  # not a symlink (or gone): the caller reports what it found
            raise ToolError(f"Cannot open {self.shown}: {_why(exc)}") from None

    def _changed(self, name: str) -> bool:
        """After a lookup saw a symlink or a non-folder that readlink did not: did `name` change?

        True (counted like a link, so a swapping loop ends) when it is now a folder or gone.
        """
        try:
            st = os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            changed = True
        except OSError:
            return False
        else:
            changed = stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)
        if changed:
            self._count_link()
        return changed

    def _count_link(self) -> None:
        self._links += 1
        if self._links > MAX_LINKS:
            raise ToolError(f"Path {self.shown!r} is a symlink loop (more than {MAX_LINKS} links).")

    def _splice(self, target: str, pending: deque[str]) -> None:
        """Continue the walk through a symlink's target, refusing any way out of the root."""
        self._count_link()
        if target.startswith("/"):
            root = self.root.rstrip("/")
            if target != self.root and not target.startswith(root + "/"):
                raise ToolError(
                    f"Path {self.shown!r} leads through a symlink to {target!r}, which is outside "
                    f"{self.where} ({self.root}); tools may only touch files inside it."
                )
            while not self.at_root:
                os.close(self._fds.pop())
                self.names.pop()
            target = target[len(root) :]
        pending.extendleft(reversed(target.split("/")))

    # -- the leaf -----------------------------------------------------------------------------

    def open(self, name: str, flags: int = READ_FLAGS) -> tuple[int, str]:
        """Open the leaf `name` with O_NOFOLLOW; a symlink there is followed beneath the root.

        Returns the descriptor and the leaf's final name in `dir_fd` (after any links).
        """
        while True:
            try:
                return os.open(name or ".", flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.dir_fd), name
            except FileNotFoundError:
                raise Missing(f"File not found: {self.shown}") from None
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) or not name:
                    raise self.open_error(exc) from None
                target = self._readlink(name)
                if target is None:
                    if exc.errno == errno.ELOOP and self._changed(name):
                        continue  # a symlink when opened, something else when read: look again
                    raise self.open_error(exc) from None
                pending: deque[str] = deque()
                self._splice(target, pending)
                name = self._walk(pending, create=False)

    def final(self, name: str, *, create: bool = False) -> str:
        """Follow symlinks at the leaf (beneath the root) without opening it: a name to write."""
        while name:
            target = self._readlink(name)
            if target is None:
                return name
            pending: deque[str] = deque()
            self._splice(target, pending)
            name = self._walk(pending, create=create)
        return name

    def open_error(self, exc: OSError) -> ToolError:
        if exc.errno == errno.ENXIO:  # a socket
            return ToolError(f"{self.shown} is not a regular file (device, socket or pipe).")
        if exc.errno == errno.ENOTDIR:
            return Missing(f"File not found: {self.shown} (a parent is a file, not a folder)")
        return ToolError(f"Cannot open {self.shown}: {_why(exc)}")

    def reserved_error(self, name: str) -> ToolError:
        return ToolError(
            f"Path {self.shown!r} is reserved for llmos-tui's own state ({name}); tools may read it but not write it."
        )

    def check_writable_leaf(self, name: str) -> None:
        """Refuse a write whose leaf is the root itself or llmos-tui's own state."""
        if not name and self.at_root:
            raise ToolError(f"Path {self.shown!r} is the workspace folder itself, not a file.")
        if self.reserved and self.at_root and name in self.reserved:
            raise self.reserved_error(name)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def hard_link_error(shown: str, nlink: int) -> ToolError:
    return ToolError(
        f"{shown} has {nlink} hard links: it may be the same file as one outside the workspace, so the "
        "file tools neither read nor write it. Copy it (cp) to make a file of its own."
    )


def check_regular(st: os.stat_result, shown: str, *, for_read: bool) -> None:
    """Refuse folders, special files and hard-linked files (finding 3), with a reason."""
    if stat.S_ISDIR(st.st_mode):
        hint = "use Glob or Bash `ls` to list it" if for_read else "give a file path"
        raise ToolError(f"{shown} is a directory, not a file; {hint}.")
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{shown} is not a regular file (device, socket or pipe).")
    if st.st_nlink > 1:
        raise hard_link_error(shown, st.st_nlink)


def check_may_replace(dir_fd: int, name: str, shown: str) -> os.stat_result | None:
    """The existing leaf a write will replace (None if there is none), refused if it must not be.

    The file must be a regular, singly-linked file the user could write in place: replacing a
    read-only file by rename would bypass its permissions.
    """
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ToolError(f"Cannot write {shown}: {_why(exc)}") from None
    check_regular(st, shown, for_read=False)
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd))
    except OSError as exc:
        raise ToolError(f"Cannot write {shown}: {_why(exc)}") from None
    return st


def replace_file(dir_fd: int, name: str, data: bytes, shown: str, *, like: os.stat_result | None) -> None:
    """Write `data` as `name` in `dir_fd`: a fresh O_EXCL temp file renamed over the name.

    `like` (the file being replaced) gives the new file its permission bits (and owner, when
    allowed). Nothing is ever written through an existing inode.
    """
    tmp = f".llmos-{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
    except OSError as exc:
        raise ToolError(f"Cannot write {shown}: {_why(exc)}") from None
    try:
        try:
            if like is not None:
                os.fchmod(fd, stat.S_IMODE(like.st_mode))
                if like.st_uid != os.geteuid() or like.st_gid != os.getegid():
                    try:
                        os.fchown(fd, like.st_uid, like.st_gid)
                    except OSError:
                        pass  # not ours to give away: the new file is the writer's, as with any editor
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        _unlink_quietly(dir_fd, tmp)
        raise ToolError(f"Cannot write {shown}: {_why(exc)}") from None
    except BaseException:
        _unlink_quietly(dir_fd, tmp)
        raise


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def read_all(fd: int, size: int) -> bytes:
    """Read at most `size` bytes from `fd` (the caller has bounded `size`)."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- walking a tree -----------------------------------------------------------------------------

MAX_WALK_DEPTH = 128  # folders deeper than this are not searched (one descriptor per level is open)


def walk_tree(
    base_fd: int, *, skip_top: frozenset[str] = frozenset(), max_depth: int | None = None
) -> Iterator[tuple[str, int, str, bool]]:
    """Every file under the open folder `base_fd`, by descriptor: (rel, dir_fd, name, is_link).

    Folders are opened relative to their parent with O_NOFOLLOW, so a folder swapped for a
    symlink mid-walk is skipped, never followed; `dir_fd` is valid until the next item. Symlinks
    are yielded (is_link) for the caller to judge, never descended. Dot-folders and the
    `skip_top` names at the top are skipped. The order is that of sorted full paths (a folder
    sorts as its name plus '/'), so callers can stream sorted output. `base_fd` stays open.
    """

    def listing(fd: int, rel: str, depth: int) -> Iterator[tuple[str, bool, bool]]:
        try:
            with os.scandir(fd) as it:
                entries = list(it)
        except OSError:
            return iter(())
        items: list[tuple[str, bool, bool]] = []
        for entry in entries:
            name = entry.name
            if not rel and name in skip_top:
                continue
            try:
                if entry.is_symlink():
                    items.append((name, False, True))
                elif entry.is_dir(follow_symlinks=False):
                    if name.startswith(".") or depth >= MAX_WALK_DEPTH:
                        continue
                    if max_depth is None or depth < max_depth:
                        items.append((name, True, False))
                elif entry.is_file(follow_symlinks=False):
                    items.append((name, False, False))
            except OSError:
                continue
        items.sort(key=lambda item: item[0] + "/" if item[1] else item[0])
        return iter(items)

    frames = [(base_fd, "", 1, listing(base_fd, "", 1))]
    try:
        while frames:
            fd, rel, depth, items = frames[-1]
            item = next(items, None)
            if item is None:
                frames.pop()
                if frames:  # never the base: the caller owns it
                    os.close(fd)
                continue
            name, is_dir, is_link = item
            entry_rel = f"{rel}/{name}" if rel else name
            if is_dir:
                try:
                    sub = os.open(name, LIST_FLAGS, dir_fd=fd)
                except OSError:
                    continue  # gone, or no longer a folder (a symlink now): not followed
                frames.append((sub, entry_rel, depth + 1, listing(sub, entry_rel, depth + 1)))
            else:
                yield entry_rel, fd, name, is_link
    finally:
        for fd, *_ in frames[1:]:
            os.close(fd)
