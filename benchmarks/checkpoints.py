"""Benchmark workspace checkpoints (core/checkpoints.py): milliseconds per snapshot, store growth.

A workspace of N files (100, 1,000 and 10,000) totalling 50 MB (--quick: 10 MB) of text-like
content (lines of words drawn from a vocabulary, so it compresses as source and prose do) in
nested folders, about a dozen files per folder, three levels deep. Its files are dated a minute
back, as a workspace's files are older than its last checkpoint (git's index treats a file
written in the same second as the index as "racily clean" and reads it again each time). Then:

  first       the first snapshot: every file hashed and compressed into the store
  same        a snapshot with nothing changed (the last checkpoint's id comes back)
  1 file      one file rewritten (new content, same size), then a snapshot; median of several
  10 %        a tenth of the files rewritten, then a snapshot; median of several
  restore     back to the first checkpoint after the 10 % rounds (files rewritten by git)

Each snapshot's git processes are counted. Growth is what the store's object files grew by
(their bytes: compressed objects; a loose object also takes a whole 4 KB block on disk, shown
as `disk`) over the bytes of the files that changed (the whole of each rewritten file: git
stores whole files, compressed). Aims: ≤ 20 ms per snapshot at 1,000 files with one changed,
growth ≤ 1.2× the changed bytes.

    python benchmarks/checkpoints.py            # 100, 1,000 and 10,000 files, 50 MB
    python benchmarks/checkpoints.py --quick    # the same counts, 10 MB, fewer rounds
    python benchmarks/checkpoints.py --sizes 1000 --mb 50 --rounds 21

No network; a temporary folder under /tmp, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llmos_tui.core.checkpoints import CheckpointStore

SNAPSHOT_AIM_MS = 20.0  # at 1,000 files, one changed
GROWTH_AIM = 1.2
WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an which have not "
    "def return import class self value result data file path name list dict str int none true false "
    "agent step tool run state plan goal memory model token cache index tree commit branch journal "
    "function parameter argument error message window screen record folder version update delete"
).split()


def text_pool(rng: random.Random, lines: int = 4000) -> list[bytes]:
    out = []
    for _ in range(lines):
        indent = " " * (4 * rng.randint(0, 3))
        out.append((indent + " ".join(rng.choices(WORDS, k=rng.randint(3, 14))) + "\n").encode())
    return out


def content(rng: random.Random, pool: list[bytes], size: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total < size:
        line = pool[rng.randrange(len(pool))]
        parts.append(line)
        total += len(line)
    return b"".join(parts)[:size]


def build(ws: Path, n: int, total_bytes: int, rng: random.Random, pool: list[bytes]) -> list[Path]:
    per = max(1, total_bytes // n)
    files = []
    for i in range(n):
        folder = ws / f"pkg{i % 7}" / f"mod{(i // 7) % 9}" / f"part{(i // 63) % max(1, n // 756 + 1)}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"file{i:05d}.{('py', 'md', 'txt', 'json')[i % 4]}"
        path.write_bytes(content(rng, pool, per))
        files.append(path)
    back = time.time() - 60
    for p in files:
        os.utime(p, (back, back))
    return files


def store_bytes(store: Path) -> tuple[int, int]:
    """(bytes, disk bytes) of the store's objects."""
    size = disk = 0
    for dirpath, _dirs, names in os.walk(store / "objects"):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            size += st.st_size
            disk += st.st_blocks * 512
    return size, disk


class Counting(CheckpointStore):
    """The store with a count of its git processes."""

    calls = 0

    def _git(self, args: list[str], **kwargs: Any) -> bytes:
        Counting.calls += 1
        return super()._git(args, **kwargs)


def rewrite(paths: list[Path], rng: random.Random, pool: list[bytes]) -> int:
    changed = 0
    for p in paths:
        size = p.stat().st_size
        p.write_bytes(content(rng, pool, size))
        changed += size
    return changed


def timed_snapshot(store: Counting) -> tuple[float, int, bool]:
    Counting.calls = 0
    cp = store.snapshot("bench")
    return cp.seconds * 1000, Counting.calls, cp.new


def bench_one(tmp: Path, n: int, total: int, rounds: int, rng: random.Random, pool: list[bytes]) -> dict[str, Any]:
    ws = tmp / f"ws{n}"
    ws.mkdir()
    files = build(ws, n, total, rng, pool)
    store = Counting(ws)
    t0 = time.perf_counter()
    first = store.snapshot("first")
    first_ms = (time.perf_counter() - t0) * 1000
    base, base_disk = store_bytes(store.store)

    same = [timed_snapshot(store) for _ in range(max(3, rounds // 2))]
    assert not any(new for _ms, _calls, new in same)

    one_ms, one_calls = [], []
    grown = grown_disk = changed = 0
    for _ in range(rounds):
        before, before_disk = store_bytes(store.store)
        changed += rewrite([rng.choice(files)], rng, pool)
        ms, calls, new = timed_snapshot(store)
        assert new
        one_ms.append(ms)
        one_calls.append(calls)
        after, after_disk = store_bytes(store.store)
        grown += after - before
        grown_disk += after_disk - before_disk
    one_growth, one_disk = grown / changed, grown_disk / changed

    many_ms, many_calls = [], []
    grown = grown_disk = changed = 0
    for _ in range(max(3, rounds // 3)):
        before, before_disk = store_bytes(store.store)
        changed += rewrite(rng.sample(files, max(1, n // 10)), rng, pool)
        ms, calls, _new = timed_snapshot(store)
        many_ms.append(ms)
        many_calls.append(calls)
        after, after_disk = store_bytes(store.store)
        grown += after - before
        grown_disk += after_disk - before_disk
    many_growth, many_disk = grown / changed, grown_disk / changed

    t0 = time.perf_counter()
    store.restore(first.id)
    restore_ms = (time.perf_counter() - t0) * 1000
    return {
        "n": n,
        "bytes": sum(p.stat().st_size for p in files),
        "first_ms": first_ms,
        "store": base,
        "store_disk": base_disk,
        "same_ms": statistics.median(ms for ms, _c, _n in same),
        "same_calls": max(c for _ms, c, _n in same),
        "one_ms": statistics.median(one_ms),
        "one_p90": sorted(one_ms)[int(len(one_ms) * 0.9) - 1 if len(one_ms) > 1 else 0],
        "one_calls": max(one_calls),
        "one_growth": one_growth,
        "one_disk": one_disk,
        "many_ms": statistics.median(many_ms),
        "many_calls": max(many_calls),
        "many_growth": many_growth,
        "many_disk": many_disk,
        "restore_ms": restore_ms,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 MB and fewer rounds")
    ap.add_argument("--sizes", default="100,1000,10000", help="comma-separated file counts")
    ap.add_argument("--mb", type=float, help="total MB of each workspace (default 50, --quick 10)")
    ap.add_argument("--rounds", type=int, help="one-file rounds per size (default 15, --quick 7)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    total = int((args.mb if args.mb is not None else (10 if args.quick else 50)) * 1_000_000)
    rounds = args.rounds or (7 if args.quick else 15)
    if not CheckpointStore.available():
        print("git is not on PATH")
        return 2
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"workspace checkpoints — {', '.join(f'{n:,}' for n in sizes)} files, {total / 1e6:.0f} MB each, "
        f"{rounds} one-file rounds; {git}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    rng = random.Random(1)
    pool = text_pool(rng)
    results = []
    with tempfile.TemporaryDirectory(prefix="llmos-bench-checkpoints-") as tmp:
        for n in sizes:
            results.append(bench_one(Path(tmp), n, total, rounds, rng, pool))
            shutil.rmtree(Path(tmp) / f"ws{n}")
    print()
    print(
        f"  {'files':>7} {'MB':>5} {'first s':>8} {'store MB':>9} {'same ms':>8} "
        f"{'1 file ms':>10} {'p90':>6} {'git':>4} {'10 % ms':>8} {'git':>4} {'restore ms':>11}"
    )
    for r in results:
        print(
            f"  {r['n']:>7,} {r['bytes'] / 1e6:>5.0f} {r['first_ms'] / 1000:>8.2f} {r['store'] / 1e6:>9.1f} "
            f"{r['same_ms']:>8.1f} {r['one_ms']:>10.1f} {r['one_p90']:>6.1f} {r['one_calls']:>4} "
            f"{r['many_ms']:>8.0f} {r['many_calls']:>4} {r['restore_ms']:>11.0f}"
        )
    print()
    print(f"  {'files':>7} {'growth / changed bytes: 1 file':>31} {'(disk)':>7} {'10 %':>6} {'(disk)':>7}")
    for r in results:
        print(
            f"  {r['n']:>7,} {r['one_growth']:>31.2f} {r['one_disk']:>7.2f} {r['many_growth']:>6.2f} {r['many_disk']:>7.2f}"
        )
    print()
    missed = []
    for r in results:
        if r["n"] == 1000:
            ok = r["one_ms"] <= SNAPSHOT_AIM_MS
            print(
                f"  aim: ≤ {SNAPSHOT_AIM_MS:.0f} ms per snapshot at 1,000 files, one changed: "
                f"{r['one_ms']:.1f} ms{'' if ok else '  ← MISSED'}"
            )
            if not ok:
                missed.append(f"snapshot {r['one_ms']:.1f} ms")
    worst = max(max(r["one_growth"], r["many_growth"]) for r in results)
    ok = worst <= GROWTH_AIM
    print(f"  aim: store growth ≤ {GROWTH_AIM}× the changed bytes: worst {worst:.2f}×{'' if ok else '  ← MISSED'}")
    if not ok:
        missed.append(f"growth {worst:.2f}×")
    print("verdict: all aims met" if not missed else "verdict: missed — " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
