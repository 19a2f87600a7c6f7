"""Peak memory of the file tools on a file with one huge line (issue 11, finding 6).

Builds `big.txt` in a temporary workspace under /tmp: 8 KB of ordinary lines, then one line of
1 GB of real 'x' bytes (written in 1 MB chunks, so every byte is on disk and read back), then a
short last line. Also `near/limit.txt`, one line just under 10 MB (the most Edit accepts and
multiline Grep holds whole), and `short.txt`, 9 MB of 3-byte matching lines. Each tool call runs
in its own child process, which prints its wall time and its peak RSS (ru_maxrss, the whole
interpreter included); the target is ≤ 150 MB each.

    python benchmarks/bigline.py                   # the 1 GB line (needs ~1.1 GB free in /tmp)
    python benchmarks/bigline.py --mb 64           # a smaller line, for a quick look
    python benchmarks/bigline.py --pythonpath DIR  # the same calls against another checkout

The file is deleted at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB = 150
CHUNK = 1 << 20

CHILD = r"""
import asyncio, json, resource, sys, time
import llmos_tui
from pathlib import Path
from llmos_tui.core.tools.base import ToolContext, ToolError
from llmos_tui.core.tools.files import EditTool, ReadTool
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.tools.search import GrepTool
ws, tool, inputs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tools = {"Read": ReadTool(), "Edit": EditTool(), "Grep": GrepTool(), "none": None}
ctx = ToolContext(sandbox=Sandbox(Path(ws)))
started = time.perf_counter()
if tools[tool] is None:
    out = ""
else:
    try:
        out = asyncio.run(tools[tool].run(inputs, ctx)).text
    except ToolError as exc:
        out = "ToolError: " + str(exc)
elapsed = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": elapsed, "peak_mb": peak_kb / 1024, "chars": len(out), "out": out, "from": llmos_tui.__file__}))
"""


def cases(long_line: int) -> list[tuple[str, str, dict[str, object]]]:
    return [
        ("interpreter + imports only", "none", {}),
        ("Read", "Read", {"file_path": "big.txt"}),
        ("Read offset/limit", "Read", {"file_path": "big.txt", "offset": long_line - 1, "limit": 3}),
        ("Edit", "Edit", {"file_path": "big.txt", "old_string": "last line", "new_string": "edited"}),
        ("Grep (path: the file)", "Grep", {"pattern": "last line|NEEDLE", "path": "big.txt", "output_mode": "content"}),
        ("Grep (the workspace)", "Grep", {"pattern": "last line", "output_mode": "content"}),
        # the largest file Edit takes, and Grep holds whole: one line just under 10 MB
        (
            "Edit (9.9 MB, one line)",
            "Edit",
            {"file_path": "near/limit.txt", "old_string": "TOKEN", "new_string": "done"},
        ),
        ("Grep (9.9 MB, one line)", "Grep", {"pattern": "TOKEN|done", "path": "near", "output_mode": "count"}),
        ("Grep (9 MB of 'ab' lines)", "Grep", {"pattern": "ab", "path": "short.txt", "output_mode": "content"}),
    ]


def build(path: Path, line_mb: int) -> int:
    """Write the file; returns the number of the long line."""
    head = b""
    n = 0
    while len(head) < 8192:
        n += 1
        head += b"line %03d of ordinary text, about 40 bytes\n" % n
    chunk = b"x" * CHUNK
    with open(path, "wb") as f:
        f.write(head)
        for _ in range(line_mb):
            f.write(chunk)
        f.write(b"NEEDLE\nlast line\n")
    return n + 1


def summary(out: str) -> str:
    """The answer's gist in one line: an error, or its first and last shown lines, shortened."""
    if out.startswith("ToolError"):
        return out[:150]
    lines = out.splitlines()
    if not lines:
        return "(no output)"
    first = lines[0] if len(lines[0]) < 60 else lines[0][:50] + "…"
    last = lines[-1] if len(lines[-1]) < 90 else lines[-1][:40] + "…" + lines[-1][-45:]
    return f"{len(lines)} lines: {first!r} … {last!r}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1024, help="size of the long line in MB (default 1024)")
    parser.add_argument("--pythonpath", help="run the children against this checkout's llmos_tui")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to build the file (default /tmp)")
    args = parser.parse_args()

    need = (args.mb + 64) * CHUNK
    free = shutil.disk_usage(args.dir).free
    if free < need + 512 * CHUNK:
        print(f"not enough space in {args.dir}: {free >> 20} MB free, {need >> 20} MB needed plus a margin")
        return 2
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    tmp = Path(tempfile.mkdtemp(prefix="llmos-bigline-", dir=args.dir))
    try:
        ws = tmp / "ws"
        ws.mkdir()
        big = ws / "big.txt"
        started = time.perf_counter()
        long_line = build(big, args.mb)
        (ws / "near").mkdir()
        (ws / "near" / "limit.txt").write_bytes(b"y" * (10 * CHUNK - 100 * 1024) + b"TOKEN\n")
        (ws / "short.txt").write_bytes(b"ab\n" * (3 * CHUNK))  # 3M matching lines: the answer must stay capped
        size = big.stat().st_size
        built = time.perf_counter() - started
        print(f"big.txt: {size / CHUNK:,.1f} MB; line {long_line} is {args.mb} MB long; built in {built:.1f} s")
        print(f"python {sys.version.split()[0]}")
        print(f"{'call':<28} {'time s':>7} {'peak RSS MB':>12}  answer")
        worst = 0.0
        for label, tool, inputs in cases(long_line):
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(ws), tool, json.dumps(inputs)],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,  # `python -c` puts the working folder first on sys.path: not this checkout
                timeout=600,
            )
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{label:<28} {'-':>7} {'-':>12}  child failed: {tail[:120]}")
                worst = float("inf")
                continue
            r = json.loads(done.stdout)
            if tool != "none":
                worst = max(worst, r["peak_mb"])
            print(f"{label:<28} {r['s']:>7.2f} {r['peak_mb']:>12.1f}  {summary(r['out'])}")
            if tool == "none":
                print(f"{'':<28} {'':>7} {'':>12}  (llmos_tui imported from {Path(r['from']).parent})")
        verdict = "met" if worst <= TARGET_MB else "NOT met"
        print(f"worst peak RSS of a tool call: {worst:.1f} MB (target ≤ {TARGET_MB} MB): {verdict}")
        return 0 if worst <= TARGET_MB else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
