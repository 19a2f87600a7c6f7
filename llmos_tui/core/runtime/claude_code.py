"""The claude-code runtime: the real Claude Code engine, driven through claude-agent-sdk, gated and
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

claude-agent-sdk is an optional extra; nothing here imports it until a run starts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections import deque
from contextlib import suppress
from pathlib import Path
from typing import Any

from llmos_tui.core import runner as _runner
from llmos_tui.core.approval import gate
from llmos_tui.core.errors import BadInput
from llmos_tui.core.ledger import StepRecord
from llmos_tui.core.pricing import with_cost
from llmos_tui.core.registry import ToolRegistry, builtin_tools
from llmos_tui.core.runner import MAX_TOKENS_NUDGE, Runner
from llmos_tui.core.state import Usage
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput

EXTRA_HINT = "pip install 'llmos-tui[claude-code]'"
CLI_ENV = "LLMOS_CLAUDE_CLI"        # an explicit Claude Code CLI (default: the one the SDK bundles)
MCP_SERVER = "llmos"
MCP_PREFIX = f"mcp__{MCP_SERVER}__"
# Claude Code's own tools a ToolMap may offer. Task is not among them in this version: Claude
# Code's sub-agents would run their calls in a conversation of their own.
CLAUDE_CODE_TOOLS = ("Read", "Write", "Edit", "Bash", "Grep", "Glob", "WebFetch", "WebSearch", "NotebookEdit")
WRITE_PATHS = {"Write": "file_path", "Edit": "file_path", "NotebookEdit": "notebook_path"}
READ_PATHS = {"Read": "file_path", "Glob": "path", "Grep": "path"}
ASK_ALL = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask",
                                  "permissionDecisionReason": "llmos-tui decides every tool call"}}
OPEN_TURN_GRACE_S = 2.0   # a tool call whose reply never showed up is recorded on its own after this
STREAM_STALL_S = 120.0    # a reply streaming no event for this long is taken as it stands


# ---------------------------------------------------------------- finding the engine

def require_sdk() -> Any:
    """The claude_agent_sdk module, or BadInput naming the extra to install."""
    try:
        import claude_agent_sdk
    except ImportError as exc:
        raise BadInput(f"the claude-code runtime needs claude-agent-sdk, which is not installed "
                       f"({exc.name or exc}); install the extra: {EXTRA_HINT}") from None
    return claude_agent_sdk


def find_cli(sdk: Any = None) -> str:
    """The Claude Code CLI to run: $LLMOS_CLAUDE_CLI, else the one bundled in claude-agent-sdk's
    wheel, else `claude` on PATH; BadInput when there is none."""
    given = os.environ.get(CLI_ENV)
    if given:
        found = shutil.which(given)
        if found is None:
            raise BadInput(f"{CLI_ENV}={given} is not an executable Claude Code CLI")
        return found
    sdk = sdk or require_sdk()
    bundled = Path(sdk.__file__).parent / "_bundled" / ("claude.exe" if os.name == "nt" else "claude")
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("claude")
    if found:
        return found
    raise BadInput("Claude Code's CLI was not found: claude-agent-sdk bundles it only in its "
                   "platform wheels; install Claude Code (npm install -g @anthropic-ai/claude-code) "
                   f"or set {CLI_ENV}=/path/to/claude")


def make_claude_code_runtime(config: Any) -> "ClaudeCodeRuntime":
    sdk = require_sdk()
    return ClaudeCodeRuntime(cli_path=find_cli(sdk), model=config.model)


class ClaudeCodeRuntime:
    """What the run needs to start Claude Code. The conversation itself is ClaudeCodeRunner's."""

    name = "claude-code"

    def __init__(self, *, cli_path: str, model: str = "", env: dict[str, str] | None = None) -> None:
        self.cli_path = cli_path
        self.model = model
        self.env = dict(env or {})        # added to the CLI's environment (it inherits ours)
        self.text_listeners: list[Any] = []

    @property
    def runner_class(self) -> type["ClaudeCodeRunner"]:
        return ClaudeCodeRunner

    async def next_turn(self, request: Any) -> Any:
        raise RuntimeError("Claude Code holds its own conversation: ClaudeCodeRunner drives it")

    async def simulate(self, tool: str, inputs: dict[str, Any], spec_line: str,
                       turn_index: int, position: int) -> ToolOutput:
        raise ToolError("simulate mode is not available with the claude-code runtime")


# ---------------------------------------------------------------- the tools

class _ClaudeCodeOnly:
    """A Claude Code tool llmos-tui has no implementation of (only Claude Code runs it)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = f"Claude Code's {name} tool."
        self.input_schema: dict[str, Any] = {"type": "object"}

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        raise ToolError(f"{self.name} was not run: only Claude Code runs it, and its session ended "
                        f"before it did. Call it again if it is still needed.")


class ClaudeCodeRegistry(ToolRegistry):
    """The ToolMap's tools as Claude Code offers them. Validation is Claude Code's own; ours
    checks only the parameters we know (Claude Code's tools take a few more, e.g. Bash's
    run_in_background), so a person's edit of a call cannot break it."""

    def __init__(self, specs: dict[str, Any]) -> None:
        impls: dict[str, Any] = {n: t for n, t in builtin_tools().items() if n != "Task"}
        for name in CLAUDE_CODE_TOOLS:
            impls.setdefault(name, _ClaudeCodeOnly(name))
        super().__init__(specs, impls)

    def claude_code_tools(self) -> list[str]:
        return [n for n in self.tools if n in CLAUDE_CODE_TOOLS]

    def validate(self, name: str, inputs: Any) -> str | None:
        if not isinstance(inputs, dict):
            return "inputs must be a mapping of parameter names to values"
        reg = self.tools.get(name)
        if reg is None:
            return None  # not a ToolMap tool: Claude Code checks its inputs
        # Claude Code's own tools take parameters ours do not know: only ours are checked
        return self._check(name, {k: v for k, v in reg.tool.input_schema.items() if k != "additionalProperties"},
                           inputs)


def _tool_name(name: str) -> str:
    return name[len(MCP_PREFIX):] if name.startswith(MCP_PREFIX) else name


def _block(b: Any) -> dict[str, Any] | None:
    """An SDK content block as a Messages-API block."""
    kind = type(b).__name__
    if kind == "TextBlock":
        return {"type": "text", "text": b.text}
    if kind == "ToolUseBlock":   # UpdatePlan under its own name, as the ToolMap and the trace know it
        return {"type": "tool_use", "id": b.id, "name": _tool_name(b.name), "input": dict(b.input or {})}
    if kind == "ThinkingBlock":
        return {"type": "thinking", "thinking": b.thinking, "signature": b.signature}
    if kind == "ServerToolUseBlock":
        return {"type": "server_tool_use", "id": b.id, "name": b.name, "input": dict(b.input or {})}
    if kind == "ServerToolResultBlock":
        return {**(b.content if isinstance(b.content, dict) else {}), "tool_use_id": b.tool_use_id}
    return None


def _short(inputs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={str(v)[:60]!r}" for k, v in list(inputs.items())[:3])


class _ResumeRefused(Exception):
    """Claude Code could not resume the run's session (its transcript is gone)."""


# ---------------------------------------------------------------- the runner

class ClaudeCodeRunner(Runner):
    def __init__(self, ws: Any, config: Any, registry: ToolRegistry, runtime: Any, *args: Any,
                 **kwargs: Any) -> None:
        super().__init__(ws, config, ClaudeCodeRegistry(registry.specs), runtime, *args, **kwargs)
        self._gate_lock = asyncio.Lock()
        self._turn: dict[str, Any] | None = None       # the API reply being streamed
        self._closed_turns: set[str] = set()
        self._turn_seen = asyncio.Event()
        self._stop: asyncio.Event | None = None        # set: end the live session now
        self._halt = False                             # a limit was reached: stop the session
        self._started = False                          # the live session answered
        self._pending_prompt: str | None = None        # journaled once the session is up
        self._session_id: str | None | bool = False    # False: not read from the journal yet
        self._exec_started: dict[str, float] = {}
        self._last_event = 0.0
        self._stderr: deque[str] = deque(maxlen=30)
        self._client: Any = None

    @classmethod
    def start(cls, ws: Any, goal: str, *, mode: str = "execute", **kwargs: Any) -> "ClaudeCodeRunner":
        if mode == "simulate":
            raise BadInput("--mode simulate is not available with --runtime claude-code (Claude Code "
                           "runs the tools itself); simulate with --runtime native or scripted")
        return super().start(ws, goal, mode=mode, **kwargs)  # type: ignore[return-value]

    def system_prompt(self) -> str:
        text = super().system_prompt().rstrip("\n")
        return (text + "\nRuntime: Claude Code runs your tools; UpdatePlan is offered as "
                f"{MCP_PREFIX}UpdatePlan.\n")

    # ------------------------------------------------------------ the runner's hooks

    def _propose(self, use: dict[str, Any]) -> StepRecord:
        return super()._propose({**use, "name": _tool_name(str(use.get("name")))})

    def _gate(self, step: StepRecord, live_input: dict[str, Any] | None = None) -> None:
        """The runner's gate, plus the workspace sandbox for the paths of Claude Code's file tools
        (`live_input`: the call as Claude Code will run it, its paths made absolute)."""
        problem = self.registry.validate(step.tool, step.inputs)
        if problem:
            self._step(step, "failed", content=f"Invalid {step.tool} call: {problem}", is_error=True)
            return
        refusal = self._refusal(step.tool, live_input if live_input is not None else step.inputs)
        if refusal:
            self._step(step, "denied", is_error=True, content=refusal,
                       human={"decision": "denied", "by": "sandbox"})
            return
        spec = self.registry.specs.get(step.tool)
        policy = self.ledger.approval
        self._settle_gate(step, gate(policy, spec) if spec is not None else ("run" if policy == "never" else "ask"))

    def _refusal(self, tool: str, inputs: dict[str, Any]) -> str | None:
        try:
            key = WRITE_PATHS.get(tool)
            if key and isinstance(inputs.get(key), str):
                self.sandbox.resolve_write(inputs[key])
            key = READ_PATHS.get(tool)
            if key and isinstance(inputs.get(key), str) and inputs[key]:
                self.sandbox.resolve_read(inputs[key])
        except ToolError as exc:
            return f"Refused by llmos-tui: {exc}"
        return None

    def _recover_interrupted_step(self) -> None:
        """Calls Claude Code may have started when its session ended: a read-only one simply runs
        again (by llmos-tui), a side-effecting one waits for a person (retry or skip)."""
        led = self.ledger
        for step in list(led.steps[led.first_unsettled:]):
            if step.status != "running" or not step.executing:
                continue
            if step.side_effects == "none":
                self._record("note", step=step.n, data={"message": "read-only step interrupted with Claude "
                                                                  "Code's session; llmos-tui runs it again"})
            else:
                self._step(step, "uncertain", data_extra={
                    "reason": "Claude Code's session ended while this step ran; its effect may or may "
                              "not have happened"})

    async def _next_turn(self) -> None:
        """Let Claude Code work until it ends its reply (or the run stops it)."""
        led = self.ledger
        nudge = None
        if led.messages[-1]["role"] == "assistant":
            reason = led.last_stop_reason
            if reason == "refusal":
                self._set_status("failed", error={"type": "refusal", "message": "the model declined to continue"})
                return
            if reason == "max_tokens":
                nudge = MAX_TOKENS_NUDGE
            elif reason not in ("pause_turn", "tool_use"):
                self._set_status("completed", error=None)
                return
        if self._stopped_by_limits():
            return
        session = self._last_session()
        try:
            if session is None:
                fresh = led.turns == 0 and len(led.messages) == 1
                await self._session(led.goal if fresh else self._summary_prompt(None),
                                    resume=None, record_prompt=not fresh)
            else:
                try:
                    await self._session(self._continuation_prompt(nudge), resume=session, record_prompt=True)
                except _ResumeRefused as exc:
                    self._record("note", data={"message": f"Claude Code could not resume session {session} "
                                                          f"({exc}); a new session starts from a summary of the run"})
                    await self._session(self._summary_prompt(nudge), resume=None, record_prompt=True)
        finally:
            if self.ledger.status not in RUN_TERMINAL:
                self._recover_interrupted_step()
            self._flush(force=True)

    # ------------------------------------------------------------ prompts for a resumed run

    def _last_session(self) -> str | None:
        if self._session_id is False:
            from llmos_tui.core.journal import iter_records

            self._session_id = None
            for rec in iter_records(self.journal.path):
                if rec["kind"] == "claude_session":
                    self._session_id = rec["data"].get("session_id")
        return self._session_id or None

    def _step_line(self, s: StepRecord) -> str:
        line = f"- step {s.n} {s.tool}({_short(s.inputs)}) [{s.tool_use_id}]: {s.status}"
        decision = s.human.get("decision")
        if decision and decision != "auto":
            line += f" ({decision}{': ' + s.human['feedback'] if s.human.get('feedback') else ''})"
        if s.result_preview():
            line += f" — {s.result_preview()}"
        return line

    def _continuation_prompt(self, nudge: str | None) -> str:
        led = self.ledger
        parts = ["[llmos-tui] This run was interrupted and is now resumed."]
        last_turn = max((s.turn for s in led.steps), default=-1)
        recent = [s for s in led.steps if s.turn == last_turn and last_turn == led.turns - 1]
        if recent and led.messages[-1]["role"] == "user":
            parts.append("Where your last tool calls stand. Your session may record a call as rejected or "
                         "interrupted; a call not finished there was settled by llmos-tui (run by it after "
                         "a person's decision, or not run), and this list is what happened:")
            parts += [self._step_line(s) for s in recent]
        if nudge:
            parts.append(nudge)
        parts.append(f"Continue with the goal: {led.goal}")
        return "\n".join(parts)

    def _summary_prompt(self, nudge: str | None) -> str:
        led = self.ledger
        parts = [led.goal, "",
                 "[llmos-tui] This run was interrupted, and Claude Code's earlier session could not be "
                 "resumed. What was done so far:"]
        steps = led.steps[-50:]
        if len(led.steps) > len(steps):
            parts.append(f"({len(led.steps) - len(steps)} earlier tool calls left out)")
        parts += [self._step_line(s) for s in steps] or ["(no tool calls yet)"]
        if led.last_text:
            parts += ["", f"Your last words: {led.last_text[:2000]}"]
        if nudge:
            parts.append(nudge)
        parts.append("Continue from here.")
        return "\n".join(parts)

    # ------------------------------------------------------------ one Claude Code session

    def _options(self, resume: str | None) -> Any:
        from claude_agent_sdk import ClaudeAgentOptions, HookMatcher, create_sdk_mcp_server, tool

        servers: dict[str, Any] = {}
        plan = self.registry.get("UpdatePlan")
        if plan is not None:
            sdk_tool = tool("UpdatePlan", plan.api_definition()["description"], plan.tool.input_schema)(
                self._update_plan)
            servers[MCP_SERVER] = create_sdk_mcp_server(MCP_SERVER, tools=[sdk_tool])
        return ClaudeAgentOptions(
            tools=self.registry.claude_code_tools(),
            system_prompt=self.system_prompt(),
            mcp_servers=servers,
            strict_mcp_config=True,
            permission_mode="default",
            can_use_tool=self._can_use_tool,
            # every call is a question for can_use_tool, even those Claude Code would allow itself
            hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[self._ask_us])]},
            setting_sources=[],   # no user/project settings: their permissions and hooks stay out
            include_partial_messages=True,
            model=self.config.model,
            cwd=str(self.ws.root),
            cli_path=self.runtime.cli_path,
            env=dict(self.runtime.env),
            resume=resume,
            stderr=self._stderr.append,
            max_buffer_size=64 * 1024 * 1024,
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
        watcher: asyncio.Task | None = None
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
        except _ResumeRefused:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the engine failed: the run pauses, resumable, nothing lost
            text = f"{type(exc).__name__}: {exc}"
            if resume and not self._started and "No conversation found" in text:
                raise _ResumeRefused(str(exc).splitlines()[0][:300]) from None
            tail = " | ".join(line.strip() for line in list(self._stderr)[-3:] if line.strip())
            message = f"Claude Code stopped: {text}"[:600] + (f" (stderr: {tail[:400]})" if tail else "")
            if self.ledger.status not in RUN_TERMINAL and self.ledger.status != "paused":
                self._set_status("paused", error={"type": "runtime", "message": message})
        finally:
            if watcher is not None:
                watcher.cancel()
            self._drop_or_close_turn()
            self._client = None
            await self._disconnect(client, graceful=clean)

    async def _disconnect(self, client: Any, *, graceful: bool) -> None:
        proc = getattr(getattr(client, "_transport", None), "_process", None)
        if not graceful and proc is not None and getattr(proc, "returncode", 0) is None:
            # Stopped midway (a decision waits, the run paused or ended): Claude Code's turn is
            # interrupted, so it settles the call it asked about and does not go on to ask the
            # model again (a closed permission stream alone reads to it as a failed tool call).
            try:
                await asyncio.wait_for(client.interrupt(), timeout=5)
            except (Exception, asyncio.TimeoutError):  # noqa: BLE001 - then it is killed
                with suppress(ProcessLookupError, OSError):
                    proc.send_signal(signal.SIGKILL)
        try:
            await asyncio.wait_for(client.disconnect(), timeout=20)
        except (Exception, asyncio.TimeoutError):  # noqa: BLE001 - the session is over either way
            if proc is not None and getattr(proc, "returncode", 0) is None:
                with suppress(ProcessLookupError, OSError):
                    proc.kill()

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
            self._poll_control()
            self._take_up_state_file()
            self._flush()
            if self._should_stop():
                self._stop.set()
                return
            self._wake.clear()
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll_interval)

    def _should_stop(self) -> bool:
        status = self.ledger.status
        if status in RUN_TERMINAL or self._halt:
            return True
        if status == "paused" and (self.options.no_wait or self._exit_when_paused()):
            return True
        if self.options.no_wait:
            return any(s.status in ("awaiting_approval", "uncertain")
                       for s in self.ledger.steps[self.ledger.first_unsettled:])
        return False

    async def _nap(self) -> None:
        await asyncio.sleep(self.options.poll_interval)

    # ------------------------------------------------------------ what Claude Code reports

    def _on_message(self, msg: Any) -> None:
        kind = type(msg).__name__
        parent = getattr(msg, "parent_tool_use_id", None)
        if parent:
            return  # a sub-agent's traffic (none is offered; Task is not among the tools)
        if kind == "StreamEvent":
            self._on_event(msg.event)
        elif kind == "AssistantMessage":
            self._on_assistant(msg)
        elif kind == "UserMessage":
            self._on_results(msg)
        elif kind == "SystemMessage" and msg.subtype == "init":
            self._on_init(msg.data)

    def _on_init(self, data: dict[str, Any]) -> None:
        self._started = True
        sid = data.get("session_id")
        if sid and sid != self._last_session():
            self._record("claude_session", data={"session_id": sid, "model": data.get("model"),
                                                 "claude_code_version": data.get("claude_code_version"),
                                                 "tools": data.get("tools")})
            self._session_id = sid
        if self._pending_prompt is not None:
            self._record("user_message", data={"content": self._pending_prompt})
            self._pending_prompt = None

    def _on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        self._last_event = time.monotonic()
        if kind == "message_start":
            m = ev.get("message") or {}
            if self._turn is not None:
                self._drop_or_close_turn()  # a reply cut off midway, which Claude Code asks again
            self._turn = {"id": m.get("id"), "model": m.get("model") or self.config.model, "blocks": [],
                          "usage": dict(m.get("usage") or {}), "stop_reason": None, "streaming": True}
        elif kind == "content_block_delta":
            delta = ev.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                for listener in list(getattr(self.runtime, "text_listeners", ())):
                    listener(delta["text"])
        elif kind == "message_delta" and self._turn is not None:
            self._turn["stop_reason"] = (ev.get("delta") or {}).get("stop_reason") or self._turn["stop_reason"]
            self._turn["usage"].update({k: v for k, v in (ev.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self._close_turn()

    def _on_assistant(self, msg: Any) -> None:
        if getattr(msg, "error", None) is not None or msg.model == "<synthetic>":
            return  # Claude Code's own note about an API error: its result says it
        mid = getattr(msg, "message_id", None) or ""
        if mid in self._closed_turns:
            self._record("note", data={"message": f"a late block of reply {mid} arrived after it ended; "
                                                  f"left out of the conversation"})
            return
        if self._turn is None or (self._turn["id"] and mid and self._turn["id"] != mid):
            self._drop_or_close_turn()
            self._turn = {"id": mid, "model": msg.model, "blocks": [], "usage": dict(msg.usage or {}),
                          "stop_reason": getattr(msg, "stop_reason", None), "streaming": False}
        for b in msg.content:
            block = _block(b)
            if block is not None:
                self._turn["blocks"].append(block)

    def _drop_or_close_turn(self) -> None:
        """A reply that never reached its end: one that streamed is dropped (Claude Code does not
        keep it either), one known only from its blocks is taken as it stands."""
        turn = self._turn
        if turn is not None and turn["streaming"]:
            self._turn = None
            if turn["blocks"]:
                self._record("note", data={"message": f"reply {turn['id']} was cut off before its end; "
                                                      f"left out of the conversation"})
            return
        self._close_turn()

    def _close_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is None or not turn["blocks"] or self.ledger.status in RUN_TERMINAL:
            return
        if turn["id"]:
            self._closed_turns.add(turn["id"])
        if self._pending_prompt is not None:
            self._record("user_message", data={"content": self._pending_prompt})
            self._pending_prompt = None
        u = turn["usage"]
        usage = with_cost(Usage(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0),
                                int(u.get("cache_read_input_tokens") or 0),
                                int(u.get("cache_creation_input_tokens") or 0)),
                          turn["model"], self.config.prices)
        blocks = turn["blocks"]
        stop = turn["stop_reason"] or ("tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn")
        self._record("model_turn", data={"content": blocks, "stop_reason": stop,
                                         "usage": usage.__dict__, "model": turn["model"]})
        if self.ledger.status == "planning":
            self._set_status("running")
        for b in blocks:
            if b["type"] == "tool_use" and b["id"] not in self.ledger.by_tool_use:
                self._propose(b)
        self._turn_seen.set()

    def _on_results(self, msg: Any) -> None:
        self._close_turn()
        if isinstance(msg.content, str):
            return
        led = self.ledger
        for b in msg.content:
            if type(b).__name__ != "ToolResultBlock":
                continue
            step = led.by_tool_use.get(b.tool_use_id)
            if step is None:
                continue
            content = b.content if b.content is not None else ""
            is_error = bool(b.is_error)
            if step.status == "proposed":   # Claude Code answered it without asking (bad input …)
                if is_error:
                    self._step(step, "failed", content=content, is_error=True)
                    continue
                self._step(step, "running", human={"decision": "auto", "by": "claude-code"})
            if step.status == "awaiting_approval":
                self._step(step, "skipped", content=content, is_error=True,
                           human={"decision": "skipped", "by": "claude-code"})
            elif step.status == "running":
                started = self._exec_started.pop(step.tool_use_id, None)
                duration = round(_runner.timer() - started, 4) if started is not None else None
                self._step(step, "failed" if is_error else "done", content=content, is_error=is_error,
                           duration_s=duration)
                if step.tool == "UpdatePlan" and not is_error and isinstance(step.inputs.get("steps"), list):
                    self._record("plan_updated", data={"plan": step.inputs["steps"]})
        uses = led.pending_tool_uses()
        if uses and all(u.get("id") in led.by_tool_use and led.by_tool_use[u["id"]].settled for u in uses):
            self._record("tool_results", data={"tool_use_ids": [u["id"] for u in uses]})
            self._check_limits()

    def _check_limits(self) -> None:
        """What the runner checks before asking for a turn, checked before Claude Code asks."""
        led = self.ledger
        if led.status in RUN_TERMINAL:
            return
        if led.turns >= self.config.max_turns:
            self._set_status("failed", error={"type": "max_turns", "message":
                                              f"stopped after {led.turns} model turns (max_turns)"})
        budget = self.config.max_cost_usd
        if led.status not in RUN_TERMINAL and budget is not None and led.usage.cost_usd >= budget:
            if led.status != "paused":
                self._set_status("paused", error={"type": "budget", "message":
                                                  f"cost ${led.usage.cost_usd:.4f} reached max_cost_usd ${budget:.2f}"})
            self._halt = True   # Claude Code would ask for the next turn at once

    def _on_result(self, msg: Any, resume: str | None) -> None:
        self._close_turn()
        led = self.ledger
        if not msg.is_error and msg.subtype == "success":
            if led.status not in RUN_TERMINAL and led.messages[-1]["role"] != "assistant":
                # nothing to end on: say so rather than start another session
                self._record("note", data={"message": "Claude Code ended its reply without a final message"})
                if led.status == "paused":
                    return
                if led.status == "awaiting_approval":
                    self._set_status("running")
                self._set_status("completed", error=None)
            return  # the runner ends the run on the reply's end_turn
        why = (msg.result or "; ".join(str(e) for e in (msg.errors or [])) or msg.subtype).strip()
        if resume and not self._started and "No conversation found" in why:
            raise _ResumeRefused(why[:300])
        if led.status in RUN_TERMINAL:
            return
        if msg.subtype == "error_max_turns":
            if led.status == "paused":
                self._set_status("running")
            self._set_status("failed", error={"type": "max_turns", "message": f"Claude Code: {why}"})
        elif led.status != "paused":
            status = f" (HTTP {msg.api_error_status})" if getattr(msg, "api_error_status", None) else ""
            self._set_status("paused", error={"type": "runtime", "message": f"Claude Code: {why}{status}"[:600]})

    # ------------------------------------------------------------ the gate, as Claude Code asks

    async def _ask_us(self, input_data: Any, tool_use_id: Any, context: Any) -> dict[str, Any]:
        return ASK_ALL

    async def _can_use_tool(self, name: str, tool_input: dict[str, Any], ctx: Any) -> Any:
        from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny

        async with self._gate_lock:
            step = await self._step_for(ctx.tool_use_id or "", name, tool_input)
            if step.status == "proposed":
                self._gate(step, live_input=tool_input)
            first = True
            while True:
                status = self.ledger.status
                if status in RUN_TERMINAL:
                    return PermissionResultDeny(message=f"The run was {status} in llmos-tui.", interrupt=True)
                waits = step.status == "awaiting_approval" or (status == "paused" and step.status == "running")
                if not waits:
                    break
                if step.status == "awaiting_approval" and status == "running":
                    self._set_status("awaiting_approval")
                self._flush(force=first)   # the wait is on screen and durable before it begins
                first = False
                await self._nap()
                self._poll_control()
                self._take_up_state_file()
            if step.status == "running":
                self._record("step_exec", step=step.n)
                if step.side_effects != "none":
                    self.journal.sync()   # write-ahead: `running` is durable before Claude Code runs it
                self._exec_started[step.tool_use_id] = _runner.timer()
                if step.proposed_inputs is not None:   # a person edited the call
                    return PermissionResultAllow(updated_input=dict(step.inputs))
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
                idle_since = time.monotonic()   # its reply is still streaming: its end comes
            elif turn is not None:
                self._close_turn()              # a reply without stream events, or a stalled one
                continue
            elif time.monotonic() - idle_since > OPEN_TURN_GRACE_S:
                self._record("note", data={"message": f"{name} call {tool_use_id} came outside any reply "
                                                      f"llmos-tui saw; recorded on its own"})
                return self._propose({"id": tool_use_id or f"toolu_llmos_{len(led.steps) + 1}",
                                      "name": name, "input": tool_input})
            self._turn_seen.clear()
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._turn_seen.wait(), timeout=0.05)
        return led.by_tool_use[tool_use_id]

    async def _update_plan(self, args: dict[str, Any]) -> dict[str, Any]:
        reg = self.registry.get("UpdatePlan")
        assert reg is not None
        try:
            out = await reg.tool.run(args, self.ctx)
        except ToolError as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
        except Exception as exc:  # noqa: BLE001 - the model hears of it, the run goes on
            return {"content": [{"type": "text", "text": f"UpdatePlan failed: {type(exc).__name__}: {exc}"}],
                    "is_error": True}
        return {"content": [{"type": "text", "text": out.text}]}
