"""The hook driver: a Claude Code session a person runs themselves, recorded and gated as a run.

`llmos-tui init --claude` (core/claude/settings.py) writes `.claude/settings.json` so that Claude
Code calls `llmos-tui hook` on PreToolUse, PostToolUse, PostToolUseFailure and Stop. Each call is
one short process that reads Claude Code's hook JSON on stdin, opens the run of that session in
`<cwd>/workspace` (its name ends in `-claude-<session_id>`; one run per reply, ended by Stop),
records the event through the run's RunRecorder, and closes it again:

- PreToolUse proposes the call as a step and passes it through the one gate (core/engine/gate.py,
  driver "hook"). A call the gate lets through is left to Claude Code's own permission rules (no
  output); one the ToolMap denies is denied; one that needs a person waits — holding the
  workspace's driver lock, so `llmos-tui approve|deny|skip` and a watching TUI's keys reach it
  through control.jsonl — and is answered in Claude Code's documented hook JSON
  (`hookSpecificOutput.permissionDecision` allow / deny, an edited call as `updatedInput`). With
  no decision before `--wait` seconds, the question goes back to Claude Code's own prompt (`ask`).
- PostToolUse / PostToolUseFailure settle the step (done / failed) with Claude Code's result;
  TodoWrite's list becomes the run's plan.
- Stop records Claude Code's last message and completes the run; calls that never reported a
  result (refused at Claude Code's prompt, interrupted) are settled as failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from llmos_tui.core.claude.runtime import ClaudeCodeRegistry
from llmos_tui.core.claude.settings import EVENTS
from llmos_tui.core.claude.transcript import goal_from_transcript, plan_from_todos, result_text
from llmos_tui.core.config import AgentConfig
from llmos_tui.core.control import ControlChannel
from llmos_tui.core.engine import gate
from llmos_tui.core.engine.commands import Commands
from llmos_tui.core.engine.lifecycle import create_run, reopen_run
from llmos_tui.core.engine.recorder import NoLock, Releasable, RunOptions, RunRecorder
from llmos_tui.core.errors import FileFormatError, WorkspaceLocked
from llmos_tui.core.ledger import StepRecord
from llmos_tui.core.lock import WorkspaceLock, holder_info
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.workspace import Workspace

NO_RESULT = (
    "Claude Code reported no result for this call: it was refused at Claude Code's own "
    "permission prompt, or interrupted."
)
RUN_MARK = "-claude-"


def _safe(session_id: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,80}", session_id or ""):
        return session_id
    return hashlib.sha256(str(session_id).encode()).hexdigest()[:16]


class HookRun:
    """A run whose steps Claude Code runs; each hook process records one event of it, through
    the run's RunRecorder and Commands like every other driver."""

    def __init__(self, rec: RunRecorder, prompt_id: str | None = None) -> None:
        self.rec = rec
        self.ledger = rec.ledger
        self.options = rec.options
        self.prompt_id = prompt_id
        self.commands = Commands(rec, ControlChannel(rec.ws.control_path(rec.run_id)))

    @classmethod
    def reopen(
        cls, ws: Workspace, run_id: str, *, config: AgentConfig, registry: ToolRegistry, lock: Releasable
    ) -> HookRun:
        rec, records = reopen_run(ws, run_id, config=config, registry=registry, options=_options(), lock=lock)
        run = cls(
            rec, next((r["data"].get("prompt_id") for r in reversed(records) if r["kind"] == "claude_session"), None)
        )
        try:
            run.commands.take_up_state_file(on_resume=True)  # a person's edit since the last event
        except FileFormatError as exc:
            rec.blocked = f"execution_state.md does not parse ({exc}); it is left as it is"
        return run

    @classmethod
    def create(
        cls,
        ws: Workspace,
        run_id: str,
        goal: str,
        *,
        config: AgentConfig,
        registry: ToolRegistry,
        lock: Releasable,
        prompt_id: str | None,
    ) -> HookRun:
        rec = create_run(
            ws,
            goal,
            config=config,
            registry=registry,
            options=_options(),
            lock=lock,
            run_id=run_id,
            runtime_name="external",
            mode="execute",
        )
        rec.flush(force=True)
        return cls(rec, prompt_id)

    @property
    def run_id(self) -> str:
        return self.rec.run_id

    def close(self) -> None:
        self.rec.close()

    def cancel(self, reason: str) -> None:
        self.rec.set_status("cancelled", reason=reason)

    # ------------------------------------------------------------ events

    def settle_unreported(self, *, handed_back_only: bool) -> None:
        """Calls Claude Code never reported a result for (refused at its own prompt, interrupted)."""
        led = self.ledger
        for step in list(led.steps[led.first_unsettled :]):
            if step.status == "running":
                if handed_back_only and step.human.get("decision") != "handed_back":
                    continue
                self.rec.move(step, "failed", content=NO_RESULT, is_error=True)
            elif not handed_back_only and step.status in ("proposed", "awaiting_approval", "uncertain"):
                self.rec.move(
                    step,
                    "skipped",
                    content=NO_RESULT,
                    is_error=True,
                    human={"decision": "skipped", "by": "claude-code"},
                )

    def ensure_active(self) -> None:
        st = self.ledger.status
        if st == "planning":
            self.rec.set_status("running")

    async def pre_tool_use(self, data: dict[str, Any], wait: float) -> dict[str, Any] | None:
        led = self.ledger
        self.settle_unreported(handed_back_only=True)
        step = self._step_of(data)
        self.ensure_active()
        if step.status == "proposed":
            verdict = gate.decide(
                step.tool,
                step.inputs,
                policy=led.approval,
                registry=self.rec.registry,
                driver="hook",
                paused=led.status == "paused",
            )
            gate.settle(self.rec, step, verdict)
            if step.status == "running":
                self.rec.start_exec(step, durable=False)
                return None  # Claude Code's own permission rules decide, as without llmos-tui
        deadline = time.monotonic() + wait
        first = True
        while step.status == "awaiting_approval" and led.status not in RUN_TERMINAL:
            if led.status == "running":
                self.rec.set_status("awaiting_approval")
            if time.monotonic() >= deadline:
                self.rec.move(step, "running", human={"decision": "handed_back", "by": "timeout"})
                if led.status == "awaiting_approval":
                    self.rec.set_status("running")
                self.rec.start_exec(step, durable=False)
                return _decision("ask", f"No decision in llmos-tui within {wait:g} s: Claude Code asks instead.")
            self.rec.flush(force=first)  # the wait is on screen and durable before it begins
            first = False
            await asyncio.sleep(self.options.poll_interval)
            self.commands.poll()
            self.commands.take_up_state_file()
        if led.status == "cancelled":
            if step.status == "awaiting_approval":
                self.rec.move(
                    step,
                    "skipped",
                    content="The run was cancelled in llmos-tui; not run.",
                    is_error=True,
                    human={"decision": "skipped", "by": "cancel"},
                )
            return {
                "continue": False,
                "stopReason": "The run was cancelled in llmos-tui.",
                **_decision("deny", "The person cancelled this run in llmos-tui."),
            }
        if step.status == "running":
            if step.human.get("decision") in ("auto", "handed_back"):
                return None  # the same event again: Claude Code's own rules decide, as before
            if not step.executing:
                self.rec.start_exec(step, durable=True)  # write-ahead: durable before Claude Code runs it
            out = _decision("allow", f"approved in llmos-tui ({step.human.get('decision', 'approved')})")
            if step.proposed_inputs is not None:
                out["hookSpecificOutput"]["updatedInput"] = dict(self.rec.raw_inputs(step) or step.inputs)
            return out
        reason = step.content if isinstance(step.content, str) else json.dumps(step.content)
        return _decision("deny", reason or f"llmos-tui did not run this call ({step.status}).")

    def post_tool_use(self, data: dict[str, Any], *, failed: bool) -> None:
        step = self._step_of(data)
        self.ensure_active()
        if step.settled:
            return
        if step.status == "proposed":
            self.rec.move(step, "running", human={"decision": "auto", "by": "claude-code"})
        elif step.status in ("awaiting_approval", "uncertain"):
            self.rec.move(step, "running", human={"decision": "approved", "by": "claude-code"})
        if self.ledger.status == "awaiting_approval" and not any(
            s.status == "awaiting_approval" for s in self.ledger.steps[self.ledger.first_unsettled :]
        ):
            self.rec.set_status("running")
        if failed:
            content: Any = str(data.get("error") or "the tool failed")
            if data.get("is_interrupt"):
                content = f"interrupted: {content}"
        else:
            content = result_text(data.get("tool_response"))
        duration = data.get("duration_ms")
        self.rec.move(
            step,
            "failed" if failed else "done",
            content=content,
            is_error=failed,
            duration_s=round(duration / 1000, 4) if isinstance(duration, (int, float)) else None,
        )
        if not failed and step.tool == "TodoWrite":
            plan = plan_from_todos(step.inputs)
            if plan:
                self.rec.record("plan_updated", data={"plan": plan})

    async def stop(self, data: dict[str, Any]) -> None:
        led = self.ledger
        if led.status in RUN_TERMINAL:
            return
        self.settle_unreported(handed_back_only=False)
        text = data.get("last_assistant_message")
        if isinstance(text, str) and text.strip():
            self.rec.record(
                "model_turn",
                data={
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "usage": {},
                    "model": "claude-code",
                },
            )
        if led.status in ("awaiting_approval", "paused", "planning"):
            self.rec.set_status("running")
        self.rec.set_status("completed", error=None)
        # SmartMemory and tool figures, as a driven run gets them (a reply that called no tool teaches
        # nothing worth a memory entry)
        await self.rec.end(None, remember=bool(led.steps))

    def _step_of(self, data: dict[str, Any]) -> StepRecord:
        led = self.ledger
        tid = str(data.get("tool_use_id") or "")
        name = str(data.get("tool_name") or "?")
        inputs = data.get("tool_input") if isinstance(data.get("tool_input"), dict) else {}
        if tid and tid in led.by_tool_use:
            return led.by_tool_use[tid]
        if not tid:  # an older Claude Code: the latest open call with the same tool and inputs
            for s in reversed(led.steps[led.first_unsettled :]):
                if s.tool == name and (s.inputs == inputs or s.proposed_inputs == inputs):
                    return s
            tid = f"toolu_hook_{len(led.steps) + 1}"
        return self.rec.open_step({"id": tid, "name": name, "input": inputs})


def _options() -> RunOptions:
    return RunOptions(poll_interval=0.05)


def _decision(what: str, reason: str) -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": what,
            "permissionDecisionReason": reason,
        }
    }


# ---------------------------------------------------------------- one hook call


def _prompt_of(ws: Workspace, run_id: str) -> str | None:
    from llmos_tui.core.journal import iter_records

    for rec in iter_records(ws.journal_path(run_id)):
        if rec["kind"] == "claude_session":
            return rec["data"].get("prompt_id")
    return None


def _session_runs(ws: Workspace, sid: str) -> list[str]:
    return [r for r in ws.run_ids() if r.endswith(RUN_MARK + sid)]


async def _acquire(ws: Workspace, run_id: str, deadline: float) -> WorkspaceLock | None:
    """The workspace's driver lock. Another hook of this session holds it while a call waits for a
    person: wait for it. Anything else drives the workspace: None (the call is not recorded)."""
    while True:
        lock = WorkspaceLock(ws.root)
        try:
            lock.acquire(run_id)
            return lock
        except WorkspaceLocked:
            holder = holder_info(ws.root) or {}
            if RUN_MARK not in str(holder.get("run_id", "")) or time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)


async def handle(data: dict[str, Any], *, wait: float) -> dict[str, Any] | None:
    """Record one hook event; the JSON to print (None: print nothing)."""
    from llmos_tui.core.session import load_parts, read_ledger

    event = data.get("hook_event_name")
    if event not in EVENTS:
        return None
    cwd = Path(str(data.get("cwd") or os.getcwd()))
    if not (cwd / "workspace").is_dir():
        print(
            f"llmos-tui hook: no workspace/ in {cwd} (set one up with `llmos-tui init --claude`); not recorded",
            file=sys.stderr,
        )
        return None
    ws = Workspace(root=(cwd / "workspace").resolve(), system=cwd.resolve() / "system")
    config, registry = load_parts(ws)
    registry = ClaudeCodeRegistry(registry.specs)
    sid = _safe(str(data.get("session_id") or "unknown"))
    runs = _session_runs(ws, sid)
    guess = runs[-1] if runs else f"{ws.new_run_id()}{RUN_MARK}{sid}"
    deadline = time.monotonic() + (max(wait, 1.0) if event == "PreToolUse" else wait + 10)
    lock = await _acquire(ws, guess, deadline)
    if lock is None:
        holder = holder_info(ws.root) or {}
        if RUN_MARK in str(holder.get("run_id", "")) and event == "PreToolUse":
            # another call (of this session or another) still waits for a person there
            return _decision(
                "ask",
                f"llmos-tui is still waiting for a decision on another call in {ws.root}; Claude Code asks instead",
            )
        print(
            f"llmos-tui hook: {ws.root} is driven by another process (pid {holder.get('pid', '?')}, run "
            f"{holder.get('run_id', '?')}); this {event} is not recorded",
            file=sys.stderr,
        )
        return None
    runner: HookRun | None = None
    try:
        runs = _session_runs(ws, sid)
        open_run = None
        prompt_id = data.get("prompt_id")
        latest = read_ledger(ws, runs[-1]) if runs else None
        if latest is not None and latest.status not in RUN_TERMINAL:
            open_run = HookRun.reopen(ws, runs[-1], config=config, registry=registry, lock=lock)
        elif latest is not None:
            if event != "PreToolUse" and str(data.get("tool_use_id") or "") in latest.by_tool_use:
                return None  # the result of a call whose run has ended (cancelled meanwhile)
            if (
                latest.status == "cancelled"
                and event == "PreToolUse"
                and prompt_id
                and prompt_id == _prompt_of(ws, runs[-1])
            ):
                return {
                    "continue": False,
                    "stopReason": "The run was cancelled in llmos-tui.",
                    **_decision("deny", "The person cancelled this run in llmos-tui."),
                }
        if open_run is not None and prompt_id and open_run.prompt_id and prompt_id != open_run.prompt_id:
            # a new prompt while the last reply never reached Stop (interrupted): that run ends
            open_run.settle_unreported(handed_back_only=False)
            open_run.cancel("Claude Code went on to a new prompt before this reply ended")
            open_run.rec.lock = NoLock()  # the lock stays held: it is this event's
            open_run.close()
            open_run = None
        if open_run is None:
            if event == "Stop":
                return None  # a reply without tool calls: nothing to record
            run_id = f"{ws.new_run_id()}{RUN_MARK}{sid}"
            lock.relabel(run_id)
            runner = HookRun.create(
                ws,
                run_id,
                goal_from_transcript(data),
                config=config.with_(model="claude-code"),
                registry=registry,
                lock=lock,
                prompt_id=prompt_id,
            )
            runner.rec.record(
                "claude_session",
                data={
                    "session_id": data.get("session_id"),
                    "prompt_id": prompt_id,
                    "cwd": str(cwd),
                    "transcript_path": data.get("transcript_path"),
                    "hooks": True,
                },
            )
        else:
            runner = open_run
            if runner.run_id != guess:
                lock.relabel(runner.run_id)
        lock = None  # the runner releases it
        if event == "PreToolUse":
            return await runner.pre_tool_use(data, wait)
        if event in ("PostToolUse", "PostToolUseFailure"):
            runner.post_tool_use(data, failed=event == "PostToolUseFailure")
            return None
        await runner.stop(data)
        return None
    finally:
        if runner is not None:
            runner.close()
        elif lock is not None:
            lock.release()
