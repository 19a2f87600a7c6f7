"""The Claude Code SDK driver: the real Claude Code engine, driven through claude-agent-sdk, gated and
recorded by llmos-tui.

Claude Code owns the conversation and runs the tools itself, so this runtime does not hand the
runner one assistant turn at a time as the others do. Instead `ClaudeCodeRunner` (a Runner)
replaces the runner's "ask the model for a turn" with "let Claude Code work until it ends its
reply", and maps what the SDK reports onto the very journal records the runner writes:

- each API reply (stream events `message_start` … `message_stop`, the blocks from the SDK's
  AssistantMessages) becomes a `model_turn`, priced with our table, and its tool_use blocks become
  `proposed` steps, in order;
- every tool call reaches our gate: a PreToolUse hook answers "ask" for every call, so Claude Code
  asks `can_use_tool`, where the step goes `awaiting_approval` / `running` / `denied` / `failed`
  exactly as the runner's gate decides (ToolMap, approval policy, the workspace sandbox for file
  paths) and waits for people's commands from control.jsonl; `running` and `step_exec` are
  journaled (fsync'd, for a call with side effects) before Claude Code is allowed to run it;
- tool results (the SDK's UserMessages) settle the steps (`done` / `failed`), then `tool_results`;
- UpdatePlan is an in-process MCP tool (Claude Code calls it `mcp__llmos__UpdatePlan`);
- the Claude Code session id is journaled (`claude_session`), so `resume` continues the session.

When a session ends early (killed, paused to exit, --no-wait, an outage), the run is left in the
same shape a native run would be: an approved call Claude Code never started is run by llmos-tui's
own implementation of the tool on resume, an interrupted side-effecting one is `uncertain` and
waits for a person, and the resumed session is told where its last calls stand.

claude-agent-sdk is an optional extra; nothing here imports it until a session starts.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import deque
from contextlib import suppress
from typing import Any

from llmos_tui.core import runner as _runner
from llmos_tui.core.claude.runtime import MCP_PREFIX, ClaudeCodeRegistry, ClaudeCodeRuntime, session_options, tool_name
from llmos_tui.core.claude.stream import ClaudeCodeStream, ResumeRefused
from llmos_tui.core.claude.transcript import continuation_prompt, summary_prompt
from llmos_tui.core.control import ControlChannel
from llmos_tui.core.engine.gate import Driver
from llmos_tui.core.engine.recorder import RunRecorder
from llmos_tui.core.errors import BadInput
from llmos_tui.core.ledger import StepRecord
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import MAX_TOKENS_NUDGE, Runner
from llmos_tui.core.runtime.base import Runtime
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.workspace import Workspace

OPEN_TURN_GRACE_S = 2.0  # a tool call whose reply never showed up is recorded on its own after this
STREAM_STALL_S = 120.0  # a reply streaming no event for this long is taken as it stands


class ClaudeCodeRunner(Runner, ClaudeCodeStream):
    gate_driver: Driver = "claude-code"

    def __init__(
        self, rec: RunRecorder, runtime: Runtime, control: ControlChannel, parent: Runner | None = None
    ) -> None:
        super().__init__(rec, runtime, control, parent)
        assert isinstance(runtime, ClaudeCodeRuntime)
        self.cc = runtime
        self._gate_lock = asyncio.Lock()
        self._turn: dict[str, Any] | None = None  # the API reply being streamed
        self._closed_turns: set[str] = set()
        self._turn_seen = asyncio.Event()
        self._stop: asyncio.Event | None = None  # set: end the live session now
        self._halt = False  # a limit was reached: stop the session
        self._started = False  # the live session answered
        self._pending_prompt: str | None = None  # journaled once the session is up
        self._session_id: str | None | bool = False  # False: not read from the journal yet
        self._client: Any = None
        self._exec_started: dict[str, float] = {}
        self._last_event = 0.0
        self._stderr: deque[str] = deque(maxlen=30)

    @classmethod
    def start(cls, ws: Workspace, goal: str, *, mode: str = "execute", **kwargs: Any) -> Runner:
        if mode == "simulate":
            raise BadInput(
                "--mode simulate is not available with --runtime claude-code (Claude Code "
                "runs the tools itself); simulate with --runtime native or scripted"
            )
        return super().start(ws, goal, mode=mode, **kwargs)

    @classmethod
    def registry_for(cls, registry: ToolRegistry) -> ToolRegistry:
        return ClaudeCodeRegistry(registry.specs)

    def system_prompt(self) -> str:
        text = super().system_prompt().rstrip("\n")
        return text + f"\nRuntime: Claude Code runs your tools; UpdatePlan is offered as {MCP_PREFIX}UpdatePlan.\n"

    # ------------------------------------------------------------ the runner's hooks

    def propose(self, use: dict[str, Any]) -> StepRecord:
        return super().propose({**use, "name": tool_name(str(use.get("name")))})

    def recover_interrupted(self) -> None:
        """Calls Claude Code may have started when its session ended: a read-only one simply runs
        again (by llmos-tui), a side-effecting one waits for a person (retry or skip)."""
        led = self.ledger
        for step in list(led.steps[led.first_unsettled :]):
            if step.status != "running" or not step.executing:
                continue
            if step.side_effects == "none":
                self.rec.record(
                    "note",
                    step=step.n,
                    data={"message": "read-only step interrupted with Claude Code's session; llmos-tui runs it again"},
                )
            else:
                self.rec.move(
                    step,
                    "uncertain",
                    extra={
                        "reason": "Claude Code's session ended while this step ran; its effect may or may "
                        "not have happened"
                    },
                )

    async def take_turn(self) -> None:
        """Let Claude Code work until it ends its reply (or the run stops it)."""
        led = self.ledger
        nudge = MAX_TOKENS_NUDGE if self.reply_outcome() == "nudge" else None
        session = self._last_session()
        try:
            if session is None:
                fresh = led.turns == 0 and len(led.messages) == 1
                await self._session(
                    led.goal if fresh else summary_prompt(self.ledger, None), resume=None, record_prompt=not fresh
                )
            else:
                try:
                    await self._session(continuation_prompt(self.ledger, nudge), resume=session, record_prompt=True)
                except ResumeRefused as exc:
                    self.rec.record(
                        "note",
                        data={
                            "message": f"Claude Code could not resume session {session} "
                            f"({exc}); a new session starts from a summary of the run"
                        },
                    )
                    await self._session(summary_prompt(self.ledger, nudge), resume=None, record_prompt=True)
        finally:
            if self.ledger.status not in RUN_TERMINAL:
                self.recover_interrupted()
            self.rec.flush(force=True)

    # ------------------------------------------------------------ prompts for a resumed run

    def _last_session(self) -> str | None:
        if self._session_id is False:
            from llmos_tui.core.journal import iter_records

            self._session_id = None
            for record in iter_records(self.rec.journal.path):
                if record["kind"] == "claude_session":
                    self._session_id = record["data"].get("session_id")
        return self._session_id if isinstance(self._session_id, str) and self._session_id else None

    # ------------------------------------------------------------ one Claude Code session

    def _options(self, resume: str | None) -> Any:
        return session_options(
            self.cc,
            self._registry(),
            self.ctx,
            system_prompt=self.system_prompt(),
            model=self.config.model,
            cwd=str(self.rec.ws.root),
            resume=resume,
            can_use_tool=self._can_use_tool,
            stderr=self._stderr.append,
        )

    async def _session(self, prompt: str, *, resume: str | None, record_prompt: bool) -> None:
        from claude_agent_sdk import ClaudeSDKClient

        self._started = False
        self._halt = False
        self._pending_prompt = prompt if record_prompt else None
        self._stop = asyncio.Event()
        self._turn = None
        client = ClaudeSDKClient(self._options(resume))
        self._client = client
        watcher: asyncio.Task[None] | None = None
        clean = False
        try:
            await client.connect()
            await client.query(prompt)
            watcher = asyncio.create_task(self._watch())
            consumer = asyncio.create_task(self._consume(client, resume))
            stopper = asyncio.create_task(self._stop.wait())
            try:
                done, _ = await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
            if consumer in done:
                consumer.result()
                clean = True
            else:
                consumer.cancel()
                with suppress(BaseException):
                    await consumer
        except ResumeRefused:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the engine failed: the run pauses, resumable, nothing lost
            text = f"{type(exc).__name__}: {exc}"
            if resume and not self._started and "No conversation found" in text:
                raise ResumeRefused(str(exc).splitlines()[0][:300]) from None
            tail = " | ".join(line.strip() for line in list(self._stderr)[-3:] if line.strip())
            message = f"Claude Code stopped: {text}"[:600] + (f" (stderr: {tail[:400]})" if tail else "")
            if self.ledger.status not in RUN_TERMINAL and self.ledger.status != "paused":
                self.rec.set_status("paused", error={"type": "runtime", "message": message})
        finally:
            if watcher is not None:
                watcher.cancel()
            self._drop_or_close_turn()
            self._client = None
            await disconnect(client, graceful=clean)

    async def _consume(self, client: Any, resume: str | None) -> None:
        from claude_agent_sdk import ResultMessage

        async for msg in client.receive_messages():
            if isinstance(msg, ResultMessage):
                self._on_result(msg, resume)
                return
            self._on_message(msg)

    async def _watch(self) -> None:
        """While Claude Code works: people's commands and state-file edits are taken up, and the
        session is stopped when the run ends, pauses to exit, or stops at a decision (--no-wait)."""
        assert self._stop is not None
        while True:
            self.poll_commands()
            self.rec.flush()
            if self._should_stop():
                self._stop.set()
                return
            await self.nap()

    def _should_stop(self) -> bool:
        status = self.ledger.status
        if status in RUN_TERMINAL or self._halt:
            return True
        if status == "paused" and (self.options.no_wait or self.wants_exit_when_paused()):
            return True
        if self.options.no_wait:
            return any(
                s.status in ("awaiting_approval", "uncertain") for s in self.ledger.steps[self.ledger.first_unsettled :]
            )
        return False

    # ------------------------------------------------------------ the gate, as Claude Code asks

    async def _can_use_tool(self, name: str, tool_input: dict[str, Any], ctx: Any) -> Any:
        from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny

        async with self._gate_lock:
            step = await self._step_for(ctx.tool_use_id or "", name, tool_input)
            if step.status == "proposed":
                self.gate_step(step, live_input=tool_input)
            first = True
            while True:
                status = self.ledger.status
                if status in RUN_TERMINAL:
                    return PermissionResultDeny(message=f"The run was {status} in llmos-tui.", interrupt=True)
                waits = step.status == "awaiting_approval" or (status == "paused" and step.status == "running")
                if not waits:
                    break
                if step.status == "awaiting_approval" and status == "running":
                    self.rec.set_status("awaiting_approval")
                self.rec.flush(force=first)  # the wait is on screen and durable before it begins
                first = False
                await asyncio.sleep(self.options.poll_interval)
                self.poll_commands()
            if step.status == "running":
                # write-ahead: `running` is durable before Claude Code runs a side-effecting call
                self.rec.start_exec(step, durable=step.side_effects != "none")
                self._exec_started[step.tool_use_id] = _runner.timer()
                if step.proposed_inputs is not None:  # a person edited the call
                    return PermissionResultAllow(updated_input=dict(self.rec.raw_inputs(step) or step.inputs))
                return PermissionResultAllow()
            content = step.content
            if not isinstance(content, str):
                content = " ".join(b.get("text", "") for b in content or [] if isinstance(b, dict))
            return PermissionResultDeny(message=content or f"llmos-tui did not run this call ({step.status}).")

    async def _step_for(self, tool_use_id: str, name: str, tool_input: dict[str, Any]) -> StepRecord:
        """The step of this call, once its reply is journaled (Claude Code may ask before the
        reply's end reached us). A call outside any reply llmos-tui saw is recorded on its own."""
        led = self.ledger
        idle_since = time.monotonic()
        while tool_use_id not in led.by_tool_use:
            turn = self._turn
            if turn is not None and turn["streaming"] and time.monotonic() - self._last_event < STREAM_STALL_S:
                idle_since = time.monotonic()  # its reply is still streaming: its end comes
            elif turn is not None:
                self._close_turn()  # a reply without stream events, or a stalled one
                continue
            elif time.monotonic() - idle_since > OPEN_TURN_GRACE_S:
                self.rec.record(
                    "note",
                    data={
                        "message": f"{name} call {tool_use_id} came outside any reply "
                        f"llmos-tui saw; recorded on its own"
                    },
                )
                return self.propose(
                    {"id": tool_use_id or f"toolu_llmos_{len(led.steps) + 1}", "name": name, "input": tool_input}
                )
            self._turn_seen.clear()
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._turn_seen.wait(), timeout=0.05)
        return led.by_tool_use[tool_use_id]

    def _registry(self) -> ClaudeCodeRegistry:
        reg = self.registry
        assert isinstance(reg, ClaudeCodeRegistry)
        return reg


async def disconnect(client: Any, *, graceful: bool) -> None:
    """End a Claude Code session: interrupted when stopped midway, killed if it will not go."""
    proc = getattr(getattr(client, "_transport", None), "_process", None)
    if not graceful and proc is not None and getattr(proc, "returncode", 0) is None:
        # Stopped midway (a decision waits, the run paused or ended): Claude Code's turn is
        # interrupted, so it settles the call it asked about and does not go on to ask the
        # model again (a closed permission stream alone reads to it as a failed tool call).
        try:
            await asyncio.wait_for(client.interrupt(), timeout=5)
        except (TimeoutError, Exception):  # noqa: BLE001 - then it is killed
            with suppress(ProcessLookupError, OSError):
                proc.send_signal(signal.SIGKILL)
    try:
        await asyncio.wait_for(client.disconnect(), timeout=20)
    except (TimeoutError, Exception):  # noqa: BLE001 - the session is over either way
        if proc is not None and getattr(proc, "returncode", 0) is None:
            with suppress(ProcessLookupError, OSError):
                proc.kill()
