"""RunRecorder: the one way anything is written about a run.

Every driver — the native/scripted loop, the Claude Code SDK driver, the hook driver, a Task
sub-agent — records through this class and only through its public methods: a transition is
appended to the journal and folded into the ledger before anything else happens; the journal is
fsync'd before an effect becomes visible (a side-effecting tool runs, the state file is replaced,
the driver waits); execution_state.md and trace.json follow the journal, never lead it; and when
a run ends its steps go into the tool figures and its experience into SmartMemory.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from llmos_tui.core.config import AgentConfig
from llmos_tui.core.engine.checkpointing import RunCheckpoints
from llmos_tui.core.errors import LlmosError
from llmos_tui.core.fsutil import atomic_write
from llmos_tui.core.journal import Journal
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.records import JournalRecord, Kind
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runtime.base import ReportsSideUsage, WritesLearnings
from llmos_tui.core.state import RunState, StateFile
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.text import parse_iso
from llmos_tui.core.trace import build_trace
from llmos_tui.core.training import REDACTED, Redactor, redactor_for
from llmos_tui.core.workspace import STATE_NAME, TRACE_NAME, Workspace, write_json_atomic

Listener = Callable[[JournalRecord, Ledger], None]
UNSET: Any = ...  # set_status(error=UNSET) leaves the run's error as it is


class Releasable(Protocol):
    def release(self) -> None: ...


class NoLock:
    """A sub-agent's or a handed-over run's lock: someone else holds and releases the real one."""

    def release(self) -> None:
        pass


@dataclass(frozen=True)
class RunOptions:
    no_wait: bool = False  # stop (instead of waiting) when a person must decide
    poll_interval: float = 0.05  # how often control.jsonl is checked while waiting
    flush_interval: float = 0.02  # the state file is rewritten at most this often while busy
    trace_interval: float = 1.0  # trace.json is rewritten at most this often while busy


class RunRecorder:
    def __init__(
        self,
        ws: Workspace,
        journal: Journal,
        ledger: Ledger,
        *,
        config: AgentConfig,
        registry: ToolRegistry,
        options: RunOptions,
        lock: Releasable,
        state_path: Path,
        run_dir: Path,
        initial_state: dict[str, Any] | None = None,
        redact: Redactor | None = None,
    ) -> None:
        self.ws = ws
        self.journal = journal
        self.ledger = ledger
        self.config = config
        self.registry = registry
        self.options = options
        self.lock = lock
        self.run_dir = run_dir
        self.state_file = StateFile(state_path)
        self.initial_state = initial_state
        self.listeners: list[Listener] = []
        # Secrets are redacted as records are made: the journal — and so the state file, status,
        # the trace, memory and exports, all made from it — never holds one. What the model and
        # the tools were given stays raw in `raw_ledger`, in memory only, for the rest of the run.
        self.redact = redact if redact is not None else redactor_for(ws.system)
        self.raw_ledger: Ledger | None = None  # made at the first redaction: the run as it really went
        # the driver's system prompt (the trace carries it); set by the driver that owns the run
        self.system_prompt: Callable[[], str] = lambda: ""
        # called before the state file would be replaced while a person's edit is on disk
        self.on_foreign_edit: Callable[[], None] = lambda: None
        self.blocked: str | None = None  # a person's edit of the state file that does not parse
        self.ended = False  # end() has run: tool figures and SmartMemory written
        self._closed = False
        self._dirty = False
        self._last_flush = 0.0
        self._trace_seq = -1
        self._last_trace = 0.0
        self._trace_cost = 0.0  # seconds the last trace.json write took
        # the system prompt and tool definitions as last redacted for the trace: they rarely change
        # within a run, and redacting the prompt was most of a trace write's cost
        self._trace_parts: tuple[str, Any, str, Any] | None = None
        self.checkpoints = RunCheckpoints(ws, config)  # the workspace's files before each side effect

    @property
    def run_id(self) -> str:
        return self.ledger.run_id

    def snapshot(self) -> RunState:
        return self.ledger.snapshot(self.config.recent_steps)

    # ------------------------------------------------------------ transitions

    def record(
        self,
        kind: Kind,
        *,
        step: int | None = None,
        frm: str | None = None,
        to: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> JournalRecord:
        """Append one record (its secrets redacted), fold it, tell the listeners; the state file
        follows in a moment."""
        raw = data
        if data and self.redact.finds(data):
            data = self.redact(data)
            if self.raw_ledger is None:
                self.raw_ledger = copy.deepcopy(self.ledger)
        rec = self.journal.append(kind, step=step, frm=frm, to=to, data=data)
        self.ledger.apply(rec)
        if self.raw_ledger is not None:
            self.raw_ledger.apply(rec if raw is data else cast(JournalRecord, {**rec, "data": raw or {}}))
        for listener in self.listeners:
            listener(rec, self.ledger)
        self._dirty = True
        self.flush()
        return rec

    def record_cut(self, kind: Kind, *, step: int | None = None, data: dict[str, Any]) -> JournalRecord:
        """Append a record that takes history out (`rewound`) and fold the history anew: the
        ledger becomes what the journal now says, less the records the cut took out. Only on a
        run no driver is taking forward (a rewind holds the lock and drives nothing)."""
        from llmos_tui.core.journal import iter_effective

        rec = self.journal.append(kind, step=step, data=data, sync=True)
        fresh = Ledger.from_records(iter_effective(self.journal.path), str(self.journal.path))
        self.ledger.__dict__.update(fresh.__dict__)  # (the same object: whoever holds it sees the new history)
        self.raw_ledger = None
        self._dirty = True
        return rec

    def model_messages(self) -> list[dict[str, Any]]:
        """The conversation as the model had it in this process: raw, secrets included."""
        return (self.raw_ledger or self.ledger).messages

    def raw_inputs(self, step: StepRecord) -> dict[str, Any] | None:
        """The inputs a step's tool runs with: as the model (or a person's edit) gave them. None
        when they held a secret that was redacted when recorded and the raw text is gone (the run
        was resumed since): running the call with `[REDACTED]` in it would do the wrong thing."""
        view = self.raw_ledger.steps[step.n - 1].inputs if self.raw_ledger is not None else step.inputs
        if view == step.inputs and _holds(view, REDACTED):
            return None
        return view

    def note(self, message: str, *, step: int | None = None) -> None:
        self.record("note", step=step, data={"message": message})

    def open_step(self, use: dict[str, Any]) -> StepRecord:
        """A tool call of the model's last turn becomes step n+1, `proposed`."""
        n = len(self.ledger.steps) + 1
        name = str(use.get("name"))
        self.record(
            "step_status",
            step=n,
            frm=None,
            to="proposed",
            data={
                "tool": name,
                "inputs": use.get("input") or {},
                "tool_use_id": use["id"],
                "side_effects": self.registry.side_effects(name),
                "turn": self.ledger.turns - 1,
            },
        )
        return self.ledger.steps[n - 1]

    def move(
        self,
        step: StepRecord,
        to: str,
        *,
        content: Any = None,
        is_error: bool = False,
        duration_s: float | None = None,
        simulated: bool = False,
        human: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """A step's next status, with what settles it (its result for the model, the person's
        decision)."""
        data: dict[str, Any] = dict(extra or {})
        if content is not None:
            data["content"] = content
            data["is_error"] = is_error
        if duration_s is not None:
            data["duration_s"] = duration_s
        if simulated:
            data["simulated"] = True
        if human:
            data["human"] = human
        self.record("step_status", step=step.n, frm=step.status, to=to, data=data)

    def start_exec(self, step: StepRecord, *, durable: bool) -> None:
        """The step's tool starts now. `durable`: fsync first, so `running` is on disk before a
        side effect can happen (write-ahead); a step approved but never started is not uncertain
        after a crash, it simply runs. A step with side effects first checkpoints the workspace."""
        if step.side_effects != "none":
            self.checkpoints.take(self, step=step.n)
        self.record("step_exec", step=step.n)
        if durable:
            self.journal.sync()

    def set_status(self, to: str, *, error: Any = UNSET, reason: str | None = None, command: str | None = None) -> None:
        data: dict[str, Any] = {}
        if error is not UNSET:
            data["error"] = error
        if reason:
            data["reason"] = reason
        if command:
            data["command"] = command
        self.record("run_status", frm=self.ledger.status, to=to, data=data)
        if to in RUN_TERMINAL:
            if self.ledger.parent is None:
                self.checkpoints.take(self, at="end")  # the files the run leaves (for diff)
            self.flush(force=True, trace=False)  # the final trace is written once, by close()
            atomic_write(self.run_dir / STATE_NAME, self.state_file.read_text())

    def charge_side_usage(self, runtime: ReportsSideUsage | None, *, step: int | None = None, purpose: str) -> None:
        """Model calls the runtime made outside the conversation, charged to a step or the run.
        (The caller asks `isinstance(runtime, ReportsSideUsage)` once, not at every step: a
        runtime-checkable protocol costs microseconds per check.)"""
        if runtime is None:
            return
        side = runtime.take_side_usage()
        if side.input_tokens or side.output_tokens:
            self.record("usage", step=step, data={"usage": side.__dict__, "for": purpose})

    # ------------------------------------------------------------ files that follow the journal

    def sync(self) -> None:
        self.journal.sync()

    def flush(self, *, force: bool = False, trace: bool = True) -> None:
        """Rewrite execution_state.md — at most every flush_interval while busy, always when forced."""
        if not self._dirty and not force:
            return
        now = time.monotonic()
        if not force and now - self._last_flush < self.options.flush_interval:
            return
        self.journal.sync()  # the state file never shows what the journal does not hold
        if self.state_file.changed_by_others():
            self.on_foreign_edit()  # a person's edit is taken up before it could be overwritten
        if self.blocked:
            return
        self.state_file.save(self.snapshot())
        self._last_flush = now
        self._dirty = False
        # the trace is written as the run goes (a killed run keeps it up to about here): at each
        # forced flush that asks for it (a wait, a slow tool call, a status change) and at most
        # every trace_interval else (a long run's trace is big: it is rewritten at most ~10 % of
        # the time). A stale trace costs nothing but time: readers rebuild it from the journal.
        if trace and (force or now - self._last_trace >= max(self.options.trace_interval, 10 * self._trace_cost)):
            self._last_trace = now
            t0 = time.monotonic()
            self.write_trace()
            self._trace_cost = time.monotonic() - t0

    def write_trace(self) -> None:
        """trace.json from the ledger. Its records were redacted as they were made; what the trace
        adds of its own — the system prompt (SystemAgent.md's text may hold a secret) and the tool
        definitions — is redacted here."""
        if self._trace_seq == self.ledger.seq:
            return  # nothing new since the last write
        self._trace_seq = self.ledger.seq
        raw_system, raw_tools = self.system_prompt(), self.registry.api_definitions()
        kept = self._trace_parts
        if kept is not None and kept[0] == raw_system and kept[1] == raw_tools:
            system, tools = kept[2], kept[3]
        else:
            system, tools = self.redact.text(raw_system), self.redact(raw_tools)
            self._trace_parts = (raw_system, raw_tools, system, tools)
        write_json_atomic(self.run_dir / TRACE_NAME, build_trace(self.ledger, self.initial_state or {}, system, tools))

    # ------------------------------------------------------------ the end of a run

    async def end(self, runtime: object, *, remember: bool) -> None:
        """Once a run has ended: its steps go into the observed tool figures, and (`remember`: a
        top run that did something) its experience into SmartMemory. Never fails the run."""
        if self.ended:
            return
        self.ended = True
        from llmos_tui.core.toolstats import record_run

        try:
            record_run(self.ws.system / "tool_stats.json", self.ledger)
        except (LlmosError, OSError) as exc:
            self.note(f"tool_stats.json not updated: {exc}")
        if not remember:
            return
        try:
            await self._remember(runtime)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - memory is a by-product: never fail a finished run over it
            self.note(f"SmartMemory not updated: {type(exc).__name__}: {exc}")

    async def _remember(self, runtime: object) -> None:
        from llmos_tui.core.memory import append_experience, derived_learnings, new_experience

        led = self.ledger
        now = dt.datetime.now(dt.UTC)
        started = parse_iso(led.started_at)
        duration = (now - started).total_seconds() if started is not None else None
        learnings = derived_learnings(led)
        source, by = "derived", None  # by: the model that wrote them, named in the experience
        if isinstance(runtime, WritesLearnings):
            try:
                text = await runtime.learnings(led.goal, learnings)
                if text and text.strip():
                    learnings, source, by = text.strip(), "model", runtime.small_model
            except Exception as exc:  # noqa: BLE001 - no model: the derived text stands
                self.note(f"learnings derived from the run (the model could not summarise: {type(exc).__name__})")
            self.charge_side_usage(runtime if isinstance(runtime, ReportsSideUsage) else None, purpose="memory summary")
        entry = self.redact(new_experience(led, now, duration, learnings_by=by))
        append_experience(self.ws.system / "memory_log.md", entry, self.redact.text(learnings))
        self.record("memory_saved", data={"experience_id": entry["experience_id"], "learnings": source})

    def close(self) -> None:
        """Last state file and trace, the final copy of an ended run, the journal closed, the
        workspace lock released. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush(force=True)
            self.write_trace()
            if self.ledger.status in RUN_TERMINAL and self.ended:
                # records after the end (memory, usage of its summary): the final copy follows
                atomic_write(self.run_dir / STATE_NAME, self.state_file.read_text())
            self.journal.close()
        finally:
            self.lock.release()


def _holds(value: Any, text: str) -> bool:
    """Whether any string in a JSON-like value contains `text`."""
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_holds(v, text) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds(v, text) for v in value)
    return False
