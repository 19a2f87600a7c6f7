"""Workspace checkpoints: the files of a workspace recorded before each step with side effects,
in a shadow git repository, so a run can be rewound, forked, diffed and replayed files included.

The store is a bare git repository of its own (default `runs/.checkpoints/` in the workspace)
driven by the `git` command line with every outside setting shut out (no system or global
config, no hooks, no fsmonitor, and an info/attributes that overrides the workspace's own
.gitattributes: no line-ending conversion, no filters). Git brings what a home-made store would
have to rebuild: content-addressed, zlib-compressed objects, and an index whose stat cache makes
a snapshot of a big tree cheap when one file changed.

A checkpoint is a commit on the ref chain `refs/llmos/checkpoints` (each commit's parent is the
one before, so all stay reachable; nothing here ever runs gc) whose tree holds two entries:

  files          the workspace's tree: regular files (content, git's x bit) and symlinks
  manifest.json  what git does not keep (see `Manifest`): every file's and folder's permission
                 bits (the most common value plus the exceptions) and the folders that hold no
                 recorded file (empty ones). Unchanged → the same blob, not stored again.

A snapshot walks the tree here (os.scandir, symlinks not followed, the ignore patterns applied),
hands the paths to `git update-index` (which hashes only what its stat cache says changed) and
`git write-tree`, writes the manifest, the two-entry tree and the commit as loose objects itself
(three small objects: three git processes fewer), then moves the ref with `git update-ref`.
Taking the path list from the walk, not from `git add`, means no `.gitignore` the workspace (or
an agent) writes can hide files from checkpoints.

Never recorded, restored or deleted: the bookkeeping at the workspace's top (`runs/`,
`execution_state.md` and its temporary siblings, the driver's lock file), the store itself,
what the ignore patterns match (gitignore syntax; `.git/`, `node_modules/`, caches and build
output by default), files over the size cap, and what git cannot hold (fifos, sockets, devices,
a name `.git`). The last two kinds are listed (`Skipped`), never passed over silently.

Restore is idempotent and roll-forward safe: it brings the store's index up to the tree as it
is, lets `git read-tree --reset -u` rewrite what differs (files, symlinks, a file where a folder
was and back), then applies the manifest (permission bits, empty folders, folders the
checkpoint did not have). Killed at any point, the next `restore` of the same id starts from
whatever was left and ends on exactly the checkpoint. Git children inherit the store's flock,
so a killed process's git finishes before anyone else touches the store; a lock file left by a
killed git is removed under that flock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import subprocess
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llmos_tui.core.checkpoint_manifest import (
    GIT_MODE_LINK,
    PERM,
    Manifest,
    ancestors,
    depth_first,
    most_common,
    parent,
)
from llmos_tui.core.errors import LlmosError
from llmos_tui.core.fsutil import fsync_dir
from llmos_tui.core.ignore import IgnoreRules
from llmos_tui.core.lock import LOCK_NAME
from llmos_tui.core.workspace import CHECKPOINTS_NAME, RUNS_NAME, STATE_NAME

MiB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 10 * MiB
DEFAULT_IGNORE: tuple[str, ...] = (
    ".git/",
    "node_modules/",
    "__pycache__/",
    ".venv/",
    "venv/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".tox/",
    ".cache/",
    "dist/",
    "build/",
    "target/",
    "*.pyc",
)
STORE_NAME = CHECKPOINTS_NAME  # in runs/: the default place of the store (named in workspace.py)
REF = "refs/llmos/checkpoints"
WORKTREE = "worktree"  # changes(a, WORKTREE): from a checkpoint to the files as they are now
FILES_ENTRY = "files"
MANIFEST_ENTRY = "manifest.json"
LOCK_FILE = "llmos.lock"
_FILTER_INDEX = "index.filter."  # a scratch index made under the lock
_AUTHOR = ("llmos-tui", "checkpoints@llmos-tui.invalid")
GIT_TIMEOUT_S = 600.0

_ZERO = "0" * 40
_HEX_ID = re.compile(r"[0-9a-f]{4,40}")
_SHA = re.compile(r"[0-9a-f]{40}")
# what git says of a store with broken or missing objects
_DAMAGE = re.compile(
    "|".join(
        (
            "inflate",
            "corrupt",
            "bad object",
            "unable to read",
            "loose object",
            "invalid object",
            "bad tree",
            "not a git repository",
        )
    )
)

# Settings given on every git command line (they beat the store's own config file): nothing of
# the user's git setup or of the workspace's .gitattributes may change what is stored or written.
_GIT_CONFIG = (
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.symlinks=true",
    "core.fileMode=true",
    "core.ignoreCase=false",
    "core.protectNTFS=false",
    "core.protectHFS=false",
    "core.quotepath=off",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.splitIndex=false",
    "core.sparseCheckout=false",
    "core.hooksPath=/dev/null",
    "core.attributesFile=/dev/null",
    "core.excludesFile=/dev/null",
    "core.logAllRefUpdates=false",
    "commit.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "init.defaultBranch=checkpoints",
    # a checkpoint survives a power cut, not only a kill: the objects git writes are synced (in
    # one batch per command) before the ref that names them (git 2.36 on; an older git ignores it)
    "core.fsync=loose-object,reference",
    "core.fsyncMethod=batch",
)
# info/attributes outranks every .gitattributes in the tree: no line-ending conversion, no
# clean/smudge filter (git-lfs), no ident expansion, no re-encoding; diff's own binary test
_ATTRIBUTES = "* -text !eol -filter -ident !working-tree-encoding !diff\n"


class CheckpointError(LlmosError):
    """The store cannot record or restore: one line that says what to do."""


@dataclass(frozen=True)
class Skipped:
    """A file (or folder) left out of a checkpoint, or left as it is by a restore."""

    path: str
    size: int
    why: str  # "over the 10 MiB cap", "not a regular file (fifo)", ...


@dataclass(frozen=True)
class Checkpoint:
    id: str  # the commit's sha
    files: int  # files and symlinks recorded
    skipped: tuple[Skipped, ...]
    seconds: float
    tree: str = ""  # the commit's tree: equal trees, equal workspaces
    new: bool = True  # False: nothing changed since the last snapshot, `id` is that one's


ChangeKind = Literal["added", "deleted", "modified", "mode", "type"]


@dataclass(frozen=True)
class FileChange:
    """One path that differs between two checkpoints. Modes are st_mode values (type and
    permission bits, as os.lstat gives them): stat.S_ISDIR(mode) tells a folder, which is
    listed when it is empty, or when its permission bits changed or are not the usual ones."""

    path: str
    change: ChangeKind
    old_mode: int | None
    new_mode: int | None
    binary: bool  # git's diff found the content binary (False when only the mode changed)
    old_size: int | None
    new_size: int | None
    old_sha: str | None
    new_sha: str | None
    diff: str  # unified diff for text (from the '--- ' line on), "" for binary, folders, modes


# ---------------------------------------------------------------------------------------------
# The tree as it is


@dataclass
class _Scan:
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # path → (st_mode, size): files, symlinks
    dirs: dict[str, int] = field(default_factory=dict)  # path → st_mode (the root not included)
    skipped: list[Skipped] = field(default_factory=list)
    protected: dict[str, str] = field(default_factory=dict)  # never touched → why: "ignored", "reserved", ...


def _cap_text(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 and n >= MiB else f"{n:,} bytes"


def _special(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "unknown type"


_EUID = os.geteuid()
_GROUPS = frozenset(os.getgroups()) | {os.getegid()}


def _readable(st: os.stat_result) -> bool:
    """Whether this process can read the file, by its permission bits (no system call)."""
    if _EUID == 0:
        return True
    if st.st_uid == _EUID:
        return bool(st.st_mode & stat.S_IRUSR)
    if st.st_gid in _GROUPS:
        return bool(st.st_mode & stat.S_IRGRP)
    return bool(st.st_mode & stat.S_IROTH)


@dataclass(frozen=True)
class _State:
    commit: str | None  # None: the worktree as it is now
    files_tree: str
    manifest: Manifest


# ---------------------------------------------------------------------------------------------


class CheckpointStore:
    """The checkpoints of one workspace folder (see the module's doc)."""

    def __init__(
        self,
        root: Path,
        *,
        store: Path | None = None,
        ignore: Sequence[str] | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.store = Path(os.path.abspath(store)) if store is not None else self.root / RUNS_NAME / STORE_NAME
        self.ignore = tuple(DEFAULT_IGNORE if ignore is None else ignore)
        self.max_file_bytes = int(max_file_bytes)
        self._rules = IgnoreRules(self.ignore)
        self._quiet_dotgit = self._rules.ignored(".git", ".git", True)
        self._index = self.store / "index"
        # the store itself when it lies in the workspace somewhere other than under runs/
        try:
            rel = self.store.relative_to(self.root).as_posix()
        except ValueError:
            rel = ""
        self._reserved_paths = {rel} if rel and rel != "." else set()
        self._reserved_top = {RUNS_NAME, STATE_NAME, LOCK_NAME}
        self._state_tmp = (f".{STATE_NAME}.", ".tmp")  # fsutil.atomic_write's temporary siblings
        self._ready = False
        self._lock_fd: int | None = None
        # caches, each checked against what is on disk before it is trusted
        self._index_known: tuple[tuple[int, int, int], frozenset[str]] | None = None
        self._index_tree: tuple[tuple[int, int, int], str] | None = None
        self._manifest_sha: tuple[bytes, str] | None = None
        self._exclude_text: str | None = None
        self._commit_tree: dict[str, str] = {}
        self._states: dict[str, _State] = {}
        self._listings: dict[str, dict[str, tuple[int, str]]] = {}
        self._env_cache: dict[str, dict[str, str]] = {}

    # -- public ---------------------------------------------------------------------------

    @staticmethod
    def available() -> bool:
        return shutil.which("git") is not None

    def snapshot(self, label: str = "") -> Checkpoint:
        """Record the tree as it is now. Nothing changed since the last snapshot: that one's id."""
        started = time.perf_counter()
        with self._locked():
            scan, files_tree, manifest = self._capture()
            manifest_sha = self._write_manifest(manifest.to_bytes())
            top = self._top_tree(files_tree, manifest_sha)
            tip = self._read_ref()
            if tip is not None and self._tree_of(tip) == top:
                commit, new = tip, False
            else:
                commit = self._commit(top, tip, label)
                self._git(["update-ref", REF, commit, tip or _ZERO], bare=True)
                self._commit_tree[commit] = top
                new = True
        return Checkpoint(
            id=commit,
            files=len(scan.files),
            skipped=tuple(scan.skipped),
            seconds=time.perf_counter() - started,
            tree=top,
            new=new,
        )

    def restore(self, checkpoint_id: str) -> list[Skipped]:
        """Make the tree equal to the checkpoint, except what is never touched (ignored, reserved,
        over the cap, not storable): those stay as they are, and the ones a person would miss
        (over the cap, unstorable, a checkpoint's file they keep from coming back) are returned.
        Idempotent: run again after a crash midway, it finishes the job."""
        with self._locked():
            target = self._state(checkpoint_id)
            listing = dict(self._listing(target.files_tree))
            manifest = target.manifest
            self._check_consistent(target, listing)
            # everything is read; from here on the tree changes
            scan = self._scan(restoring=True)
            # what the checkpoint left out (then over the cap, unreadable…) is not known to it:
            # whatever is there now stays, out of the index, so the restore neither deletes nor
            # replaces it
            left_out = []
            for p in manifest.skipped:
                if p in scan.files and p not in listing:
                    _mode, size = scan.files.pop(p)
                    scan.protected[p] = "left out of that checkpoint"
                    left_out.append(
                        Skipped(p, size, "left out of that checkpoint (over the size cap or unreadable then)")
                    )
            self._refresh_index(scan)
            skipped = list(scan.skipped) + left_out
            dropped = self._in_the_way(listing, manifest, scan)
            tree = target.files_tree
            if dropped:
                sizes = self._sizes(listing[p][1] for p in dropped if p in listing)
                for p, why in sorted(dropped.items()):
                    entry = listing.pop(p, None)
                    skipped.append(Skipped(p, sizes.get(entry[1], 0) if entry else 0, why))
                tree = self._tree_without(target.files_tree, [p for p in dropped if p not in manifest.dirs])
            self._git(["read-tree", "--reset", "-u", tree], strict=True)
            sig = self._index_sig()
            self._index_known = (sig, frozenset(listing)) if sig is not None else None
            self._index_tree = (sig, tree) if sig is not None else None
            dirs = {d: m for d, m in manifest.dir_map(listing).items() if d not in dropped and d not in scan.protected}
            stray = scan.dirs.keys() - dirs.keys() - scan.protected.keys()
            _apply(self.root, listing, manifest, dirs, stray=stray, checkpoint=target.commit)
        return skipped

    def changes(self, a: str, b: str, *, context: int = 3) -> list[FileChange]:
        """What differs from checkpoint `a` to `b` (a checkpoint, or WORKTREE: the files now)."""
        sa = self._state(a)
        sb = self._state(b) if b != WORKTREE else self._worktree_state()
        out: list[FileChange] = []
        raw = self._git(["diff-tree", "-r", "-z", "--no-renames", "--raw", sa.files_tree, sb.files_tree], bare=True)
        entries = _parse_raw(raw)
        sizes = self._sizes({e[2] for e in entries} | {e[3] for e in entries})
        sections: list[list[bytes]] = [[] for _ in entries]
        if any(e[2] != e[3] for e in entries):
            patch = self._git(
                [
                    "diff-tree",
                    "-r",
                    "-p",
                    "--no-renames",
                    "--no-ext-diff",
                    "--no-textconv",
                    "--no-color",
                    f"-U{max(0, int(context))}",
                    sa.files_tree,
                    sb.files_tree,
                ],
                bare=True,
            )
            parts = _split_patch(patch)
            want = sum(2 if e[4] == "T" else 1 for e in entries)
            if len(parts) != want:
                raise CheckpointError(f"git diff-tree gave {len(parts)} file sections for {want} changes; report this")
            k = 0
            for i, e in enumerate(entries):
                n = 2 if e[4] == "T" else 1
                sections[i] = parts[k : k + n]
                k += n
        seen: set[str] = set()
        for (om, nm, osha, nsha, status, path), secs in zip(entries, sections):
            seen.add(path)
            old_mode = sa.manifest.full_mode(path, om) if om else None
            new_mode = sb.manifest.full_mode(path, nm) if nm else None
            binary = any(_is_binary_section(s) for s in secs)
            diff = "" if binary else "".join(_unified_part(s) for s in secs)
            kind: ChangeKind
            if status == "A":
                kind = "added"
            elif status == "D":
                kind = "deleted"
            elif status == "T":
                kind = "type"
            else:
                kind = "modified" if osha != nsha else "mode"
            if kind == "mode" and old_mode == new_mode:
                continue
            out.append(
                FileChange(
                    path=path,
                    change=kind,
                    old_mode=old_mode,
                    new_mode=new_mode,
                    binary=binary,
                    old_size=sizes.get(osha) if om else None,
                    new_size=sizes.get(nsha) if nm else None,
                    old_sha=osha if om else None,
                    new_sha=nsha if nm else None,
                    diff=diff,
                )
            )
        out.extend(self._mode_changes(sa, sb, seen, sizes))
        out.sort(key=lambda c: (c.path, c.change))
        return out

    def files(self, checkpoint_id: str) -> dict[str, tuple[int, str]]:
        """path → (st_mode, blob sha) of every file and symlink of the checkpoint."""
        st = self._state(checkpoint_id)
        return {p: (st.manifest.full_mode(p, m), sha) for p, (m, sha) in self._listing(st.files_tree).items()}

    def dirs(self, checkpoint_id: str) -> dict[str, int]:
        """path → st_mode of every folder of the checkpoint (the workspace's root not included)."""
        st = self._state(checkpoint_id)
        return st.manifest.dir_map(self._listing(st.files_tree))

    def read(self, checkpoint_id: str, path: str) -> bytes:
        """A file's bytes as the checkpoint has them (a symlink's: its target)."""
        st = self._state(checkpoint_id)
        entry = self._listing(st.files_tree).get(path)
        if entry is None:
            raise CheckpointError(f"checkpoint {checkpoint_id[:12]} has no file {path!r}")
        return self._git(["cat-file", "blob", entry[1]], bare=True)

    def materialize(self, checkpoint_id: str, dest: Path) -> None:
        """Write the checkpoint's tree, permission bits included, into a new or empty folder."""
        st = self._state(checkpoint_id)
        dest = Path(os.path.abspath(dest))
        if dest.exists() or dest.is_symlink():
            if not dest.is_dir() or dest.is_symlink() or any(os.scandir(dest)):
                raise CheckpointError(
                    f"{dest} must be a new or empty folder to copy checkpoint {checkpoint_id[:12]} into"
                )
        listing = self._listing(st.files_tree)
        self._check_consistent(st, listing)
        dest.mkdir(parents=True, exist_ok=True)
        self._ensure_attributes()
        index = self.store / f"index.materialize.{os.getpid()}.{time.monotonic_ns()}"
        try:
            self._git(
                ["read-tree", "--reset", "-u", st.files_tree],
                extra_env={"GIT_WORK_TREE": str(dest), "GIT_INDEX_FILE": str(index)},
                cwd=dest,
                strict=True,
            )
        finally:
            for leftover in (index, index.with_name(index.name + ".lock")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        _apply(dest, listing, st.manifest, st.manifest.dir_map(listing), stray=(), checkpoint=st.commit)

    def exists(self, checkpoint_id: str) -> bool:
        if not isinstance(checkpoint_id, str) or not _HEX_ID.fullmatch(checkpoint_id):
            return False
        if not (self.store / "HEAD").exists():
            return False
        try:
            self._state(checkpoint_id)
        except CheckpointError:
            return False
        return True

    # -- the store --------------------------------------------------------------------------

    def _env(self, bare: bool, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        key = "bare" if bare else "tree"
        base = self._env_cache.get(key)
        if base is None:
            base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            base.update(
                GIT_DIR=str(self.store),
                GIT_INDEX_FILE=str(self._index),
                GIT_CONFIG_NOSYSTEM="1",
                GIT_CONFIG_GLOBAL=os.devnull,
                GIT_ATTR_NOSYSTEM="1",
                GIT_NO_REPLACE_OBJECTS="1",
                GIT_LITERAL_PATHSPECS="1",
                GIT_TERMINAL_PROMPT="0",
                GIT_OPTIONAL_LOCKS="0",
                GIT_AUTHOR_NAME=_AUTHOR[0],
                GIT_AUTHOR_EMAIL=_AUTHOR[1],
                GIT_COMMITTER_NAME=_AUTHOR[0],
                GIT_COMMITTER_EMAIL=_AUTHOR[1],
                LC_ALL="C",
            )
            if not bare:
                base["GIT_WORK_TREE"] = str(self.root)
            self._env_cache[key] = base
        if extra:
            return {**base, **extra}
        return base

    def _git(
        self,
        args: list[str],
        *,
        input: bytes | None = None,
        bare: bool = False,
        extra_env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ok: tuple[int, ...] = (0,),
        strict: bool = False,
    ) -> bytes:
        """Run git on the store; `strict`: a warning on stderr is a failure too (read-tree -u
        only warns when it cannot remove a file, and exits 0)."""
        cmd = ["git"]
        for setting in _GIT_CONFIG:
            cmd += ["-c", setting]
        cmd += args
        try:
            done = subprocess.run(
                cmd,
                input=input,
                capture_output=True,
                env=self._env(bare, extra_env),
                cwd=cwd or (self.store if bare else self.root),
                pass_fds=(self._lock_fd,) if self._lock_fd is not None else (),
                timeout=GIT_TIMEOUT_S,
            )
        except FileNotFoundError:
            raise CheckpointError(
                "checkpoints need git, which is not on PATH: install git, or turn checkpoints off"
            ) from None
        except subprocess.TimeoutExpired:
            raise CheckpointError(f"git {args[0]} took over {GIT_TIMEOUT_S:.0f} s in {self.store}; try again") from None
        except OSError as exc:
            raise CheckpointError(f"cannot run git {args[0]}: {exc.strerror or exc}") from None
        if done.returncode not in ok or (strict and done.stderr.strip()):
            detail = _first_line(done.stderr) or f"exit status {done.returncode}"
            if _DAMAGE.search(detail):
                raise self._damaged(f"git {args[0]}: {detail}")
            raise CheckpointError(f"checkpoint store {self.store}: git {args[0]} failed: {detail}; try again")
        return done.stdout

    def _damaged(self, detail: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint store {self.store} is damaged ({detail}); move it aside to start a new one "
            "(its checkpoints are lost)"
        )

    def _prepare(self) -> None:
        """Make the store on first use (a bare repository), and its exclude and attribute files."""
        if self._ready:
            return
        if not (self.store / "HEAD").exists():
            if not self.available():
                raise CheckpointError(
                    "checkpoints need git, which is not on PATH: install git, or turn checkpoints off"
                )
            self._git(["init", "-q", "--bare", "--template="], bare=True)  # makes GIT_DIR, the store
        elif not (self.store / "objects").is_dir():
            raise self._damaged("no objects folder")
        self._ensure_attributes()
        self._ready = True

    def _ensure_attributes(self) -> None:
        """info/attributes, without which a checkout would follow the tree's .gitattributes."""
        attributes = self.store / "info" / "attributes"
        try:
            current = attributes.read_text()
        except OSError:
            current = None
        if current != _ATTRIBUTES:
            attributes.parent.mkdir(exist_ok=True)
            _write_atomic(attributes, _ATTRIBUTES.encode())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's flock (two processes may snapshot or restore at once). Git children get
        the descriptor too: a killed holder's git keeps the lock until it is done."""
        if self._lock_fd is not None:  # re-entered
            yield
            return
        if not self.root.is_dir():
            raise CheckpointError(f"no workspace folder at {self.root}")
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.store / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise CheckpointError(f"cannot open the checkpoint store {self.store}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_fd = fd
            # with the lock held no git of ours runs on this store: a lock file left now is one
            # a killed git left behind
            for name in ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", REF + ".lock"):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    os.unlink(self.store / name)
            with os.scandir(self.store) as it:
                for entry in it:
                    if entry.name.startswith(_FILTER_INDEX):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
            self._prepare()
            yield
        finally:
            self._lock_fd = None
            os.close(fd)  # drops the flock

    def _read_ref(self) -> str | None:
        try:
            value = (self.store / REF).read_text().strip()
        except FileNotFoundError:
            if not (self.store / "packed-refs").exists():
                return None
            value = self._git(["rev-parse", "-q", "--verify", REF], bare=True, ok=(0, 1)).decode().strip()
            if not value:
                return None
        except OSError as exc:
            raise self._damaged(f"{REF}: {exc.strerror}") from None
        if not _SHA.fullmatch(value):
            raise self._damaged(f"{REF} holds {value[:60]!r}")
        return value

    def _tree_of(self, commit: str) -> str:
        tree = self._commit_tree.get(commit)
        if tree is None:
            tree = self._git(["rev-parse", "--verify", "-q", commit + "^{tree}"], bare=True, ok=(0, 1)).decode().strip()
            if not _SHA.fullmatch(tree):
                raise self._damaged(f"{REF} names {commit[:12]}, which cannot be read")
            self._commit_tree[commit] = tree
        return tree

    # -- recording ----------------------------------------------------------------------------

    def _is_reserved_top(self, name: str) -> bool:
        return name in self._reserved_top or (name.startswith(self._state_tmp[0]) and name.endswith(self._state_tmp[1]))

    def _scan(self, *, restoring: bool = False) -> _Scan:
        """Walk the tree (symlinks not followed): what is recorded, what is left alone and why."""
        scan = _Scan()
        files, dirs, protected, skipped = scan.files, scan.dirs, scan.protected, scan.skipped
        quiet_dotgit = self._quiet_dotgit

        def leave(rel: str, why: str, size: int = 0, *, listed: bool = True) -> None:
            protected[rel] = why
            if listed:
                skipped.append(Skipped(rel, size, why))

        rules, cap = self._rules, self.max_file_bytes
        reserved_paths = self._reserved_paths
        stack: list[tuple[str, str]] = [("", str(self.root))]
        while stack:
            rel_dir, abs_dir = stack.pop()
            try:
                it = os.scandir(abs_dir)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if not rel_dir:
                    raise CheckpointError(f"cannot read the workspace {self.root}: {exc.strerror or exc}") from None
                leave(rel_dir, f"folder not readable ({exc.strerror or exc})")
                continue
            with it:
                for entry in it:
                    name = entry.name
                    if rel_dir:
                        rel = rel_dir + "/" + name
                    else:
                        rel = name
                        if self._is_reserved_top(name):
                            leave(rel, "reserved", listed=False)
                            continue
                    if reserved_paths and rel in reserved_paths:
                        leave(rel, "reserved", listed=False)
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        leave(rel, f"cannot be read ({exc.strerror or exc})")
                        continue
                    mode = st.st_mode
                    is_dir = stat.S_ISDIR(mode)
                    if rules.ignored(rel, name, is_dir):
                        leave(rel, "ignored", listed=False)
                        continue
                    if name.lower() == ".git" or (name == ".gitmodules" and stat.S_ISLNK(mode)):
                        # a repository's .git (or a worktree's gitfile) is quietly left out when
                        # the patterns ignore .git/; git refuses to store any
                        leave(rel, "a name git cannot store", st.st_size, listed=not (quiet_dotgit and name == ".git"))
                        continue
                    if is_dir:
                        if restoring and mode & 0o700 != 0o700:
                            # the restore must be able to write in it; its bits are set at the end
                            with contextlib.suppress(OSError):
                                os.chmod(entry.path, stat.S_IMODE(mode) | 0o700)
                        dirs[rel] = mode
                        stack.append((rel, entry.path))
                        continue
                    is_file = stat.S_ISREG(mode)
                    if not is_file and not stat.S_ISLNK(mode):
                        leave(rel, f"not a regular file ({_special(mode)})", st.st_size)
                        continue
                    if is_file and not _readable(st):
                        leave(rel, "not readable", st.st_size)
                        continue
                    if is_file and st.st_size > cap:
                        leave(rel, f"over the {_cap_text(cap)} cap", st.st_size)
                        continue
                    files[rel] = (mode, st.st_size)
        skipped.sort(key=lambda s: s.path)
        return scan

    def _index_sig(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._index)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _refresh_index(self, scan: _Scan) -> str | None:
        """Bring the store's index to the scanned tree: the recorded paths exactly, each hashed
        anew when its stat data changed. Returns the files tree when it is known unchanged."""
        sig = self._index_sig()
        if sig is None:
            known: frozenset[str] = frozenset()
        elif self._index_known is not None and self._index_known[0] == sig:
            known = self._index_known[1]
        else:
            listed = self._git(["ls-files", "-z", "--cached"])
            known = frozenset(os.fsdecode(p) for p in listed.split(b"\0") if p)
        gone = known.difference(scan.files)
        if gone:
            self._git(["update-index", "--force-remove", "-z", "--stdin"], input=_nul_join(gone))
        if scan.files:
            self._git(["update-index", "--add", "--remove", "--replace", "-z", "--stdin"], input=_nul_join(scan.files))
        elif sig is None:
            self._git(["read-tree", "--empty"])  # an index file for an empty tree
        new_sig = self._index_sig()
        if new_sig is not None:
            self._index_known = (new_sig, frozenset(scan.files))
        if new_sig == sig and self._index_tree is not None and self._index_tree[0] == sig:
            return self._index_tree[1]
        return None

    def _capture(self) -> tuple[_Scan, str, Manifest]:
        """The tree now: its scan, its files tree (in the store) and its manifest."""
        scan = self._scan()
        try:
            tree = self._refresh_index(scan)
        except CheckpointError:
            scan = self._scan()  # a file became a folder between the walk and git: once more
            self._index_known = None
            tree = self._refresh_index(scan)
        if tree is None:
            tree = self._git(["write-tree"]).decode().strip()
            if not _SHA.fullmatch(tree):
                raise self._damaged(f"git write-tree answered {tree[:60]!r}")
            sig = self._index_sig()
            if sig is not None:
                self._index_tree = (sig, tree)
                # write-tree rewrites the index (its cached trees), not its paths
                self._index_known = (sig, frozenset(scan.files))
        self._write_exclude(scan)
        return scan, tree, self._manifest(scan)

    def _manifest(self, scan: _Scan) -> Manifest:
        files = scan.files
        regular = [(p, m & PERM) for p, (m, _size) in files.items() if stat.S_ISREG(m)]
        plain = most_common((bits for _p, bits in regular if not bits & stat.S_IXUSR), 0o644)
        execs = most_common((bits for _p, bits in regular if bits & stat.S_IXUSR), 0o755)
        dir_bits = most_common((m & PERM for m in scan.dirs.values()), 0o755)
        odd_files = {p: bits for p, bits in regular if bits != (execs if bits & stat.S_IXUSR else plain)}
        holding = ancestors(files)
        odd_dirs = {d: m & PERM for d, m in scan.dirs.items() if d not in holding or m & PERM != dir_bits}
        return Manifest(
            dir=dir_bits,
            file=plain,
            exec=execs,
            dirs=odd_dirs,
            files=odd_files,
            ignore=self.ignore,
            cap=self.max_file_bytes,
            skipped=tuple(sorted(sk.path for sk in scan.skipped)),
        )

    def _write_object(self, kind: str, body: bytes) -> str:
        """Store a small object (the manifest, the top tree, a commit) as git would, a loose
        object: zlib of "<kind> <size>\\0<body>", named by its sha-1, written to a temporary name
        and renamed. Three git processes fewer per snapshot; the files and their trees are git's."""
        data = b"%s %d\0" % (kind.encode(), len(body)) + body
        sha = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        path = self.store / "objects" / sha[:2] / sha[2:]
        if path.exists():
            return sha
        try:
            new_dir = not path.parent.is_dir()
            path.parent.mkdir(exist_ok=True)
            tmp = path.parent / f"tmp_obj_{os.getpid()}_{time.monotonic_ns()}"
            with open(tmp, "xb") as fh:
                fh.write(zlib.compress(data, 1))
                fh.flush()
                os.fsync(fh.fileno())  # durable before any ref can name it
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
            fsync_dir(path.parent)
            if new_dir:
                fsync_dir(path.parent.parent)
        except OSError as exc:
            raise CheckpointError(f"cannot write to the checkpoint store {self.store}: {exc.strerror or exc}") from None
        return sha

    def _write_manifest(self, raw: bytes) -> str:
        if self._manifest_sha is not None and self._manifest_sha[0] == raw:
            return self._manifest_sha[1]
        sha = self._write_object("blob", raw)
        self._manifest_sha = (raw, sha)
        return sha

    def _top_tree(self, files_tree: str, manifest_sha: str) -> str:
        body = b"40000 " + FILES_ENTRY.encode() + b"\0" + bytes.fromhex(files_tree)
        body += b"100644 " + MANIFEST_ENTRY.encode() + b"\0" + bytes.fromhex(manifest_sha)
        return self._write_object("tree", body)

    def _commit(self, top: str, parent: str | None, label: str) -> str:
        when = f"{int(time.time())} +0000"
        who = f"{_AUTHOR[0]} <{_AUTHOR[1]}> {when}"
        message = (label.replace("\0", " ").strip() or "checkpoint") + "\n"
        head = f"tree {top}\n" + (f"parent {parent}\n" if parent else "") + f"author {who}\ncommitter {who}\n\n"
        return self._write_object("commit", (head + message).encode("utf-8", "replace"))

    def _write_exclude(self, scan: _Scan) -> None:
        """info/exclude says what the store leaves out (for a person looking into it with git;
        the snapshot itself names its files to git)."""
        over = sorted(s.path for s in scan.skipped if s.why.startswith("over the"))
        lines = ["# written by llmos-tui: the ignore patterns, the reserved names, the files over the cap"]
        lines += list(self.ignore)
        lines += ["/" + _glob_escape(n) for n in sorted(self._reserved_top)]
        lines += ["/" + _glob_escape(self._state_tmp[0]) + "*" + _glob_escape(self._state_tmp[1])]
        lines += ["/" + _glob_escape(p) for p in sorted(self._reserved_paths)]
        lines += ["/" + _glob_escape(p) for p in over if "\n" not in p]
        text = "\n".join(lines) + "\n"
        if text == self._exclude_text:
            return
        path = self.store / "info" / "exclude"
        try:
            current = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            current = None
        if current != text:
            _write_atomic(path, text.encode("utf-8", "surrogateescape"))
        self._exclude_text = text

    # -- reading ------------------------------------------------------------------------------

    def _state(self, checkpoint_id: str) -> _State:
        if not isinstance(checkpoint_id, str) or not _HEX_ID.fullmatch(checkpoint_id):
            raise CheckpointError(f"{checkpoint_id!r} is not a checkpoint id (hex digits of a commit)")
        cached = self._states.get(checkpoint_id)
        if cached is not None:
            return cached
        if not (self.store / "HEAD").exists():
            raise CheckpointError(f"no checkpoint store at {self.store}, so no checkpoint {checkpoint_id[:12]}")
        query = f"{checkpoint_id}^{{commit}}\n{checkpoint_id}:{FILES_ENTRY}\n{checkpoint_id}:{MANIFEST_ENTRY}\n"
        out = self._git(["cat-file", "--batch"], input=query.encode(), bare=True)
        objects: list[tuple[str, str, bytes]] = []
        pos = 0
        for k, name in enumerate(("commit", FILES_ENTRY, MANIFEST_ENTRY)):
            nl = out.find(b"\n", pos)
            head = out[pos:nl].decode(errors="replace").split()
            if nl < 0 or len(head) != 3:
                what = " ".join(head[1:]) or "missing"
                if k == 0:
                    raise CheckpointError(f"no checkpoint {checkpoint_id[:12]} in {self.store} ({what})")
                raise self._damaged(f"checkpoint {checkpoint_id[:12]}'s {name} is {what}")
            size = int(head[2])
            objects.append((head[0], head[1], out[nl + 1 : nl + 1 + size]))
            pos = nl + 1 + size + 1
        (commit, ctype, _), (tree, ttype, _), (_msha, mtype, mraw) = objects
        if ctype != "commit" or ttype != "tree" or mtype != "blob":
            raise CheckpointError(f"{checkpoint_id[:12]} is not a checkpoint of {self.store}")
        try:
            manifest = Manifest.parse(mraw)
        except (ValueError, KeyError, TypeError) as exc:
            raise self._damaged(f"checkpoint {commit[:12]}'s manifest: {exc}") from None
        state = _State(commit=commit, files_tree=tree, manifest=manifest)
        self._states[checkpoint_id] = state
        self._states[commit] = state
        return state

    def _worktree_state(self) -> _State:
        with self._locked():
            _scan, tree, manifest = self._capture()
        return _State(commit=None, files_tree=tree, manifest=manifest)

    def _listing(self, tree: str) -> dict[str, tuple[int, str]]:
        """path → (git mode, sha) of a files tree (cached: trees never change)."""
        cached = self._listings.get(tree)
        if cached is not None:
            return cached
        out = self._git(["ls-tree", "-r", "-z", "--full-tree", tree], bare=True)
        listing: dict[str, tuple[int, str]] = {}
        for rec in out.split(b"\0"):
            if not rec:
                continue
            meta, _, name = rec.partition(b"\t")
            parts = meta.split()
            if len(parts) != 3 or parts[1] not in (b"blob",):
                raise self._damaged(f"tree {tree[:12]} holds {rec[:80]!r}")
            listing[os.fsdecode(name)] = (int(parts[0], 8), parts[2].decode())
        if len(self._listings) >= 8:
            self._listings.pop(next(iter(self._listings)))
        self._listings[tree] = listing
        return listing

    def _sizes(self, shas: Iterable[str]) -> dict[str, int]:
        wanted = sorted(s for s in shas if s and s != _ZERO)
        if not wanted:
            return {}
        out = self._git(["cat-file", "--batch-check"], input=("\n".join(wanted) + "\n").encode(), bare=True)
        sizes: dict[str, int] = {}
        for line in out.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                sizes[parts[0]] = int(parts[2])
        return sizes

    def _mode_changes(self, sa: _State, sb: _State, seen: set[str], sizes: dict[str, int]) -> list[FileChange]:
        """Permission changes git's diff does not see (its modes know one x bit, and no folder)."""
        ma, mb = sa.manifest, sb.manifest
        out: list[FileChange] = []
        same_files = (ma.file, ma.exec, dict(ma.files)) == (mb.file, mb.exec, dict(mb.files))
        same_dirs = (ma.dir, dict(ma.dirs)) == (mb.dir, dict(mb.dirs))
        if same_files and same_dirs:
            return out
        la, lb = self._listing(sa.files_tree), self._listing(sb.files_tree)
        if not same_files:
            for path in la.keys() & lb.keys():
                if path in seen:
                    continue
                (gm_a, sha_a), (gm_b, sha_b) = la[path], lb[path]
                old, new = ma.full_mode(path, gm_a), mb.full_mode(path, gm_b)
                if old != new:
                    size = sizes.get(sha_b)
                    if size is None:
                        size = self._sizes([sha_b]).get(sha_b)
                    out.append(FileChange(path, "mode", old, new, False, size, size, sha_a, sha_b, ""))
        if not same_dirs:
            da, db = ma.dir_map(la), mb.dir_map(lb)
            holding_a, holding_b = ancestors(la), ancestors(lb)
            for d in da.keys() | db.keys():
                old_d, new_d = da.get(d), db.get(d)
                if old_d is not None and new_d is not None:
                    if old_d != new_d:
                        out.append(FileChange(d, "mode", old_d, new_d, False, None, None, None, None, ""))
                elif new_d is not None:
                    if d not in holding_b or stat.S_IMODE(new_d) != mb.dir:
                        out.append(FileChange(d, "added", None, new_d, False, None, None, None, None, ""))
                elif old_d is not None and (d not in holding_a or stat.S_IMODE(old_d) != ma.dir):
                    out.append(FileChange(d, "deleted", old_d, None, False, None, None, None, None, ""))
        return out

    # -- restoring ----------------------------------------------------------------------------

    def _in_the_way(self, listing: Mapping[str, tuple[int, str]], manifest: Manifest, scan: _Scan) -> dict[str, str]:
        """The checkpoint's paths that cannot come back without touching what is never touched:
        a file or folder left alone now (ignored, reserved, over the cap, unstorable) at the same
        place, below it, or below a path the checkpoint has as a file. path → why."""
        protected = scan.protected
        out: dict[str, str] = {}
        if not protected and tuple(manifest.ignore) == self.ignore:
            return out
        wanted = list(listing) + list(manifest.dirs)
        wanted_set = set(wanted)
        for p in wanted:
            d = p
            while d and d not in protected:
                d = parent(d)
            if d:
                out[p] = (
                    f"not restored: {protected[d]} now"
                    if d == p
                    else f"not restored: {d} ({protected[d]}) is in the way"
                )
        # a checkpoint's file where something never touched now has a folder above it
        for q, why in protected.items():
            d = parent(q)
            while d:
                if d in listing:
                    out[d] = f"not restored: {q} ({why}) is in the way"
                d = parent(d)
        # rules changed since the snapshot: what they ignore now stays as it is
        if tuple(manifest.ignore) != self.ignore:
            for p in wanted_set - out.keys():
                if self._rules.ignored_path(p, p not in listing) or p.split("/", 1)[0] in self._reserved_top:
                    out[p] = "not restored: ignored now"
        return out

    def _check_consistent(self, state: _State, listing: Mapping[str, tuple[int, str]]) -> None:
        """A manifest folder at or below one of the checkpoint's files or symlinks would be made
        through a symlink, maybe outside the tree: such a checkpoint is refused whole."""
        for d in state.manifest.dirs:
            while d:
                if d in listing:
                    raise self._damaged(f"checkpoint {(state.commit or '')[:12]}'s manifest has a folder at file {d!r}")
                d = parent(d)

    def _tree_without(self, tree: str, paths: Sequence[str]) -> str:
        """`tree` less some paths, made in a scratch index."""
        if not paths:
            return tree
        index = self.store / f"{_FILTER_INDEX}{os.getpid()}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self._git(["read-tree", tree], extra_env=env, bare=True)
            self._git(["update-index", "--force-remove", "-z", "--stdin"], input=_nul_join(paths), extra_env=env)
            return self._git(["write-tree"], extra_env=env, bare=True).decode().strip()
        finally:
            for leftover in (index, index.with_name(index.name + ".lock")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


# ---------------------------------------------------------------------------------------------
# helpers


def _apply(
    root: Path,
    listing: Mapping[str, tuple[int, str]],
    manifest: Manifest,
    dirs: Mapping[str, int],
    *,
    stray: Iterable[str],
    checkpoint: str | None,
) -> None:
    """After git wrote the files: empty folders, every permission bit, folders to go."""
    base = str(root)
    cp = (checkpoint or "")[:12]
    # folders the checkpoint has that git did not make (the empty ones)
    for d in sorted(dirs, key=lambda p: p.count("/")):
        full = os.path.join(base, d)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            try:
                os.mkdir(full, 0o700)
            except OSError as exc:
                raise CheckpointError(f"restore of {cp} stopped at {d}: {exc.strerror}; run it again") from None
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise CheckpointError(f"restore of {cp} stopped: {d} is not a folder; run it again")
    # files: their bits (git wrote new ones with the umask's)
    for p, (git_mode, _sha) in listing.items():
        full = os.path.join(base, p)
        try:
            st = os.lstat(full)
        except OSError:
            raise CheckpointError(f"restore of {cp} incomplete: {p} is missing; run it again") from None
        if git_mode == GIT_MODE_LINK:
            if not stat.S_ISLNK(st.st_mode):
                raise CheckpointError(f"restore of {cp} incomplete: {p} is not a symlink; run it again")
            continue
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"restore of {cp} incomplete: {p} is not a file; run it again")
        want = manifest.file_perm(p, git_mode)
        if st.st_mode & PERM != want:
            os.chmod(full, want)
    # folders the checkpoint did not have (still holding something never touched: they stay)
    for d in depth_first(stray):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(base, d))
    # folders' bits, the deepest first (a folder made read-only last)
    for d in depth_first(dirs):
        full = os.path.join(base, d)
        try:
            st = os.lstat(full)
        except OSError:
            raise CheckpointError(f"restore of {cp} incomplete: folder {d} is missing; run it again") from None
        want = stat.S_IMODE(dirs[d])
        if stat.S_ISDIR(st.st_mode) and st.st_mode & PERM != want:
            os.chmod(full, want)


def _parse_raw(raw: bytes) -> list[tuple[int, int, str, str, str, str]]:
    """`git diff-tree -r -z --raw`: (old mode, new mode, old sha, new sha, status, path)."""
    out = []
    fields = raw.split(b"\0")
    i = 0
    while i + 1 < len(fields):
        meta = fields[i]
        if not meta.startswith(b":"):
            i += 1
            continue
        om, nm, osha, nsha, status = meta[1:].decode().split()
        out.append((int(om, 8), int(nm, 8), osha, nsha, status[:1], os.fsdecode(fields[i + 1])))
        i += 2
    return out


def _split_patch(patch: bytes) -> list[bytes]:
    """A patch's file sections (each starts with 'diff --git '; content lines never do)."""
    if not patch:
        return []
    starts = [0] if patch.startswith(b"diff --git ") else []
    starts += [m.start() + 1 for m in re.finditer(rb"\ndiff --git ", patch)]
    return [patch[a:b] for a, b in zip(starts, starts[1:] + [len(patch)])]


def _header(section: bytes) -> bytes:
    m = re.search(rb"^(?:--- |@@ )", section, re.M)
    return section if m is None else section[: m.start()]


def _is_binary_section(section: bytes) -> bool:
    return re.search(rb"^Binary files ", _header(section), re.M) is not None


def _unified_part(section: bytes) -> str:
    m = re.search(rb"^--- ", section, re.M)
    return "" if m is None else section[m.start() :].decode("utf-8", errors="replace")


def _nul_join(paths: Iterable[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def _glob_escape(name: str) -> str:
    return re.sub(r"([\\*?\[\]!# ])", r"\\\1", name)


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("hint:"):
            for prefix in ("fatal: ", "error: "):
                if line.startswith(prefix):
                    line = line[len(prefix) :]
            return line[:300]
    return ""


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = [
    "DEFAULT_IGNORE",
    "DEFAULT_MAX_FILE_BYTES",
    "WORKTREE",
    "Checkpoint",
    "CheckpointError",
    "CheckpointStore",
    "FileChange",
    "Skipped",
]
