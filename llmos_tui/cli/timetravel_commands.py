"""Time travel from the command line: rewind, fork, diff and replay (docs/design.md §13)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from llmos_tui.core.errors import BadInput

ArgAdder = Callable[[argparse.ArgumentParser], None]


def add_parsers(sub: Any, workspace_arg: ArgAdder, drive_args: ArgAdder) -> None:
    rw = sub.add_parser(
        "rewind",
        help="put a run's files and state back to before step N (undoable)",
        description="Put the workspace's files back as they were before step N and the run back at step N, "
        "awaiting a decision; the model sees nothing after N. The files replaced are checkpointed first and "
        "the journal records the rewind, so --undo takes it back. Works on a run no process drives (paused, "
        "failed, cancelled, completed or interrupted); then `llmos-tui resume` goes on from step N.",
    )
    rw.add_argument("run_id", nargs="?", metavar="RUN_ID", help="the run (default: the latest)")
    rw.add_argument("--to-step", type=int, metavar="N", help="the step to go back to (it will wait for a decision)")
    rw.add_argument("--undo", action="store_true", help="undo the run's latest rewind")
    workspace_arg(rw)
    rw.set_defaults(func=cmd_rewind)

    fk = sub.add_parser(
        "fork",
        help="a new run that shares a run's history up to step N, then goes its own way",
        description="Start a new run whose history up to step N is RUN_ID's (its model turns reused: no "
        "model call, no cost for them), with the workspace's files as they were before step N. Step N "
        "then waits for a decision, or: --inputs runs it with other inputs, --feedback denies it with "
        "that reason, --goal denies it with a new goal for the model to pursue. Both runs stay complete "
        "and exportable; the fork records its parent.",
    )
    fk.add_argument("run_id", metavar="RUN_ID")
    fk.add_argument("--at-step", type=int, required=True, metavar="N")
    what = fk.add_mutually_exclusive_group()
    what.add_argument("--inputs", metavar="JSON", help="run step N with these inputs (checked against its tool)")
    what.add_argument("--feedback", metavar="TEXT", help="deny step N with this reason (the model reads it)")
    what.add_argument("--goal", metavar="TEXT", help="deny step N and give the model this new goal")
    fk.add_argument("--no-run", action="store_true", help="only make the fork (go on later with `llmos-tui resume`)")
    drive_args(fk)
    fk.set_defaults(func=cmd_fork)

    df = sub.add_parser(
        "diff",
        help="compare two runs or steps: files, first divergence, figures",
        description="Compare A and B — run ids, or RUN_ID@N for a run as it was before step N: the files "
        "that differ (unified diffs; binary files by size and hash), the first step where the histories "
        "diverge, and outcome, steps, turns, cost and time side by side.",
    )
    df.add_argument("a", metavar="A")
    df.add_argument("b", metavar="B")
    df.add_argument("--json", action="store_true", help="machine-readable")
    df.add_argument("--stat", action="store_true", help="list the files only, without their diffs")
    workspace_arg(df)
    df.set_defaults(func=cmd_diff)

    rp = sub.add_parser(
        "replay",
        help="re-run a run's recorded turns on a copy of its starting files and report drift",
        description="Re-run RUN_ID's recorded model turns through the scripted path on a copy of the workspace "
        "as it was when the run started, re-executing the tools and making every recorded decision again, "
        "and report the first step whose result differs from the recording (exit 1 when one does): a "
        "regression check for tools and environments. --recorded instead plays the recording back in the "
        "TUI at --speed, touching nothing.",
    )
    rp.add_argument("run_id", nargs="?", metavar="RUN_ID", help="the run (default: the latest)")
    rp.add_argument("--recorded", action="store_true", help="play the recording back in the TUI, executing nothing")
    rp.add_argument(
        "--speed", type=float, default=4.0, metavar="X", help="with --recorded: how many times faster (default 4)"
    )
    rp.add_argument("--keep", action="store_true", help="keep the replay's scratch project and say where it is")
    rp.add_argument("--json", action="store_true", help="machine-readable report")
    rp.add_argument("--theme", help="colour theme (with --recorded)")
    workspace_arg(rp)
    rp.set_defaults(func=cmd_replay)


def _ws(args: argparse.Namespace) -> Any:
    from llmos_tui.core.workspace import Workspace

    return Workspace.locate(args.workspace)


def cmd_rewind(args: argparse.Namespace) -> int:
    from llmos_tui.core import timetravel

    if args.undo and args.to_step is not None:
        raise BadInput("give either --to-step N or --undo")
    ws = _ws(args)
    run_id = ws.resolve_run_id(args.run_id)
    moved = timetravel.rewind(ws, run_id, to_step=args.to_step, undo=args.undo)
    if moved.finished:
        print(f"finished run {run_id}'s interrupted rewind: its files are back")
    if moved.step is None and not args.undo:
        return 0
    files = (
        "files put back"
        if moved.checkpoint
        else "files left as they are (this run recorded no checkpoint to go back to)"
    )
    if args.undo:
        from llmos_tui.core.session import read_ledger

        status = read_ledger(ws, run_id).status
        print(f"run {run_id}: rewind undone, {files}; the run is as it was before the rewind ({status})")
        for s in moved.skipped:
            print(f"  left as it is (not checkpointed): {s.path} ({s.why})")
        if status in ("paused", "awaiting_approval", "running", "planning"):
            print(f"go on with: llmos-tui resume {run_id}")
        return 0
    print(
        f"run {run_id} rewound to step {moved.step} ({moved.tool}), which awaits a decision; {files} as they were before it"
    )
    for s in moved.skipped:
        print(f"  left as it is (not checkpointed): {s.path} ({s.why})")
    print(f"undo with: llmos-tui rewind {run_id} --undo")
    print(f"go on with: llmos-tui resume {run_id}")
    return 0


def cmd_fork(args: argparse.Namespace) -> int:
    from llmos_tui.cli.commands import _inputs_arg
    from llmos_tui.core import timetravel

    ws = _ws(args)
    run_id = ws.resolve_run_id(args.run_id)
    inputs = _inputs_arg(args.inputs)
    moved = timetravel.fork(ws, run_id, at_step=args.at_step, inputs=inputs, feedback=args.feedback, goal=args.goal)
    how = (
        "with your inputs"
        if inputs is not None
        else "denied with your reason"
        if args.feedback is not None
        else "denied, with the new goal"
        if args.goal
        else "awaiting a decision"
    )
    files = "files as they were before it" if moved.checkpoint else "files left as they are (no checkpoint recorded)"
    print(f"run {moved.run_id} forked from {run_id} at step {moved.step} ({moved.tool}, {how}); {files}")
    if moved.undo:
        print(f"the files it replaced are checkpointed: llmos-tui diff {run_id} {moved.run_id}@{moved.step} compares")
    if args.no_run:
        print(f"go on with: llmos-tui resume {moved.run_id}")
        return 0
    from llmos_tui.cli.run_commands import cmd_resume

    args.run_id, args.max_cost = moved.run_id, None
    return cmd_resume(args)


def cmd_diff(args: argparse.Namespace) -> int:
    from llmos_tui.core import timetravel

    ws = _ws(args)
    result = timetravel.compare(ws, args.a, args.b)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    print(render_diff(result, stat=args.stat))
    return 0


def _money(x: Any) -> str:
    return f"${x:.4f}" if isinstance(x, (int, float)) else "-"


def _secs(x: Any) -> str:
    return f"{x:.1f} s" if isinstance(x, (int, float)) else "-"


def _cut(text: str, width: int = 200) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def render_diff(result: dict[str, Any], *, stat: bool = False) -> str:
    a, b = result["a"], result["b"]
    rows = [
        ("", a["ref"], b["ref"]),
        ("outcome", a["status"], b["status"]),
        ("steps", str(a["steps"]), str(b["steps"])),
        ("turns", str(a["turns"]), str(b["turns"])),
        ("cost", _money(a["cost_usd"]), _money(b["cost_usd"])),
        ("time", _secs(a["seconds"]), _secs(b["seconds"])),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}".rstrip() for r in rows]
    d = result["diverges_at"]
    lines.append("")
    if d is None:
        lines.append("histories: the same steps")
    else:
        lines.append(f"histories diverge at step {d['step']}:")
        lines.append(f"  A: {_cut(d['a'])}")
        lines.append(f"  B: {_cut(d['b'])}")
    lines.append("")
    files = result.get("files")
    if files is None:
        lines.append(f"files: {result.get('files_note', 'not recorded')}")
    elif not files:
        lines.append("files: the same")
    else:
        lines.append(f"files: {len(files)} differ")
        for c in files:
            what = c["change"]
            if c["binary"]:
                lines.append(
                    f"  {what:<8} {c['path']} (binary: {c['old_size'] if c['old_size'] is not None else '-'} → "
                    f"{c['new_size'] if c['new_size'] is not None else '-'} bytes, "
                    f"{(c['old_sha'] or '-')[:10]} → {(c['new_sha'] or '-')[:10]})"
                )
            elif what == "mode":
                lines.append(f"  mode     {c['path']} ({c['old_mode']:o} → {c['new_mode']:o})")
            else:
                lines.append(f"  {what:<8} {c['path']}")
        if not stat:
            for c in files:
                if c["diff"]:
                    lines.append("")
                    lines.append(c["diff"].rstrip("\n"))
    return "\n".join(lines)


def cmd_replay(args: argparse.Namespace) -> int:
    ws = _ws(args)
    run_id = ws.resolve_run_id(args.run_id)
    if args.recorded:
        return _playback(ws, run_id, args)
    from llmos_tui.core.replay import replay

    report = replay(ws, run_id, keep=args.keep)
    if args.json:
        out = {
            "run_id": run_id,
            "steps": report.steps,
            "status": report.status,
            "recorded_status": report.recorded_status,
            "drifts": [d.__dict__ for d in report.drifts],
            "notes": report.notes,
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        if not report.drifts:
            print(
                f"replayed run {run_id}: {report.steps} steps re-executed on a copy of its starting files, "
                f"every result as recorded (replay {report.status}, recorded {report.recorded_status})"
            )
        else:
            first = report.drifts[0]
            print(
                f"replayed run {run_id}: {len(report.drifts)} of {report.steps} steps differ from the recording; "
                f"the first is step {first.step} ({first.tool} {first.inputs})"
            )
            for d in report.drifts:
                print(f"  step {d.step} {d.tool} {d.inputs}")
                print(f"    recorded: {d.recorded}")
                print(f"    replayed: {d.replayed}")
        for note in report.notes:
            print(f"note: {note}")
        if report.kept:
            print(f"the replay's files are in {report.kept}")
    return 1 if report.drifts else 0


def _playback(ws: Any, run_id: str, args: argparse.Namespace) -> int:
    import threading

    from llmos_tui.core.replay import Playback

    pb = Playback(ws, run_id, speed=args.speed)
    thread = threading.Thread(target=pb.play, name="playback", daemon=True)
    thread.start()
    try:
        args.workspace = None
        from llmos_tui.tui.app import AppSettings, LlmosApp

        app = LlmosApp(
            AppSettings(
                workspace=pb.workspace.root,
                theme=args.theme,
                watch=True,
                playback=True,
                note=f"playback of {run_id} at {args.speed:g}× — nothing is executed",
            )
        )
        app.run()
    finally:
        pb.stop = True
        thread.join(timeout=5)
        pb.cleanup()
    return 0
