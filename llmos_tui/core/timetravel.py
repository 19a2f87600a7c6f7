"""Time travel through a run: rewind, fork, and what a run's files and history were at a step.

A run's journal is its history, and its checkpoints (core/engine/checkpointing.py) are its files
before each step with side effects. Here the faces find:
- `rewind`: the files and the run back to just before step n, awaiting a decision; undoable.
- `fork`: a new run whose history up to step n is another's (no model call for it), going on
  its own way from there.
- `ledger_at`, `files_before`, `step_changes`: a run as it was at a step, for the TUI's timeline.
- `compare`: two runs (or steps of runs) side by side: files, first divergence, figures.

Nothing is ever cut: a rewind appends a `rewound` record (the journal keeps everything, readers
fold the history less what rewinds took out) and checkpoints the files it replaces first.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from llmos_tui.core.checkpoints import CheckpointError, FileChange, Skipped
from llmos_tui.core.config import AgentConfig
from llmos_tui.core.control import ControlChannel, new_command
from llmos_tui.core.engine import lifecycle
from llmos_tui.core.engine.checkpointing import child_folders_after, store_for
from llmos_tui.core.engine.recorder import RunOptions, RunRecorder
from llmos_tui.core.errors import BadInput
from llmos_tui.core.fsutil import atomic_write
from llmos_tui.core.journal import iter_effective
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.lock import WorkspaceLock
from llmos_tui.core.records import JournalRecord
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.state import utcnow
from llmos_tui.core.statuses import NOT_REWINDABLE, RUN_TERMINAL
from llmos_tui.core.text import seconds_between
from llmos_tui.core.workspace import CONTROL_NAME, JOURNAL_NAME, STATE_NAME, TASK_PREFIX, Workspace


@dataclass(frozen=True)
class Moved:
    """What a rewind or a fork did."""

    run_id: str
    step: int | None  # the step now awaiting a decision (None: an undo)
    tool: str = ""
    checkpoint: str | None = None  # the files put back (None: no checkpoint; files left as they are)
    undo: str | None = None  # the files as they were before (a checkpoint)
    skipped: list[Skipped] = field(default_factory=list)
    finished: bool = False  # an interrupted rewind was finished first
    status_before: str = ""
    parent: str | None = None  # a fork's parent run


def _parts(ws: Workspace) -> tuple[AgentConfig, ToolRegistry]:
    from llmos_tui.core.session import load_parts

    return load_parts(ws)


def _open(ws: Workspace, run_id: str) -> tuple[RunRecorder, list[JournalRecord]]:
    """A run's recorder under the workspace's lock (refused while another process drives it)."""
    if "/" in run_id:
        raise BadInput(f"run {run_id} is a sub-agent's; rewind or fork its top run ({run_id.split('/')[0]})")
    config, registry = _parts(ws)
    lock = WorkspaceLock(ws.root)
    lock.acquire(run_id)
    rec, records = lifecycle.reopen_run(ws, run_id, config=config, registry=registry, options=RunOptions(), lock=lock)
    runtime = rec.ledger.runtime
    if runtime in NOT_REWINDABLE:
        rec.close()
        raise BadInput(
            f"run {run_id} is {NOT_REWINDABLE[runtime]}: its conversation lives in Claude Code, so it cannot be "
            "rewound or forked here (`llmos-tui diff` still compares its files)"
        )
    return rec, records


def proposal_seq(records: Iterable[JournalRecord], n: int) -> int:
    """The seq of the record that proposed step n (the history kept by a rewind to n ends there)."""
    for r in records:
        if r["kind"] == "step_status" and r.get("step") == n and r.get("from") is None:
            return r["seq"]
    raise BadInput(f"step {n} was never proposed")


def _check_step(led: Ledger, n: int, what: str) -> StepRecord:
    if not led.steps:
        raise BadInput(f"run {led.run_id} has no steps yet; there is nothing to {what}")
    if not 1 <= n <= len(led.steps):
        raise BadInput(f"run {led.run_id} has steps 1–{len(led.steps)}; there is no step {n}")
    return led.steps[n - 1]


def files_before(led: Ledger, n: int) -> str | None:
    """The checkpoint holding the run's files just before step n: the one taken before the first
    step from n on that had side effects (no step before it changed anything since), else the
    one taken when the run ended. None when the run recorded neither (simulated, or checkpoints
    off): its files are as they are."""
    for s in led.steps[n - 1 :]:
        if s.checkpoint:
            return s.checkpoint
    return led.end_checkpoint


def files_after(led: Ledger, n: int) -> str | None:
    """The checkpoint holding the files just after step n (before the next one)."""
    if n >= len(led.steps):
        return led.end_checkpoint
    return files_before(led, n + 1)


def _prefix(records: list[JournalRecord], seq: int) -> Ledger:
    return Ledger.from_records([r for r in records if r["seq"] <= seq])


def _finish_pending(rec: RunRecorder) -> list[Skipped]:
    try:
        return rec.checkpoints.finish_restore(rec)
    except CheckpointError as exc:
        raise BadInput(f"the files of run {rec.run_id}'s rewind could not be put back: {exc}") from None


def finish_pending(ws: Workspace, run_id: str) -> bool:
    """Finish a rewind or fork whose files were not all put back (a crash midway); True if one was."""
    rec, _ = _open(ws, run_id)
    try:
        if rec.ledger.pending_restore is None:
            return False
        _finish_pending(rec)
        return True
    finally:
        rec.close()


def rewind(ws: Workspace, run_id: str, *, to_step: int | None = None, undo: bool = False) -> Moved:
    """Put the workspace's files and the run back to just before step `to_step`, awaiting a
    decision (or, with `undo`, undo the run's latest rewind). The files replaced are checkpointed
    first and the journal records the rewind, so nothing is lost and it can be undone. A rewind
    interrupted midway (kill -9) is finished first: doing it again completes the job."""
    rec, records = _open(ws, run_id)
    try:
        led = rec.ledger
        finished = False
        if led.pending_restore is not None:
            _finish_pending(rec)
            finished = True
        status_before = led.status
        seq_next = rec.journal.seq + 1
        if undo:
            last = led.last_rewind
            if last is None:
                raise BadInput(f"run {run_id} has no rewind to undo")
            at_seq, step, target = last["seq"] - 1, None, last.get("undo")
            children: list[list[str]] = []
        else:
            if to_step is None:
                if finished:
                    return Moved(run_id, None, finished=True, status_before=status_before)
                raise BadInput("say which step to rewind to: --to-step N")
            _check_step(led, to_step, "rewind")
            at_seq, step = proposal_seq(records, to_step), to_step
            target = files_before(led, to_step)
            tasks = [s.n for s in led.steps[to_step - 1 :] if s.tool == "Task"]
            children = child_folders_after(rec.run_dir, tasks, seq_next)
        before = _prefix(records, at_seq)
        undo_cp = _snapshot(rec, f"{run_id} before rewind")
        spent = led.usage.cost_usd + led.rewound_cost - before.usage.cost_usd - before.rewound_cost
        data: dict[str, Any] = {
            "at_seq": at_seq,
            "checkpoint": target,
            "undo": undo_cp,
            "from_status": status_before,
            "commands": sorted(led.commands_seen - before.commands_seen),
            "control_offset": led.control_offset,
            "discarded_usd": round(max(spent, 0.0), 8),
            "children": children,
        }
        if undo:
            data["undo_of"] = at_seq + 1
        rec.record_cut("rewound", step=step, data=data)  # durable before any file changes
        skipped = _finish_pending(rec)
        (rec.run_dir / STATE_NAME).unlink(missing_ok=True)  # an ended run's final copy: it goes on now
        rec.flush(force=True)
        tool = led.steps[step - 1].tool if step else ""
        return Moved(run_id, step, tool, target, undo_cp, skipped, finished, status_before)
    finally:
        rec.close()


def _snapshot(rec: RunRecorder, label: str) -> str | None:
    """The files as they are now (the undo point of a rewind or fork); None when not recordable."""
    if rec.ledger.mode != "execute":
        return None
    try:
        return store_for(rec.ws, rec.config).snapshot(label=label).id
    except CheckpointError as exc:
        raise BadInput(
            f"the files could not be checkpointed before changing them, so nothing was changed: {exc}"
        ) from None


def fork(
    ws: Workspace,
    run_id: str,
    *,
    at_step: int,
    inputs: dict[str, Any] | None = None,
    feedback: str | None = None,
    goal: str | None = None,
    new_run_id: str | None = None,
) -> Moved:
    """A new run whose history up to step `at_step` is `run_id`'s — its model turns reused, no
    model call and no cost for them — with the workspace's files as they were before that step
    (the files replaced are checkpointed first). The step then waits for a decision; with
    `inputs` it is approved with them, with `feedback` denied with that reason, with `goal` denied
    with the new goal as the reason (the model goes on toward it). Both runs stay complete."""
    if sum(x is not None for x in (inputs, feedback, goal)) > 1:
        raise BadInput("give at most one of --inputs, --feedback and --goal")
    rec, records = _open(ws, run_id)
    try:
        led = rec.ledger
        if led.pending_restore is not None:
            _finish_pending(rec)
        step = _check_step(led, at_step, "fork")
        if inputs is not None:
            problem = rec.registry.validate(step.tool, inputs)
            if problem:
                raise BadInput(f"--inputs do not fit step {at_step}'s tool {step.tool}: {problem}")
        if goal is not None and not goal.strip():
            raise BadInput("the new goal is empty")
        at_seq = proposal_seq(records, at_step)
        target = files_before(led, at_step)
        undo_cp = _snapshot(rec, f"{run_id} before a fork at step {at_step}")
        fork_id = new_run_id or ws.new_run_id()
        fork_dir = ws.run_dir(fork_id)
        fork_dir.mkdir(parents=True, exist_ok=False)
        for s in led.steps[: at_step - 1]:
            if s.tool == "Task" and (rec.run_dir / f"{TASK_PREFIX}{s.n}").is_dir():  # its sub-agent's run, kept
                shutil.copytree(rec.run_dir / f"{TASK_PREFIX}{s.n}", fork_dir / f"{TASK_PREFIX}{s.n}", symlinks=True)
        for name in ("script.yaml",):
            if (rec.run_dir / name).exists():
                shutil.copy2(rec.run_dir / name, fork_dir / name)
        lines = []
        kept = [r for r in records if r["seq"] <= at_seq]
        for i, r in enumerate(kept, 1):
            copy: dict[str, Any] = {**r, "seq": i}
            if r["kind"] == "run_started":
                copy["data"] = {**r["data"], "run_id": fork_id}
            lines.append(json.dumps(copy, ensure_ascii=False, separators=(",", ":"), default=str))
        fdata: dict[str, Any] = {
            "parent": run_id,
            "parent_step": at_step,
            "at_seq": at_seq,
            "checkpoint": target,
            "undo": undo_cp,
        }
        if goal:
            fdata["goal"] = goal.strip()
        forked = {"seq": len(kept) + 1, "at": utcnow(), "kind": "forked", "step": at_step, "data": fdata}
        lines.append(json.dumps(forked, ensure_ascii=False, separators=(",", ":")))
        # the journal is written whole and then renamed in: a fork exists complete or not at all
        atomic_write(fork_dir / JOURNAL_NAME, ("\n".join(lines) + "\n").encode("utf-8"))
        control = ControlChannel(fork_dir / CONTROL_NAME)
        if inputs is not None:
            control.append(new_command("approve", step=at_step, inputs=inputs))
        elif feedback is not None:
            control.append(new_command("deny", step=at_step, feedback=feedback))
        elif goal:
            control.append(
                new_command("deny", step=at_step, feedback=f"The goal has changed. The new goal: {goal.strip()}")
            )
    finally:
        rec.close()
    # the fork's files: put back under its own recorder (so its journal says they are back)
    frec, _ = _open(ws, fork_id)
    try:
        skipped = _finish_pending(frec)
        frec.flush(force=True)
    finally:
        frec.close()
    return Moved(fork_id, at_step, step.tool, target, undo_cp, skipped, False, led.status, parent=run_id)


# ---------------------------------------------------------------- reading a run at a step


def effective_records(ws: Workspace, run_id: str) -> list[JournalRecord]:
    return list(iter_effective(ws.journal_path(run_id)))


def ledger_at(records: list[JournalRecord], n: int) -> Ledger:
    """The run as it was once step n had settled: its history up to the proposal of step n + 1."""
    try:
        upto = proposal_seq(records, n + 1) - 1
    except BadInput:
        upto = records[-1]["seq"] if records else 0
    return Ledger.from_records([r for r in records if r["seq"] <= upto])


def step_changes(
    ws: Workspace, led: Ledger, n: int, config: AgentConfig | None = None, *, against_now: bool = False
) -> list[FileChange] | None:
    """The files step n changed (its checkpoint against the next one); None when not recorded.
    `against_now`: when no checkpoint follows yet (nothing with side effects has run since, or
    the run has not ended), compare with the files as they are now."""
    if led.steps[n - 1].side_effects == "none":
        return []
    a, b = led.steps[n - 1].checkpoint, files_after(led, n)
    if not a:
        return None
    if not b and not against_now:
        return None
    from llmos_tui.core.checkpoints import WORKTREE

    return store_for(ws, config or AgentConfig()).changes(a, b or WORKTREE)


# ---------------------------------------------------------------- comparing runs


@dataclass(frozen=True)
class Ref:
    run_id: str
    step: int | None  # RUN@N: before step N

    @property
    def label(self) -> str:
        return f"{self.run_id}@{self.step}" if self.step else self.run_id


def parse_ref(ws: Workspace, text: str) -> Ref:
    run, _, at = text.partition("@")
    step = None
    if at:
        if not at.isdigit() or int(at) < 1:
            raise BadInput(f"{text!r}: after @ comes a step number (RUN_ID@N)")
        step = int(at)
    return Ref(ws.resolve_run_id(run or None), step)


def _summary(led: Ledger, ref: Ref) -> dict[str, Any]:
    return {
        "ref": ref.label,
        "run_id": led.run_id,
        "goal": led.goal,
        "status": led.status,
        "steps": len(led.steps),
        "turns": led.turns,
        "cost_usd": round(led.usage.cost_usd, 6),
        "seconds": seconds_between(led.started_at, led.updated_at),
        "forked_from": led.forked_from,
    }


def _step_key(s: StepRecord) -> tuple[Any, ...]:
    return (s.tool, json.dumps(s.inputs, sort_keys=True, default=str), s.status, json.dumps(s.content, default=str))


def _step_text(s: StepRecord | None) -> str:
    if s is None:
        return "(no such step: the run ends before it)"
    from llmos_tui.core.text import short_inputs

    result = s.result_preview() or ""
    return f"{s.tool} {short_inputs(s.tool, s.inputs)} → {s.status}{': ' + result if result else ''}"


def compare(ws: Workspace, a_text: str, b_text: str, *, config: AgentConfig | None = None) -> dict[str, Any]:
    """Two runs, or steps of runs (RUN@N: as it was before step N), side by side."""
    out: dict[str, Any] = {}
    leds = []
    for key, text in (("a", a_text), ("b", b_text)):
        ref = parse_ref(ws, text)
        records = effective_records(ws, ref.run_id)
        led = Ledger.from_records(records)
        if ref.step is not None:
            _check_step(led, ref.step, "compare")
            files = files_before(led, ref.step)
            led = Ledger.from_records([r for r in records if r["seq"] < proposal_seq(records, ref.step)])
        else:
            files = led.end_checkpoint if led.status in RUN_TERMINAL else None
        out[key] = {**_summary(led, ref), "files": files}
        leds.append(led)
    a, b = leds
    first = None
    for i in range(max(len(a.steps), len(b.steps))):
        sa = a.steps[i] if i < len(a.steps) else None
        sb = b.steps[i] if i < len(b.steps) else None
        if sa is None or sb is None or _step_key(sa) != _step_key(sb):
            first = {"step": i + 1, "a": _step_text(sa), "b": _step_text(sb)}
            break
    out["diverges_at"] = first
    fa, fb = out["a"]["files"], out["b"]["files"]
    if fa and fb:
        store = store_for(ws, config or AgentConfig())
        out["files"] = [_change_json(c) for c in store.changes(fa, fb)]
    else:
        missing = [out[k]["ref"] for k, f in (("a", fa), ("b", fb)) if not f]
        out["files"] = None
        out["files_note"] = (
            f"no checkpoint of the files for {' and '.join(missing)} (a simulated run, checkpoints off, or a run "
            "that has not ended: compare RUN@N steps instead)"
        )
    return out


def _change_json(c: FileChange) -> dict[str, Any]:
    return {
        "path": c.path,
        "change": c.change,
        "binary": c.binary,
        "old_mode": c.old_mode,
        "new_mode": c.new_mode,
        "old_size": c.old_size,
        "new_size": c.new_size,
        "old_sha": c.old_sha,
        "new_sha": c.new_sha,
        "diff": c.diff,
    }
