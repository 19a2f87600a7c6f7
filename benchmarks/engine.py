"""Benchmark the runner's own overhead per step, and how its files grow with run length.

A scripted run of N steps (one tool call per model turn, then a final text turn) is driven with
journal fsync on, approval "never", in a fresh temporary project per run. Only `Runner.drive()`
is timed — building the script, opening the run and parsing are not runner overhead. Three tools:

  Noop   a registered tool whose `run` returns "ok" at once: pure runner overhead (journal
         appends, ledger folding, gate, schema check, throttled state-file writes).
  Read   a small file: the cheapest real read-only tool (no barrier per step).
  Write  a small file: side-effecting, so every step is a write-ahead barrier (a journal fsync
         before the tool runs). Shown for the cost of durability: the < 0.5 ms target is for the
         runner's own overhead on a trivial tool (Noop, Read); Write adds an fsync and real I/O.

For 100, 1,000 and 10,000 steps it prints ms per step, the state file size (should be constant:
it keeps only recent steps), the journal size (should grow linearly) and the trace.json write at
the end (O(n), done when the run ends). Targets: 10k per-step within 1.5x of 100, < 0.5 ms/step.

    /work/venv/bin/python benchmarks/engine.py            # 100, 1k, 10k
    /work/venv/bin/python benchmarks/engine.py --quick    # 100, 1k (CI-sized)
    /work/venv/bin/python benchmarks/engine.py --profile Noop:10000   # cProfile one run
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos_tui.core.config import load_agent_config
from llmos_tui.core.registry import ToolRegistry, builtin_tools
from llmos_tui.core.runner import Runner, RunOptions
from llmos_tui.core.runtime.base import ModelTurn
from llmos_tui.core.runtime.scripted import ScriptedRuntime
from llmos_tui.core.scaffold import init_project
from llmos_tui.core.toolmap import ToolSpec, load_toolmap
from llmos_tui.core.tools.base import ToolContext, ToolOutput
from llmos_tui.core.workspace import Workspace

TOOLS = ("Noop", "Read", "Write")
FLAT_TARGET = 1.5
STEP_TARGET_MS = 0.5
SMALL_FILE = "".join(f"line {i}: some small text to read\n" for i in range(1, 11))


class NoopTool:
    name = "Noop"
    description = "Does nothing."
    input_schema: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        return ToolOutput("ok")


NOOP_SPEC = ToolSpec(
    framework_tool="NoopTool",
    claude_tool="Noop",
    description="does nothing",
    cost="free",
    latency="instant",
    side_effects="none",
    error_modes=(),
    approval="auto",
)

INPUTS: dict[str, dict[str, Any]] = {
    "Noop": {},
    "Read": {"file_path": "small.txt"},
    "Write": {"file_path": "out.txt", "content": "hello from the benchmark\n"},
}


def build_turns(tool: str, n: int) -> list[ModelTurn]:
    inputs = INPUTS[tool]
    turns = [
        ModelTurn(
            content=[{"type": "tool_use", "id": f"toolu_b{i:06d}", "name": tool, "input": dict(inputs)}],
            stop_reason="tool_use",
            model="scripted",
        )
        for i in range(n)
    ]
    turns.append(ModelTurn(content=[{"type": "text", "text": "done"}], stop_reason="end_turn", model="scripted"))
    return turns


@dataclass
class Result:
    tool: str
    steps: int
    drive_s: float
    state_bytes: int
    journal_bytes: int
    trace_bytes: int
    trace_s: float  # total time in RunRecorder.write_trace during drive()
    trace_writes: int
    state_saves: int
    journal_syncs: int
    save_s: float  # time in StateFile.save (render + synced atomic replace)
    sync_s: float  # time in Journal.sync (the fsync barriers)

    @property
    def ms_per_step(self) -> float:
        return self.drive_s * 1000 / self.steps

    @property
    def ms_per_step_ex_trace(self) -> float:
        return (self.drive_s - self.trace_s) * 1000 / self.steps


def _count(obj: Any, attr: str, box: dict[str, float], key: str, *, only_if: str | None = None) -> None:
    """Wrap obj.attr (an instance attribute shadowing the method) to count calls and their time."""
    original = getattr(obj, attr, None)
    if original is None:
        return
    box.setdefault(key, 0)
    box.setdefault(key + "_s", 0.0)

    def wrapper(*a: Any, **kw: Any) -> Any:
        if only_if is None or getattr(obj, only_if, True):
            box[key] += 1
        t0 = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            box[key + "_s"] += time.perf_counter() - t0

    setattr(obj, attr, wrapper)


def run_once(tool: str, n: int, *, profiler: Any = None) -> Result:
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as tmp:
        init_project(Path(tmp))
        ws = Workspace.locate(tmp)
        (ws.root / "small.txt").write_text(SMALL_FILE, encoding="utf-8")
        config = load_agent_config(ws.system / "SystemAgent.md").with_(approval="never", max_turns=n + 10)
        specs = {**load_toolmap(ws.system / "ClaudeCodeToolMap.md"), "Noop": NOOP_SPEC}
        registry = ToolRegistry(specs, {**builtin_tools(), "Noop": NoopTool()})
        runtime = ScriptedRuntime(build_turns(tool, n), source="benchmark")
        runner = Runner.start(
            ws,
            "benchmark the runner",
            config=config,
            registry=registry,
            runtime=runtime,
            runtime_name="scripted",
            options=RunOptions(),
        )
        box: dict[str, float] = {}
        _count(runner.rec, "write_trace", box, "trace")
        _count(runner.rec.state_file, "save", box, "save")
        _count(runner.rec.journal, "sync", box, "sync", only_if="_dirty")
        gc.collect()
        if profiler is not None:
            profiler.enable()
        t0 = time.perf_counter()
        status = asyncio.run(runner.drive())
        drive_s = time.perf_counter() - t0
        if profiler is not None:
            profiler.disable()
        if status != "completed":
            raise SystemExit(f"{tool} x{n}: the run ended {status!r}, not 'completed'")
        run_dir = ws.run_dir(runner.run_id)
        trace = run_dir / "trace.json"
        return Result(
            tool,
            n,
            drive_s,
            state_bytes=ws.state_path.stat().st_size,
            journal_bytes=(run_dir / "journal.jsonl").stat().st_size,
            trace_bytes=trace.stat().st_size if trace.exists() else 0,
            trace_s=box.get("trace_s", 0.0),
            trace_writes=int(box.get("trace", 0)),
            state_saves=int(box.get("save", 0)),
            journal_syncs=int(box.get("sync", 0)),
            save_s=box.get("save_s", 0.0),
            sync_s=box.get("sync_s", 0.0),
        )


def measure(tool: str, n: int, repeats: int) -> Result:
    results = [run_once(tool, n) for _ in range(repeats)]
    return sorted(results, key=lambda r: r.drive_s)[len(results) // 2]  # the median run


def kb(b: float) -> str:
    return f"{b / 1024:.1f} KB" if b < 1024 * 1024 else f"{b / 1024 / 1024:.1f} MB"


def report(tool: str, rows: list[Result]) -> list[str]:
    """Print the table for one tool; return the targets it misses."""
    print(f"\n{tool}")
    print(
        f"  {'steps':>6} {'ms/step':>8} {'ex-trace':>8} {'drive s':>8} {'state':>9} {'journal':>10} "
        f"{'B/step':>7} {'j.fsync':>7} {'st.save':>7} {'trace':>9} {'trace ms':>9}"
    )
    for r in rows:
        print(
            f"  {r.steps:>6} {r.ms_per_step:>8.3f} {r.ms_per_step_ex_trace:>8.3f} {r.drive_s:>8.3f} "
            f"{kb(r.state_bytes):>9} {kb(r.journal_bytes):>10} {r.journal_bytes / r.steps:>7.0f} "
            f"{r.journal_syncs:>7} {r.state_saves:>7} {kb(r.trace_bytes):>9} "
            f"{r.trace_s * 1000:>7.1f}x{r.trace_writes}"
        )
    first, last = rows[0], rows[-1]
    per_ms = 1000 / last.steps
    rest = last.drive_s - last.save_s - last.sync_s - last.trace_s
    print(
        f"  where it goes at {last.steps}: state-file writes {last.save_s * per_ms:.3f} ms/step, "
        f"journal fsync {last.sync_s * per_ms:.3f}, trace.json {last.trace_s * per_ms:.3f}, "
        f"the rest (loop, ledger, tool) {rest * per_ms:.3f}"
    )
    missed = []
    ratio = last.ms_per_step / first.ms_per_step
    flat = ratio <= FLAT_TARGET
    print(
        f"  flat: {last.steps // 1000}k/{first.steps} = {ratio:.2f}× (target ≤ {FLAT_TARGET}×)"
        if last.steps >= 1000
        else f"  flat: {last.steps}/{first.steps} = {ratio:.2f}× (target ≤ {FLAT_TARGET}×)",
        "" if flat else "  ← MISSED",
    )
    worst = max(r.ms_per_step for r in rows)
    targeted = tool != "Write"  # Write's fsync barrier and file I/O are not runner overhead
    fast = worst < STEP_TARGET_MS or not targeted
    print(
        f"  per step: {worst:.3f} ms worst, {last.ms_per_step:.3f} ms at {last.steps} "
        + (
            f"(target < {STEP_TARGET_MS} ms)"
            if targeted
            else f"(no target: {last.sync_s * per_ms:.3f} ms of it is the journal fsync before each write)"
        ),
        "" if fast else "  ← MISSED",
    )
    sizes = [r.state_bytes for r in rows]
    constant = max(sizes) <= min(sizes) * 1.10
    print(
        f"  state file: {'constant' if constant else 'GROWS'} ({kb(first.state_bytes)} → {kb(last.state_bytes)})",
        "" if constant else "  ← MISSED",
    )
    per = [r.journal_bytes / r.steps for r in rows]
    linear = max(per[1:] or per) <= min(per[1:] or per) * 1.15  # 100 steps carries the fixed header
    print(f"  journal: {'linear' if linear else 'NOT linear'} (≈ {per[-1]:.0f} B/step)", "" if linear else "  ← MISSED")
    if not flat:
        missed.append(f"{tool}: flat {ratio:.2f}×")
    if not fast:
        missed.append(f"{tool}: {worst:.3f} ms/step")
    if not constant:
        missed.append(f"{tool}: state file grows")
    if not linear:
        missed.append(f"{tool}: journal not linear")
    return missed


def profile(spec: str) -> None:
    import cProfile
    import pstats

    tool, _, n = spec.partition(":")
    run_once(tool, 50)  # warm up imports
    prof = cProfile.Profile()
    r = run_once(tool, int(n or 10_000), profiler=prof)
    print(f"{tool} x{r.steps}: {r.ms_per_step:.3f} ms/step under cProfile")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 steps only")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: Noop,Read,Write")
    ap.add_argument("--profile", metavar="TOOL:N", help="cProfile one run instead of benchmarking")
    args = ap.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return 0
    sizes = [(100, 7), (1_000, 3)] + ([] if args.quick else [(10_000, 1)])
    tools = [t for t in args.tools.split(",") if t]
    print(f"llmos-tui runner overhead — scripted runtime, journal fsync on, Python {sys.version.split()[0]}")
    print(
        "(ms/step = drive() wall time / steps, median of repeats; ex-trace = without the trace.json "
        "writes at the end; j.fsync = journal fsyncs; st.save = state-file writes)"
    )
    for tool in tools:
        run_once(tool, 20)  # warm up: imports (jsonschema), the page cache
    missed: list[str] = []
    trace_big: Result | None = None
    for tool in tools:
        rows = [measure(tool, n, reps) for n, reps in sizes]
        missed += report(tool, rows)
        if tool == tools[0]:
            trace_big = rows[-1]
    if trace_big is not None:
        t = trace_big
        print(
            f"\ntrace.json at {t.steps} {t.tool} steps: {kb(t.trace_bytes)}, written {t.trace_writes}× at the end, "
            f"{t.trace_s * 1000 / max(t.trace_writes, 1):.1f} ms each ({t.trace_s * 1000:.1f} ms total, "
            f"{t.trace_s / t.drive_s:.0%} of drive())"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024
    print(f"peak RSS: {rss_mb:.0f} MB")
    print("verdict: all targets met" if not missed else "verdict: missed — " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
