"""Decisions from outside the driving process: which run and step a person's approve, deny, skip,
retry, pause, resume or cancel is for, the command that carries it, and the driver's answer.

A face in the driving process hands its commands to `Runner.submit`; `llmos-tui approve` and the
like share nothing with the driver but the run's files. They append the command to the top run's
control.jsonl (a running Task sub-agent reads it there, and numbers its steps its own way), and
the driver journals the command — applied, or rejected with a reason — in the journal of the run
it was for. Nothing here writes a journal; the only reads are the ledger fold and the scan for
one command's record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmos_tui.core.control import Command, ControlChannel, new_command
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.lock import driver_of
from llmos_tui.core.records import parse_record
from llmos_tui.core.session import read_ledger
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.workspace import Workspace, task_run_id

# The decisions that name a step, and the step statuses each one answers.
WAITS_FOR: dict[str, tuple[str, ...]] = {
    "approve": ("awaiting_approval",),
    "deny": ("awaiting_approval", "uncertain"),
    "skip": ("awaiting_approval", "uncertain"),
    "retry": ("uncertain",),
}
STEP_ACTIONS: tuple[str, ...] = tuple(WAITS_FOR)


def driver(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """What the driver lock says (pid, run_id, …) when a live process drives `run_id`, else None."""
    return driver_of(ws.root, run_id)


def running_subagents(ws: Workspace, run_id: str, ledger: Ledger) -> Iterator[tuple[str, Ledger]]:
    """The Task sub-agents running under `run_id` (whose ledger is `ledger`), outermost first:
    each one's run id and ledger, folded from its journal. A Task step whose sub-agent has not
    written a journal yet ends the chain.

    The rule is the Task step (still `running`), not the parent's `active_child` that a watcher
    follows (core/source.py): a run stopped for a person inside a sub-agent (--no-wait, paused to
    exit) has closed the sub-agent's driver — no `active_child` — but the decision is still the
    sub-agent's."""
    led = ledger
    while (cur := led.current_step) is not None and cur.tool == "Task" and cur.status == "running":
        child_id = task_run_id(run_id, cur.n)
        if not ws.journal_path(child_id).exists():
            return
        run_id, led = child_id, read_ledger(ws, child_id)
        yield run_id, led


@dataclass(frozen=True)
class DecisionTarget:
    top_id: str  # the run whose control.jsonl carries the command
    run_id: str  # the run that decides: top_id, or the sub-agent a Task step of it is running
    ledger: Ledger  # run_id's, as its journal tells it


def decision_target(ws: Workspace, run_id: str) -> DecisionTarget:
    """The run a decision sent to `run_id` is for: the innermost sub-agent still going under it,
    else the run itself (also when the run has ended — the caller says there is nothing to do)."""
    led = read_ledger(ws, run_id)
    target = DecisionTarget(run_id, run_id, led)
    if led.status in RUN_TERMINAL:
        return target
    for child_id, child in running_subagents(ws, run_id, led):
        if child.status in RUN_TERMINAL:
            break
        target = DecisionTarget(run_id, child_id, child)
    return target


def waiting_step(ledger: Ledger, action: str) -> StepRecord | None:
    """The step a step decision (`action` in STEP_ACTIONS) is for when none is named: the step
    waiting for a person, when its status is one `action` answers."""
    cur = ledger.decision_step or ledger.current_step
    return cur if cur is not None and cur.status in WAITS_FOR[action] else None


@dataclass(frozen=True)
class SentDecision:
    command: Command
    target: DecisionTarget
    journal_offset: int  # the deciding run's journal size before the command was sent
    driven: bool  # a live process drives the run (else the command waits for a resume)


def send_decision(
    ws: Workspace,
    target: DecisionTarget,
    action: str,
    *,
    step: int | None = None,
    inputs: dict[str, Any] | None = None,
    feedback: str | None = None,
    scope: str | None = None,
) -> SentDecision:
    """Append the command to the top run's control.jsonl; its outcome is journalled after
    `journal_offset` in the deciding run's journal (see `await_outcome`)."""
    offset = ws.journal_path(target.run_id).stat().st_size
    cmd = new_command(action, step=step, inputs=inputs, feedback=feedback, scope=scope)
    ControlChannel(ws.control_path(target.top_id)).append(cmd)
    return SentDecision(cmd, target, offset, driver(ws, target.top_id) is not None)


def await_outcome(
    ws: Workspace, run_id: str, cmd_id: str, offset: int, timeout: float, *, poll: float = 0.05
) -> dict[str, Any] | None:
    """The `data` of the command record the driver journals for `cmd_id` in `run_id`'s journal
    after `offset` (its id, action, `applied`, and a `reason` when rejected), or None when none
    lands within `timeout` seconds. Only complete lines are read."""
    path = ws.journal_path(run_id)
    needle = cmd_id.encode()
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as fh:
            fh.seek(offset)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # still being written: read again on the next poll
                offset += len(raw)
                if needle not in raw:
                    continue
                try:
                    rec = parse_record(json.loads(raw))
                except ValueError:  # not JSON, or not a record: not the answer
                    continue
                if rec["kind"] == "command" and rec["data"].get("id") == cmd_id:
                    return rec["data"]
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)
