"""The run ledger: everything known about a run, rebuilt by folding its journal records.

The live runner applies each record right after appending it, and resume folds the same records
from the file — one reducer, so a resumed run is by construction in the state the live run was.
Every status change is checked against the transition tables in `statuses`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from llmos_tui.core.errors import FileFormatError, IllegalTransition
from llmos_tui.core.records import JournalRecord
from llmos_tui.core.runtime.base import MODEL_REFUSED
from llmos_tui.core.state import RESULT_PREVIEW_CHARS, PlanItem, RunState, StepView, Usage
from llmos_tui.core.statuses import STEP_SETTLED, check_run, check_step


@dataclass(slots=True)
class StepRecord:
    """A step with its full history (the state file shows only a preview of recent ones)."""

    n: int
    tool: str
    inputs: dict[str, Any]
    tool_use_id: str
    side_effects: str
    turn: int
    status: str = "proposed"
    proposed_inputs: dict[str, Any] | None = None  # the model's inputs, when a person edited them
    content: Any = None  # tool_result content given to the model
    is_error: bool = False
    started_at: str | None = None
    duration_s: float | None = None
    simulated: bool = False
    executing: bool = False  # the tool was started (not merely approved) since it last went running
    process: dict[str, Any] | None = None  # the process group its tool started (step_process), if any
    extra_cost: float = 0.0  # model calls made for this step itself (simulation, WebFetch's answer)
    human: dict[str, Any] = field(default_factory=dict)
    breakpoint: str | None = None  # the breakpoint that stopped it before it ran, if one did
    checkpoint: str | None = None  # the workspace's files just before it ran (a side-effecting step)

    @property
    def settled(self) -> bool:
        return self.status in STEP_SETTLED

    def result_preview(self) -> str | None:
        if self.content is None:
            return None
        text = (
            self.content
            if isinstance(self.content, str)
            else " ".join(b.get("text", f"[{b.get('type')}]") for b in self.content if isinstance(b, dict))
        )
        text = text.strip()
        first = text.splitlines()[0] if text else ""
        if len(first) > RESULT_PREVIEW_CHARS:
            first = first[:RESULT_PREVIEW_CHARS] + "…"
        return ("error: " + first) if self.is_error else first

    def view(self) -> StepView:
        return StepView(
            n=self.n,
            tool=self.tool,
            inputs=self.inputs,
            status=self.status,
            side_effects=self.side_effects,
            result=self.result_preview(),
            duration_s=self.duration_s,
            simulated=self.simulated,
        )

    def tool_result_block(self) -> dict[str, Any]:
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": self.tool_use_id,
            "content": self.content if self.content is not None else "",
        }
        if self.is_error:
            block["is_error"] = True
        return block


class Ledger:
    def __init__(self, *, keep_messages: bool = True) -> None:
        # A read-only view (status, a watcher, the TUI on a finished run) does not need the
        # conversation: without it a 100k-call run folds in a fraction of the memory.
        self.keep_messages = keep_messages
        self.run_id = ""
        self.goal = ""
        self.mode = "execute"
        self.runtime = "scripted"
        self.model = ""
        self.served_model = ""  # the name the model's server answered with, when it differs (a .gguf path)
        self.status = "planning"
        self.status_reason: str | None = None  # why the run got its status, when a record said
        self.started_at = ""
        self.updated_at = ""
        self.variables: dict[str, Any] = {}
        self.plan: tuple[PlanItem, ...] = ()
        self.steps: list[StepRecord] = []  # index n-1
        self.by_tool_use: dict[str, StepRecord] = {}
        self.messages: list[dict[str, Any]] = []
        self.usage = Usage()
        self.error: dict[str, Any] | None = None
        self.turns = 0
        self.turn_costs: list[float] = []  # per model turn
        self.turn_calls: list[int] = []  # tool calls each turn proposed
        self.last_text: str | None = None
        self.last_stop_reason: str | None = None
        self.approval = "side-effects"
        self.config: dict[str, Any] = {}
        self.memory = ""  # the SmartMemory text this run's system prompt carries
        self.parent: dict[str, Any] | None = None  # a Task sub-agent's parent run and step
        self.active_child: str | None = None  # the sub-agent run a Task step is running now
        self.commands_seen: set[str] = set()
        self.control_offset = 0
        self.seq = 0
        self.first_unsettled = 0  # index into steps: everything before it is settled
        # time travel (docs/design.md §13)
        self.breakpoints: tuple[str, ...] = ()
        self.start_checkpoint: str | None = None  # the workspace's files when the run started
        self.end_checkpoint: str | None = None  # … and when it ended (or last paused at its end)
        self.pending_restore: dict[str, Any] | None = None  # a rewind's or fork's files not all back yet
        self.last_rewind: dict[str, Any] | None = None  # {seq, undo, step} of the latest rewind (for --undo)
        self.rewinds = 0
        self.rewound_cost = 0.0  # what the model turns a rewind took out of the history cost
        self.forked_from: dict[str, Any] | None = None  # {run, step} of a fork's parent

    # ------------------------------------------------------------ folding

    @classmethod
    def from_records(
        cls, records: Iterable[JournalRecord], path: str = "journal.jsonl", *, keep_messages: bool = True
    ) -> "Ledger":
        led = cls(keep_messages=keep_messages)
        for rec in records:
            try:
                led.apply(rec)
            except (IllegalTransition, KeyError, TypeError, IndexError) as exc:
                raise FileFormatError(
                    path, None, f"journal record seq {rec.get('seq')} ({rec.get('kind')}) does not apply: {exc}"
                ) from None
        return led

    def apply(self, rec: JournalRecord) -> None:
        kind = rec["kind"]
        data = rec.get("data") or {}
        self.seq = rec.get("seq", self.seq)
        self.updated_at = rec.get("at", self.updated_at)
        handler = getattr(self, "_on_" + kind, None)
        if handler is not None:
            handler(rec, data)

    def _on_run_started(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        self.run_id = data["run_id"]
        self.goal = data["goal"]
        self.mode = data.get("mode", "execute")
        self.runtime = data.get("runtime", "scripted")
        self.model = data.get("model", "")
        self.started_at = rec.get("at", "")
        self.variables = dict(data.get("variables") or {})
        self.approval = data.get("approval", self.approval)
        self.config = dict(data.get("config") or {})
        self.memory = data.get("memory") or ""
        self.parent = data.get("parent")
        self.control_offset = int(data.get("control_offset") or 0)  # a sub-agent reads from here on
        self.status = "planning"
        self.messages = [{"role": "user", "content": data.get("prompt") or data["goal"]}]
        self.breakpoints = tuple(data.get("breakpoints") or ())

    def _on_run_status(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        to = _target(rec)
        check_run(self.status, to)
        self.status = to
        self.status_reason = data.get("reason")
        if "error" in data:
            self.error = data["error"]

    def _on_model_turn(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        content = data["content"]
        if self.keep_messages:
            self.messages.append({"role": "assistant", "content": content})
        self.turns += 1
        turn_usage = Usage.from_dict(data.get("usage"))
        self.usage = self.usage + turn_usage
        self.turn_costs.append(turn_usage.cost_usd)
        self.turn_calls.append(sum(1 for b in content if b.get("type") == "tool_use"))
        self.last_stop_reason = data.get("stop_reason")
        served = data.get("model") or ""
        if served != self.model and not served.startswith(self.model or "\0"):  # (not claude-x → claude-x-2025…)
            self.served_model = served
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        if any(t.strip() for t in texts):
            self.last_text = "\n".join(texts).strip()

    def _on_usage(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        """Model calls outside the conversation (a simulated result, WebFetch's answer)."""
        u = Usage.from_dict(data.get("usage"))
        self.usage = self.usage + u
        n = rec.get("step")
        if n:
            self.steps[n - 1].extra_cost += u.cost_usd

    def _on_tool_results(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        if not self.keep_messages:
            return
        blocks = [self.by_tool_use[tid].tool_result_block() for tid in data["tool_use_ids"]]
        self.messages.append({"role": "user", "content": blocks})

    def _on_user_message(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        if self.keep_messages:
            self.messages.append({"role": "user", "content": data["content"]})

    def _on_step_status(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        n = rec["step"]
        if rec.get("from") is None:  # a new step
            if n != len(self.steps) + 1:
                raise IllegalTransition(f"step {n} proposed out of order")
            step = StepRecord(
                n=n,
                tool=data["tool"],
                inputs=dict(data.get("inputs") or {}),
                tool_use_id=data["tool_use_id"],
                side_effects=data.get("side_effects", "none"),
                turn=data.get("turn", 0),
            )
            self.steps.append(step)
            self.by_tool_use[step.tool_use_id] = step
            return
        step = self.steps[n - 1]
        if rec["from"] != step.status:
            raise IllegalTransition(f"step {n} is {step.status}, not {rec['from']}")
        to = _target(rec)
        check_step(n, step.status, to)
        step.status = to
        if step.status == "running":
            step.started_at = rec.get("at")
            step.executing = False
        if "content" in data:
            step.content = data["content"]
            step.is_error = bool(data.get("is_error", False))
        if "duration_s" in data:
            step.duration_s = data["duration_s"]
        if data.get("simulated"):
            step.simulated = True
        if "human" in data:
            step.human = {**step.human, **data["human"]}
        if "breakpoint" in data:
            step.breakpoint = data["breakpoint"]
        while self.first_unsettled < len(self.steps) and self.steps[self.first_unsettled].settled:
            self.first_unsettled += 1

    def _on_step_exec(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        step = self.steps[rec["step"] - 1]
        step.executing = True
        step.process = None  # a new start: any group it started before is the old attempt's

    def _on_step_process(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        """The process group the step's tool started (Bash): `resume` stops it if it survived."""
        self.steps[rec["step"] - 1].process = dict(data)

    def _on_step_edited(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        step = self.steps[rec["step"] - 1]
        if step.proposed_inputs is None:
            step.proposed_inputs = step.inputs
        step.inputs = dict(data["after"])
        step.human = {**step.human, "edited": True, "edited_inputs": step.inputs}

    def _on_plan_updated(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        self.plan = tuple(PlanItem(p["title"], p.get("status", "pending")) for p in data["plan"])

    def _on_variables_updated(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        self.variables = dict(data["variables"])

    def _on_command(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        if data.get("id"):
            self.commands_seen.add(data["id"])
        if data.get("offset") is not None:
            self.control_offset = max(self.control_offset, data["offset"])

    def _on_task(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        """A Task step's sub-agent started or ended; the commands it read are behind this run too."""
        self.active_child = data["child"] if data.get("event") == "started" else None
        if data.get("offset") is not None:
            self.control_offset = max(self.control_offset, data["offset"])

    def _on_policy_changed(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        self.approval = data["approval"]

    def _on_breakpoints_changed(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        self.breakpoints = tuple(data["breakpoints"])

    def _on_checkpoint(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        n = rec.get("step")
        if n:
            step = self.steps[n - 1]
            if step.checkpoint is None:  # (a retry's checkpoint holds the first attempt's effects)
                step.checkpoint = data["id"]
        elif data.get("at") == "start":
            self.start_checkpoint = data["id"]
        elif data.get("at") == "end":
            self.end_checkpoint = data["id"]

    def _on_rewound(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        """A rewind: the records it took out of the history are not folded (journal.iter_effective
        leaves them out), so the ledger is as it was when step n was proposed; step n now waits
        for a decision, on a paused run. An undo (`undo_of`, no step) goes back to just before
        the rewind it undoes, with nothing forced. What must survive the cut comes in this record:
        the commands already applied (never applied twice) and the cost already spent."""
        if rec.get("step"):
            self._back_to_step(rec["step"])
        self.commands_seen.update(data.get("commands") or ())
        self.control_offset = max(self.control_offset, int(data.get("control_offset") or 0))
        self.rewound_cost += float(data.get("discarded_usd") or 0.0)
        self.pending_restore = {"checkpoint": data.get("checkpoint"), "children": data.get("children") or []}
        if rec.get("step"):  # (after an undo, the rewind before the one undone is the latest again)
            self.last_rewind = {"seq": rec["seq"], "undo": data.get("undo"), "step": rec["step"]}
        if rec.get("step"):
            self.end_checkpoint = None  # (an undo folds back to before the rewind, end included)
        self.rewinds += 1

    def _on_files_restored(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        self.pending_restore = None

    def _on_forked(self, rec: JournalRecord, data: dict[str, Any]) -> None:
        """A fork's history so far is its parent's (copied, up to step n's proposal): from here on
        it is a run of its own, with step n waiting for a decision, and a control.jsonl of its own."""
        self.forked_from = {"run": data["parent"], "step": rec["step"]}
        self._back_to_step(rec["step"])
        if data.get("goal"):
            self.goal = data["goal"]
        self.commands_seen, self.control_offset = set(), 0
        self.pending_restore = {"checkpoint": data.get("checkpoint"), "children": []}
        self.end_checkpoint, self.last_rewind = None, None

    def _back_to_step(self, n: int) -> None:
        if n != len(self.steps):
            raise IllegalTransition(f"step {n} is not the last step of the history kept ({len(self.steps)} steps)")
        step = self.steps[n - 1]
        step.status, step.executing, step.process, step.breakpoint = "awaiting_approval", False, None, None
        self.first_unsettled = min(self.first_unsettled, n - 1)
        self.active_child = None
        self.status, self.error = "paused", None

    # ------------------------------------------------------------ queries

    def step_cost(self, step: StepRecord) -> float:
        """A model turn's cost, shared by the tool calls it proposed, plus the step's own calls."""
        if 0 <= step.turn < len(self.turn_costs):
            return self.turn_costs[step.turn] / max(self.turn_calls[step.turn], 1) + step.extra_cost
        return step.extra_cost

    @property
    def refusal(self) -> str | None:
        """The line saying what to change, when the model server refused this run's request for
        good (a context overflow, an unknown model: runtime/base.py ModelRefused); else None."""
        if self.status == "paused" and self.error and self.error.get("type") == MODEL_REFUSED:
            return str(self.error.get("message") or "the model server refused the request")
        return None

    @property
    def current_step(self) -> StepRecord | None:
        if self.first_unsettled < len(self.steps):
            return self.steps[self.first_unsettled]
        return None

    @property
    def decision_step(self) -> StepRecord | None:
        """The step a person decides now: the first unsettled one awaiting approval or uncertain.
        Usually the current step; with parallel calls (the claude-code runtime) a call may still
        be running before it."""
        for s in self.steps[self.first_unsettled :]:
            if s.status in ("awaiting_approval", "uncertain"):
                return s
        return None

    def pending_tool_uses(self) -> list[dict[str, Any]]:
        """tool_use blocks of the last assistant turn, when their results are not yet sent."""
        if not self.messages or self.messages[-1]["role"] != "assistant":
            return []
        return [b for b in self.messages[-1]["content"] if b.get("type") == "tool_use"]

    def snapshot(self, recent: int = 20) -> RunState:
        cur = self.current_step
        return RunState(
            run_id=self.run_id,
            goal=self.goal,
            mode=self.mode,
            runtime=self.runtime,
            status=self.status,
            current_step=cur.n if cur else None,
            model=self.model,
            started_at=self.started_at,
            updated_at=self.updated_at,
            variables=dict(self.variables),
            plan=self.plan,
            steps=tuple(s.view() for s in self.steps[-recent:]),
            usage=self.usage,
            error=self.error,
            steps_total=len(self.steps),
            turns=self.turns,
            last_text=self.last_text,
            journal_seq=self.seq,
        )


def _target(rec: JournalRecord) -> str:
    to = rec.get("to")
    if to is None:
        raise IllegalTransition(f"a {rec['kind']} record without a target status")
    return to
