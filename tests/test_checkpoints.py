"""Workspace checkpoints (core/checkpoints.py): a shadow git repository under runs/.checkpoints.

Every test uses the real git and a temporary folder. Trees are compared with `tree_of`, a walk
with os.lstat that records, for every path, its type, its permission bits and its content (a
symlink: its target), so "equal" means byte for byte, modes and empty folders included.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import llmos_tui.core.checkpoints as cpmod
from llmos_tui.core.checkpoints import (
    WORKTREE,
    CheckpointError,
    CheckpointStore,
    Skipped,
)
from llmos_tui.core.ignore import IgnoreRules
from llmos_tui.core.lock import LOCK_NAME
from llmos_tui.core.workspace import RUNS_NAME, STATE_NAME

pytestmark = pytest.mark.skipif(not CheckpointStore.available(), reason="git is not installed")

Entry = tuple  # ("d", bits) | ("f", bits, content) | ("l", target)


def tree_of(root: Path, *, leave_out: tuple[str, ...] = (RUNS_NAME,)) -> dict[str, Entry]:
    """path → what it is, for every path under root (os.lstat; symlinks not followed)."""
    out: dict[str, Entry] = {}

    def walk(folder: Path, rel: str) -> None:
        for name in sorted(os.listdir(folder)):
            path = folder / name
            r = f"{rel}/{name}" if rel else name
            if not rel and name in leave_out:
                continue
            st = os.lstat(path)
            bits = st.st_mode & 0o7777
            if os.path.islink(path):
                out[r] = ("l", os.readlink(path))
            elif os.path.isdir(path):
                out[r] = ("d", bits)
                walk(path, r)
            else:
                out[r] = ("f", bits, path.read_bytes())

    walk(root, "")
    return out


def write(root: Path, rel: str, data: bytes | str, mode: int | None = None) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(path, mode)


def build_a(ws: Path) -> None:
    """A tree with a bit of everything."""
    write(ws, "README.md", "# project\n\nline two\n")
    write(ws, "src/app.py", "print('hello')\n" * 20)
    write(ws, "src/run.sh", "#!/bin/sh\necho run\n", 0o755)
    write(ws, "src/secret.key", "k3y\n", 0o600)
    write(ws, "src/group.txt", "for the group\n", 0o640)
    write(ws, "src/deep/er/still/file.txt", "deep\n")
    write(ws, "data/blob.bin", bytes(range(256)) * 8)
    write(ws, "names/with space.txt", "space\n")
    write(ws, "names/ünïcødé ☃.md", "snow\n")
    write(ws, "names/new\nline", "newline in the name\n")
    write(ws, "names/-leading-dash", "dash\n")
    write(ws, "names/tab\tand*star?", "odd\n")
    write(ws, "swap/file-then-dir", "I am a file\n")
    (ws / "swap/dir-then-file").mkdir(parents=True)
    write(ws, "swap/dir-then-file/inner.txt", "inside\n")
    write(ws, "swap/file-then-link", "a file\n")
    (ws / "empty").mkdir()
    (ws / "empty/nested/also-empty").mkdir(parents=True)
    (ws / "private").mkdir(mode=0o700)
    os.chmod(ws / "private", 0o700)
    write(ws, "private/note.txt", "mine\n", 0o600)
    (ws / "readonly").mkdir()
    write(ws, "readonly/fixed.txt", "fixed\n", 0o444)
    os.chmod(ws / "readonly", 0o555)
    os.symlink("src/app.py", ws / "link-to-file")
    os.symlink("src", ws / "link-to-dir")
    os.symlink("does/not/exist", ws / "dangling")
    os.symlink("../README.md", ws / "src/up-link")


def mutate(ws: Path) -> None:
    """Creates, modifies, deletes, renames, chmods, swaps: what an agent's steps might do."""
    os.chmod(ws / "readonly", 0o755)
    write(ws, "README.md", "# project\n\nline two, edited\nline three\n")
    write(ws, "src/new_module.py", "x = 1\n")
    os.remove(ws / "src/deep/er/still/file.txt")
    os.rename(ws / "src/app.py", ws / "src/main.py")  # a rename
    os.chmod(ws / "src/run.sh", 0o644)
    os.chmod(ws / "src/secret.key", 0o644)
    os.chmod(ws / "src/group.txt", 0o755)
    os.chmod(ws / "private", 0o755)
    write(ws, "data/blob.bin", bytes(reversed(range(256))) * 9)
    os.remove(ws / "swap/file-then-dir")
    write(ws, "swap/file-then-dir/now.txt", "a folder now\n")
    os.remove(ws / "swap/dir-then-file/inner.txt")
    os.rmdir(ws / "swap/dir-then-file")
    write(ws, "swap/dir-then-file", "a file now\n")
    os.remove(ws / "swap/file-then-link")
    os.symlink("../README.md", ws / "swap/file-then-link")
    os.remove(ws / "link-to-dir")
    (ws / "link-to-dir").mkdir()
    write(ws, "link-to-dir/real.txt", "a real folder now\n")
    os.remove(ws / "dangling")
    write(ws, "dangling", "no longer a link\n")
    os.rmdir(ws / "empty/nested/also-empty")
    (ws / "new-empty/inside").mkdir(parents=True)
    os.remove(ws / "names/new\nline")
    write(ws, "names/another\nnew line", "x\n")
    os.chmod(ws / "readonly/fixed.txt", 0o644)
    write(ws, "readonly/added.txt", "added\n")
    os.chmod(ws / "readonly", 0o500)


def bookkeeping(ws: Path) -> None:
    """What a checkpoint must never hold nor a restore touch."""
    write(ws, STATE_NAME, "state\n")
    write(ws, LOCK_NAME, "{}")
    write(ws, f"{RUNS_NAME}/20260101-000000-0001/journal.jsonl", "{}\n")
    write(ws, "node_modules/pkg/index.js", "module.exports = 1\n")
    write(ws, "src/__pycache__/app.cpython-311.pyc", b"\x00pyc")
    write(ws, "top.pyc", b"\x00pyc")
    write(ws, ".git/HEAD", "ref: refs/heads/main\n")


IGNORED = (STATE_NAME, LOCK_NAME, "node_modules", "src/__pycache__", "top.pyc", ".git")


def without(tree: dict[str, Entry], *prefixes: str) -> dict[str, Entry]:
    return {p: e for p, e in tree.items() if not any(p == k or p.startswith(k + "/") for k in prefixes)}


def only(tree: dict[str, Entry], *prefixes: str) -> dict[str, Entry]:
    return {p: e for p, e in tree.items() if any(p == k or p.startswith(k + "/") for k in prefixes)}


def test_rewind_round_trips_files_modes_folders_and_symlinks(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    build_a(ws)
    bookkeeping(ws)
    store = CheckpointStore(ws)
    a = store.snapshot("a")
    want_a = tree_of(ws)
    assert a.skipped == ()
    assert a.files == len([e for p, e in without(want_a, *IGNORED).items() if e[0] != "d"])
    assert not any(p.startswith(IGNORED) for p in store.files(a.id))

    mutate(ws)
    b = store.snapshot("b")
    want_b = tree_of(ws)
    assert b.id != a.id

    # the bookkeeping changes after the snapshots: a restore must leave it exactly as it is then
    write(ws, STATE_NAME, "state, later\n")
    write(ws, "node_modules/pkg/index.js", "module.exports = 2\n")
    write(ws, "top.pyc", b"\x00later")
    journal = ws / RUNS_NAME / "20260101-000000-0001/journal.jsonl"
    journal.write_text("{}\n{}\n")
    kept = only(tree_of(ws), *IGNORED)

    assert store.restore(a.id) == []
    now = tree_of(ws)
    assert without(now, *IGNORED) == without(want_a, *IGNORED)
    assert only(now, *IGNORED) == kept
    assert journal.read_text() == "{}\n{}\n"

    assert store.restore(b.id) == []
    now = tree_of(ws)
    assert without(now, *IGNORED) == without(want_b, *IGNORED)
    assert only(now, *IGNORED) == kept

    # idempotent: the same restore again changes nothing
    assert store.restore(b.id) == []
    assert tree_of(ws) == now
    assert store.restore(a.id) == [] and store.restore(a.id) == []
    assert without(tree_of(ws), *IGNORED) == without(want_a, *IGNORED)
    assert git(store, "fsck", "--strict", "--no-dangling").strip() == ""
    assert git(store, "log", "--format=%s", "refs/llmos/checkpoints").split() == ["b", "a"]


def test_restore_removes_what_the_checkpoint_did_not_have_but_keeps_folders_holding_ignored_files(tmp_path):
    ws = tmp_path / "ws"
    write(ws, "keep.txt", "k\n")
    store = CheckpointStore(ws)
    a = store.snapshot()
    write(ws, "new/deeper/file.txt", "new\n")
    (ws / "new/empty").mkdir()
    write(ws, "pkg/mod.py", "x\n")
    write(ws, "pkg/__pycache__/mod.cpython-311.pyc", b"\x00")
    (ws / "only-empty/a/b").mkdir(parents=True)
    store.restore(a.id)
    assert tree_of(ws) == {
        "keep.txt": ("f", 0o644, b"k\n"),
        "pkg": ("d", 0o755),  # stays: it holds an ignored folder
        "pkg/__pycache__": ("d", 0o755),
        "pkg/__pycache__/mod.cpython-311.pyc": ("f", 0o644, b"\x00"),
    }


def test_file_and_folder_swaps_both_ways_with_ignored_content_in_the_way(tmp_path):
    ws = tmp_path / "ws"
    write(ws, "x", "file x\n")
    (ws / "y").mkdir()
    write(ws, "y/in.txt", "in y\n")
    write(ws, "z", "file z\n")
    store = CheckpointStore(ws)
    a = store.snapshot()
    want = tree_of(ws)
    os.remove(ws / "x")
    write(ws, "x/sub/file", "x is a folder\n")
    os.remove(ws / "y/in.txt")
    os.rmdir(ws / "y")
    os.symlink("x", ws / "y")
    os.remove(ws / "z")
    write(ws, "z/cache.pyc", b"\x00ignored")  # an ignored file where the checkpoint has a file
    skipped = store.restore(a.id)
    now = tree_of(ws)
    assert now["x"] == want["x"] and now["y"] == want["y"] and now["y/in.txt"] == want["y/in.txt"]
    assert "x/sub" not in now
    # z cannot come back without deleting the ignored file: it stays, and the restore says so
    assert now["z/cache.pyc"] == ("f", 0o644, b"\x00ignored")
    assert skipped == [Skipped("z", 7, "not restored: z/cache.pyc (ignored) is in the way")]


def test_an_empty_workspace_and_back(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    store = CheckpointStore(ws)
    empty = store.snapshot()
    assert empty.files == 0
    write(ws, "a/b/c.txt", "c\n")
    os.symlink("a", ws / "l")
    full = store.snapshot()
    store.restore(empty.id)
    assert tree_of(ws) == {}
    store.restore(full.id)
    assert set(tree_of(ws)) == {"a", "a/b", "a/b/c.txt", "l"}
    with pytest.raises(CheckpointError, match="no workspace folder"):
        CheckpointStore(tmp_path / "missing").snapshot()
    assert not (tmp_path / "missing").exists()


def test_over_cap_files_are_listed_never_recorded_and_left_alone(tmp_path):
    ws = tmp_path / "ws"
    write(ws, "small.txt", "small\n")
    write(ws, "grows.bin", b"g" * 10)
    write(ws, "big.bin", b"B" * 5000)
    store = CheckpointStore(ws, max_file_bytes=4096)
    a = store.snapshot()
    assert a.skipped == (Skipped("big.bin", 5000, "over the 4,096 bytes cap"),)
    assert "big.bin" not in store.files(a.id)
    assert "/big.bin" in (store.store / "info" / "exclude").read_text()
    write(ws, "big.bin", b"C" * 6000)
    write(ws, "grows.bin", b"G" * 8000)  # was small in the checkpoint: over the cap now
    write(ws, "small.txt", "edited\n")
    skipped = store.restore(a.id)
    assert {s.path for s in skipped} == {"big.bin", "grows.bin"}
    assert (ws / "big.bin").read_bytes() == b"C" * 6000
    assert (ws / "grows.bin").read_bytes() == b"G" * 8000
    assert (ws / "small.txt").read_text() == "small\n"
    assert CheckpointStore(ws).snapshot().skipped == ()  # the default cap is 10 MiB


def test_a_file_over_the_cap_then_and_small_now_is_left_alone(tmp_path):
    """The checkpoint never knew its content: a restore must not delete it as "not in the checkpoint"."""
    ws = tmp_path / "ws"
    write(ws, "big.bin", b"B" * 5000)
    write(ws, "sub/big2.bin", b"b" * 5000)
    store = CheckpointStore(ws, max_file_bytes=4096)
    a = store.snapshot()
    write(ws, "big.bin", b"now small")
    write(ws, "sub/big2.bin", b"small too")
    store.snapshot()  # recorded small now
    skipped = store.restore(a.id)
    assert (ws / "big.bin").read_bytes() == b"now small"
    assert (ws / "sub" / "big2.bin").read_bytes() == b"small too"
    assert {s.path for s in skipped} == {"big.bin", "sub/big2.bin"}
    assert all("left out of that checkpoint" in s.why for s in skipped)


def test_special_files_are_listed(tmp_path):
    ws = tmp_path / "ws"
    write(ws, "a.txt", "a\n")
    os.mkfifo(ws / "pipe")
    store = CheckpointStore(ws)
    cp = store.snapshot()
    assert cp.skipped == (Skipped("pipe", 0, "not a regular file (fifo)"),)
    assert set(store.files(cp.id)) == {"a.txt"}
    assert store.restore(cp.id) == list(cp.skipped)
    assert os.path.exists(ws / "pipe")


def test_snapshot_twice_without_change_dedupes(tmp_path):
    ws = tmp_path / "ws"
    for i in range(50):
        write(ws, f"d{i % 5}/f{i}.txt", f"file {i}\n" * 30)
    (ws / "empty").mkdir()
    store = CheckpointStore(ws)
    a = store.snapshot("first")
    size = store_bytes(store.store)
    again = [store.snapshot("again") for _ in range(3)]
    assert all(c.id == a.id and c.tree == a.tree and not c.new for c in again)
    assert store_bytes(store.store) - size < 1024
    # a fresh store object (another process) finds the same
    other = CheckpointStore(ws).snapshot("other")
    assert other.id == a.id and not other.new
    # one file changed: new commit, same manifest blob
    write(ws, "d1/f1.txt", "changed\n")
    b = store.snapshot("b")
    assert b.new and b.id != a.id
    assert manifest_sha(store, a.id) == manifest_sha(store, b.id)
    # back to the first content: a new commit with the first one's tree
    write(ws, "d1/f1.txt", "file 1\n" * 30)
    c = store.snapshot("c")
    assert c.tree == a.tree and c.id != a.id
    log = git(store, "rev-list", "refs/llmos/checkpoints").split()
    assert log == [c.id, b.id, a.id]


def test_changes_text_binary_mode_type_and_folders(tmp_path):
    ws = tmp_path / "ws"
    write(ws, "notes.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\n")
    write(ws, "image.bin", b"\x89PNG\x00\x01\x02" * 10)
    write(ws, "script.sh", "echo\n")
    write(ws, "key", "k\n", 0o600)
    write(ws, "gone.txt", "bye\n")
    write(ws, "link", "a file\n")
    (ws / "emptydir").mkdir()
    (ws / "sub").mkdir()
    write(ws, "sub/x", "x\n")
    store = CheckpointStore(ws)
    a = store.snapshot()
    write(ws, "notes.txt", "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\n")
    write(ws, "image.bin", b"\x89PNG\x00\x01\x03" * 12)
    os.chmod(ws / "script.sh", 0o755)
    os.chmod(ws / "key", 0o640)
    os.remove(ws / "gone.txt")
    write(ws, "added.txt", "hello\n")
    os.remove(ws / "link")
    os.symlink("notes.txt", ws / "link")
    os.rmdir(ws / "emptydir")
    (ws / "newempty").mkdir()
    os.chmod(ws / "sub", 0o700)
    b = store.snapshot()
    ch = {c.path: c for c in store.changes(a.id, b.id, context=1)}
    assert set(ch) == {
        "notes.txt",
        "image.bin",
        "script.sh",
        "key",
        "gone.txt",
        "added.txt",
        "link",
        "emptydir",
        "newempty",
        "sub",
    }

    t = ch["notes.txt"]
    assert (t.change, t.binary, t.old_size, t.new_size) == ("modified", False, 34, 34)
    assert t.diff == "--- a/notes.txt\n+++ b/notes.txt\n@@ -2,3 +2,3 @@ one\n two\n-three\n+THREE\n four\n"
    assert t.old_mode == t.new_mode == 0o100644

    img = ch["image.bin"]
    assert (img.change, img.binary, img.diff, img.old_size, img.new_size) == ("modified", True, "", 70, 84)
    assert img.old_sha == store.files(a.id)["image.bin"][1] and img.new_sha == store.files(b.id)["image.bin"][1]
    assert img.old_sha != img.new_sha

    assert (ch["script.sh"].change, ch["script.sh"].old_mode, ch["script.sh"].new_mode) == ("mode", 0o100644, 0o100755)
    assert ch["script.sh"].diff == "" and ch["script.sh"].old_sha == ch["script.sh"].new_sha
    assert (ch["key"].change, ch["key"].old_mode, ch["key"].new_mode) == ("mode", 0o100600, 0o100640)
    assert (ch["gone.txt"].change, ch["gone.txt"].new_mode, ch["gone.txt"].new_sha) == ("deleted", None, None)
    assert ch["gone.txt"].diff.startswith("--- a/gone.txt\n+++ /dev/null\n")
    assert (ch["added.txt"].change, ch["added.txt"].old_size, ch["added.txt"].new_size) == ("added", None, 6)
    assert ch["added.txt"].diff.endswith("+hello\n")
    assert (ch["link"].change, ch["link"].old_mode, ch["link"].new_mode) == ("type", 0o100644, 0o120777)
    assert "-a file" in ch["link"].diff and "+notes.txt" in ch["link"].diff
    assert (ch["emptydir"].change, ch["emptydir"].old_mode) == ("deleted", 0o40755)
    assert (ch["newempty"].change, ch["newempty"].new_mode) == ("added", 0o40755)
    assert (ch["sub"].change, ch["sub"].old_mode, ch["sub"].new_mode) == ("mode", 0o40755, 0o40700)

    # the other way round, and against the files as they are now
    back = {c.path: c.change for c in store.changes(b.id, a.id)}
    assert back["gone.txt"] == "added" and back["added.txt"] == "deleted" and back["newempty"] == "deleted"
    assert store.changes(b.id, WORKTREE) == []
    write(ws, "notes.txt", "changed again\n")
    assert [(c.path, c.change) for c in store.changes(b.id, WORKTREE)] == [("notes.txt", "modified")]
    assert store.changes(a.id, a.id) == []


def test_files_read_and_exists(tmp_path):
    ws = tmp_path / "ws"
    write(ws, "a/b.txt", "bee\n", 0o640)
    os.symlink("a/b.txt", ws / "l")
    write(ws, "new\nline", "nl\n")
    store = CheckpointStore(ws)
    assert not store.exists("0" * 40)  # no store yet
    cp = store.snapshot()
    files = store.files(cp.id)
    assert files["a/b.txt"][0] == 0o100640 and files["l"][0] == 0o120777
    assert store.read(cp.id, "a/b.txt") == b"bee\n"
    assert store.read(cp.id, "l") == b"a/b.txt"
    assert store.read(cp.id, "new\nline") == b"nl\n"
    assert store.read(cp.id[:10], "a/b.txt") == b"bee\n"
    assert store.dirs(cp.id) == {"a": 0o40755}
    assert store.exists(cp.id) and store.exists(cp.id[:8])
    assert not store.exists("f" * 40) and not store.exists("HEAD") and not store.exists("--help")
    assert not store.exists(cp.tree)  # a tree, not a checkpoint
    with pytest.raises(CheckpointError, match="has no file"):
        store.read(cp.id, "nope")
    # a name with a newline: git quotes it in its patch headers, the sections still line up
    write(ws, "new\nline", "nl\nmore\n")
    write(ws, "diff --git a", "diff --git a/x b/x\n")
    later = store.snapshot()
    ch = {c.path: c for c in store.changes(cp.id, later.id)}
    assert ch["new\nline"].diff.endswith("@@ -1 +1,2 @@\n nl\n+more\n")
    assert ch["diff --git a"].diff.endswith("+diff --git a/x b/x\n")
    with pytest.raises(CheckpointError, match="not a checkpoint id"):
        store.restore("HEAD~1")


def test_materialize_into_a_fresh_folder_is_byte_for_byte(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    build_a(ws)
    bookkeeping(ws)
    store = CheckpointStore(ws)
    cp = store.snapshot()
    want = without(tree_of(ws), *IGNORED)
    mutate(ws)
    copy = tmp_path / "copy" / "deeper"
    store.materialize(cp.id, copy)
    assert tree_of(copy) == want
    with pytest.raises(CheckpointError, match="new or empty folder"):
        store.materialize(cp.id, copy)
    assert not any(p.name.startswith("index.materialize") for p in store.store.iterdir())


def test_a_workspace_that_is_a_git_repository_with_its_own_ignores_and_attributes(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(ws)], check=True, env=env)
    # the repository's own rules must not change what a checkpoint holds
    write(ws, ".gitignore", "*.txt\nsecret/\n")
    write(ws, ".gitattributes", "* text eol=crlf\n*.dat filter=boom\n")
    write(ws, "notes.txt", "line one\nline two\n")
    write(ws, "secret/x.dat", "lf only\n")
    write(ws, "windows.md", "crlf\r\nkept\r\n")
    dot_git = tree_of(ws / ".git")
    store = CheckpointStore(ws)
    cp = store.snapshot()
    assert {"notes.txt", "secret/x.dat", ".gitignore", ".gitattributes", "windows.md"} <= set(store.files(cp.id))
    assert store.read(cp.id, "notes.txt") == b"line one\nline two\n"
    want = without(tree_of(ws), ".git")
    write(ws, "notes.txt", "changed\n")
    os.remove(ws / "secret/x.dat")
    write(ws, "windows.md", "lf\n")
    store.restore(cp.id)
    assert without(tree_of(ws), ".git") == want
    assert tree_of(ws / ".git") == dot_git  # the user's repository untouched


def test_a_gitfile_and_names_that_are_not_utf8(tmp_path):
    ws = tmp_path / "ws"
    write(ws, ".git", "gitdir: /elsewhere/.git/worktrees/ws\n")  # a linked worktree's gitfile
    raw = os.fsencode(ws) + b"/caf\xe9 \xff.txt"
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"latin-1 name\n")
    os.close(fd)
    store = CheckpointStore(ws)
    cp = store.snapshot()
    assert cp.skipped == ()  # the gitfile is the user's repository's, left out quietly
    name = os.fsdecode(b"caf\xe9 \xff.txt")
    assert store.files(cp.id) == {name: (0o100600, store.files(cp.id)[name][1])}
    want = tree_of(ws)
    os.remove(raw)
    store.restore(cp.id)
    assert tree_of(ws) == want
    # with .git/ no longer ignored, a .git is still never recorded, and it is said
    listed = CheckpointStore(ws, ignore=["*.pyc"]).snapshot().skipped
    assert listed == (Skipped(".git", 37, "a name git cannot store"),)


def test_restore_after_the_ignore_patterns_changed_leaves_what_they_now_ignore(tmp_path):
    ws = tmp_path / "ws"
    write(ws, "app.log", "old log\n")
    write(ws, "keep.txt", "keep\n")
    cp = CheckpointStore(ws).snapshot()
    write(ws, "app.log", "new log\n")
    write(ws, "keep.txt", "changed\n")
    skipped = CheckpointStore(ws, ignore=["*.log"]).restore(cp.id)
    assert (ws / "app.log").read_text() == "new log\n"
    assert (ws / "keep.txt").read_text() == "keep\n"
    assert [(s.path, s.why) for s in skipped] == [("app.log", "not restored: ignored now")]


def test_custom_ignore_patterns(tmp_path):
    ws = tmp_path / "ws"
    for rel in ("build/out.o", "src/build/keep.c", "docs/a/b/x.md", "docs/y.md", "x.md", "a.log", "keep.log", "tmp/t"):
        write(ws, rel, rel)
    store = CheckpointStore(ws, ignore=["/build", "docs/**/*.md", "*.log", "!keep.log", "tmp/"])
    cp = store.snapshot()
    assert sorted(store.files(cp.id)) == ["keep.log", "src/build/keep.c", "x.md"]


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.pyc", "a/b/c.pyc", False, True),
        ("*.pyc", "a/b/c.py", False, False),
        ("build/", "x/build", True, True),
        ("build/", "x/build", False, False),
        ("/build", "x/build", True, False),
        ("/build", "build", False, True),
        ("a/**/b", "a/b", True, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("**/z", "q/r/z", False, True),
        ("d/**", "d/e/f", False, True),
        ("f?o", "foo", False, True),
        ("f[a-c]o", "fbo", False, True),
        ("f[!a-c]o", "fbo", False, False),
        ("\\#hash", "#hash", False, True),
        ("sp\\ ", "sp ", False, True),
        ("# comment", "# comment", False, False),
    ],
)
def test_ignore_pattern_semantics(pattern, path, is_dir, expected):
    assert IgnoreRules([pattern]).ignored_path(path, is_dir) is expected


def test_errors_are_one_line_and_touch_nothing(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    write(ws, "a.txt", "a\n")
    store = CheckpointStore(ws)
    cp = store.snapshot()
    write(ws, "a.txt", "changed\n")
    write(ws, "new.txt", "new\n")
    before = tree_of(ws)

    with pytest.raises(CheckpointError, match="no checkpoint") as err:
        store.restore("deadbeef" * 5)
    assert "\n" not in str(err.value)

    # a damaged store: the manifest of the checkpoint is unreadable
    fresh = CheckpointStore(ws)
    manifest = manifest_sha(store, cp.id)
    obj = store.store / "objects" / manifest[:2] / manifest[2:]
    good = obj.read_bytes()
    os.chmod(obj, 0o644)
    obj.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="damaged.*move it aside") as err:
        fresh.restore(cp.id)
    assert "\n" not in str(err.value) and str(store.store) in str(err.value)
    assert tree_of(ws) == before
    obj.write_bytes(good)

    # a damaged ref
    (store.store / "refs/llmos/checkpoints").write_text("not a sha\n")
    with pytest.raises(CheckpointError, match="damaged"):
        CheckpointStore(ws).snapshot()

    # no git on PATH
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert not CheckpointStore.available()
    (tmp_path / "other").mkdir()
    with pytest.raises(CheckpointError, match="need git"):
        CheckpointStore(tmp_path / "other").snapshot()
    (store.store / "refs/llmos/checkpoints").write_text(cp.id + "\n")
    with pytest.raises(CheckpointError, match="need git"):
        CheckpointStore(ws).restore(cp.id)
    assert tree_of(ws) == before


def test_store_elsewhere_and_isolated_from_the_users_git_config(tmp_path, monkeypatch):
    home = tmp_path / "home"
    write(home, ".gitconfig", "[core]\n\tautocrlf = true\n\thooksPath = /nonexistent\n[commit]\n\tgpgSign = true\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-this"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "not-this-index"))
    ws = tmp_path / "ws"
    write(ws, "crlf.txt", b"a\r\nb\n")
    store = CheckpointStore(ws, store=ws / "inside-store")
    cp = store.snapshot()
    assert set(store.files(cp.id)) == {"crlf.txt"}  # the store itself is never recorded
    write(ws, "crlf.txt", "x")
    store.restore(cp.id)
    assert (ws / "crlf.txt").read_bytes() == b"a\r\nb\n"
    assert (ws / "inside-store" / "HEAD").exists()
    assert not (tmp_path / "not-this").exists() and not (tmp_path / "not-this-index").exists()


def test_a_restore_stopped_after_git_wrote_the_files_is_finished_by_the_next(tmp_path, monkeypatch):
    """The deterministic half of the kill test: stopped between git's checkout and the manifest
    (modes not set, empty folders not made, stray folders still there), then run again."""
    ws = tmp_path / "ws"
    ws.mkdir()
    build_a(ws)
    store = CheckpointStore(ws)
    a = store.snapshot()
    want = tree_of(ws)
    mutate(ws)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cpmod, "_apply", crash)
        with pytest.raises(KeyboardInterrupt):
            store.restore(a.id)
    assert tree_of(ws) != want
    CheckpointStore(ws).restore(a.id)  # another process, as after a crash
    assert tree_of(ws) == want


CHILD = """
import sys
from pathlib import Path
from llmos_tui.core.checkpoints import CheckpointStore
store = CheckpointStore(Path(sys.argv[1]))
print("ready", flush=True)
store.{call}
print("done", flush=True)
"""


def child(ws: Path, call: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD.format(call=call), str(ws)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ws.parent,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )


def big_tree(ws: Path, rng: random.Random, variant: int) -> None:
    """~300 files in nested folders; `variant` moves a third of them about."""
    for i in range(300):
        folder = f"d{i % 7}/e{i % 5}" if i % 3 else f"d{i % 7}"
        if variant and i % 3 == 0:
            folder = f"moved{variant}/{folder}"
        data = (f"{variant if i % 2 else 0} line {i}\n" * rng.randint(20, 200)).encode()
        write(ws, f"{folder}/f{i}.txt", data, 0o600 if i % 11 == 0 else (0o755 if i % 13 == 0 else None))
    (ws / f"empty{variant}/a/b").mkdir(parents=True, exist_ok=True)
    os.chmod(ws / f"d{variant % 7}", 0o750)
    if variant:
        os.symlink(f"d{variant}", ws / f"link{variant}")


def test_restore_killed_at_random_moments_then_run_again_converges(tmp_path, capsys):
    """SIGKILL a process while it restores, then restore the same checkpoint again: the tree
    must be exactly the checkpoint's, whatever moment the kill hit."""
    rng = random.Random(20260101)
    ws = tmp_path / "ws"
    ws.mkdir()
    build_a(ws)
    big_tree(ws, rng, 0)
    store = CheckpointStore(ws)
    target = store.snapshot("target")
    want = tree_of(ws)
    mutate(ws)
    big_tree(ws, rng, 1)
    other = store.snapshot("other")
    want_other = tree_of(ws)

    # how long a restore takes in a child (from the same starting point), to spread the kills over it
    spans = []
    for _ in range(2):
        store.restore(other.id)
        proc = child(ws, f"restore({target.id!r})")
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        t0 = time.perf_counter()
        assert proc.stdout.readline() == "done\n"
        spans.append(time.perf_counter() - t0)
        proc.wait()
        proc.stdout.close()
        assert tree_of(ws) == want
    span = min(spans)

    hit = stale = 0
    for k in range(15):
        store.restore(other.id)
        assert tree_of(ws) == want_other
        proc = child(ws, f"restore({target.id!r})")
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, span * 1.1))
        if k % 2:
            os.killpg(proc.pid, signal.SIGKILL)  # the process and the git it runs, mid-write
        else:
            proc.send_signal(signal.SIGKILL)  # the process only: its git child finishes on its own
        proc.wait()
        proc.stdout.close()
        wait_for_orphans(store)
        stale += (store.store / "index.lock").exists()  # git killed while it wrote the index
        if tree_of(ws) != want:
            hit += 1  # killed midway: the tree is neither
        store.restore(target.id)
        assert tree_of(ws) == want
    with capsys.disabled():
        print(
            f"\n  restore killed 15 times (restore takes {span * 1000:.0f} ms), {hit} of them midway, "
            f"{stale} leaving git's index.lock behind; each converged"
        )


def wait_for_orphans(store: CheckpointStore) -> None:
    """A git child of a killed process holds the store's lock until it is done."""
    fd = os.open(store.store / "llmos.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def test_two_processes_snapshotting_at_once_keep_every_checkpoint(tmp_path):
    ws = tmp_path / "ws"
    for i in range(100):
        write(ws, f"f{i}.txt", f"{i}\n")
    procs = [child(ws, "snapshot('p')") for _ in range(4)]
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert out == "ready\ndone\n"
    store = CheckpointStore(ws)
    chain = git(store, "rev-list", "refs/llmos/checkpoints").split()
    assert len(chain) == 1  # the same tree each time: one checkpoint
    write(ws, "f1.txt", "changed\n")
    procs = [child(ws, "snapshot('q')") for _ in range(3)]
    for p in procs:
        p.communicate(timeout=60)
    assert len(git(store, "rev-list", "refs/llmos/checkpoints").split()) == 2
    assert git(store, "fsck", "--no-dangling").strip() == ""


def git(store: CheckpointStore, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_DIR=str(store.store), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True, env=env).stdout


def manifest_sha(store: CheckpointStore, commit: str) -> str:
    return git(store, "rev-parse", f"{commit}:manifest.json").strip()


def store_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and "objects" in f.parts)


def test_a_checkpoint_is_synced_to_disk_before_its_ref_names_it(tmp_path, monkeypatch):
    """Safe against a power cut, not only a kill: every object this process writes into the
    store is fsync'd (and its folder) before `update-ref`, and git is asked to sync what it writes
    (loose objects in one batch, the ref) — a setting this git accepts without a word."""
    ws = tmp_path / "ws"
    ws.mkdir()
    build_a(ws)
    store = CheckpointStore(ws)
    events: list[tuple[str, str]] = []
    real_fsync, real_run = os.fsync, subprocess.run

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def run(cmd, *a, **kw):
        if cmd[0] == "git":
            events.append(("git", " ".join(cmd)))
        return real_run(cmd, *a, **kw)

    monkeypatch.setattr(cpmod.os, "fsync", fsync)
    monkeypatch.setattr(cpmod.subprocess, "run", run)
    monkeypatch.setattr("llmos_tui.core.fsutil.os.fsync", fsync)
    first = store.snapshot("first")
    objects = store.store / "objects"
    ours = [p for kind, p in events if kind == "fsync" and p.startswith(str(objects)) and "/tmp_obj_" in p]
    assert len(ours) >= 3  # the manifest, the top tree, the commit
    update_ref = next(i for i, (kind, text) in enumerate(events) if kind == "git" and " update-ref " in text)
    last_object_sync = max(i for i, (kind, p) in enumerate(events) if kind == "fsync" and p.startswith(str(objects)))
    assert last_object_sync < update_ref
    gits = [text for kind, text in events if kind == "git"]
    assert all("core.fsync=loose-object,reference" in g and "core.fsyncMethod=batch" in g for g in gits)
    probe = real_run(
        ["git", "-c", "core.fsync=loose-object,reference", "-c", "core.fsyncMethod=batch", "version"],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0 and probe.stderr == ""
    assert store.changes(first.id, store.snapshot("again").id) == []  # and it still works
