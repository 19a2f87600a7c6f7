"""Benchmark `llmos-tui batch`: runs per minute and peak memory, beside the same runs as separate processes.

100 runs of 20 steps each (the run of benchmarks/headless.py: 20 turns each calling one cheap
tool — UpdatePlan, Glob, Read, Grep, Write in turn — then a final text turn) on Claude's native
runtime against FakeAnthropic (tests/fakeapi.py) on 127.0.0.1, which answers at once. For
`--parallel 1, 2, 4`:

  batch     `python -m llmos_tui batch goals.yaml --parallel P --approve never --json`: one
            command, its worker processes (one per core, at most P) each running up to ⌈P/W⌉
            runs interleaved on its event loop. Wall time from spawn to exit → runs per minute.
            Peak RSS (VmHWM, sampled from /proc every 20 ms) of the coordinator and of each
            worker; "per run" is what a worker's peak adds to an idle worker's (a worker started
            alone, the SDK imported, no goal) divided by the runs it had at once.
  separate  the same 100 runs as 100 `python -m llmos_tui run --headless --approve never -q GOAL`
            processes, P at a time, each in a project of its own (one driver per workspace).
            Peak RSS per process from /usr/bin/time (%M) when present.

Printed side by side with the aims: batch ≥ 5× the separate-process runs per minute at the same
parallelism, ≤ 15 MB per concurrent run beyond the worker's own. The fake API shares the 2 cores
with both (as it would share them with nothing on a real machine); every figure moves by 10–30 %
between runs on the shared development machine.

    python benchmarks/batch.py            # 100 runs per row
    python benchmarks/batch.py --quick    # 20 runs per row (CI-sized)

No network beyond 127.0.0.1: the key is a fake one, every child is pointed at the fake, projects
and batches live in temporary folders.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # FakeAnthropic is test support code
sys.path.insert(0, str(HERE.parent))

import headless  # noqa: E402 - the same 20-step run, its fake replies and its project

SPEEDUP_AIM = 5.0
PER_RUN_MB_AIM = 15.0
TIME = shutil.which("time", path="/usr/bin:/bin")


def child_env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["ANTHROPIC_API_KEY"] = "test-key"
    env["ANTHROPIC_BASE_URL"] = base_url
    return env


def status_kb(pid: int, field: str = "VmHWM") -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def workers_of(parent: int) -> list[int]:
    """The batch's worker processes: children of `parent` running llmos_tui.core.batch.worker."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if b"llmos_tui.core.batch.worker" in fh.read():
                    out.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return out


class Sampler:
    """Peak RSS of the batch's coordinator and workers, read from /proc while they live."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for pid in [self.pid, *workers_of(self.pid)]:
                kb = status_kb(pid)
                if kb:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), kb)
            time.sleep(0.02)

    def done(self) -> dict[int, int]:
        self.stop.set()
        self.thread.join()
        return self.peaks


def idle_worker_mb(base_url: str) -> float:
    """An idle worker's peak: started, told to run natively (the SDK imported), no goal."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmos_tui.core.batch.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**child_env(base_url), "LLMOS_BATCH_PARENT": str(os.getpid())},
    )
    assert proc.stdin is not None and proc.stdout is not None
    settings = {"out": tempfile.gettempdir(), "runtime": "native", "mode": "execute"}
    proc.stdin.write((json.dumps({"op": "init", "settings": settings}) + "\n").encode())
    proc.stdin.flush()
    proc.stdout.readline()  # ready
    kb = status_kb(proc.pid)
    proc.stdin.write(b'{"op": "close"}\n')
    proc.stdin.flush()
    proc.wait(30)
    return kb / 1024


def run_batch(runs: int, parallel: int, base_url: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="llmos-bench-batch-"))
    try:
        headless.make_project(tmp)
        goals = tmp / "goals.jsonl"
        goals.write_text("".join(json.dumps({"goal": f"{headless.GOAL} (#{i})"}) + "\n" for i in range(1, runs + 1)))
        cmd = [sys.executable, "-m", "llmos_tui", "batch", str(goals), "--out", str(tmp / "out")]
        cmd += ["--parallel", str(parallel), "--approve", "never", "--json"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, env=child_env(base_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sampler = Sampler(proc.pid)
        out, err = proc.communicate(timeout=3600)
        wall = time.perf_counter() - t0
        peaks = sampler.done()
        if proc.returncode != 0:
            raise SystemExit(f"the batch failed (exit {proc.returncode}): {err.decode()[-800:]}")
        summary = json.loads(out)
        if summary["counts"]["done"] != runs:
            raise SystemExit(f"not every run completed: {summary['counts']}")
        workers = {pid: kb for pid, kb in peaks.items() if pid != proc.pid}
        return {
            "wall_s": wall,
            "runs_per_min": runs / wall * 60,
            "coordinator_mb": peaks.get(proc.pid, 0) / 1024,
            "worker_mb": max(workers.values(), default=0) / 1024,
            "workers": len(workers),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_separate(runs: int, parallel: int, base_url: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="llmos-bench-separate-"))
    try:
        projects = []
        for i in range(runs):
            p = tmp / f"p{i}"
            p.mkdir()
            headless.make_project(p)
            projects.append(p)
        env = child_env(base_url)
        pending = list(projects)
        running: list[tuple[subprocess.Popen[bytes], Any]] = []
        rss: list[int] = []
        t0 = time.perf_counter()
        while pending or running:
            while pending and len(running) < parallel:
                p = pending.pop(0)
                tf = tempfile.NamedTemporaryFile("r", suffix=".time")  # (closed when its process ends)
                cmd = [
                    sys.executable,
                    "-m",
                    "llmos_tui",
                    "run",
                    "--headless",
                    "--approve",
                    "never",
                    "-q",
                    headless.GOAL,
                ]
                full = [TIME, "-o", tf.name, "-f", "%M", *cmd] if TIME else cmd
                running.append((subprocess.Popen(full, cwd=p, env=env, stdout=subprocess.DEVNULL), tf))
            time.sleep(0.002)
            for item in list(running):
                proc, tf = item
                if proc.poll() is None:
                    continue
                running.remove(item)
                if proc.returncode != 0:
                    raise SystemExit(f"a separate run failed (exit {proc.returncode})")
                if TIME:
                    rss.append(int((tf.read().strip().splitlines() or ["0"])[-1]))
                tf.close()
        wall = time.perf_counter() - t0
        return {
            "wall_s": wall,
            "runs_per_min": runs / wall * 60,
            "process_mb": (sorted(rss)[len(rss) // 2] / 1024) if rss else float("nan"),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 runs per row instead of 100")
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    headless.isolate_env()
    runs = 20 if args.quick else 100
    from fakeapi import FakeAnthropic

    cores = os.cpu_count() or 1
    rows = []
    # no prompt-cache model in the fake: its bookkeeping would cost this machine's CPU, which the real API's does not
    with FakeAnthropic(default=headless.reply_for, cache=False) as api:
        idle = idle_worker_mb(api.base_url)
        for p in args.parallel:
            b = run_batch(runs, p, api.base_url)
            s = run_separate(runs, p, api.base_url)
            per_worker = -(-p // max(1, min(p, cores)))
            per_run = max(0.0, b["worker_mb"] - idle) / per_worker
            rows.append((p, b, s, per_run, per_worker))
            print(
                f"parallel {p}: batch {b['runs_per_min']:.0f} runs/min ({b['wall_s']:.1f} s), separate "
                f"{s['runs_per_min']:.0f} runs/min ({s['wall_s']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    print(
        f"\n{runs} runs of {headless.STEPS} steps on Claude's native runtime against an instant fake API, {cores} cores"
    )
    print(f"idle worker (SDK imported, no goal): {idle:.0f} MB peak RSS")
    head = (
        f"{'parallel':>8} │ {'batch runs/min':>14} {'separate runs/min':>17} {'speed-up':>8} │ "
        f"{'coordinator':>11} {'worker peak':>11} {'runs/worker':>11} {'per run':>8} │ {'separate: per process':>21}"
    )
    print(head)
    print("─" * len(head))
    for p, b, s, per_run, per_worker in rows:
        speedup = b["runs_per_min"] / s["runs_per_min"] if s["runs_per_min"] else float("nan")
        print(
            f"{p:>8} │ {b['runs_per_min']:>14.0f} {s['runs_per_min']:>17.0f} {speedup:>7.1f}× │ "
            f"{b['coordinator_mb']:>8.0f} MB {b['worker_mb']:>8.0f} MB {per_worker:>11} {per_run:>5.1f} MB │ "
            f"{s['process_mb']:>18.0f} MB"
        )
    worst = min(b["runs_per_min"] / s["runs_per_min"] for _, b, s, _, _ in rows)
    heaviest = max(r for _, _, _, r, _ in rows)
    print(
        f"aims: ≥ {SPEEDUP_AIM:.0f}× the separate-process throughput (lowest here {worst:.1f}×: "
        f"{'met' if worst >= SPEEDUP_AIM else 'MISSED'}); ≤ {PER_RUN_MB_AIM:.0f} MB per concurrent run beyond the "
        f"worker's own (highest here {heaviest:.1f} MB: {'met' if heaviest <= PER_RUN_MB_AIM else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
