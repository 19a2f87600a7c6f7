"""What Claude Code reports, as journal records: the Claude Code SDK driver's half that reads.

The SDK streams a session's messages: stream events and AssistantMessages make up each API reply
(a `model_turn`, priced with our table, whose tool_use blocks become `proposed` steps, in order);
UserMessages carry tool results (steps settle `done` / `failed`, then `tool_results`); the result
message ends the session (completed, failed on max_turns, or paused with Claude Code's reason).
This mixin holds that mapping; `ClaudeCodeRunner` (driver.py) holds the session and the gate.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from llmos_tui.core import runner as _runner
from llmos_tui.core.claude.runtime import ClaudeCodeRuntime
from llmos_tui.core.claude.transcript import sdk_block
from llmos_tui.core.config import AgentConfig
from llmos_tui.core.engine.recorder import RunRecorder
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.pricing import with_cost
from llmos_tui.core.state import Usage
from llmos_tui.core.statuses import RUN_TERMINAL


class ResumeRefused(Exception):
    """Claude Code could not resume the run's session (its transcript is gone)."""


class ClaudeCodeStream:
    """SDK messages → records. Mixed into ClaudeCodeRunner, whose state it shares (below)."""

    rec: RunRecorder
    ledger: Ledger
    config: AgentConfig
    cc: ClaudeCodeRuntime
    _turn: dict[str, Any] | None  # the API reply being streamed
    _closed_turns: set[str]
    _turn_seen: asyncio.Event
    _halt: bool
    _started: bool
    _pending_prompt: str | None
    _session_id: str | None | bool
    _exec_started: dict[str, float]
    _last_event: float

    if TYPE_CHECKING:

        def propose(self, use: dict[str, Any]) -> StepRecord: ...

        def stop_at_limits(self) -> bool: ...

        def _last_session(self) -> str | None: ...

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
            self.rec.record(
                "claude_session",
                data={
                    "session_id": sid,
                    "model": data.get("model"),
                    "claude_code_version": data.get("claude_code_version"),
                    "tools": data.get("tools"),
                },
            )
            self._session_id = sid
        if self._pending_prompt is not None:
            self.rec.record("user_message", data={"content": self._pending_prompt})
            self._pending_prompt = None

    def _on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        self._last_event = time.monotonic()
        if kind == "message_start":
            m = ev.get("message") or {}
            if self._turn is not None:
                self._drop_or_close_turn()  # a reply cut off midway, which Claude Code asks again
            self._turn = {
                "id": m.get("id"),
                "model": m.get("model") or self.config.model,
                "blocks": [],
                "usage": dict(m.get("usage") or {}),
                "stop_reason": None,
                "streaming": True,
            }
        elif kind == "content_block_delta":
            delta = ev.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                for listener in list(self.cc.text_listeners):
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
            self.rec.record(
                "note",
                data={"message": f"a late block of reply {mid} arrived after it ended; left out of the conversation"},
            )
            return
        if self._turn is None or (self._turn["id"] and mid and self._turn["id"] != mid):
            self._drop_or_close_turn()
            self._turn = {
                "id": mid,
                "model": msg.model,
                "blocks": [],
                "usage": dict(msg.usage or {}),
                "stop_reason": getattr(msg, "stop_reason", None),
                "streaming": False,
            }
        for b in msg.content:
            block = sdk_block(b)
            if block is not None:
                self._turn["blocks"].append(block)

    def _drop_or_close_turn(self) -> None:
        """A reply that never reached its end: one that streamed is dropped (Claude Code does not
        keep it either), one known only from its blocks is taken as it stands."""
        turn = self._turn
        if turn is not None and turn["streaming"]:
            self._turn = None
            if turn["blocks"]:
                self.rec.record(
                    "note",
                    data={"message": f"reply {turn['id']} was cut off before its end; left out of the conversation"},
                )
            return
        self._close_turn()

    def _close_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is None or not turn["blocks"] or self.ledger.status in RUN_TERMINAL:
            return
        if turn["id"]:
            self._closed_turns.add(turn["id"])
        if self._pending_prompt is not None:
            self.rec.record("user_message", data={"content": self._pending_prompt})
            self._pending_prompt = None
        u = turn["usage"]
        usage = with_cost(
            Usage(
                int(u.get("input_tokens") or 0),
                int(u.get("output_tokens") or 0),
                int(u.get("cache_read_input_tokens") or 0),
                int(u.get("cache_creation_input_tokens") or 0),
            ),
            turn["model"],
            self.config.prices,
        )
        blocks = turn["blocks"]
        stop = turn["stop_reason"] or ("tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn")
        self.rec.record(
            "model_turn", data={"content": blocks, "stop_reason": stop, "usage": usage.__dict__, "model": turn["model"]}
        )
        if self.ledger.status == "planning":
            self.rec.set_status("running")
        for b in blocks:
            if b["type"] == "tool_use" and b["id"] not in self.ledger.by_tool_use:
                self.propose(b)
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
            if step.status == "proposed":  # Claude Code answered it without asking (bad input …)
                if is_error:
                    self.rec.move(step, "failed", content=content, is_error=True)
                    continue
                self.rec.move(step, "running", human={"decision": "auto", "by": "claude-code"})
            if step.status == "awaiting_approval":
                self.rec.move(
                    step, "skipped", content=content, is_error=True, human={"decision": "skipped", "by": "claude-code"}
                )
            elif step.status == "running":
                started = self._exec_started.pop(step.tool_use_id, None)
                duration = round(_runner.timer() - started, 4) if started is not None else None
                self.rec.move(
                    step, "failed" if is_error else "done", content=content, is_error=is_error, duration_s=duration
                )
                if step.tool == "UpdatePlan" and not is_error and isinstance(step.inputs.get("steps"), list):
                    self.rec.record("plan_updated", data={"plan": step.inputs["steps"]})
        uses = led.pending_tool_uses()
        if uses and all(u.get("id") in led.by_tool_use and led.by_tool_use[u["id"]].settled for u in uses):
            self.rec.record("tool_results", data={"tool_use_ids": [u["id"] for u in uses]})
            self._halt = self.stop_at_limits() or self._halt

    def _on_result(self, msg: Any, resume: str | None) -> None:
        self._close_turn()
        led = self.ledger
        if not msg.is_error and msg.subtype == "success":
            if led.status not in RUN_TERMINAL and led.messages[-1]["role"] != "assistant":
                # nothing to end on: say so rather than start another session
                self.rec.record("note", data={"message": "Claude Code ended its reply without a final message"})
                if led.status == "paused":
                    return
                if led.status == "awaiting_approval":
                    self.rec.set_status("running")
                self.rec.set_status("completed", error=None)
            return  # the runner ends the run on the reply's end_turn
        why = (msg.result or "; ".join(str(e) for e in (msg.errors or [])) or msg.subtype).strip()
        if resume and not self._started and "No conversation found" in why:
            raise ResumeRefused(why[:300])
        if led.status in RUN_TERMINAL:
            return
        if msg.subtype == "error_max_turns":
            if led.status == "paused":
                self.rec.set_status("running")
            self.rec.set_status("failed", error={"type": "max_turns", "message": f"Claude Code: {why}"})
        elif led.status != "paused":
            status = f" (HTTP {msg.api_error_status})" if getattr(msg, "api_error_status", None) else ""
            self.rec.set_status("paused", error={"type": "runtime", "message": f"Claude Code: {why}{status}"[:600]})
