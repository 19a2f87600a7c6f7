"""Task sub-agents: a child run of the runner, in `runs/<run_id>/task-<step>/`.

The child has its own journal, trace and state file, and is linked both ways (its run_started
names its parent and step; the parent journals `task` records naming the child). It shares its
parent's approval gate: people's commands go to the top run's control.jsonl, which the running
sub-agent reads (the parent records how far it read, so nothing is applied twice). It starts
from the Task's prompt, inherits the mode, the current approval policy and what is left of the
budget; its cost is charged to the Task step; `max_task_depth` refuses deeper nesting. A Task
step interrupted by a crash runs again, and its sub-agent carries on from its own journal.

This module knows the parent only through the `TaskParent` protocol: the runner builds the
child (it is the one that knows how to drive a run), this module decides what the Task means.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from llmos_tui.core.config import AgentConfig
from llmos_tui.core.engine.lifecycle import ChildLink
from llmos_tui.core.engine.recorder import RunRecorder
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.runtime.base import Runtime, SpawnsSubAgents
from llmos_tui.core.statuses import RUN_TERMINAL, WAITING
from llmos_tui.core.tools.base import ToolError, ToolOutput
from llmos_tui.core.workspace import task_run_id

if TYPE_CHECKING:
    from collections.abc import Awaitable


class SubAgentStopped(Exception):
    """The sub-agent stopped for a person (--no-wait) or was paused to exit: its Task step stays
    running, and on resume the sub-agent carries on from its journal."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class SubAgentCancelled(Exception):
    """A person cancelled the run while its sub-agent ran."""


class Child(Protocol):
    @property
    def ledger(self) -> Ledger: ...

    def drive(self) -> Awaitable[str]: ...

    def close(self) -> None: ...


class TaskParent(Protocol):
    rec: RunRecorder
    runtime: Runtime
    child: Any  # the Child running now (set while it runs)
    stopped_in: Any  # the Child a stop for a person happened in

    @property
    def depth(self) -> int: ...

    @property
    def ledger(self) -> Ledger: ...

    def open_child(self, run_id: str, runtime: Runtime, goal: str, config: AgentConfig, link: ChildLink) -> Child: ...

    def reopen_child(self, run_id: str, runtime: Runtime) -> Child: ...


async def run_task(parent: TaskParent, step: StepRecord, inputs: dict[str, Any]) -> ToolOutput:
    """Run the Task step the parent is executing: its sub-agent's final message is the result."""
    led = parent.ledger
    config = parent.rec.config
    limit = config.max_task_depth
    if parent.depth + 1 > limit:
        raise ToolError(
            f"sub-agents may nest {limit} deep (max_task_depth in SystemAgent.md); "
            f"this run is already at depth {parent.depth}: do the task yourself"
        )
    if not isinstance(parent.runtime, SpawnsSubAgents):
        raise ToolError(f"Task is not available with the {led.runtime} runtime")
    index = sum(1 for s in led.steps[: step.n - 1] if s.tool == "Task")
    try:
        runtime = parent.runtime.spawn(index)
    except LookupError as exc:
        raise ToolError(str(exc)) from None
    child_id = task_run_id(led.run_id, step.n)
    child: Child
    if (parent.rec.ws.journal_path(child_id)).exists():
        child = parent.reopen_child(child_id, runtime)
    else:
        child_config = config.with_(approval=led.approval, breakpoints=led.breakpoints)  # the run's, as they are now
        if config.max_cost_usd is not None:  # what is left of the parent's budget
            child_config = replace(child_config, max_cost_usd=max(config.max_cost_usd - led.usage.cost_usd, 1e-9))
        child = parent.open_child(
            child_id,
            runtime,
            str(inputs["description"]),
            child_config,
            ChildLink(
                prompt=str(inputs["prompt"]),
                parent={"run_id": led.run_id, "step": step.n, "depth": parent.depth + 1},
                control_offset=led.control_offset,
            ),
        )
    parent.child = child
    parent.rec.record("task", step=step.n, data={"child": child_id, "event": "started"})
    try:
        status = await child.drive() if child.ledger.status not in RUN_TERMINAL else child.ledger.status
    finally:
        parent.child = None
        child.close()
        # commands the sub-agent read are behind the parent too
        parent.rec.record(
            "task",
            step=step.n,
            data={
                "child": child_id,
                "event": "ended",
                "status": child.ledger.status,
                "offset": child.ledger.control_offset,
            },
        )
    if status in ("paused", WAITING):
        parent.stopped_in = child  # where the decision waits, for the faces to say
        raise SubAgentStopped(status)
    cled = child.ledger
    if cled.usage.input_tokens or cled.usage.output_tokens or cled.usage.cost_usd:
        parent.rec.record("usage", step=step.n, data={"usage": cled.usage.__dict__, "for": f"sub-agent {child_id}"})
    summary = f"[sub-agent run {child_id}: {cled.status}, {len(cled.steps)} tool calls, ${cled.usage.cost_usd:.4f}]"
    if cled.status == "completed":
        return ToolOutput(f"{cled.last_text or '(the sub-agent ended without a final message)'}\n\n{summary}")
    if cled.status == "cancelled":
        raise SubAgentCancelled(f"A person cancelled the sub-agent. {summary}")
    why = (cled.error or {}).get("message", "no reason recorded")
    raise ToolError(f"The sub-agent {cled.status}: {why}. Its last words: {cled.last_text or '(none)'} {summary}")
