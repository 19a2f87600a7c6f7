"""The commands that drive a run, headless or in the TUI: run, resume, demo, the bare command,
watch and serve. Each opens the run through core.session and prints what the run does.

Exit codes: 0 completed, 1 failed/cancelled, 3 paused, or stopped at a decision with --no-wait.
The SDKs and the UI library are imported inside the commands that need them (start-up stays fast).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos_tui.cli.output import attach_text_printer, progress_printer, report_end
from llmos_tui.core.text import plural

if TYPE_CHECKING:
    from llmos_tui.core.runner import Runner
    from llmos_tui.core.session import RunRequest

EXIT = {"completed": 0, "failed": 1, "cancelled": 1, "paused": 3, "waiting": 3}


async def drive(runner: Runner, quiet: bool) -> str:
    """Drive the run to its end (or a stop) with its progress on stdout. The first Ctrl-C (or
    SIGTERM) pauses the run after the current step and then returns; a second stops at once."""
    import asyncio
    import signal

    if not quiet:
        attach_text_printer(runner)
    runner.add_listener(progress_printer(quiet))
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupts = 0

    def on_signal() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            from llmos_tui.core.control import new_command

            runner.exit_when_paused = True
            if runner.active.ledger.status == "paused":  # already paused: just stop waiting
                print("stopping; the run stays paused and resumable", file=sys.stderr, flush=True)
                runner.wake()
                return
            print("pausing after the current step, then exiting (again to stop at once)…", file=sys.stderr, flush=True)
            runner.submit(new_command("pause", feedback="interrupted from the terminal"))
        elif task is not None:
            task.cancel()

    def on_wait(what: str) -> None:
        led = runner.active.ledger
        if what == "paused":
            print(
                f"waiting while paused: `llmos-tui resume {runner.run_id}` from another terminal lets it go on; "
                "Ctrl-C stops here (the run stays resumable)",
                file=sys.stderr,
                flush=True,
            )
        else:
            from llmos_tui.cli.output import decide_verbs

            cur = led.decision_step
            what_step = f"step {cur.n} ({cur.tool})" if cur else "a step"
            verbs = decide_verbs(cur.status if cur else "awaiting_approval")
            why = ""
            if cur is not None and cur.status == "uncertain":
                why = " — its driver stopped while it ran, so its effect may be partial; retry runs it again, skip goes on"
            print(
                f"waiting for a decision on {what_step}{why}: `llmos-tui {verbs}` or a watcher's key "
                f"(`llmos-tui watch`); Ctrl-C stops here (the run stays resumable)",
                file=sys.stderr,
                flush=True,
            )

    runner.on_wait = on_wait

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        return await runner.drive()
    except asyncio.CancelledError:
        return "paused"


@contextmanager
def gc_paused(args: argparse.Namespace) -> Iterator[None]:
    """Start-up with the cyclic garbage collector paused: a run opening on Claude imports the
    anthropic SDK, the TUI imports Textual and its screens — objects that live as long as the
    process, which the collector would walk over and over as they are made (~10 % of the SDK's
    import; ~20 ms of the TUI's first frame). In a process of its own (`own_process`: main()
    without argv) they are then frozen (gc.freeze), so later collections no longer walk them
    either (a full one took ~0.1 s in a 20-step headless run); what comes after is collected as
    before."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if getattr(args, "own_process", False):
            gc.freeze()
        if was_enabled:
            gc.enable()


def drive_headless(runner: Runner, args: argparse.Namespace) -> int:
    """Drive, report the end, and return the exit code."""
    import asyncio

    result = asyncio.run(drive(runner, args.quiet))
    report_end(runner, result)
    return EXIT.get(result, 1)


def print_notices(runner: Runner) -> None:
    """What the run says once at its start (Bash unconfined on this machine, a command a dead
    driver left running and resume stopped): one line each on stderr."""
    for notice in runner.notices:
        print(f"llmos-tui: note: {notice}", file=sys.stderr, flush=True)


def request_from(args: argparse.Namespace) -> RunRequest:
    from llmos_tui.core.session import RunRequest

    return RunRequest(
        goal=args.goal,
        runtime=args.runtime,
        script=Path(args.script) if args.script else None,
        mode=args.mode,
        model=args.model,
        approval=args.approve,
        max_cost_usd=args.max_cost,
        breakpoints=tuple(args.breaks or ()),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import start_run
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    req = request_from(args)
    if not args.headless:
        from llmos_tui.core.session import preflight

        with gc_paused(args):  # (on Claude it imports the SDK)
            preflight(ws, req)  # a bad script, no key, a locked workspace: one line, before the UI
        return run_tui(ws.root, args, request=req)
    with gc_paused(args):
        runner = start_run(ws, req, RunOptions(no_wait=args.no_wait))
    print_notices(runner)
    led = runner.ledger
    if not args.quiet:
        print(
            f"run {runner.run_id} started: {led.goal} (mode {led.mode}, "
            f"runtime {led.runtime}, approval {led.approval})",
            flush=True,
        )
    code = drive_headless(runner, args)
    args.fast_exit = runner.ledger.runtime == "native"
    return code


def cmd_resume(args: argparse.Namespace) -> int:
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import resume_run
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    run_id = ws.resolve_run_id(args.run_id)
    breaks = tuple(args.breaks or ())
    if _driven_elsewhere(ws, run_id):
        return _resume_driven(ws, run_id, args)
    _refuse_ended(ws, run_id)  # (one clear line, before any UI opens)
    if not args.headless:
        from llmos_tui.core.session import preflight, queue_breakpoints

        preflight(ws, breakpoints=breaks)
        queue_breakpoints(ws, run_id, breaks)  # (the TUI's resume applies them)
        return run_tui(ws.root, args, resume_run_id=run_id)
    with gc_paused(args):
        runner = resume_run(
            ws,
            run_id,
            approval=args.approve,
            max_cost_usd=args.max_cost,
            options=RunOptions(no_wait=args.no_wait),
            breakpoints=breaks,
        )
    print_notices(runner)
    if not args.quiet:
        print(f"run {run_id} resumed at {runner.ledger.status}: {runner.ledger.goal}", flush=True)
    code = drive_headless(runner, args)
    args.fast_exit = runner.ledger.runtime == "native"
    return code


def _refuse_ended(ws: Any, run_id: str) -> None:
    from llmos_tui.core.errors import BadInput
    from llmos_tui.core.session import read_ledger
    from llmos_tui.core.statuses import RUN_TERMINAL

    status = read_ledger(ws, run_id).status
    if status in RUN_TERMINAL:
        raise BadInput(
            f"run {run_id} is {status}; there is nothing to resume (`llmos-tui rewind {run_id} --to-step N` takes it "
            "back to a step, `llmos-tui fork` starts a new run from one)"
        )


def _driven_elsewhere(ws: Any, run_id: str) -> bool:
    from llmos_tui.core.decisions import driver

    return driver(ws, run_id) is not None


def _resume_driven(ws: Any, run_id: str, args: argparse.Namespace) -> int:
    """`resume` of a run another process drives: one name for "let it go on" — a paused run is
    told to resume (what `resume-run` does); anything else is said, with what works."""
    from llmos_tui.cli.commands import cmd_decide
    from llmos_tui.core.decisions import driver
    from llmos_tui.core.errors import BadInput
    from llmos_tui.core.session import read_ledger

    pid = (driver(ws, run_id) or {}).get("pid", "?")
    status = read_ledger(ws, run_id).status
    if status != "paused":
        raise BadInput(
            f"run {run_id} is {status.replace('_', ' ')} and driven by another process (pid {pid}); "
            "watch it with `llmos-tui watch`"
            + (", or decide with `llmos-tui approve|deny|skip`" if status == "awaiting_approval" else "")
        )
    print(f"run {run_id} is driven by another process (pid {pid}): asking it to go on", flush=True)
    ns = argparse.Namespace(command="resume-run", workspace=args.workspace, run_id=run_id, feedback=None, timeout=10.0)
    return cmd_decide(ns)


def run_tui(workspace: Path, args: argparse.Namespace, **settings: Any) -> int:
    """The TUI on `workspace` (AppSettings take `settings`); after it closes, one line on the run
    it showed, and that run's exit code (3 while it is still going)."""
    with gc_paused(args):
        from llmos_tui.tui.app import AppSettings, LlmosApp

        app = LlmosApp(AppSettings(workspace=workspace, theme=getattr(args, "theme", None), **settings))
    app.run()
    led = app.ledger
    if led is None:
        return 0
    from llmos_tui.core.state import cost_text

    print(f"run {led.run_id}: {led.status} ({plural(len(led.steps), 'call')}, {cost_text(led.usage)}) in {workspace}")
    return EXIT.get(led.status, 0) if led.status != "running" else 3


def cmd_open(args: argparse.Namespace) -> int:
    """Bare `llmos-tui`: the latest run of ./workspace, or a prompt for a goal."""
    from llmos_tui.core.session import RunRequest
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    ws.require_system()
    default = RunRequest(goal="", runtime=args.runtime, script=Path(args.script) if args.script else None)
    return run_tui(ws.root, args, default_request=default)


def cmd_watch(args: argparse.Namespace) -> int:
    """The TUI attached to runs another process drives; keys go through control.jsonl."""
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace_dir or args.workspace)
    return run_tui(ws.root, args, watch=True)


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
        req = RunRequest(
            goal=demo.goal,
            runtime="scripted",
            script=demo.script,
            approval=args.approve,
            breakpoints=tuple(args.breaks or ()),
        )
        if args.headless:
            runner = start_run(ws, req, RunOptions(no_wait=args.no_wait))
            print_notices(runner)
            print(f"demo run {runner.run_id} in {demo.project}", flush=True)
            code = drive_headless(runner, args)
        else:
            from llmos_tui.core.session import preflight

            preflight(ws, req)
            code = run_tui(
                ws.root, args, request=req, note=f"demo · page served on {site.base_url}", default_request=req
            )
    print(f"the demo's files are in {demo.project} (look: llmos-tui status --workspace {demo.project})")
    return code
