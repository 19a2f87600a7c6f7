"""The runner: drives one run's state machine, from the model's turns through the gate to the tools.

It writes through its `RunRecorder`, takes people's commands and state-file edits through its
`Commands`, decides each call through the one gate (core/engine/); faces in this process send
commands the control.jsonl way (`submit`). The Claude Code SDK driver (core/claude/driver.py) is a
Runner whose turn is "let Claude Code work"; it overrides the driver hooks marked below only.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos_tui.core.config import AgentConfig
from llmos_tui.core.control import Command, ControlChannel
from llmos_tui.core.editnote import with_edit_note
from llmos_tui.core.engine import gate, lifecycle, turns
from llmos_tui.core.engine.commands import Commands
from llmos_tui.core.engine.lifecycle import ChildLink
from llmos_tui.core.engine.processes import BashProcesses
from llmos_tui.core.engine.recorder import Listener, RunOptions, RunRecorder
from llmos_tui.core.engine.subagents import SubAgentCancelled, SubAgentStopped, run_task
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runtime.base import (
    MODEL_REFUSED,
    AnswersWebFetch,
    Closable,
    ModelRefused,
    ModelTurn,
    ReportsSideUsage,
    Runtime,
    RuntimeUnavailable,
    ScriptExhausted,
    StreamsText,
    TurnRequest,
)
from llmos_tui.core.statuses import RUN_TERMINAL, WAITING
from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.workspace import CONTROL_NAME, Workspace

__all__ = ["WAITING", "Listener", "RunOptions", "Runner", "MAX_TOKENS_NUDGE"]

timer = time.perf_counter  # measures step durations; tests pin it for reproducible screens
FAST_LATENCIES = frozenset({"instant", "fast"})
REDACTED_INPUTS = (
    "Not run: this call's inputs held a secret, which was redacted when the call was recorded, and "
    "the run has been resumed since, so the original text is gone. Make the call again if it is needed."
)
MAX_TOKENS_NUDGE = "(Your last reply was cut off at the max_tokens limit. Continue from where it stopped.)"


class Runner:
    gate_driver: gate.Driver = "engine"

    def __init__(
        self, rec: RunRecorder, runtime: Runtime, control: ControlChannel, parent: Runner | None = None
    ) -> None:
        self.rec = rec
        # the recorder's, never replaced: plain attributes (read on every step of the loop)
        self.ledger: Ledger = rec.ledger
        self.config: AgentConfig = rec.config
        self.registry: ToolRegistry = rec.registry
        self.options: RunOptions = rec.options
        self.runtime = runtime
        self.parent = parent  # a Task sub-agent's parent runner (it holds the lock)
        self.child: Runner | None = None  # the sub-agent running now, if any
        self.stopped_in: Runner | None = None  # the sub-agent a --no-wait or pause stop happened in
        self.exit_when_paused = False  # set by a face that wants drive() back once paused (Ctrl-C)
        self.on_wait: Callable[[str], None] | None = None  # a face told "paused" / "decision" when the run waits
        self._said_wait: tuple[str, int] | None = None
        self.commands = Commands(rec, control)
        self.executing: StepRecord | None = None
        self._child_stop: str | None = None
        self._wake = asyncio.Event()
        root = rec.ws.root
        allow_read, allow_write = self.config.allow_read, self.config.allow_write
        self.sandbox = Sandbox(
            root, read_roots=[root / p for p in allow_read], write_roots=[root / p for p in allow_write]
        )
        self.ctx = ToolContext(sandbox=self.sandbox)
        self.ctx.extra["run_task"] = self._run_task  # Task: a sub-agent (core/engine/subagents.py)
        self.notices: list[str] = []  # for a face to show once at start: Bash unconfined, a command stopped
        self.processes = BashProcesses(rec, self.sandbox, self.notices)  # core/engine/processes.py
        self.ctx.extra["bash"] = self.processes.policy()  # Bash's sandbox (core/tools/bwrap.py)
        self.ctx.extra["on_process"] = self.processes.started  # journaled for resume
        self._side_usage = runtime if isinstance(runtime, ReportsSideUsage) else None
        if isinstance(runtime, AnswersWebFetch):
            self.ctx.extra["webfetch_answer"] = runtime.webfetch_answer  # WebFetch's prompt, by a small model
        rec.system_prompt = self.system_prompt

    # ------------------------------------------------------------------ opening

    @classmethod
    def start(
        cls,
        ws: Workspace,
        goal: str,
        *,
        config: AgentConfig,
        registry: ToolRegistry,
        runtime: Runtime,
        runtime_name: str,
        mode: str = "execute",
        variables: dict[str, Any] | None = None,
        options: RunOptions = RunOptions(),
        run_id: str | None = None,
        run_files: dict[str, bytes] | None = None,
    ) -> Runner:
        """Open a new run under the workspace's lock."""
        runner = lifecycle.open_new(
            ws,
            goal,
            config=config,
            registry=cls.registry_for(registry),
            options=options,
            run_id=run_id,
            runtime_name=runtime_name,
            mode=mode,
            variables=variables,
            run_files=run_files,
            make=lambda rec: cls(rec, runtime, ControlChannel(rec.run_dir / CONTROL_NAME)),
        )
        runner.announce_sandbox()
        return runner

    @classmethod
    def resume(
        cls,
        ws: Workspace,
        run_id: str,
        *,
        config: AgentConfig,
        registry: ToolRegistry,
        runtime: Runtime,
        options: RunOptions = RunOptions(),
        approval: str | None = None,
    ) -> Runner:
        """Reopen a run from its journal under the workspace's lock; a paused run goes on."""

        def reopened(runner: Runner) -> None:
            runner.commands.take_up_state_file(on_resume=True)
            runner.reopened(approval)

        return lifecycle.reopen_for_driving(
            ws,
            run_id,
            config=config,
            registry=cls.registry_for(registry),
            options=options,
            make=lambda rec: cls(rec, runtime, ControlChannel(rec.run_dir / CONTROL_NAME)),
            then=reopened,
        )

    def reopened(self, approval: str | None) -> None:
        """Recorded when a run with a journal goes on: who drives it now, under which policy, and
        where an interrupted step stands."""
        led = self.ledger
        self.rec.record("resumed", data={"pid": os.getpid()})
        if self.parent is None:
            self.announce_sandbox()
        if approval and approval != led.approval:
            self.rec.record("policy_changed", data={"approval": approval})
        self.recover_interrupted()
        if led.status == "paused":
            self.rec.set_status(self.commands.active_status(), error=None, reason="resumed")
        self.rec.flush(force=True)

    def open_child(self, run_id: str, runtime: Runtime, goal: str, config: AgentConfig, link: ChildLink) -> Runner:
        """A Task sub-agent's new run, driven by this runner's class, under this run's lock."""
        return lifecycle.open_child_run(self.rec, run_id, goal, config, link, make=self._child_driver(runtime))

    def reopen_child(self, run_id: str, runtime: Runtime) -> Runner:
        """A sub-agent that already has a journal (a resumed parent), ready to go on."""
        child = lifecycle.reopen_child_run(self.rec, run_id, make=self._child_driver(runtime))
        if child.ledger.status not in RUN_TERMINAL:
            child.reopened(self.ledger.approval)
        return child

    def _child_driver(self, runtime: Runtime) -> Callable[[RunRecorder], Runner]:
        return lambda rec: type(self)(rec, runtime, self.commands.control, parent=self)

    @classmethod
    def registry_for(cls, registry: ToolRegistry) -> ToolRegistry:
        """Driver hook: the tools as this driver offers them."""
        return registry

    # ------------------------------------------------------------------ for the faces

    @property
    def run_id(self) -> str:
        return self.rec.run_id

    @property
    def run_dir(self) -> Path:
        return self.rec.run_dir

    @property
    def active(self) -> Runner:
        """The runner whose steps people decide now: the deepest sub-agent running, or this one."""
        r = self
        while r.child is not None:
            r = r.child
        return r

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def add_listener(self, listener: Listener, *, first: bool = False) -> None:
        """Call `listener(record, ledger)` after each journal record of this run (and of the
        sub-agents it starts from now on)."""
        self.rec.listeners.insert(0 if first else len(self.rec.listeners), listener)

    def add_text_listener(self, listener: Callable[[str], None]) -> bool:
        """Call `listener(text)` with the model's words as they stream in; False when this
        runtime does not stream them."""
        if not isinstance(self.runtime, StreamsText):
            return False
        self.runtime.text_listeners.append(listener)
        return True

    def validate(self, tool: str, inputs: Any) -> str | None:
        """Why `inputs` do not fit `tool` (a person's edit is checked with this), or None."""
        return self.rec.registry.validate(tool, inputs)

    def submit(self, cmd: Command) -> Command:
        """A face in this process sends a command: the same path as control.jsonl."""
        self.commands.control.append(cmd)
        self.wake()
        return cmd

    def wake(self) -> None:
        """Cut short the current wait of this runner and its sub-agents (they look again)."""
        r: Runner | None = self
        while r is not None:
            r._wake.set()
            r = r.child

    def close(self) -> None:
        self.rec.close()

    # ------------------------------------------------------------------ the loop

    async def drive(self) -> str:
        """Run until the run ends, or (with no_wait) until it needs a person. Returns the status."""
        try:
            while True:
                # Give the event loop a turn every step: with fast in-process tools and a scripted
                # model nothing else awaits, and a UI sharing this loop would freeze for the run.
                await asyncio.sleep(0)
                self.poll_commands()
                status = self.ledger.status
                if status in RUN_TERMINAL:
                    trivial = self.ledger.runtime == "external" and not self.ledger.steps
                    await self.rec.end(self.runtime, remember=self.parent is None and not trivial)
                    return status
                if status == "paused":
                    if self.options.no_wait or self.wants_exit_when_paused():
                        return "paused"
                    self._say_waiting("paused")
                    await self.wait_for_news()
                    continue
                if self.ledger.pending_tool_uses():
                    needs_person = await self._advance_steps()
                    if self._child_stop is not None:  # a sub-agent stopped for a person (--no-wait)
                        stop, self._child_stop = self._child_stop, None
                        return stop
                    if needs_person:
                        if self.options.no_wait:
                            return WAITING
                        self._say_waiting("decision")
                        await self.wait_for_news()
                    continue
                if self.reply_outcome() != "ended" and not self.stop_at_limits():
                    await self.take_turn()
        finally:
            self.close()
            if self.parent is None and isinstance(self.runtime, Closable):
                await self.runtime.aclose()  # the runner is done with it (a closed runner is not driven again)

    def reply_outcome(self) -> str:
        """What the model's last reply asks for (core/engine/turns.py); may end the run."""
        return turns.reply_outcome(self.rec)

    def stop_at_limits(self) -> bool:
        """max_turns fails the run, max_cost_usd pauses it; True when one was reached."""
        return turns.stop_at_limits(self.rec)

    async def take_turn(self) -> None:
        """Driver hook: one model turn, recorded."""
        led = self.ledger
        if self.reply_outcome() == "nudge":
            self.rec.record("user_message", data={"content": MAX_TOKENS_NUDGE})
        request = TurnRequest(
            system=self.system_prompt(),
            tools=self.registry.api_definitions(),
            messages=self.rec.model_messages(),
            model=self.config.model,
            max_tokens=self.config.max_tokens,
            turn_index=led.turns,
        )
        try:
            turn: ModelTurn = await self._call_model(request)
        except ScriptExhausted as exc:
            self.rec.set_status("failed", error={"type": "script_exhausted", "message": str(exc)})
            return
        except ModelRefused as exc:
            self.refused(exc)
            return
        except RuntimeUnavailable as exc:
            self.rec.set_status("paused", error={"type": "runtime", "message": str(exc)})
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a runtime bug must not lose the run: pause it, resumable
            self.rec.set_status("paused", error={"type": "runtime", "message": f"{type(exc).__name__}: {exc}"})
            return
        self.rec.record(
            "model_turn",
            data={
                "content": turn.content,
                "stop_reason": turn.stop_reason,
                "usage": turn.usage.__dict__,
                "model": turn.model,
            },
        )
        if self.ledger.status == "planning":
            self.rec.set_status("running")

    async def _call_model(self, request: TurnRequest) -> ModelTurn:
        """The runtime's next turn. A call still going after flush_interval has the state file
        written first, so what the run did is on screen (and durable) while it waits; a quick one
        does not (the next records flush it, at most flush_interval later). trace.json keeps its
        own pace: a reader rebuilds a stale one from the journal."""
        if self.runtime.name == "scripted":
            return await self.runtime.next_turn(request)
        call = asyncio.ensure_future(self.runtime.next_turn(request))
        try:
            await asyncio.wait((call,), timeout=self.options.flush_interval)
        except BaseException:
            call.cancel()
            raise
        if not call.done():
            self.rec.flush(force=True, trace=False)
        return await call

    def refused(self, exc: ModelRefused) -> None:
        """The model server refused the request for good (a context overflow, an unknown model, the
        credentials): the run pauses with the line that says what to change, and drive() returns
        at once — waiting could never help. Once the change is made, resume goes on."""
        self.rec.set_status("paused", error={"type": MODEL_REFUSED, "message": str(exc)})
        self.exit_when_paused = True

    def system_prompt(self) -> str:
        """Driver hook: the run's system prompt (stable for the whole run: the start of the
        prompt-cache prefix)."""
        return turns.system_prompt(self.rec)

    # ------------------------------------------------------------------ steps

    async def _advance_steps(self) -> bool:
        """Take the current turn's tool calls forward in order; True when one needs a person."""
        uses = (self.rec.raw_ledger or self.ledger).pending_tool_uses()  # as the model wrote them
        for position, use in enumerate(uses):
            step = self.ledger.by_tool_use.get(use.get("id", ""))
            if step is None:
                step = self.propose(use)
            if step.settled:
                continue
            if step.status == "proposed":
                self.gate_step(step)
            if step.status in ("awaiting_approval", "uncertain"):
                if self.ledger.status == "running":
                    self.rec.set_status("awaiting_approval")
                return True
            if step.status == "running":
                if self.ledger.status != "running":
                    if self.ledger.status == "paused":
                        return False
                    self.rec.set_status("running")
                await self._execute(step, position)
                if self._child_stop is not None:
                    return True
                self.poll_commands(state_file=False)
                if self.ledger.status != "running":
                    return False
        if all(self.ledger.by_tool_use[u["id"]].settled for u in uses):
            self.rec.record("tool_results", data={"tool_use_ids": [u["id"] for u in uses]})
        return False

    def propose(self, use: dict[str, Any]) -> StepRecord:
        """Driver hook: a tool call of the model's reply becomes a step."""
        return self.rec.open_step(use)

    def gate_step(self, step: StepRecord, live_input: dict[str, Any] | None = None) -> None:
        """The one gate decides a proposed step (`live_input`: the call as another engine will run
        it, for the sandbox check of the claude-code driver)."""
        verdict = gate.decide(
            step.tool,
            live_input if live_input is not None else step.inputs,
            policy=self.ledger.approval,
            registry=self.registry,
            driver=self.gate_driver,
            sandbox=self.sandbox,
        )
        if verdict.action != "invalid" and live_input is not None and live_input is not step.inputs:
            problem = self.registry.validate(step.tool, step.inputs)
            if problem:
                verdict = gate.Verdict("invalid", f"Invalid {step.tool} call: {problem}", by="schema")
        gate.settle(self.rec, step, verdict)

    async def _execute(self, step: StepRecord, position: int) -> None:
        reg = self.registry.get(step.tool)
        assert reg is not None  # validated at the gate
        simulated = self.ledger.mode == "simulate" and step.tool not in ("UpdatePlan", "Task")
        self.executing = self.processes.executing = step
        slow = reg.spec.latency not in FAST_LATENCIES
        if step.side_effects != "none":
            self.rec.start_exec(step, durable=not slow)  # write-ahead: durable before the effect
        if slow:
            self.rec.flush(force=True)  # a slow call: `running` is durable and on screen before it starts
        started = timer()
        inputs = self.rec.raw_inputs(step)
        try:
            if inputs is None:
                raise ToolError(REDACTED_INPUTS)
            if simulated:
                out = await self.runtime.simulate(step.tool, inputs, reg.spec.metadata_line(), step.turn, position)
            else:
                out = await reg.tool.run(inputs, self.ctx)
        except ToolError as exc:
            out = ToolOutput(str(exc), is_error=True)
        except asyncio.CancelledError:
            raise
        except SubAgentStopped as stop:
            # the sub-agent stopped for a person (--no-wait) or was paused to exit: this step
            # stays running, and on resume its sub-agent carries on from its own journal
            if stop.status == "paused" and self.ledger.status not in ("paused", *RUN_TERMINAL):
                self.rec.set_status("paused", reason="paused while a sub-agent ran")
            elif stop.status == WAITING and self.ledger.status == "running":
                self.rec.set_status(
                    "awaiting_approval", reason=f"its sub-agent waits for a decision (runs/{self.run_id}/task-{step.n})"
                )
            self._child_stop = stop.status
            return
        except SubAgentCancelled as exc:
            self.rec.move(step, "failed", content=str(exc), is_error=True, duration_s=round(timer() - started, 4))
            self.rec.set_status("cancelled", reason="cancelled while a sub-agent ran")
            return
        except RuntimeUnavailable as exc:
            # a simulation call that could not reach the model: pause; the step stays running and
            # runs again on resume (nothing was touched)
            if isinstance(exc, ModelRefused):
                self.refused(exc)
            else:
                self.rec.set_status("paused", error={"type": "runtime", "message": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - a tool bug is the model's error result, never a crash of the run
            out = ToolOutput(f"{step.tool} failed unexpectedly: {type(exc).__name__}: {exc}", is_error=True)
        duration = round(timer() - started, 4)
        self.rec.charge_side_usage(self._side_usage, step=step.n, purpose="simulation" if simulated else step.tool)
        self.rec.move(
            step,
            "failed" if out.is_error else "done",
            content=with_edit_note(step.proposed_inputs, step.inputs, out.to_content()),  # the model is told
            is_error=out.is_error,
            duration_s=duration,
            simulated=simulated,
        )
        if step.tool == "UpdatePlan" and not out.is_error:
            self.rec.record("plan_updated", data={"plan": step.inputs["steps"]})

    async def _run_task(self, inputs: dict[str, Any]) -> ToolOutput:
        assert self.executing is not None
        return await run_task(self, self.executing, inputs)

    def recover_interrupted(self) -> None:
        """Driver hook. A step left `running` by a dead driver: its command stopped if it still
        runs; then re-run if read-only, else ask a person."""
        step = self.ledger.current_step
        if step is None or step.status != "running":
            return
        stopped = self.processes.stop_survivor(step)
        if not step.executing:
            return  # (approved, but its tool never started: it runs now, once)
        if step.tool == "Task":
            self.rec.note("the sub-agent was interrupted; it carries on from its own journal", step=step.n)
        elif step.side_effects == "none" or self.ledger.mode == "simulate":
            what = "read-only" if step.side_effects == "none" else "simulated (nothing was touched)"
            self.rec.note(f"{what} step interrupted; running it again", step=step.n)
        else:
            reason = "the driver stopped while this step ran; its effect may or may not have happened"
            if stopped:
                reason = (
                    f"the driver stopped while this step ran; {stopped}, so its effect may be partial or "
                    "may not have happened"
                )
            self.rec.move(step, "uncertain", extra={"reason": reason})

    def announce_sandbox(self) -> None:
        """Say once, at start and at each resume, when Bash cannot be confined here."""
        if self.gate_driver == "engine":  # (Claude Code runs its own Bash, with its own sandbox)
            self.processes.announce(self.ctx.extra["bash"])

    # ------------------------------------------------------------------ commands

    def wants_exit_when_paused(self) -> bool:
        return self.exit_when_paused or (self.parent is not None and self.parent.wants_exit_when_paused())

    def poll_commands(self, *, state_file: bool = True) -> None:
        """Take up people's commands (and, with `state_file`, their edits of the state file).
        While a sub-agent runs, it reads them."""
        if self.child is None:
            self.commands.poll()
        if state_file:
            self.commands.take_up_state_file()

    async def wait_for_news(self) -> None:
        """Block until a command or a state-file edit arrives (polling: works across processes),
        or a face asks for drive() back (Ctrl-C while the run waits)."""
        self.rec.flush(force=True)
        start_offset, start_seq = self.ledger.control_offset, self.ledger.seq
        while self.ledger.control_offset == start_offset and self.ledger.seq == start_seq:
            if self.wants_exit_when_paused() and self.ledger.status == "paused":
                return
            await self.nap()
            self.poll_commands()

    def _say_waiting(self, what: str) -> None:
        """Tell the face (once per wait) that the run now waits, and for what."""
        key = (what, self.ledger.seq)
        if self.on_wait is not None and key != self._said_wait:
            self._said_wait = key
            self.on_wait(what)

    async def nap(self) -> None:
        """Wait one poll interval, or less when a face in this process submits a command."""
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll_interval)
        except TimeoutError:
            pass
