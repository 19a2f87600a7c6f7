"""The commands that look at runs or steer them from outside: status, runs, tools, export, the
decisions (approve … cancel), init and hook. Each asks core and formats the answer; bad input is
a BadInput (exit 2, one line on stderr)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from llmos_tui.core.errors import BadInput

# the decision commands and the control actions they send
DECISIONS = {
    "approve": "approve",
    "deny": "deny",
    "skip": "skip",
    "retry": "retry",
    "pause": "pause",
    "resume-run": "resume",
    "cancel": "cancel",
}


def _step_line(tool: str, status: str, inputs: dict[str, Any], width: int) -> str:
    return f"{tool} is {status.replace('_', ' ')}: {json.dumps(inputs, ensure_ascii=False)[:width]}"


def cmd_status(args: argparse.Namespace) -> int:
    from llmos_tui.core.decisions import driver, running_subagents
    from llmos_tui.core.session import read_ledger
    from llmos_tui.core.state import cost_text, to_front_matter
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    run_id = ws.resolve_run_id(args.run_id)
    led = read_ledger(ws, run_id)
    st = led.snapshot()
    holder = driver(ws, run_id)
    if args.json:
        front = to_front_matter(st)
        for shown in front["steps"]:  # which breakpoint stopped a step, if one did
            if led.steps[shown["n"] - 1].breakpoint:
                shown["breakpoint"] = led.steps[shown["n"] - 1].breakpoint
        print(json.dumps({**front, "breakpoints": list(led.breakpoints), "driver": holder}, default=str))
        return 0
    from llmos_tui.core.text import plural

    # a run no process drives, left running or waiting by a driver that died, is interrupted
    interrupted = holder is None and st.runtime != "external" and st.status in ("running", "planning")
    shown = f"interrupted (its driver stopped while it was {st.status.replace('_', ' ')})" if interrupted else st.status
    print(f"run {st.run_id}: {shown}" + (f" at step {st.current_step}" if st.current_step else ""))
    print(f"goal: {st.goal}")
    print(
        f"mode {st.mode} · runtime {st.runtime} · {plural(st.steps_total, 'call')} · "
        f"{plural(st.turns, 'model turn')} · {cost_text(st.usage)}"
        + (f" · model {st.model}" if st.model and st.model != st.runtime else "")
    )
    if led.forked_from:
        print(f"forked from run {led.forked_from['run']} at step {led.forked_from['step']}")
    if led.rewinds:
        print(f"rewound {plural(led.rewinds, 'time')} (`llmos-tui rewind {st.run_id} --undo` takes the last back)")
    if st.plan:
        marks = {"completed": "x", "in_progress": "~", "failed": "!", "skipped": "-"}
        for p in st.plan:
            print(f"  [{marks.get(p.status, ' ')}] {p.title}")
    if led.breakpoints:
        print("breakpoints: " + ", ".join(led.breakpoints))
    cur = st.pending_step
    if cur is not None:
        hit = led.steps[cur.n - 1].breakpoint if cur.status == "awaiting_approval" else None
        if interrupted and cur.status == "running":
            side = led.steps[cur.n - 1].side_effects != "none" and st.mode == "execute"
            print(
                f"step {cur.n} {cur.tool} was running when its driver stopped: "
                + json.dumps(cur.inputs, ensure_ascii=False)[:200]
            )
            print(
                "  `llmos-tui resume` "
                + (
                    "asks whether to run it again (retry) or skip it: its effect may be partial"
                    if side
                    else "runs it again (it changes nothing)"
                )
            )
        else:
            print(
                f"step {cur.n} "
                + _step_line(cur.tool, cur.status, cur.inputs, 200)
                + (f' (breakpoint "{hit}" hit)' if hit else "")
            )
            if cur.status == "uncertain":
                print(
                    f"  its driver stopped while it ran, so its effect may be partial: `llmos-tui retry --step {cur.n}` "
                    f"runs it again, `llmos-tui skip --step {cur.n}` goes on without it"
                )
            elif cur.status == "awaiting_approval":
                print(f"  decide with `llmos-tui approve|deny|skip --step {cur.n}`")
    queued = _queued_commands(ws, run_id, led)
    for q in queued:
        print(f"queued: {q} (applied when a process drives the run)")
    for depth, (sub_id, sub_led) in enumerate(running_subagents(ws, run_id, led), start=1):
        sub = sub_led.snapshot()
        scur = sub.pending_step
        print(
            f"{'  ' * depth}↳ sub-agent {sub_id}: {sub.status} · {sub.steps_total} steps · {cost_text(sub.usage)}"
            + (f"; step {scur.n} " + _step_line(scur.tool, scur.status, scur.inputs, 160) if scur is not None else "")
        )
    if led.refusal:  # the model server refused the request for good: what to change comes first
        print(f"stopped: {led.refusal}; then `llmos-tui resume {st.run_id}`")
    elif st.error:
        print(f"error: {st.error.get('type')}: {st.error.get('message')}")
    if st.status not in ("completed", "failed", "cancelled"):
        idle = (
            "a Claude Code session, through its hooks (it goes on when the session calls them)"
            if st.runtime == "external"
            else "none (no process drives this run; `llmos-tui resume` continues it)"
        )
        print("driver: " + (f"pid {holder.get('pid')}" if holder else idle))
    return 0


def _queued_commands(ws: Any, run_id: str, led: Any) -> list[str]:
    """Decisions sent to the run's control.jsonl that no driver has applied yet, in words."""
    from llmos_tui.core.control import Command, ControlChannel

    channel = ControlChannel(ws.control_path(run_id))
    if channel.size() <= led.control_offset:
        return []
    out = []
    for cmd, _end in channel.read_from(led.control_offset):
        if isinstance(cmd, Command) and cmd.id not in led.commands_seen:
            out.append(f"{cmd.action}" + (f" step {cmd.step}" if cmd.step else "") + f" ({cmd.id})")
    return out


def cmd_tools(args: argparse.Namespace) -> int:
    from llmos_tui.core.toolmap import load_toolmap
    from llmos_tui.core.toolstats import load_stats, table
    from llmos_tui.core.workspace import TOOLMAP_NAME, Workspace

    ws = Workspace.locate(args.workspace)
    ws.require_system()
    stats = load_stats(ws.system / "tool_stats.json")
    notes: list[str] = []  # how an LLMunix tool map was read
    rows = table(load_toolmap(ws.system_file(TOOLMAP_NAME), notes), stats)
    for note in notes:
        print(f"llmos-tui: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
        return 0

    def secs(v: float | None) -> str:
        return "-" if v is None else (f"{v * 1000:.0f}ms" if v < 1 else f"{v:.1f}s")

    print(
        f"{'tool':<11} {'declared: cost':<14} {'latency':<9} {'side effects':<12} {'approval':<8} │ "
        f"{'calls':>6} {'errors':>7} {'p50':>7} {'p95':>7} {'$/call':>9} {'denied':>6}"
    )
    for r in rows:
        err = "-" if r["error_rate"] is None else f"{r['error_rate']:.0%}"
        cost = "-" if r["cost_per_call"] is None else f"{r['cost_per_call']:.4f}"
        print(
            f"{r['tool']:<11} {r['declared_cost']:<14} {r['declared_latency']:<9} {r['side_effects']:<12} "
            f"{r['approval']:<8} │ {r['calls']:>6} {err:>7} {secs(r['p50_s']):>7} {secs(r['p95_s']):>7} "
            f"{cost:>9} {r['denied']:>6}"
        )
    n = len(stats.get("runs", []))
    print(f"observed over {n} run{'s' if n != 1 else ''} (system/tool_stats.json; simulated results not timed)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from llmos_tui.core.session import list_runs
    from llmos_tui.core.text import age
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(args.workspace)
    runs = list_runs(ws)
    if not runs:
        print(f"no runs in {ws.root}")
        return 0
    from llmos_tui.core.decisions import driver
    from llmos_tui.core.text import plural

    for r in runs:
        if r.problem:
            print(f"{r.run_id}  (unreadable: {r.problem})")
            continue
        status = r.status
        if status in ("running", "planning") and driver(ws, r.run_id) is None:
            status = f"{status} (no driver)"  # its driver died: `resume` goes on
        calls = plural(r.steps, "call")
        print(f"{r.run_id}  {status:<29} {calls:>11}  {r.cost:<13} {age(r.started_at):>8}  {r.goal[:70]}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Runs' traces as training data (JSON Lines, or a dataset folder), streamed: one run in memory
    at a time."""
    import datetime as dt

    from llmos_tui.core.export import ExportStats, Filters
    from llmos_tui.core.training import Redactor, load_collector_settings
    from llmos_tui.core.workspace import Workspace

    ws: Any
    if args.batch:  # every goal's runs of a batch as one source; without run ids, all that pass the filters
        from llmos_tui.core.batch.export import batch_runs

        ws, args.all = batch_runs(Path(args.batch)), args.all or not args.run_ids
    else:
        ws = Workspace.locate(args.workspace)
    settings = load_collector_settings(ws.system / "TrainingDataCollector.md")
    _sweep_export_temps(ws.root, settings.output_dir, args.output)
    if args.all and args.run_ids:
        raise BadInput("give run ids or --all, not both")
    if not args.all and not args.run_ids:
        raise BadInput("name the runs to export (RUN_ID…), or give --all for every run that passes the filters")
    if args.dataset and args.output:
        raise BadInput("give -o FILE or --dataset DIR, not both")
    if args.push_to_hub and not args.dataset:
        raise BadInput("--push-to-hub uploads a dataset folder: give --dataset DIR too")
    formats = list(dict.fromkeys(args.format or ([*settings.formats] if args.dataset else [settings.default_format])))
    if len(formats) > 1 and not args.dataset:
        raise BadInput(f"one --format per file ({', '.join(formats)}); give --dataset DIR for several")
    since = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            raise BadInput(f"--since needs a date YYYY-MM-DD, not {args.since!r}") from None
    flags: dict[str, Any] = {
        "status": args.status,
        "mode": args.mode,
        "human_reviewed": args.human_reviewed,
        "since": since,
    }
    ids: list[str] | None
    if args.all and not args.batch and not ws.run_ids():
        raise BadInput(f"no runs in {ws.root} to export (nothing written); start one with `llmos-tui run GOAL`")
    if args.all:
        filters, ids = Filters.for_all(settings, **flags), None
    else:
        filters, ids = Filters.for_named(**flags), list(dict.fromkeys(ws.resolve_run_id(r) for r in args.run_ids))
    for fmt in formats:
        if fmt not in settings.formats:
            print(
                f"llmos-tui: note: {fmt} is not in the formats of {settings.path or 'TrainingDataCollector.md'} "
                f"({', '.join(settings.formats)}); exporting it as asked",
                file=sys.stderr,
            )
    stats = ExportStats()
    common: dict[str, Any] = {
        "run_ids": ids,
        "filters": filters,
        "redactor": Redactor.from_settings(settings),
        "subagents": not args.no_subagents,
        "stats": stats,
        "strict": not args.all,
    }
    if args.dataset:
        return _export_dataset(args, ws, settings, formats, stats, filters, common)
    return _export_file(args, ws, settings, formats[0], stats, filters, common)


def _export_file(
    args: argparse.Namespace, ws: Any, settings: Any, fmt: str, stats: Any, filters: Any, common: dict[str, Any]
) -> int:
    from llmos_tui.core.export import (
        CheckResult,
        check_jsonl,
        checked,
        default_output,
        export_rows,
        export_to_file,
        write_jsonl,
    )
    from llmos_tui.core.formats.sharegpt import dataset_info_entry, dataset_name, write_dataset_info

    rows = export_rows(ws, fmt, single_call=args.single_call, **common)
    check = CheckResult(fmt)
    if args.output == "-":
        try:
            n = write_jsonl(checked(rows, check) if args.check else rows, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        where, say = "stdout", sys.stderr
    else:
        path = Path(args.output) if args.output else default_output(ws, settings, fmt)
        n = export_to_file(rows, path)
        where, say = str(path), sys.stdout
        if fmt == "llamafactory":
            name = dataset_name(path.stem)
            write_dataset_info(path.parent, {name: dataset_info_entry(path.name)})
            where += f" (LLaMA-Factory: dataset_dir {path.parent}, dataset: {name})"
        if args.check:
            check_jsonl(path, fmt, check)
    _say_unreadable(stats)
    notes = _notes(stats, filters)
    print(
        f"{n} {fmt} row{'s' if n != 1 else ''} from {stats.runs_exported} of {stats.runs_seen} run"
        f"{'s' if stats.runs_seen != 1 else ''} written to {where}" + (f"; {'; '.join(notes)}" if notes else ""),
        file=say,
    )
    if args.check:
        return _report_checks({fmt: (check, stats.trimmed, stats.skipped)}, say)
    return 0


def _export_dataset(
    args: argparse.Namespace,
    ws: Any,
    settings: Any,
    formats: list[str],
    stats: Any,
    filters: Any,
    common: dict[str, Any],
) -> int:
    from llmos_tui.core.dataset import push_to_hub, write_dataset
    from llmos_tui.core.export import CheckResult, check_jsonl

    folder = Path(args.dataset)
    report = write_dataset(
        ws, folder, formats, settings=settings, val=args.val, seed=args.seed, single_call=args.single_call, **common
    )
    _say_unreadable(stats)
    notes = _notes(stats, filters)
    per = ", ".join(
        f"{f} {c.rows} ({c.train} train, {c.validation} validation"
        + (f", {c.duplicates} duplicates removed" if c.duplicates else "")
        + ")"
        for f, c in report.counts.items()
    )
    print(
        f"dataset {folder}: {per}; from {stats.runs_exported} of {stats.runs_seen} runs"
        + (f"; {'; '.join(notes)}" if notes else "")
    )
    rc = 0
    if args.check:
        results = {}
        for f, c in report.counts.items():
            check = CheckResult(f)
            for split in ("train", "validation"):
                if getattr(c, split):
                    check_jsonl(folder / f / f"{split}.jsonl", f, check)
            results[f] = (check, c.tally.trimmed, c.tally.skipped)
        rc = _report_checks(results, sys.stdout)
    if args.push_to_hub:
        if rc:
            raise BadInput("not pushed: --check found invalid rows")
        print(f"pushed to {push_to_hub(folder, args.push_to_hub)}")
    return rc


def _say_unreadable(stats: Any) -> None:
    for problem in stats.unreadable:
        print(f"llmos-tui: skipped unreadable run {problem}", file=sys.stderr)


def _notes(stats: Any, filters: Any) -> list[str]:
    notes = []
    if stats.filtered:
        notes.append(f"{stats.filtered} left out by the filters ({filters.describe()})")
    if stats.empty:
        notes.append(f"{stats.empty} with nothing to export in this format")
    if stats.unreadable:
        notes.append(f"{len(stats.unreadable)} unreadable")
    return notes


def _report_checks(results: dict[str, tuple[Any, int, int]], say: Any) -> int:
    """One line per format; 1 when a row is invalid."""
    bad = False
    for fmt, (check, trimmed, skipped) in results.items():
        ok = check.valid == check.rows
        bad = bad or not ok
        print(
            f"check {fmt}: {check.rows} rows, {check.valid} valid, {trimmed} trimmed, {skipped} skipped"
            + ("" if ok else " — INVALID: " + "; ".join(check.problems)),
            file=say,
        )
    return 1 if bad else 0


def _inputs_arg(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        inputs = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--inputs is not JSON: {exc.msg}") from None
    except RecursionError:
        raise BadInput("--inputs is nested too deeply") from None
    if not isinstance(inputs, dict):
        raise BadInput("--inputs must be a JSON object")
    return inputs


def cmd_decide(args: argparse.Namespace) -> int:
    """approve, deny, skip, retry, pause, resume-run, cancel: a command to the run's driver,
    and what the driver made of it (or that it waits for one)."""
    from llmos_tui.core.decisions import (
        STEP_ACTIONS,
        WAITS_FOR,
        await_outcome,
        decision_target,
        send_decision,
        waiting_step,
    )
    from llmos_tui.core.statuses import RUN_TERMINAL
    from llmos_tui.core.workspace import Workspace

    action = DECISIONS[args.command]
    ws = Workspace.locate(args.workspace)
    target = decision_target(ws, ws.resolve_run_id(args.run_id))
    top_id, run_id, led = target.top_id, target.run_id, target.ledger
    if led.status in RUN_TERMINAL:  # the top run ended (a sub-agent that ended is never the target)
        raise BadInput(f"run {run_id} is {led.status}; there is nothing to {args.command}")
    step: int | None = getattr(args, "step", None)  # only step decisions take --step
    if action in STEP_ACTIONS and step is None:
        cur = waiting_step(led, action)
        if cur is not None:
            step = cur.n
        elif not (action == "retry" and led.status == "paused"):
            wanted = WAITS_FOR[action]
            raise BadInput(
                f"run {run_id} has no step {' or '.join(w.replace('_', ' ') for w in wanted)} "
                f"(status {led.status}); name one with --step N"
            )
    inputs = _inputs_arg(getattr(args, "inputs", None))
    sent = send_decision(
        ws,
        target,
        action,
        step=step,
        feedback=args.feedback,
        inputs=inputs,
        scope="rest" if getattr(args, "rest", False) else None,
    )
    cmd_id = sent.command.id
    what = args.command + (f" step {step}" if step else "") + (f" of sub-agent {run_id}" if run_id != top_id else "")
    if not sent.driven:
        print(
            f"{what} queued for run {top_id} ({cmd_id}); no process drives it now: "
            f"`llmos-tui resume {top_id}` applies it"
        )
        return 0
    outcome = await_outcome(ws, run_id, cmd_id, sent.journal_offset, timeout=args.timeout)
    if outcome is None:
        print(f"{what} sent to run {run_id} ({cmd_id}); the driver has not applied it yet")
        return 0
    if outcome.get("applied"):
        print(f"{what}: applied to run {run_id}")
        return 0
    raise BadInput(f"{what} rejected by the driver: {outcome.get('reason')}")


def cmd_init(args: argparse.Namespace) -> int:
    from llmos_tui.core.scaffold import init_project

    target = Path(args.dir or ".").resolve()
    for rel, what in init_project(target):
        print(f"{what:>8}  {target.name}/{rel}")
    if getattr(args, "claude", False):
        from llmos_tui.hook import install_claude_hooks

        rel, what = install_claude_hooks(target)
        print(f"{what:>8}  {target.name}/{rel}")
        print(
            f"ready: run `claude` in {target}; its tool calls are recorded in workspace/ (llmos-tui watch "
            f"{target}) and those that need approval wait for `llmos-tui approve` or a watcher's key"
        )
        return 0
    print(
        f'ready: cd {target} && llmos-tui run "your goal"   (with ANTHROPIC_API_KEY set; offline: '
        f"--script FILE replays a script, and `llmos-tui demo` shows the whole thing)"
    )
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    """Claude Code's hook: its JSON on stdin, a decision (for PreToolUse) on stdout."""
    from llmos_tui.hook import main as hook_main

    return hook_main(sys.stdin.read(), wait=args.wait)


def _sweep_export_temps(root: Path, output_dir: str, output: str | None) -> None:
    """Remove the temp files killed exports left (`.<file>.<pid>.tmp`, export_to_file's) in the
    folders this export writes to, once their process is gone: a live export keeps its own."""
    folder = Path(output_dir).expanduser()
    folders = {folder if folder.is_absolute() else root / folder}
    if output and output != "-":
        folders.add(Path(output).parent)
    for where in folders:
        for tmp in where.glob(".*.jsonl.*.tmp"):
            pid = tmp.name.rsplit(".", 2)[-2]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            try:
                tmp.unlink()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a process id: leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True
