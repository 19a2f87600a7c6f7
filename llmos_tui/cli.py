"""The `llmos-tui` command line (the contract is in DESIGN.md §3).

Exit codes: 0 completed, 1 failed/cancelled, 2 bad usage or bad input (one-line reason),
3 paused, or stopped at a decision with --no-wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from llmos_tui import __version__
from llmos_tui.core.errors import BadInput, LlmosError

EXIT = {"completed": 0, "failed": 1, "cancelled": 1, "paused": 3, "waiting": 3}
DECISIONS = {"approve": "approve", "deny": "deny", "skip": "skip", "retry": "retry",
             "pause": "pause", "resume-run": "resume", "cancel": "cancel"}


# ---------------------------------------------------------------- driving a run

def _progress_printer(quiet: bool):
    def show(rec: dict, led: Any) -> None:
        kind = rec["kind"]
        line = None
        if kind == "run_status":
            err = (rec["data"].get("error") or {}).get("message") if rec["data"].get("error") else None
            line = f"run {rec['to']}" + (f": {err}" if err else "")
            if rec["to"] in ("awaiting_approval", "running", "completed"):
                line = None  # the step lines and the final line say it
        elif kind == "step_status" and rec.get("to") in ("awaiting_approval", "uncertain", "done",
                                                          "failed", "denied", "skipped"):
            step = led.steps[rec["step"] - 1]
            short = ", ".join(f"{k}={str(v)[:40]!r}" for k, v in list(step.inputs.items())[:2])
            line = f"step {step.n} {step.tool}({short}): {rec['to'].replace('_', ' ')}"
            if rec["to"] in ("awaiting_approval", "uncertain"):
                verbs = "approve|deny|skip" if rec["to"] == "awaiting_approval" else "retry|skip"
                line += f" — decide with `llmos-tui {verbs.split('|')[0]} --step {step.n}` ({verbs})"
            elif step.result_preview():
                line += f" — {step.result_preview()[:80]}"
        elif kind == "command" and rec["data"].get("applied") is False and rec["data"].get("reason"):
            line = f"command {rec['data'].get('action', '?')} rejected: {rec['data']['reason']}"
        if kind == "task":
            d = rec["data"]
            line = (f"sub-agent {d['child']} started" if d.get("event") == "started"
                    else f"sub-agent {d['child']} {d.get('status', 'ended')}")
        if line and not quiet:
            if led.parent:  # a Task sub-agent's progress, indented under its parent's step
                line = "  " * int(led.parent.get("depth", 1)) + "↳ " + line
            print(line, flush=True)
    return show


def _text_printer(runner: Any) -> None:
    """The model's words on stdout as they stream in (native runtime), a line break after each turn."""
    listeners = getattr(runner.runtime, "text_listeners", None)
    if listeners is None:
        return
    open_line = False

    def on_text(chunk: str) -> None:
        nonlocal open_line
        sys.stdout.write(chunk)
        sys.stdout.flush()
        open_line = bool(chunk) and not chunk.endswith("\n") or (open_line and not chunk)

    def on_record(rec: dict, led: Any) -> None:
        nonlocal open_line
        if rec["kind"] == "model_turn" and open_line:
            print(flush=True)
            open_line = False

    listeners.append(on_text)
    runner.listeners.insert(0, on_record)


async def _drive(runner: Any, quiet: bool) -> str:
    if not quiet:
        _text_printer(runner)
    runner.listeners.append(_progress_printer(quiet))
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupts = 0

    def on_signal() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            from llmos_tui.core.control import new_command

            print("pausing after the current step, then exiting (again to stop at once)…",
                  file=sys.stderr, flush=True)
            runner.exit_when_paused = True
            runner.submit(new_command("pause", feedback="interrupted from the terminal"))
        elif task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        return await runner.drive()
    except asyncio.CancelledError:
        return "paused"


def _report_end(runner: Any, result: str) -> None:
    st = runner.snapshot()
    cost = f"${st.usage.cost_usd:.4f}"
    if result == "waiting":
        inner = runner
        while getattr(inner, "stopped_in", None) is not None:
            inner = inner.stopped_in
        where = f" of its sub-agent {inner.run_id}" if inner is not runner else ""
        cur = inner.snapshot().pending_step
        what = f"step {cur.n} ({cur.tool}, {cur.status.replace('_', ' ')})" if cur else "a step"
        verbs = "retry|skip" if cur is not None and cur.status == "uncertain" else "approve|deny|skip"
        print(f"run {st.run_id} stopped at {what}{where}, which needs a decision (--no-wait); "
              f"decide with `llmos-tui {verbs}`, then `llmos-tui resume`")
    elif result == "paused":
        why = f" ({st.error['message']})" if st.error else ""
        print(f"run {st.run_id} paused{why}; continue with `llmos-tui resume {st.run_id}`")
    else:
        print(f"run {st.run_id} {result}: {st.steps_total} steps, {st.turns} model turns, {cost}")


def cmd_run(args: argparse.Namespace) -> int:
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import RunRequest, start_run
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    req = RunRequest(goal=args.goal, runtime=args.runtime, script=Path(args.script) if args.script else None,
                     mode=args.mode, model=args.model, approval=args.approve, max_cost_usd=args.max_cost)
    if not args.headless:
        from llmos_tui.core.session import preflight

        preflight(ws, req)  # a bad script, no key, a locked workspace: one line, before the UI
        return _run_tui(ws.root, args, request=req)
    runner = start_run(ws, req, RunOptions(no_wait=args.no_wait))
    if not args.quiet:
        print(f"run {runner.run_id} started: {runner.ledger.goal} (mode {runner.ledger.mode}, "
              f"runtime {runner.ledger.runtime}, approval {runner.ledger.approval})", flush=True)
    result = asyncio.run(_drive(runner, args.quiet))
    _report_end(runner, result)
    args.fast_exit = runner.ledger.runtime == "native"
    return EXIT.get(result, 1)


def cmd_resume(args: argparse.Namespace) -> int:
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import resume_run
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    run_id = ws.resolve_run_id(args.run_id)
    if not args.headless:
        from llmos_tui.core.session import preflight

        preflight(ws)
        return _run_tui(ws.root, args, resume_run_id=run_id)
    runner = resume_run(ws, run_id, approval=args.approve, max_cost_usd=args.max_cost,
                        options=RunOptions(no_wait=args.no_wait))
    if not args.quiet:
        print(f"run {run_id} resumed at {runner.ledger.status}: {runner.ledger.goal}", flush=True)
    result = asyncio.run(_drive(runner, args.quiet))
    _report_end(runner, result)
    args.fast_exit = runner.ledger.runtime == "native"
    return EXIT.get(result, 1)


def _run_tui(workspace: Path, args: argparse.Namespace, **settings: Any) -> int:
    from llmos_tui.tui.app import AppSettings, LlmosApp

    app = LlmosApp(AppSettings(workspace=workspace, theme=getattr(args, "theme", None), **settings))
    app.run()
    led = app.ledger
    if led is None:
        return 0
    print(f"run {led.run_id}: {led.status} ({len(led.steps)} steps, ${led.usage.cost_usd:.4f}) in {workspace}")
    return EXIT.get(led.status, 0) if led.status != "running" else 3


def cmd_open(args: argparse.Namespace) -> int:
    """Bare `llmos-tui`: the latest run of ./workspace, or a prompt for a goal."""
    from llmos_tui.core.session import RunRequest
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    ws.require_system()
    default = RunRequest(goal="", runtime=args.runtime, script=Path(args.script) if args.script else None)
    return _run_tui(ws.root, args, default_request=default)


def cmd_watch(args: argparse.Namespace) -> int:
    """The TUI attached to runs another process drives; keys go through control.jsonl."""
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace_dir or args.workspace)
    return _run_tui(ws.root, args, watch=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from llmos_tui.core.workspace import Workspace
    from llmos_tui.serve import LOOPBACK, serve, warning_for

    ws = Workspace.locate(args.workspace_dir or args.workspace)
    ws.require_system()
    host = args.host or LOOPBACK
    if args.host and (warning := warning_for(args.host)):
        print(warning, file=sys.stderr, flush=True)
    print(f"serving llmos-tui for {ws.root} on http://{host}:{args.port} (Ctrl-C stops)", flush=True)
    serve(ws.root, host=host, port=args.port, theme=args.theme)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import RunRequest, start_run
    from llmos_tui.core.workspace import Workspace
    from llmos_tui.demo.run import prepare
    from llmos_tui.demo.server import DemoSite

    with DemoSite() as site:
        demo = prepare(args.scenario, site.base_url, Path(args.workspace) if args.workspace else None)
        ws = Workspace.locate(demo.project)
        req = RunRequest(goal=demo.goal, runtime="scripted", script=demo.script, approval=args.approve)
        if not args.headless:
            from llmos_tui.core.session import preflight

            preflight(ws, req)
        if args.headless:
            runner = start_run(ws, req, RunOptions(no_wait=args.no_wait))
            print(f"demo run {runner.run_id} in {demo.project}", flush=True)
            result = asyncio.run(_drive(runner, args.quiet))
            _report_end(runner, result)
            code = EXIT.get(result, 1)
        else:
            code = _run_tui(ws.root, args, request=req,
                            note=f"demo · page served on {site.base_url}", default_request=req)
    print(f"the demo's files are in {demo.project} (look: llmos-tui status --workspace {demo.project})")
    return code


# ---------------------------------------------------------------- inspecting

def _ledger(ws: Any, run_id: str) -> Any:
    from llmos_tui.core.session import read_ledger

    return read_ledger(ws, run_id)


def cmd_status(args: argparse.Namespace) -> int:
    from llmos_tui.core.lock import holder_info
    from llmos_tui.core.state import to_front_matter
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    run_id = ws.resolve_run_id(args.run_id)
    st = _ledger(ws, run_id).snapshot()
    holder = holder_info(ws.root)
    driven = bool(holder) and holder.get("run_id") == run_id
    if args.json:
        print(json.dumps({**to_front_matter(st), "driver": holder if driven else None}, default=str))
        return 0
    print(f"run {st.run_id}: {st.status}" + (f" at step {st.current_step}" if st.current_step else ""))
    print(f"goal: {st.goal}")
    print(f"mode {st.mode} · runtime {st.runtime} · {st.steps_total} steps · {st.turns} turns · "
          f"${st.usage.cost_usd:.4f}")
    if st.plan:
        marks = {"completed": "x", "in_progress": "~", "failed": "!", "skipped": "-"}
        for p in st.plan:
            print(f"  [{marks.get(p.status, ' ')}] {p.title}")
    cur = st.pending_step
    if cur is not None:
        print(f"step {cur.n} {cur.tool} is {cur.status.replace('_', ' ')}: {json.dumps(cur.inputs, ensure_ascii=False)[:200]}")
    depth, parent = 1, run_id
    while cur is not None and cur.tool == "Task" and cur.status == "running" \
            and (ws.run_dir(f"{parent}/task-{cur.n}") / "journal.jsonl").exists():
        parent = f"{parent}/task-{cur.n}"
        sub = _ledger(ws, parent).snapshot()
        cur = sub.pending_step
        print(f"{'  ' * depth}↳ sub-agent {parent}: {sub.status} · {sub.steps_total} steps · ${sub.usage.cost_usd:.4f}"
              + (f"; step {cur.n} {cur.tool} is {cur.status.replace('_', ' ')}: "
                 f"{json.dumps(cur.inputs, ensure_ascii=False)[:160]}" if cur is not None else ""))
        depth += 1
    if st.error:
        print(f"error: {st.error.get('type')}: {st.error.get('message')}")
    if st.status not in ("completed", "failed", "cancelled"):
        idle = ("a Claude Code session, through its hooks (it goes on when the session calls them)"
                if st.runtime == "external" else
                "none (no process drives this run; `llmos-tui resume` continues it)")
        print("driver: " + (f"pid {holder.get('pid')}" if driven else idle))
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    from llmos_tui.core.toolmap import load_toolmap
    from llmos_tui.core.toolstats import load_stats, table
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    ws.require_system()
    stats = load_stats(ws.system / "tool_stats.json")
    rows = table(load_toolmap(ws.system / "ClaudeCodeToolMap.md"), stats)
    if args.json:
        print(json.dumps(rows))
        return 0

    def secs(v: float | None) -> str:
        return "-" if v is None else (f"{v * 1000:.0f}ms" if v < 1 else f"{v:.1f}s")

    print(f"{'tool':<11} {'declared: cost':<14} {'latency':<9} {'side effects':<12} {'approval':<8} │ "
          f"{'calls':>6} {'errors':>7} {'p50':>7} {'p95':>7} {'$/call':>9} {'denied':>6}")
    for r in rows:
        err = "-" if r["error_rate"] is None else f"{r['error_rate']:.0%}"
        cost = "-" if r["cost_per_call"] is None else f"{r['cost_per_call']:.4f}"
        print(f"{r['tool']:<11} {r['declared_cost']:<14} {r['declared_latency']:<9} {r['side_effects']:<12} "
              f"{r['approval']:<8} │ {r['calls']:>6} {err:>7} {secs(r['p50_s']):>7} {secs(r['p95_s']):>7} "
              f"{cost:>9} {r['denied']:>6}")
    n = len(stats.get("runs", []))
    print(f"observed over {n} run{'s' if n != 1 else ''} (system/tool_stats.json; simulated results not timed)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from llmos_tui.core.session import age, list_runs
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    runs = list_runs(ws)
    if not runs:
        print(f"no runs in {ws.root}")
        return 0
    for r in runs:
        if r.problem:
            print(f"{r.run_id}  (unreadable: {r.problem})")
            continue
        print(f"{r.run_id}  {r.status:<17} {r.steps:>5} steps  ${r.cost_usd:<8.4f} {age(r.started_at):>8}  {r.goal[:70]}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Runs' traces as training data (JSON Lines), streamed: one run in memory at a time."""
    import datetime as dt

    from llmos_tui.core.export import (ExportStats, Filters, default_output, export_rows, export_to_file,
                                       write_jsonl)
    from llmos_tui.core.training import Redactor, load_collector_settings
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    settings = load_collector_settings(ws.system / "TrainingDataCollector.md")
    fmt = args.format or settings.default_format
    if args.all and args.run_ids:
        raise BadInput("give run ids or --all, not both")
    if not args.all and not args.run_ids:
        raise BadInput("name the runs to export (RUN_ID…), or give --all for every run that passes the filters")
    since = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            raise BadInput(f"--since needs a date YYYY-MM-DD, not {args.since!r}") from None
    flags = dict(status=args.status, mode=args.mode, human_reviewed=args.human_reviewed, since=since)
    if args.all:
        filters, ids = Filters.for_all(settings, **flags), None
    else:
        filters, ids = Filters.for_named(**flags), list(dict.fromkeys(ws.resolve_run_id(r) for r in args.run_ids))
    if fmt not in settings.formats:
        print(f"llmos-tui: note: {fmt} is not in the formats of {settings.path or 'TrainingDataCollector.md'} "
              f"({', '.join(settings.formats)}); exporting it as asked", file=sys.stderr)
    stats = ExportStats()
    rows = export_rows(ws, fmt, run_ids=ids, filters=filters, redactor=Redactor.from_settings(settings),
                       subagents=not args.no_subagents, stats=stats, strict=not args.all)
    if args.output == "-":
        try:
            n = write_jsonl(rows, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:   # `| head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        where, say = "stdout", sys.stderr
    else:
        path = Path(args.output) if args.output else default_output(ws, settings, fmt)
        n = export_to_file(rows, path)
        where, say = str(path), sys.stdout
    for problem in stats.unreadable:
        print(f"llmos-tui: skipped unreadable run {problem}", file=sys.stderr)
    notes = []
    if stats.filtered:
        notes.append(f"{stats.filtered} left out by the filters ({filters.describe()})")
    if stats.empty:
        notes.append(f"{stats.empty} with nothing to export in this format")
    if stats.unreadable:
        notes.append(f"{len(stats.unreadable)} unreadable")
    print(f"{n} {fmt} row{'s' if n != 1 else ''} from {stats.runs_exported} of {stats.runs_seen} run"
          f"{'s' if stats.runs_seen != 1 else ''} written to {where}" + (f"; {'; '.join(notes)}" if notes else ""),
          file=say)
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from llmos_tui.core.control import ControlChannel, new_command
    from llmos_tui.core.lock import holder_info
    from llmos_tui.core.statuses import RUN_TERMINAL
    from llmos_tui.core.workspace import Workspace

    action = DECISIONS[args.command]
    ws = Workspace.locate(args.workspace)
    run_id = ws.resolve_run_id(args.run_id)
    led = _ledger(ws, run_id)
    if led.status in RUN_TERMINAL:
        raise BadInput(f"run {run_id} is {led.status}; there is nothing to {args.command}")
    top_id = run_id
    # a Task step running its sub-agent: the decision is the sub-agent's (it reads the top run's
    # control.jsonl, and numbers steps its own way)
    while (cur := led.current_step) is not None and cur.tool == "Task" and cur.status == "running" \
            and (ws.run_dir(f"{run_id}/task-{cur.n}") / "journal.jsonl").exists():
        child = _ledger(ws, f"{run_id}/task-{cur.n}")
        if child.status in RUN_TERMINAL:
            break
        run_id, led = f"{run_id}/task-{cur.n}", child
    step = getattr(args, "step", None)  # only step decisions take --step
    if action in ("approve", "deny", "skip", "retry") and step is None:
        cur = led.decision_step or led.current_step
        wanted = ("uncertain",) if action == "retry" else ("awaiting_approval", "uncertain")
        if action == "approve":
            wanted = ("awaiting_approval",)
        if cur is None or cur.status not in wanted:
            if action == "retry" and led.status == "paused":
                step = None
            else:
                raise BadInput(f"run {run_id} has no step {' or '.join(w.replace('_', ' ') for w in wanted)} "
                               f"(status {led.status}); name one with --step N")
        else:
            step = cur.n
    inputs = None
    if getattr(args, "inputs", None):
        try:
            inputs = json.loads(args.inputs)
        except ValueError as exc:
            raise BadInput(f"--inputs is not JSON: {exc.msg}") from None
        if not isinstance(inputs, dict):
            raise BadInput("--inputs must be a JSON object")
    cmd = new_command(action, step=step, feedback=args.feedback, inputs=inputs,
                      scope="rest" if getattr(args, "rest", False) else None)
    journal = ws.run_dir(run_id) / "journal.jsonl"
    start = journal.stat().st_size
    ControlChannel(ws.run_dir(top_id) / "control.jsonl").append(cmd)
    target = f" step {step}" if step else ""
    if run_id != top_id:
        target += f" of sub-agent {run_id}"
    holder = holder_info(ws.root)
    if not holder or holder.get("run_id") != top_id:
        print(f"{args.command}{target} queued for run {top_id} ({cmd.id}); no process drives it now: "
              f"`llmos-tui resume {top_id}` applies it")
        return 0
    outcome = _await_outcome(journal, start, cmd.id, timeout=args.timeout)
    if outcome is None:
        print(f"{args.command}{target} sent to run {run_id} ({cmd.id}); the driver has not applied it yet")
        return 0
    if outcome.get("applied"):
        print(f"{args.command}{target}: applied to run {run_id}")
        return 0
    raise BadInput(f"{args.command}{target} rejected by the driver: {outcome.get('reason')}")


def _await_outcome(journal: Path, offset: int, cmd_id: str, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while True:
        with open(journal, "rb") as fh:
            fh.seek(offset)
            for raw in fh.read().split(b"\n"):
                if cmd_id.encode() in raw:
                    try:
                        rec = json.loads(raw)
                    except ValueError:
                        continue
                    if rec.get("kind") == "command" and rec.get("data", {}).get("id") == cmd_id:
                        return rec["data"]
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def cmd_init(args: argparse.Namespace) -> int:
    from llmos_tui.core.scaffold import init_project

    target = Path(args.dir or ".").resolve()
    for rel, what in init_project(target):
        print(f"{what:>8}  {target.name}/{rel}")
    if getattr(args, "claude", False):
        from llmos_tui.hook import install_claude_hooks

        rel, what = install_claude_hooks(target)
        print(f"{what:>8}  {target.name}/{rel}")
        print(f"ready: run `claude` in {target}; its tool calls are recorded in workspace/ (llmos-tui watch "
              f"{target}) and those that need approval wait for `llmos-tui approve` or a watcher's key")
        return 0
    print(f"ready: cd {target} && llmos-tui run \"your goal\"   (with ANTHROPIC_API_KEY set; offline: "
          f"--script FILE replays a script, and `llmos-tui demo` shows the whole thing)")
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    """Claude Code's hook: its JSON on stdin, a decision (for PreToolUse) on stdout."""
    from llmos_tui.hook import main as hook_main

    return hook_main(sys.stdin.read(), wait=args.wait)


# ---------------------------------------------------------------- parsing

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmos-tui", description="Run LLM-OS agents you can watch, steer and learn from.")
    p.add_argument("--version", action="version", version=f"llmos-tui {__version__}")
    p.add_argument("--workspace", metavar="DIR", help="(no command) open the TUI on this workspace")
    p.add_argument("--theme", help="(no command) colour theme, e.g. llmos-light")
    p.add_argument("--runtime", choices=["native", "claude-code", "scripted"], help=argparse.SUPPRESS)
    p.add_argument("--script", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_open)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def workspace_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--workspace", metavar="DIR",
                        help="the workspace folder, or a project folder holding workspace/ (default: ./workspace)")

    def drive_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--headless", action="store_true", help="run without the terminal UI")
        sp.add_argument("--theme", help="colour theme: llmos-dark, llmos-light, llmos-high-contrast (remembered)")
        sp.add_argument("--approve", choices=["ask", "side-effects", "never"],
                        help="which tool calls wait for a person (default: SystemAgent.md's approval)")
        sp.add_argument("--no-wait", action="store_true",
                        help="stop (exit 3) when a person must decide, instead of waiting")
        sp.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
        workspace_arg(sp)

    r = sub.add_parser("run", help="run a goal", description="Run a goal to its end, step by step.")
    r.add_argument("goal", help="what the agent should do")
    r.add_argument("--mode", choices=["execute", "simulate"], default="execute",
                   help="execute: real tools; simulate: results simulated, nothing touched")
    r.add_argument("--runtime", choices=["native", "claude-code", "scripted"],
                   help="what produces the model's turns (default: scripted with --script, else native)")
    r.add_argument("--script", metavar="FILE", help="YAML script of assistant turns for --runtime scripted")
    r.add_argument("--model", help="model name (default: SystemAgent.md's model)")
    r.add_argument("--max-cost", type=float, metavar="USD", help="pause the run when its cost reaches this")
    drive_args(r)
    r.set_defaults(func=cmd_run)

    rs = sub.add_parser("resume", help="continue a paused or interrupted run",
                        description="Continue a run from its journal (the latest run by default).")
    rs.add_argument("run_id", nargs="?", metavar="RUN_ID")
    rs.add_argument("--max-cost", type=float, metavar="USD", help="raise the run's cost budget")
    drive_args(rs)
    rs.set_defaults(func=cmd_resume)

    st = sub.add_parser("status", help="show a run's state", description="Show a run's state (the latest by default).")
    st.add_argument("run_id", nargs="?", metavar="RUN_ID")
    st.add_argument("--json", action="store_true", help="machine-readable: the state's front matter as JSON")
    workspace_arg(st)
    st.set_defaults(func=cmd_status)

    rn = sub.add_parser("runs", help="list the workspace's runs", description="List runs, newest first.")
    workspace_arg(rn)
    rn.set_defaults(func=cmd_runs)

    tl = sub.add_parser("tools", help="the ToolMap's declared figures beside the observed ones",
                        description="Each tool's declared cost, latency, side effects and approval "
                                    "(system/ClaudeCodeToolMap.md) beside what runs observed "
                                    "(system/tool_stats.json): calls, error rate, p50/p95 latency, cost.")
    tl.add_argument("--json", action="store_true", help="machine-readable rows")
    workspace_arg(tl)
    tl.set_defaults(func=cmd_tools)

    ex = sub.add_parser(
        "export", help="turn runs' traces into training data (JSON Lines)",
        description="Export runs as training data, one JSON object per line, redacted. Named runs are "
                    "exported whatever their status (a killed run: what it has); --all takes every run, "
                    "sub-agent runs included, that passes TrainingDataCollector.md's filters, which the "
                    "flags below override. Formats: seed (the trace), anthropic, openai, sharegpt, "
                    "preference (pairs from edited and denied steps).")
    ex.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to export (a prefix or suffix will do)")
    ex.add_argument("--all", action="store_true", help="every run that passes the filters")
    ex.add_argument("--format", choices=["seed", "anthropic", "openai", "sharegpt", "preference"],
                    help="default: TrainingDataCollector.md's default_format; a format left out of its "
                         "`formats` list is still exported when named here")
    ex.add_argument("-o", "--output", metavar="FILE",
                    help="where to write (- for stdout); default: <workspace>/<output_dir>/<format>-<time>.jsonl")
    ex.add_argument("--status", nargs="+", metavar="S",
                    choices=["completed", "failed", "cancelled", "paused", "running", "awaiting_approval", "planning"],
                    help="only runs with these statuses (default with --all: the file's filters.status)")
    ex.add_argument("--mode", nargs="+", metavar="M", choices=["execute", "simulate"],
                    help="only runs in these modes")
    ex.add_argument("--human-reviewed", action=argparse.BooleanOptionalAction, default=None,
                    help="only runs where a person approved, edited, denied, skipped or retried a step")
    ex.add_argument("--since", metavar="YYYY-MM-DD", help="only runs started on or after this date (UTC)")
    ex.add_argument("--no-subagents", action="store_true", help="with --all: leave Task sub-agent runs out")
    workspace_arg(ex)
    ex.set_defaults(func=cmd_export)

    helps = {"approve": "let the pending step run", "deny": "refuse the pending step (give --feedback why)",
             "skip": "skip the pending step without running it", "retry": "run an uncertain step again",
             "pause": "pause the run after the current step", "resume-run": "let a paused run go on",
             "cancel": "cancel the run"}
    for name, text in helps.items():
        d = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]} (appends to the run's control.jsonl).")
        d.add_argument("run_id", nargs="?", metavar="RUN_ID")
        if name in ("approve", "deny", "skip", "retry"):
            d.add_argument("--step", type=int, metavar="N", help="the step (default: the one waiting)")
        d.add_argument("--feedback", metavar="TEXT", help="why (a denial's reason reaches the model)")
        if name in ("approve", "retry"):
            d.add_argument("--inputs", metavar="JSON", help="run the step with these inputs instead")
        if name == "approve":
            d.add_argument("--rest", action="store_true", help="approve this step and every later one")
        d.add_argument("--timeout", type=float, default=10.0, metavar="S",
                       help="how long to wait for the driver to apply it (default 10)")
        workspace_arg(d)
        d.set_defaults(func=cmd_decide)

    w = sub.add_parser("watch", help="the TUI on a run another process drives (approve from here)",
                       description="Follow the latest run of WORKSPACE (default ./workspace) as another "
                                   "process drives it; keys send decisions through the run's control.jsonl. "
                                   "A run whose driver died can be taken over with p.")
    w.add_argument("workspace_dir", nargs="?", metavar="WORKSPACE")
    w.add_argument("--theme", help="colour theme (remembered)")
    workspace_arg(w)
    w.set_defaults(func=cmd_watch)

    sv = sub.add_parser("serve", help="the TUI in a web browser (watch mode), on 127.0.0.1",
                        description="Serve `llmos-tui watch WORKSPACE` to web browsers through textual-serve. "
                                    "Binds 127.0.0.1 unless --host is given: whoever reaches the port can "
                                    "approve commands.")
    sv.add_argument("workspace_dir", nargs="?", metavar="WORKSPACE")
    sv.add_argument("--host", help="address to bind (default 127.0.0.1; anything else is reachable by others)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--theme", help="colour theme")
    workspace_arg(sv)
    sv.set_defaults(func=cmd_serve)

    dm = sub.add_parser("demo", help="the offline demo: a scripted agent, real tools, the real TUI",
                        description="Open a bundled scenario in the TUI: a scripted model, real tools in a "
                                    "temporary (or named) workspace, and a small web page served on 127.0.0.1.")
    dm.add_argument("--scenario", choices=["weather", "notes"], default="weather",
                    help="weather: the seed's London weather goal (default); notes: tidy meeting notes")
    drive_args(dm)
    dm.set_defaults(func=cmd_demo, approve="side-effects")

    i = sub.add_parser("init", help="lay out system/ and workspace/",
                       description="Create system/ (default agent documents) and workspace/ in DIR; "
                                   "never overwrites a file.")
    i.add_argument("dir", nargs="?", metavar="DIR")
    i.add_argument("--claude", action="store_true",
                   help="also add hooks to DIR/.claude/settings.json, so the Claude Code sessions you run "
                        "there are recorded and gated as runs (keeps the file's other settings)")
    i.set_defaults(func=cmd_init)

    hk = sub.add_parser("hook", help="Claude Code's hook (set up by `init --claude`): records a session's "
                                     "tool calls as a run, waits for approvals",
                        description="Read a Claude Code hook event (PreToolUse, PostToolUse, "
                                    "PostToolUseFailure, Stop) as JSON on stdin and record it in the run of "
                                    "that session in <cwd>/workspace. A PreToolUse that needs approval waits "
                                    "for `llmos-tui approve|deny|skip` or a watcher's key and answers in "
                                    "Claude Code's hook JSON; after --wait seconds it hands the question "
                                    "back to Claude Code's own prompt.")
    hk.add_argument("--wait", type=float, default=120.0, metavar="S",
                    help="how long a call waits for a decision here before Claude Code asks (default 120)")
    hk.set_defaults(func=cmd_hook)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        if argv is None and getattr(args, "fast_exit", False):
            # A headless run on Claude has closed its journal, state file, trace and lock; tearing
            # the anthropic SDK's ~2,000 modules down at exit would add ~0.3 s for nothing.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    except LlmosError as exc:
        print(f"llmos-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 3
