"""`llmos-tui batch GOALS`: many goals, each run in its own workspace by a pool of workers
(core/batch/; the contract is docs/design.md §14). This module declares the command and draws
its progress (rich, on stderr) and its last lines; the batch itself is core's.

Exit codes: 0 every goal done, 1 some failed (and none left to run), 2 bad input, 3 some wait for
a person, are paused, or were never started (the budget, Ctrl-C): run the same command again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos_tui.core.batch.scheduler import BatchResult, Coordinator, Progress

SHOWN = 10  # goals named one per line at the end (waiting, failed, paused)


def add_parsers(sub: Any, workspace_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    b = sub.add_parser(
        "batch",
        help="run many goals, each in its own workspace, on a pool of workers",
        description="Run every goal of GOALS (a YAML list, or JSON Lines: one {goal, files, variables, "
        "script, tags} mapping per goal), each in a workspace of its own under --out, copied from the "
        "project's. Runs share worker processes (one per core by default). The batch is durable: run "
        "the same command again after a kill or a stop and it carries on, never repeating a finished "
        "goal. Runs that need a person wait for `llmos-tui approve --workspace <goal folder>` while "
        "the others go on.",
    )
    b.add_argument(
        "goals", nargs="?", metavar="GOALS", help="the goals file (leave out with --out to go on with a batch)"
    )
    b.add_argument(
        "--out",
        metavar="DIR",
        help="the batch folder (default: <project>/batches/<GOALS name>; the same command finds it again)",
    )
    b.add_argument(
        "--parallel", type=int, metavar="N", help="runs at once, across every worker (default 4; the batch keeps it)"
    )
    b.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: one per core, at most --parallel)"
    )
    b.add_argument("--mode", choices=["execute", "simulate"], help="execute (default) or simulate, for every goal")
    b.add_argument(
        "--runtime",
        choices=["native", "scripted", "claude-code"],
        help="default: scripted when every goal has a script, native when none has",
    )
    b.add_argument("--model", help="model name (default: SystemAgent.md's model)")
    b.add_argument(
        "--approve",
        choices=["ask", "side-effects", "never"],
        help="which tool calls wait for a person (default: SystemAgent.md's approval); runs that wait "
        "free their place for other goals",
    )
    b.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="the whole batch's budget: once spent, no goal starts and the running ones pause (resumable)",
    )
    b.add_argument(
        "--max-calls",
        type=int,
        metavar="N",
        help="model calls in flight at once across every worker (default: no limit but --parallel)",
    )
    b.add_argument(
        "--no-wait",
        action="store_true",
        help="return (exit 3) when only goals waiting for a person are left, instead of waiting for decisions",
    )
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar; only the final line")
    b.add_argument("--json", action="store_true", help="a JSON summary on stdout at the end (no progress bar)")
    b.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the workers as Ray actors (the `ray` extra): `auto` (the default) joins or starts the "
        "local Ray instance, an ADDRESS (ray://head:10001, head:6379) a cluster",
    )
    b.add_argument(
        "--ray-shared-fs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --ray: the actors see the batch folder at the same path (default: found out); "
        "without, goal folders travel to and from the actors as tar files",
    )
    workspace_arg(b)
    b.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from llmos_tui.core.batch.scheduler import BatchOptions, Coordinator

    if args.parallel is not None and args.parallel < 1:
        from llmos_tui.core.errors import BadInput

        raise BadInput("--parallel needs at least 1")
    options = BatchOptions(
        goals_file=Path(args.goals) if args.goals else None,
        out=Path(args.out) if args.out else None,
        workspace=args.workspace,
        parallel=args.parallel,
        workers=args.workers,
        mode=args.mode,
        runtime=args.runtime,
        model=args.model,
        approve=args.approve,
        max_cost=args.max_cost,
        max_calls=args.max_calls,
        no_wait=args.no_wait,
        ray=args.ray,
        ray_shared_fs=args.ray_shared_fs,
        base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
    )
    co = Coordinator(options)
    co.open()
    quiet = args.quiet or args.json
    if not quiet:
        print(_start_line(co), flush=True)
    view = _ProgressView(co) if not quiet else None
    co.on_progress = view.update if view is not None else None

    async def go() -> BatchResult:
        import signal

        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not co.stopping:
                print(
                    "stopping: no goal starts, the running ones pause after their step (again to stop at once)…",
                    file=sys.stderr,
                    flush=True,
                )
            co.request_stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        return await co.run()

    try:
        result = asyncio.run(go())
    finally:
        if view is not None:
            view.close()
    if args.json:
        print(json.dumps(summary(result), default=str))
    else:
        for line in end_lines(result, quiet=args.quiet):
            print(line, flush=True)
    return result.exit_code


def _start_line(co: Coordinator) -> str:
    st = co.state
    counts = st.counts()
    before = counts["done"] + counts["failed"]
    s = co.settings
    return (
        f"batch {co.out}: {st.count} goal{'s' if st.count != 1 else ''}"
        + (f" ({before} finished before)" if before else "")
        + f" · {s.get('runtime')} · {s.get('mode')} · {co.parallel} at once"
        + (f" · budget ${float(s['max_cost']):.2f}" if s.get("max_cost") is not None else "")
        + (" · on Ray" if co.options.ray is not None else "")
    )


def _duration(secs: float | None) -> str:
    if secs is None:
        return "?"
    secs = int(round(secs))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    return f"{secs // 3600}h{secs % 3600 // 60:02d}m"


def progress_text(p: Progress) -> str:
    c = p.counts
    parts = [f"{c['done']} done", f"{c['failed']} failed", f"{c['waiting']} waiting"]
    if c["paused"]:
        parts.append(f"{c['paused']} paused")
    parts.append(f"{c['running']} running")
    parts.append(f"{p.runs_per_min:.1f} runs/min")
    parts.append(f"${p.cost:.4f}" + (f" of ${p.max_cost:.2f}" if p.max_cost is not None else ""))
    if p.budget_hit:
        parts.append("budget spent: pausing")
    elif p.stopping:
        parts.append("stopping")
    else:
        parts.append(f"ETA {_duration(p.eta_s)}")
    if p.throttled:
        parts.append(f"{p.throttled} throttled")
    return " · ".join(parts)


class _ProgressView:
    """rich's progress bar on stderr in a terminal; elsewhere a plain line every few seconds."""

    def __init__(self, co: Coordinator) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.last = 0.0
        self.progress: Any = None
        self.task: Any = None
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=True,
            )
            self.task = self.progress.add_task("batch", total=max(1, co.state.count), info="starting…")
            self.progress.start()

    def update(self, p: Progress) -> None:
        c = p.counts
        settled = c["done"] + c["failed"]
        if self.live:
            self.progress.update(self.task, total=max(1, p.total), completed=settled, info=progress_text(p))
        elif time.monotonic() - self.last >= 5.0:
            self.last = time.monotonic()
            print(f"batch: {settled}/{p.total} · {progress_text(p)}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live:
            self.progress.stop()


def end_lines(r: BatchResult, *, quiet: bool = False) -> list[str]:
    c = r.counts
    parts = [f"{c['done']} done", f"{c['failed']} failed"]
    if c["waiting"]:
        parts.append(f"{c['waiting']} waiting for a person")
    if c["paused"]:
        parts.append(f"{c['paused']} paused")
    left = c["queued"] + c["running"]
    if left:
        parts.append(f"{left} not finished")
    rate = r.settled_here / r.elapsed * 60 if r.elapsed > 0 else 0.0
    lines = [
        f"batch {r.out}: {r.total} goals: " + ", ".join(parts) + f" · ${r.cost:.4f} · {_duration(r.elapsed)}"
        f" · {rate:.1f} runs/min"
    ]
    if r.reason == "budget":
        lines.append(
            f"the budget (${float(r.max_cost or 0):.2f}) is spent (${r.cost:.4f}): {c['paused']} paused, {left} not "
            "started; run again with a higher --max-cost to go on"
        )
    elif r.reason == "interrupted":
        lines.append("stopped: run the same command again to go on")
    elif r.reason == "broken":
        lines.append(f"stopped: {r.problem}")
    if quiet:
        return lines
    for status, label in (("waiting", "waits"), ("paused", "paused"), ("failed", "failed")):
        shown = r.dirs(status)
        for index, folder, g in shown[:SHOWN]:
            lines.append(f"  goal {index} {label}: {folder}" + _why(status, g, folder))
        if len(shown) > SHOWN:
            lines.append(f"  … and {len(shown) - SHOWN} more {status}")
    if c["waiting"]:
        lines.append("decide with `llmos-tui approve|deny|skip|retry --workspace <folder>`; the batch picks it up")
    return lines


def _why(status: str, g: Any, folder: str) -> str:
    w = g.waiting or {}
    if status == "waiting":
        if w.get("locked"):
            return " (another process drives it)"
        if w.get("step"):
            return f" (step {w['step']} {w.get('tool')} {str(w.get('step_status') or '').replace('_', ' ')})"
        return ""
    err = g.error or {}
    msg = str(err.get("message") or err.get("type") or g.run_status or "")
    return f" ({msg.splitlines()[0][:160]})" if msg else ""


def summary(r: BatchResult) -> dict[str, Any]:
    return {
        "out": str(r.out),
        "goals": r.total,
        "counts": r.counts,
        "cost_usd": round(r.cost, 6),
        "elapsed_s": round(r.elapsed, 3),
        "reason": r.reason,
        "exit_code": r.exit_code,
        "runs": [
            {
                "goal": i,
                "dir": g.dir,
                "run_id": g.run_id,
                "status": g.status,
                "run_status": g.run_status,
                "cost_usd": g.cost,
                "steps": g.steps,
                "error": g.error,
                "waiting": g.waiting,
            }
            for i, g in sorted(r.goals.items())
        ],
    }
