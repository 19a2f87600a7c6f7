"""The runner: drives one run's state machine, from the model's turns through the gate to the tools.

Every transition is appended to the journal and folded into the ledger before anything else
happens; the journal is fsync'd before an effect becomes visible (a side-effecting tool runs, the
state file is replaced, the runner waits). Commands from people arrive through control.jsonl —
faces in this process use the same path (`submit`) — and are applied once each.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmos_tui.core.approval import gate
from llmos_tui.core.config import AgentConfig
from llmos_tui.core.control import BadCommand, Command, ControlChannel
from llmos_tui.core.errors import BadInput, FileFormatError
from llmos_tui.core.fsutil import atomic_write, remove_stale_temp_files
from llmos_tui.core.journal import Journal, read_records
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.lock import WorkspaceLock
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runtime.base import ModelTurn, Runtime, RuntimeUnavailable, ScriptExhausted, TurnRequest
from llmos_tui.core.state import RunState, StateFile, to_front_matter
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.subagents import SubAgentCancelled, SubAgentStopped
from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.trace import build_trace
from llmos_tui.core.workspace import Workspace, write_json_atomic

Listener = Callable[[dict[str, Any], Ledger], None]

WAITING = "waiting"        # drive() stopped at a decision because of --no-wait
timer = time.perf_counter  # measures step durations; tests pin it for reproducible screens
FAST_LATENCIES = frozenset({"instant", "fast"})
MAX_TOKENS_NUDGE = "(Your last reply was cut off at the max_tokens limit. Continue from where it stopped.)"


def _sweep(ws: Workspace, run_id: str) -> None:
    """Remove half-written temp files a killed driver left (we hold the lock: no one else writes)."""
    remove_stale_temp_files(ws.root, "execution_state.md")
    for name in ("trace.json", "execution_state.md"):
        remove_stale_temp_files(ws.run_dir(run_id), name)


def reopen(ws: Workspace, run_id: str) -> tuple[Any, list[dict[str, Any]], Ledger, Ledger]:
    """A run's journal, folded to reopen it: (its path, its records, the ledger, the ledger of its
    first record alone — the run as it started). Stale temp files a killed driver left are swept
    first."""
    _sweep(ws, run_id)
    path = ws.run_dir(run_id) / "journal.jsonl"
    records = read_records(path)
    if not records or records[0]["kind"] != "run_started":
        raise FileFormatError(str(path), 1, "journal does not start with run_started")
    return path, records, Ledger.from_records(records, str(path)), Ledger.from_records(records[:1])


def _pick_memory(ws: Workspace, config: AgentConfig, goal: str) -> tuple[str, list[str], str | None]:
    """The SmartMemory experiences most relevant to the goal: (prompt text, their ids, a problem)."""
    from llmos_tui.core.errors import LlmosError
    from llmos_tui.core.memory import memory_prompt, read_memory, relevant

    if config.memory_top_k <= 0:
        return "", [], None
    try:
        entries = read_memory(ws.system / "memory_log.md")
    except LlmosError as exc:
        return "", [], str(exc)
    chosen = relevant(entries, goal, config.memory_top_k)
    return memory_prompt(chosen), [str(e.get("experience_id", "")) for e in chosen], None


@dataclass(frozen=True)
class RunOptions:
    no_wait: bool = False            # stop (instead of waiting) when a person must decide
    poll_interval: float = 0.05      # how often control.jsonl is checked while waiting
    flush_interval: float = 0.02     # the state file is rewritten at most this often while busy
    trace_interval: float = 1.0      # trace.json is rewritten at most this often while busy


class Runner:
    def __init__(self, ws: Workspace, config: AgentConfig, registry: ToolRegistry, runtime: Runtime,
                 journal: Journal, ledger: Ledger, lock: WorkspaceLock, options: RunOptions,
                 run_id: str, initial_state: dict[str, Any] | None = None,
                 parent: "Runner | None" = None) -> None:
        self.ws = ws
        self.parent = parent          # a Task sub-agent's parent runner (it holds the lock)
        self.child: Runner | None = None   # the sub-agent running now, if any
        self.config = config
        self.registry = registry
        self.runtime = runtime
        self.journal = journal
        self.ledger = ledger
        self.lock = lock
        self.options = options
        self.listeners: list[Listener] = []
        self.run_dir = ws.run_dir(run_id)
        # A sub-agent shares its parent's approval gate: people's commands go to the top run's
        # control.jsonl (what `llmos-tui approve` and the TUI append to), and it reads them from
        # there; its own state file stays in its run folder (the workspace's shows the top run).
        self.control = parent.control if parent is not None else ControlChannel(self.run_dir / "control.jsonl")
        self.state_file = StateFile(self.run_dir / "execution_state.md" if parent is not None else ws.state_path)
        self.initial_state = initial_state
        self.sandbox = Sandbox(ws.root, read_roots=[ws.root / p for p in config.allow_read],
                               write_roots=[ws.root / p for p in config.allow_write])
        self.ctx = ToolContext(sandbox=self.sandbox)
        self.ctx.extra["run_task"] = self._run_task   # Task: a sub-agent (core/subagents.py)
        self._executing: StepRecord | None = None
        self._child_stop: str | None = None
        self.stopped_in: Runner | None = None
        answer = getattr(runtime, "webfetch_answer", None)
        if answer is not None:
            self.ctx.extra["webfetch_answer"] = answer  # WebFetch answers its prompt with a small model
        self._wake = asyncio.Event()
        self._last_flush = 0.0
        self._dirty = False
        self._state_blocked: str | None = None   # a person's broken edit of the state file
        self._closed = False
        self._trace_seq = -1
        self._last_trace = 0.0
        self._trace_cost = 0.0   # seconds the last trace.json write took
        self._ended = False   # _on_ended has run (tool figures, SmartMemory)
        from llmos_tui.core.training import redactor_for

        self.redact = redactor_for(ws.system)   # secrets never reach trace.json
        self.exit_when_paused = False  # set by a face that wants drive() back once paused (Ctrl-C)

    # ------------------------------------------------------------------ opening

    @classmethod
    def start(cls, ws: Workspace, goal: str, *, config: AgentConfig, registry: ToolRegistry,
              runtime: Runtime, runtime_name: str, mode: str = "execute",
              variables: dict[str, Any] | None = None, options: RunOptions = RunOptions(),
              run_id: str | None = None, run_files: dict[str, bytes] | None = None) -> "Runner":
        """Open a new run. `run_files` (e.g. the script a scripted run replays) are written into
        the run folder before its first journal record, so a run that exists can always resume."""
        if not goal.strip():
            raise BadInput("the goal is empty; say what the agent should do")
        run_id = run_id or ws.new_run_id()
        if ws.state_path.exists():
            StateFile(ws.state_path).load()  # a broken state file is reported, never overwritten
        lock = WorkspaceLock(ws.root)
        lock.acquire(run_id)
        return cls._open(ws, goal, config=config, registry=registry, runtime=runtime,
                         runtime_name=runtime_name, mode=mode, variables=variables, options=options,
                         run_id=run_id, run_files=run_files, lock=lock)

    @classmethod
    def _open(cls, ws: Workspace, goal: str, *, config: AgentConfig, registry: ToolRegistry,
              runtime: Runtime, runtime_name: str, mode: str, variables: dict[str, Any] | None,
              options: RunOptions, run_id: str, run_files: dict[str, bytes] | None, lock: Any,
              parent: "Runner | None" = None, prompt: str | None = None,
              link: dict[str, Any] | None = None) -> "Runner":
        try:
            _sweep(ws, run_id)
            run_dir = ws.run_dir(run_id)
            run_dir.mkdir(parents=True, exist_ok=False)
            for name, data in (run_files or {}).items():
                atomic_write(run_dir / name, data)
            journal = Journal(run_dir / "journal.jsonl")
            runner = cls(ws, config, registry, runtime, journal, Ledger(), lock, options, run_id, parent=parent)
            memory_text, memory_used, memory_problem = _pick_memory(ws, config, goal)
            extra: dict[str, Any] = {}
            if parent is not None:
                extra = {"prompt": prompt, "parent": link, "control_offset": parent.ledger.control_offset}
            runner._record("run_started", data={**extra,
                "run_id": run_id, "goal": goal.strip(), "mode": mode, "runtime": runtime_name,
                "model": config.model if runtime_name != "scripted" else "scripted",
                "variables": variables or {}, "approval": config.approval, "pid": os.getpid(),
                "config": {"max_turns": config.max_turns, "max_cost_usd": config.max_cost_usd,
                           "max_tokens": config.max_tokens, "system_agent": config.path,
                           "memory_used": memory_used},
                # recorded, so that a resumed run sends the very same system prompt (and its
                # cached prefix still matches) whatever the memory log says by then
                "memory": memory_text,
            })
            if memory_problem:
                runner._record("note", data={"message": f"SmartMemory not used: {memory_problem}"})
            runner.initial_state = to_front_matter(runner.snapshot())
            runner._flush(force=True)
            return runner
        except BaseException:
            lock.release()
            raise

    @classmethod
    def resume(cls, ws: Workspace, run_id: str, *, config: AgentConfig, registry: ToolRegistry,
               runtime: Runtime, options: RunOptions = RunOptions(),
               approval: str | None = None, unpause: bool = True) -> "Runner":
        """Reopen a run from its journal. A paused run goes on (`unpause`): resuming is the ask."""
        lock = WorkspaceLock(ws.root)
        lock.acquire(run_id)
        try:
            path, _, ledger, first = reopen(ws, run_id)
            if ledger.status in RUN_TERMINAL:
                raise BadInput(f"run {run_id} is {ledger.status}; there is nothing to resume")
            journal = Journal(path)
            runner = cls(ws, config, registry, runtime, journal, ledger, lock, options, run_id,
                         initial_state=to_front_matter(first.snapshot(config.recent_steps)))
            runner._take_up_state_file(on_resume=True)
            runner._record("resumed", data={"pid": os.getpid()})
            if approval and approval != ledger.approval:
                runner._record("policy_changed", data={"approval": approval})
            runner._recover_interrupted_step()
            if unpause and ledger.status == "paused":
                runner._set_status(runner._active_status(), error=None, reason="resumed")
            runner._flush(force=True)
            return runner
        except BaseException:
            lock.release()
            raise

    @property
    def active(self) -> "Runner":
        """The runner whose steps people decide now: the deepest sub-agent running, or this one."""
        r = self
        while r.child is not None:
            r = r.child
        return r

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._flush(force=True)
            self._write_trace()
            if self.ledger.status in RUN_TERMINAL and self._ended:
                # records after the end (memory, usage of its summary): the final copy follows
                atomic_write(self.run_dir / "execution_state.md", self.state_file.read_text())
            self.journal.close()
        finally:
            self.lock.release()

    # ------------------------------------------------------------------ faces

    def snapshot(self) -> RunState:
        return self.ledger.snapshot(self.config.recent_steps)

    @property
    def run_id(self) -> str:
        return self.ledger.run_id

    def add_listener(self, listener: Listener, *, first: bool = False) -> None:
        """Call `listener(record, ledger)` after each journal record of this run (and of the
        sub-agents it starts from now on)."""
        if first:
            self.listeners.insert(0, listener)
        else:
            self.listeners.append(listener)

    def add_text_listener(self, listener: Callable[[str], None]) -> bool:
        """Call `listener(text)` with the model's words as they stream in; False when this
        runtime does not stream them."""
        listeners = getattr(self.runtime, "text_listeners", None)
        if listeners is None:
            return False
        listeners.append(listener)
        return True

    def validate(self, tool: str, inputs: Any) -> str | None:
        """Why `inputs` do not fit `tool` (a person's edit is checked with this), or None."""
        return self.registry.validate(tool, inputs)

    def submit(self, cmd: Command) -> Command:
        """A face in this process sends a command: the same path as control.jsonl."""
        self.control.append(cmd)
        r: Runner | None = self
        while r is not None:
            r._wake.set()
            r = r.child
        return cmd

    # ------------------------------------------------------------------ the loop

    async def drive(self) -> str:
        """Run until the run ends, or (with no_wait) until it needs a person. Returns the status."""
        try:
            while True:
                # Give the event loop a turn every step: with fast in-process tools and a scripted
                # model nothing else awaits, and a UI sharing this loop would freeze for the run.
                await asyncio.sleep(0)
                self._poll_control()
                self._take_up_state_file()
                status = self.ledger.status
                if status in RUN_TERMINAL:
                    await self._on_ended()
                    return status
                if status == "paused":
                    if self.options.no_wait or self._exit_when_paused():
                        return "paused"
                    await self._wait()
                    continue
                if self.ledger.pending_tool_uses():
                    needs_person = await self._advance_steps()
                    if self._child_stop is not None:   # a sub-agent stopped for a person (--no-wait)
                        stop, self._child_stop = self._child_stop, None
                        return stop
                    if needs_person:
                        if self.options.no_wait:
                            return WAITING
                        await self._wait()
                    continue
                await self._next_turn()
        finally:
            self.close()
            aclose = getattr(self.runtime, "aclose", None) if self.parent is None else None
            if aclose is not None:  # the runner is done with it (a closed runner is not driven again)
                await aclose()

    async def _next_turn(self) -> None:
        led = self.ledger
        if led.messages[-1]["role"] == "assistant":
            reason = led.last_stop_reason
            if reason == "refusal":
                self._set_status("failed", error={"type": "refusal", "message": "the model declined to continue"})
                return
            if reason == "max_tokens":
                self._record("user_message", data={"content": MAX_TOKENS_NUDGE})
            elif reason != "pause_turn":
                self._set_status("completed", error=None)
                return
        if self._stopped_by_limits():
            return
        request = TurnRequest(system=self.system_prompt(), tools=self.registry.api_definitions(),
                              messages=led.messages, model=self.config.model,
                              max_tokens=self.config.max_tokens, turn_index=led.turns)
        if self.runtime.name != "scripted":
            self._flush(force=True)
        try:
            turn: ModelTurn = await self.runtime.next_turn(request)
        except ScriptExhausted as exc:
            self._set_status("failed", error={"type": "script_exhausted", "message": str(exc)})
            return
        except RuntimeUnavailable as exc:
            self._set_status("paused", error={"type": "runtime", "message": str(exc)})
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a runtime bug must not lose the run: pause it, resumable
            self._set_status("paused", error={"type": "runtime", "message": f"{type(exc).__name__}: {exc}"})
            return
        self._record("model_turn", data={"content": turn.content, "stop_reason": turn.stop_reason,
                                         "usage": turn.usage.__dict__, "model": turn.model})
        if self.ledger.status == "planning":
            self._set_status("running")

    def _stopped_by_limits(self) -> bool:
        """Before a model turn: max_turns fails the run, max_cost_usd pauses it (True if so)."""
        led = self.ledger
        if led.turns >= self.config.max_turns:
            self._set_status("failed", error={"type": "max_turns", "message":
                                              f"stopped after {led.turns} model turns (max_turns)"})
            return True
        budget = self.config.max_cost_usd
        if budget is not None and led.usage.cost_usd >= budget:
            self._set_status("paused", error={"type": "budget", "message":
                                              f"cost ${led.usage.cost_usd:.4f} reached max_cost_usd ${budget:.2f}"})
            return True
        return False

    async def _on_ended(self) -> None:
        """Once a run has ended: its steps go into the observed tool figures, and (a top run) its
        experience into SmartMemory."""
        if self._ended:
            return
        self._ended = True
        from llmos_tui.core.errors import LlmosError
        from llmos_tui.core.toolstats import record_run

        try:
            record_run(self.ws.system / "tool_stats.json", self.ledger)
        except (LlmosError, OSError) as exc:
            self._record("note", data={"message": f"tool_stats.json not updated: {exc}"})
        # a Claude Code session's reply that called no tool (hook runs: one per reply) teaches
        # nothing worth a memory entry
        trivial = self.ledger.runtime == "external" and not self.ledger.steps
        if self.parent is None and not trivial:
            try:
                await self._remember()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # memory is a by-product: never fail a finished run over it
                self._record("note", data={"message": f"SmartMemory not updated: {type(exc).__name__}: {exc}"})

    async def _remember(self) -> None:
        import datetime as dt

        from llmos_tui.core.memory import append_experience, derived_learnings, new_experience

        led = self.ledger
        now = dt.datetime.now(dt.timezone.utc)
        try:
            started = dt.datetime.fromisoformat(led.started_at.replace("Z", "+00:00"))
            duration = (now - started).total_seconds()
        except ValueError:
            duration = None
        learnings = derived_learnings(led)
        summarize = getattr(self.runtime, "learnings", None)
        source = "derived"
        if summarize is not None:
            try:
                text = await summarize(led.goal, learnings)
                if text and text.strip():
                    learnings, source = text.strip(), "model"
            except Exception as exc:  # noqa: BLE001 - no model: the derived text stands
                self._record("note", data={"message": f"learnings derived from the run (the model could "
                                                      f"not summarise: {type(exc).__name__})"})
            take = getattr(self.runtime, "take_side_usage", None)
            side = take() if take is not None else None
            if side is not None and (side.input_tokens or side.output_tokens):
                self._record("usage", data={"usage": side.__dict__, "for": "memory summary"})
        entry = self.redact(new_experience(led, now, duration))
        append_experience(self.ws.system / "memory_log.md", entry, self.redact.text(learnings))
        self._record("memory_saved", data={"experience_id": entry["experience_id"], "learnings": source})

    def system_prompt(self) -> str:
        """SystemAgent.md's body, the ToolMap, the run's SmartMemory and where it runs. Stable
        for the whole run: it is the start of the prompt-cache prefix."""
        parts = [self.config.system_prompt.rstrip(), "", self.registry.toolmap_summary()]
        if self.ledger.memory:
            parts += ["", self.ledger.memory]
        if self.ledger.parent:
            parts += ["", f"You are a sub-agent started by the Task tool (depth {self.ledger.parent.get('depth', 1)}) "
                          f"for: {self.ledger.goal}. Do the task, then end with a final message that "
                          f"reports the result: the parent agent receives only that message."]
        parts += ["", f"Workspace: {self.ws.root}", f"Mode: {self.ledger.mode}"]
        if self.ledger.mode == "simulate":
            parts.append("Tool results in this run are simulated: nothing is really read, written, run or fetched.")
        if self.registry.unavailable:
            parts.append(f"Declared but not available in this runtime: {', '.join(self.registry.unavailable)}.")
        return "\n".join(parts) + "\n"

    # ------------------------------------------------------------------ steps

    async def _advance_steps(self) -> bool:
        """Take the current turn's tool calls forward in order; True when one needs a person."""
        uses = self.ledger.pending_tool_uses()
        for position, use in enumerate(uses):
            step = self.ledger.by_tool_use.get(use.get("id", ""))
            if step is None:
                step = self._propose(use)
            if step.settled:
                continue
            if step.status == "proposed":
                self._gate(step)
            if step.status in ("awaiting_approval", "uncertain"):
                if self.ledger.status == "running":
                    self._set_status("awaiting_approval")
                return True
            if step.status == "running":
                if self.ledger.status != "running":
                    if self.ledger.status == "paused":
                        return False
                    self._set_status("running")
                await self._execute(step, position)
                if self._child_stop is not None:
                    return True
                self._poll_control()
                if self.ledger.status != "running":
                    return False
        if all(self.ledger.by_tool_use[u["id"]].settled for u in uses):
            self._record("tool_results", data={"tool_use_ids": [u["id"] for u in uses]})
        return False

    def _propose(self, use: dict[str, Any]) -> StepRecord:
        n = len(self.ledger.steps) + 1
        name = str(use.get("name"))
        self._record("step_status", step=n, frm=None, to="proposed", data={
            "tool": name, "inputs": use.get("input") or {}, "tool_use_id": use["id"],
            "side_effects": self.registry.side_effects(name), "turn": self.ledger.turns - 1})
        return self.ledger.steps[n - 1]

    def _gate(self, step: StepRecord) -> None:
        problem = self.registry.validate(step.tool, step.inputs)
        if problem:
            self._step(step, "failed", content=f"Invalid {step.tool} call: {problem}", is_error=True)
            return
        self._settle_gate(step, gate(self.ledger.approval, self.registry.specs.get(step.tool)))

    def _settle_gate(self, step: StepRecord, decision: str) -> None:
        """The gate's answer as the step's next status: refused, waiting for a person, or running."""
        if decision == "deny":
            self._step(step, "denied", is_error=True, human={"decision": "denied", "by": "toolmap"},
                       content=f"{step.tool} is refused here: the ToolMap sets `approval: deny` for it. "
                               f"Use another tool or ask the person.")
        elif decision == "ask":
            self._step(step, "awaiting_approval")
        else:
            self._step(step, "running", human={"decision": "auto"})

    async def _execute(self, step: StepRecord, position: int) -> None:
        reg = self.registry.get(step.tool)
        assert reg is not None  # validated at the gate
        simulated = self.ledger.mode == "simulate" and step.tool not in ("UpdatePlan", "Task")
        self._executing = step
        if step.side_effects != "none":
            # Marks the moment the effect may begin: a step approved but never started is not
            # uncertain after a crash, it simply runs.
            self._record("step_exec", step=step.n)
        if reg.spec.latency not in FAST_LATENCIES:
            self._flush(force=True)  # a slow call: `running` is durable and on screen before it starts
        elif step.side_effects != "none":
            self.journal.sync()  # write-ahead: `running` is durable before the effect can happen
        started = timer()
        try:
            if simulated:
                out = await self.runtime.simulate(step.tool, step.inputs, reg.spec.metadata_line(),
                                                  step.turn, position)
            else:
                out = await reg.tool.run(step.inputs, self.ctx)
        except ToolError as exc:
            out = ToolOutput(str(exc), is_error=True)
        except asyncio.CancelledError:
            raise
        except SubAgentStopped as stop:
            # the sub-agent stopped for a person (--no-wait) or was paused to exit: this step
            # stays running, and on resume its sub-agent carries on from its own journal
            if stop.status == "paused" and self.ledger.status not in ("paused", *RUN_TERMINAL):
                self._set_status("paused", reason="paused while a sub-agent ran")
            elif stop.status == WAITING and self.ledger.status == "running":
                self._set_status("awaiting_approval", reason=f"its sub-agent waits for a decision "
                                                             f"(runs/{self.run_id}/task-{step.n})")
            self._child_stop = stop.status
            return
        except SubAgentCancelled as exc:
            self._step(step, "failed", content=str(exc), is_error=True, duration_s=round(timer() - started, 4))
            self._set_status("cancelled", reason="cancelled while a sub-agent ran")
            return
        except RuntimeUnavailable as exc:
            # a simulation call that could not reach the model: pause; the step stays running and
            # runs again on resume (nothing was touched)
            self._set_status("paused", error={"type": "runtime", "message": str(exc)})
            return
        except Exception as exc:  # a tool bug is the model's error result, never a crash of the run
            out = ToolOutput(f"{step.tool} failed unexpectedly: {type(exc).__name__}: {exc}", is_error=True)
        duration = round(timer() - started, 4)
        take = getattr(self.runtime, "take_side_usage", None)
        side = take() if take is not None else None
        if side is not None and (side.input_tokens or side.output_tokens):
            self._record("usage", step=step.n, data={"usage": side.__dict__,
                                                     "for": "simulation" if simulated else step.tool})
        self._step(step, "failed" if out.is_error else "done", content=out.to_content(),
                   is_error=out.is_error, duration_s=duration, simulated=simulated)
        if step.tool == "UpdatePlan" and not out.is_error:
            self._record("plan_updated", data={"plan": step.inputs["steps"]})

    async def _run_task(self, inputs: dict[str, Any]) -> ToolOutput:
        from llmos_tui.core.subagents import run_task

        return await run_task(self, inputs)

    def _recover_interrupted_step(self) -> None:
        """A step left `running` by a dead driver: re-run if read-only, else ask a person."""
        step = self.ledger.current_step
        if step is None or step.status != "running":
            return
        if not step.executing:
            return  # approved, but its tool never started: it runs now, once
        if step.tool == "Task":
            self._record("note", step=step.n, data={"message": "the sub-agent was interrupted; it carries on "
                                                              "from its own journal"})
        elif step.side_effects == "none" or self.ledger.mode == "simulate":
            what = "read-only" if step.side_effects == "none" else "simulated (nothing was touched)"
            self._record("note", step=step.n, data={"message": f"{what} step interrupted; running it again"})
        else:
            self._step(step, "uncertain", data_extra={"reason": "the driver stopped while this step ran; "
                                                      "its effect may or may not have happened"})

    # ------------------------------------------------------------------ commands

    def _exit_when_paused(self) -> bool:
        return self.exit_when_paused or (self.parent is not None and self.parent._exit_when_paused())

    def _poll_control(self) -> None:
        if self.child is not None:
            return  # the sub-agent running now reads people's commands
        if self.control.size() <= self.ledger.control_offset:
            return
        # A state-file edit made before these commands is taken up first: once a command is
        # applied the journal moves on, and the edit could no longer be told from lag.
        self._take_up_state_file()
        for item, end in self.control.read_from(self.ledger.control_offset):
            if isinstance(item, BadCommand):
                self._record("command", data={"applied": False, "offset": end, "line": item.line,
                                              "reason": f"control.jsonl line {item.line}: {item.reason}"})
                continue
            if item.id in self.ledger.commands_seen:
                self._record("command", data={"offset": end, "applied": False, "duplicate_of": item.id})
                continue
            reason = self._apply(item)
            self._record("command", data={**item.to_json(), "applied": reason is None,
                                          "reason": reason, "offset": end})

    def _apply(self, cmd: Command) -> str | None:
        """Carry out one command; returns why it was rejected, or None when applied."""
        led = self.ledger
        status = led.status
        if status in RUN_TERMINAL:
            return f"the run is {status}"
        if cmd.action == "pause":
            if status == "paused":
                return "the run is already paused"
            self._set_status("paused", reason=cmd.feedback or "paused by a person", command=cmd.id)
            return None
        if cmd.action == "cancel":
            self._set_status("cancelled", reason=cmd.feedback or "cancelled by a person", command=cmd.id)
            return None
        if cmd.action == "resume" or (cmd.action == "retry" and status == "paused" and cmd.step is None):
            if status != "paused":
                return "the run is not paused"
            if self._state_blocked:
                return self._state_blocked
            self._set_status(self._active_status(), error=None, command=cmd.id)
            return None
        if cmd.step is not None and not 1 <= cmd.step <= len(led.steps):
            return f"there is no step {cmd.step}"
        step = led.steps[cmd.step - 1] if cmd.step is not None else (led.decision_step or led.current_step)
        if step is None:
            return "no step is waiting for a decision"
        allowed = {"approve": ("awaiting_approval",), "deny": ("awaiting_approval",),
                   "edit": ("awaiting_approval", "uncertain"), "skip": ("awaiting_approval", "uncertain"),
                   "retry": ("uncertain",)}[cmd.action]
        if step.status not in allowed:
            hint = " (the agent already has its result)" if step.settled else ""
            return f"step {step.n} is {step.status}{hint}; {cmd.action} needs it {' or '.join(allowed)}"
        if cmd.inputs is not None and cmd.action in ("edit", "approve", "retry"):
            problem = self.registry.validate(step.tool, cmd.inputs)
            if problem:
                return f"edited inputs do not fit {step.tool}: {problem}"
            if cmd.inputs != step.inputs:
                self._record("step_edited", step=step.n, data={"before": step.inputs, "after": cmd.inputs,
                                                                "command": cmd.id})
        if cmd.action == "approve":
            self._step(step, "running", human={"decision": "edited" if step.human.get("edited") else "approved",
                                               "by": cmd.id})
            if cmd.scope == "rest":
                self._record("policy_changed", data={"approval": "never", "command": cmd.id})
        elif cmd.action == "deny":
            why = (cmd.feedback or "").strip() or "no reason given"
            self._step(step, "denied", is_error=True, human={"decision": "denied", "feedback": why, "by": cmd.id},
                       content=f"A person denied this {step.tool} call. Their reason: {why}")
        elif cmd.action == "skip":
            text = ("A person skipped this call; it was not run." if step.status == "awaiting_approval" else
                    "This call was interrupted and its outcome is unknown; a person chose not to run it "
                    "again. Check its effect before relying on it.")
            self._step(step, "skipped", is_error=True, content=text,
                       human={"decision": "skipped", "feedback": cmd.feedback, "by": cmd.id})
        elif cmd.action == "retry":
            self._step(step, "running", human={"decision": "retried", "by": cmd.id})
        if status == "awaiting_approval" and step.status != "awaiting_approval":
            self._set_status("running")
        return None

    def _active_status(self) -> str:
        cur = self.ledger.current_step
        return "awaiting_approval" if cur and cur.status in ("awaiting_approval", "uncertain") else "running"

    async def _wait(self) -> None:
        """Block until a command or a state-file edit arrives (polling: works across processes)."""
        self._flush(force=True)
        start_offset, start_seq = self.ledger.control_offset, self.ledger.seq
        while self.ledger.control_offset == start_offset and self.ledger.seq == start_seq:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._poll_control()
            self._take_up_state_file()

    # ------------------------------------------------------------------ the state file as an input

    def _take_up_state_file(self, *, on_resume: bool = False) -> None:
        """Take up a person's edit of execution_state.md; a broken edit pauses the run, untouched."""
        sf = self.state_file
        if not on_resume and not sf.changed_by_others():
            return
        if not sf.exists():
            self._state_blocked = None
            return
        try:
            edited = sf.load()
        except FileFormatError as exc:
            if on_resume:
                raise
            msg = f"execution_state.md was edited and does not parse ({exc}); fix it, then resume"
            if self._state_blocked is None and self.ledger.status not in RUN_TERMINAL:
                self._state_blocked = msg
                if self.ledger.status != "paused":
                    self._set_status("paused", error={"type": "state_file", "message": msg})
            return
        self._state_blocked = None
        led = self.ledger
        if edited.run_id != led.run_id:
            if on_resume:
                return  # the file shows another run; ours is rebuilt from its journal
            self._record("note", data={"message": f"execution_state.md now shows run {edited.run_id}; "
                                                  "rewriting it with this run"})
            return
        if edited.journal_seq != led.seq:
            # The file lags the journal (a crash, or a busy run): its differences are not edits.
            if not on_resume and edited.status == "paused" and led.status not in ("paused", *RUN_TERMINAL):
                self._set_status("paused", reason="paused through execution_state.md")
            return
        if edited.variables != led.variables:
            self._record("variables_updated", data={"variables": edited.variables, "by": "state_file"})
        plan = [{"title": p.title, "status": p.status} for p in edited.plan]
        if plan != [{"title": p.title, "status": p.status} for p in led.plan]:
            self._record("plan_updated", data={"plan": plan, "by": "state_file"})
        cur = led.current_step
        pending = edited.pending_step
        if cur is not None and pending is not None and pending.n == cur.n and pending.inputs != cur.inputs \
                and cur.status in ("awaiting_approval", "uncertain"):
            problem = self.registry.validate(cur.tool, pending.inputs)
            if problem:
                self._record("note", step=cur.n, data={"message": f"edit of step {cur.n} in execution_state.md "
                                                                  f"ignored: {problem}"})
            else:
                self._record("step_edited", step=cur.n, data={"before": cur.inputs, "after": pending.inputs,
                                                               "by": "state_file"})
        if not on_resume and edited.status != led.status:
            if edited.status == "paused" and led.status not in ("paused",):
                self._set_status("paused", reason="paused through execution_state.md")
            elif edited.status == "cancelled":
                self._set_status("cancelled", reason="cancelled through execution_state.md")
            elif led.status == "paused" and edited.status in ("running", "awaiting_approval"):
                self._set_status(self._active_status(), error=None, reason="resumed through execution_state.md")

    # ------------------------------------------------------------------ recording

    def _record(self, kind: str, *, step: int | None = None, frm: str | None = None,
                to: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
        rec = self.journal.append(kind, step=step, frm=frm, to=to, data=data)
        self.ledger.apply(rec)
        for listener in self.listeners:
            listener(rec, self.ledger)
        self._dirty = True
        self._flush()
        return rec

    def _step(self, step: StepRecord, to: str, *, content: Any = None, is_error: bool = False,
              duration_s: float | None = None, simulated: bool = False,
              human: dict[str, Any] | None = None, data_extra: dict[str, Any] | None = None) -> None:
        data: dict[str, Any] = dict(data_extra or {})
        if content is not None:
            data["content"] = content
            data["is_error"] = is_error
        if duration_s is not None:
            data["duration_s"] = duration_s
        if simulated:
            data["simulated"] = True
        if human:
            data["human"] = human
        self._record("step_status", step=step.n, frm=step.status, to=to, data=data)

    def _set_status(self, to: str, *, error: Any = ..., reason: str | None = None,
                    command: str | None = None) -> None:
        data: dict[str, Any] = {}
        if error is not ...:
            data["error"] = error
        if reason:
            data["reason"] = reason
        if command:
            data["command"] = command
        self._record("run_status", frm=self.ledger.status, to=to, data=data)
        if to in RUN_TERMINAL:
            self._flush(force=True, trace=False)   # the final trace is written once, by close()
            self._finish()

    def _flush(self, *, force: bool = False, trace: bool = True) -> None:
        """Rewrite execution_state.md — at most every flush_interval while busy, always when forced."""
        if not self._dirty and not force:
            return
        now = time.monotonic()
        if not force and now - self._last_flush < self.options.flush_interval:
            return
        self.journal.sync()  # the state file never shows what the journal does not hold
        if self.state_file.changed_by_others():
            self._take_up_state_file()  # a person's edit is taken up before it could be overwritten
        if self._state_blocked:
            return
        self.state_file.save(self.snapshot())
        self._last_flush = now
        self._dirty = False
        # the trace is written as the run goes (a killed run keeps it up to about here): at each
        # forced flush (a wait, a slow call, a model turn) and at most every trace_interval else
        if trace and (force or now - self._last_trace >= max(self.options.trace_interval, 10 * self._trace_cost)):
            # (a long run's trace is big: it is rewritten at most ~10 % of the time)
            self._last_trace = now
            t0 = time.monotonic()
            self._write_trace()
            self._trace_cost = time.monotonic() - t0

    def _finish(self) -> None:
        atomic_write(self.run_dir / "execution_state.md", self.state_file.read_text())

    def _write_trace(self) -> None:
        if self._trace_seq == self.ledger.seq:
            return  # nothing new since the last write
        self._trace_seq = self.ledger.seq
        write_json_atomic(self.run_dir / "trace.json",
                          self.redact(build_trace(self.ledger, self.initial_state or {}, self.system_prompt(),
                                                  self.registry.api_definitions())))
