"""Task sub-agents: a child run of the runner, in `runs/<run_id>/task-<step>/`.

The child has its own journal, trace and state file, and is linked both ways (its run_started
names its parent and step; the parent journals `task` records naming the child). It shares its
parent's approval gate: people's commands go to the top run's control.jsonl, which the running
sub-agent reads (the parent records how far it read, so nothing is applied twice). It starts
from the Task's prompt, inherits the mode, the current approval policy and what is left of the
budget; its cost is charged to the Task step; `max_task_depth` refuses deeper nesting. A Task
step interrupted by a crash runs again, and its sub-agent carries on from its own journal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.tools.base import ToolError, ToolOutput

if TYPE_CHECKING:
    from llmos_tui.core.runner import Listener, Runner
    from llmos_tui.core.runtime.base import Runtime


class ParentsLock:
    """A sub-agent runs under its parent's workspace lock."""

    def release(self) -> None:
        pass


class SubAgentStopped(Exception):
    """The sub-agent stopped for a person (--no-wait) or was paused to exit: its Task step stays
    running, and on resume the sub-agent carries on from its journal."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class SubAgentCancelled(Exception):
    """A person cancelled the run while its sub-agent ran."""


def reopen_child(parent: "Runner", run_id: str, runtime: "Runtime", listeners: list["Listener"]) -> "Runner":
    """A sub-agent that already has a journal (a resumed parent), ready to go on."""
    from llmos_tui.core.journal import Journal
    from llmos_tui.core.runner import Runner, reopen
    from llmos_tui.core.state import to_front_matter

    ws = parent.ws
    path, _, ledger, first = reopen(ws, run_id)
    runner = Runner(ws, parent.config, parent.registry, runtime, Journal(path), ledger, ParentsLock(),
                    parent.options, run_id, initial_state=to_front_matter(first.snapshot(parent.config.recent_steps)),
                    parent=parent)
    runner.listeners = listeners
    if ledger.status in RUN_TERMINAL:
        return runner
    runner._record("resumed", data={"pid": os.getpid()})
    if parent.ledger.approval != ledger.approval:
        runner._record("policy_changed", data={"approval": parent.ledger.approval})
    runner._recover_interrupted_step()
    if ledger.status == "paused":
        runner._set_status(runner._active_status(), error=None, reason="resumed")
    runner._flush(force=True)
    return runner


async def run_task(parent: "Runner", inputs: dict[str, Any]) -> ToolOutput:
    """Run the Task step the parent is executing: its sub-agent's final message is the result."""
    from dataclasses import replace

    from llmos_tui.core.runner import WAITING, Runner

    step = parent._executing
    assert step is not None
    limit = parent.config.max_task_depth
    if parent.depth + 1 > limit:
        raise ToolError(f"sub-agents may nest {limit} deep (max_task_depth in SystemAgent.md); "
                        f"this run is already at depth {parent.depth}: do the task yourself")
    spawn = getattr(parent.runtime, "spawn", None)
    if spawn is None:
        raise ToolError(f"Task is not available with the {parent.ledger.runtime} runtime")
    index = sum(1 for s in parent.ledger.steps[:step.n - 1] if s.tool == "Task")
    try:
        runtime = spawn(index)
    except LookupError as exc:
        raise ToolError(str(exc)) from None
    child_id = f"{parent.run_id}/task-{step.n}"
    if (parent.ws.run_dir(child_id) / "journal.jsonl").exists():
        child = reopen_child(parent, child_id, runtime, list(parent.listeners))
    else:
        config = parent.config.with_(approval=parent.ledger.approval)
        budget = parent.config.max_cost_usd
        if budget is not None:   # what is left of the parent's budget
            config = replace(config, max_cost_usd=max(budget - parent.ledger.usage.cost_usd, 1e-9))
        child = Runner._open(
            parent.ws, str(inputs["description"]), config=config, registry=parent.registry, runtime=runtime,
            runtime_name=parent.ledger.runtime, mode=parent.ledger.mode, variables=parent.ledger.variables,
            options=parent.options, run_id=child_id, run_files=None, lock=ParentsLock(), parent=parent,
            prompt=str(inputs["prompt"]),
            link={"run_id": parent.run_id, "step": step.n, "depth": parent.depth + 1})
    if not child.listeners:
        child.listeners = list(parent.listeners)
    parent.child = child
    parent._record("task", step=step.n, data={"child": child_id, "event": "started"})
    try:
        status = await child.drive() if child.ledger.status not in RUN_TERMINAL else child.ledger.status
    finally:
        parent.child = None
        child.close()
        # commands the sub-agent read are behind the parent too
        parent._record("task", step=step.n, data={"child": child_id, "event": "ended",
                                                  "status": child.ledger.status,
                                                  "offset": child.ledger.control_offset})
    if status in ("paused", WAITING):
        parent.stopped_in = child   # where the decision waits, for the faces to say
        raise SubAgentStopped(status)
    led = child.ledger
    if led.usage.input_tokens or led.usage.output_tokens or led.usage.cost_usd:
        parent._record("usage", step=step.n, data={"usage": led.usage.__dict__, "for": f"sub-agent {child_id}"})
    summary = f"[sub-agent run {child_id}: {led.status}, {len(led.steps)} tool calls, ${led.usage.cost_usd:.4f}]"
    if led.status == "completed":
        return ToolOutput(f"{led.last_text or '(the sub-agent ended without a final message)'}\n\n{summary}")
    if led.status == "cancelled":
        raise SubAgentCancelled(f"A person cancelled the sub-agent. {summary}")
    why = (led.error or {}).get("message", "no reason recorded")
    raise ToolError(f"The sub-agent {led.status}: {why}. Its last words: {led.last_text or '(none)'} {summary}")
