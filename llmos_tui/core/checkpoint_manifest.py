"""The manifest of a checkpoint: what git does not keep of a workspace's files (every permission
bit of files and folders, the folders that hold no recorded file, what the snapshot left out),
as one small JSON blob beside the files tree (core/checkpoints.py). Paths here are relative,
with `/`, and never `..`; the helpers below work on such paths."""

from __future__ import annotations

import collections
import json
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MANIFEST_VERSION = 1
GIT_MODE_EXEC = 0o100755
GIT_MODE_LINK = 0o120000
LINK_MODE = stat.S_IFLNK | 0o777  # what lstat says of a symlink on Linux
PERM = 0o7777


def parent(path: str) -> str:
    return path.rpartition("/")[0]


def ancestors(paths: Iterable[str]) -> set[str]:
    """Every folder above the given paths (the root, "", not included)."""
    seen: set[str] = set()
    for p in paths:
        d = parent(p)
        while d and d not in seen:
            seen.add(d)
            d = parent(d)
    return seen


def depth_first(paths: Iterable[str]) -> list[str]:
    return sorted(paths, key=lambda p: p.count("/"), reverse=True)


def most_common(values: Iterable[int], default: int) -> int:
    counts = collections.Counter(values).most_common()
    if not counts:
        return default
    top = counts[0][1]
    return min(v for v, c in counts if c == top)  # a tie goes the same way every time


@dataclass(frozen=True)
class Manifest:
    """What git does not keep. As JSON (sorted keys, no spaces, so equal manifests are one blob):

    {"v": 1, "dir": 493, "file": 420, "exec": 493,    the usual permission bits of a folder, of
                                                      a file without and with git's x bit
     "dirs": {"a/empty": 493, "private": 448},        folders with no recorded file below them
                                                      (empty ones), and folders with other bits
     "files": {"secret.txt": 384},                    files whose bits are not the usual ones
     "ignore": [...], "cap": 10485760,                the rules the snapshot was taken with
     "skipped": ["big.bin"]}                          what it left out (over the cap, unreadable…):
                                                      a restore leaves those as they are then
    """

    dir: int
    file: int
    exec: int
    dirs: Mapping[str, int]
    files: Mapping[str, int]
    ignore: tuple[str, ...]
    cap: int
    skipped: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        doc = {
            "v": MANIFEST_VERSION,
            "dir": self.dir,
            "file": self.file,
            "exec": self.exec,
            "dirs": dict(self.dirs),
            "files": dict(self.files),
            "ignore": list(self.ignore),
            "cap": self.cap,
        }
        if self.skipped:  # (absent when empty: manifests written before it read the same)
            doc["skipped"] = list(self.skipped)
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("v") != MANIFEST_VERSION:
            raise ValueError("unknown manifest version")

        def perm(v: Any) -> int:
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= PERM:
                raise ValueError(f"bad permission bits {v!r}")
            return v

        def paths(v: Any) -> dict[str, int]:
            if not isinstance(v, dict):
                raise ValueError("bad path table")
            out = {}
            for k, bits in v.items():
                check_path(k)
                out[k] = perm(bits)
            return out

        ignore = doc.get("ignore", [])
        cap = doc.get("cap", 0)
        skipped = doc.get("skipped", [])
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore) or not isinstance(cap, int):
            raise ValueError("bad rules")
        if not isinstance(skipped, list) or not all(isinstance(p, str) for p in skipped):
            raise ValueError("bad skipped list")
        for p in skipped:
            check_path(p)
        return cls(
            dir=perm(doc["dir"]),
            file=perm(doc["file"]),
            exec=perm(doc["exec"]),
            dirs=paths(doc["dirs"]),
            files=paths(doc["files"]),
            ignore=tuple(ignore),
            cap=cap,
            skipped=tuple(skipped),
        )

    def file_perm(self, path: str, git_mode: int) -> int:
        bits = self.files.get(path)
        if bits is not None:
            return bits
        return self.exec if git_mode == GIT_MODE_EXEC else self.file

    def full_mode(self, path: str, git_mode: int) -> int:
        if git_mode == GIT_MODE_LINK:
            return LINK_MODE
        return stat.S_IFREG | self.file_perm(path, git_mode)

    def dir_map(self, listing: Mapping[str, tuple[int, str]]) -> dict[str, int]:
        """Every folder of the checkpoint (st_mode), from its files and the manifest."""
        out = {d: stat.S_IFDIR | self.dir for d in ancestors(listing)}
        for d in ancestors(self.dirs):
            out.setdefault(d, stat.S_IFDIR | self.dir)
        for d, bits in self.dirs.items():
            out[d] = stat.S_IFDIR | bits
        return out


def check_path(p: Any) -> None:
    if not isinstance(p, str) or not p or p.startswith("/") or "\0" in p:
        raise ValueError(f"bad path {p!r}")
    if any(part in ("", ".", "..") for part in p.split("/")):
        raise ValueError(f"bad path {p!r}")
