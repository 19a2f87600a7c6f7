"""`llmos-tui hook`: a Claude Code session a person runs themselves, recorded and gated as a run.

`llmos-tui init --claude` writes `.claude/settings.json` so that Claude Code calls `llmos-tui hook`
on PreToolUse, PostToolUse, PostToolUseFailure and Stop. Each call is one short process that reads
Claude Code's hook JSON on stdin, opens the run of that session in `<cwd>/workspace` (its name ends
in `-claude-<session_id>`; one run per reply, ended by Stop), journals the event's transitions
exactly as the runner does, and closes it again:

- PreToolUse proposes the call as a step and gates it (ToolMap, approval policy). A call the gate
  lets through is left to Claude Code's own permission rules (no output); one the ToolMap denies is
  denied; one that needs a person waits — holding the workspace's driver lock, so `llmos-tui
  approve|deny|skip` and a watching TUI's keys reach it through control.jsonl — and is answered in
  Claude Code's documented hook JSON (`hookSpecificOutput.permissionDecision` allow / deny, an
  edited call as `updatedInput`). With no decision before `--wait` seconds, the question goes back
  to Claude Code's own prompt (`ask`).
- PostToolUse / PostToolUseFailure settle the step (done / failed) with Claude Code's result;
  TodoWrite's list becomes the run's plan.
- Stop records Claude Code's last message and completes the run; calls that never reported a
  result (refused at Claude Code's prompt, interrupted) are settled as failed.

A hook never blocks Claude Code by accident: it exits 0 (or 1 with a one-line reason on stderr,
which Claude Code shows and ignores), never 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from llmos_tui.core.approval import gate
from llmos_tui.core.errors import FileFormatError, LlmosError, WorkspaceLocked
from llmos_tui.core.journal import Journal
from llmos_tui.core.ledger import StepRecord
from llmos_tui.core.lock import WorkspaceLock, holder_info
from llmos_tui.core.runner import RunOptions, Runner
from llmos_tui.core.state import to_front_matter
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.workspace import Workspace

EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop")
DEFAULT_WAIT_S = 120.0
RESULT_CAP = 30_000            # characters of a tool's response kept in the journal
NO_RESULT = ("Claude Code reported no result for this call: it was refused at Claude Code's own "
             "permission prompt, or interrupted.")
RUN_MARK = "-claude-"


# ---------------------------------------------------------------- settings (init --claude)

def hook_command(wait: float = DEFAULT_WAIT_S) -> str:
    """The command Claude Code runs: this interpreter, so a virtualenv needs no activation."""
    return f"{shlex.quote(sys.executable)} -m llmos_tui hook --wait {wait:g}"


def install_claude_hooks(project: Path, wait: float = DEFAULT_WAIT_S) -> tuple[str, str]:
    """Add llmos-tui's hooks to `<project>/.claude/settings.json`, keeping everything else in it.
    Returns (path, 'created' | 'updated' | 'kept'). A file that does not parse is left alone."""
    from llmos_tui.core.errors import BadInput
    from llmos_tui.core.fsutil import atomic_write

    path = Path(project) / ".claude" / "settings.json"
    rel = ".claude/settings.json"
    settings: dict[str, Any] = {}
    existed = path.exists()
    if existed:
        try:
            settings = json.loads(path.read_text(encoding="utf-8") or "{}")
        except ValueError as exc:
            raise BadInput(f"{path}:{getattr(exc, 'lineno', 1)}: not valid JSON ({exc}); fix it, then "
                           f"run `llmos-tui init --claude` again") from None
        if not isinstance(settings, dict) or not isinstance(settings.get("hooks", {}), dict):
            raise BadInput(f"{path}: expected a JSON object with `hooks` an object; left unchanged")
    hooks = settings.setdefault("hooks", {})
    command = hook_command(wait)
    changed = False
    for event in EVENTS:
        entries = hooks.setdefault(event, [])
        if not isinstance(entries, list):
            raise BadInput(f"{path}: hooks.{event} must be a list; left unchanged")
        ours = [h for e in entries if isinstance(e, dict) for h in e.get("hooks", [])
                if isinstance(h, dict) and "llmos_tui hook" in str(h.get("command", ""))
                or isinstance(h, dict) and "llmos-tui hook" in str(h.get("command", ""))]
        if ours:
            continue
        entry: dict[str, Any] = {"hooks": [{"type": "command", "command": command,
                                            "timeout": int(wait) + 30}]}
        if event != "Stop":
            entry = {"matcher": "*", **entry}
        entries.append(entry)
        changed = True
    if not changed:
        return rel, "kept"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    return rel, "updated" if existed else "created"


# ---------------------------------------------------------------- the run of a session

def _safe(session_id: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,80}", session_id or ""):
        return session_id
    return hashlib.sha256(str(session_id).encode()).hexdigest()[:16]


class HookRunner(Runner):
    """A run whose steps Claude Code runs; each hook process records one event of it."""

    @classmethod
    def reopen(cls, ws: Workspace, run_id: str, *, config: Any, registry: Any, lock: Any) -> "HookRunner":
        from llmos_tui.core.runner import reopen

        path, records, ledger, first = reopen(ws, run_id)
        runner = cls(ws, config, registry, None, Journal(path), ledger, lock, _options(), run_id,
                     initial_state=to_front_matter(first.snapshot(config.recent_steps)))
        runner.prompt_id = next((r["data"].get("prompt_id") for r in reversed(records)
                                 if r["kind"] == "claude_session"), None)
        try:
            runner._take_up_state_file(on_resume=True)   # a person's edit since the last event
        except FileFormatError as exc:
            runner._state_blocked = f"execution_state.md does not parse ({exc}); it is left as it is"
        return runner

    prompt_id: str | None = None

    # ------------------------------------------------------------ events

    def settle_unreported(self, *, handed_back_only: bool) -> None:
        """Calls Claude Code never reported a result for (refused at its own prompt, interrupted)."""
        led = self.ledger
        for step in list(led.steps[led.first_unsettled:]):
            if step.status == "running":
                if handed_back_only and step.human.get("decision") != "handed_back":
                    continue
                self._step(step, "failed", content=NO_RESULT, is_error=True)
            elif not handed_back_only and step.status in ("proposed", "awaiting_approval", "uncertain"):
                self._step(step, "skipped", content=NO_RESULT, is_error=True,
                           human={"decision": "skipped", "by": "claude-code"})

    def ensure_active(self) -> None:
        st = self.ledger.status
        if st == "planning":
            self._set_status("running")

    async def pre_tool_use(self, data: dict[str, Any], wait: float) -> dict[str, Any] | None:
        led = self.ledger
        self.settle_unreported(handed_back_only=True)
        step = self._step_of(data)
        self.ensure_active()
        if step.status == "proposed":
            spec = self.registry.specs.get(step.tool)
            policy = led.approval
            if spec is None:   # not a ToolMap tool: only the ask-everything policy stops it here
                decision = "ask" if policy == "ask" else "run"
            else:
                decision = gate(policy, spec)
            if decision == "run" and led.status == "paused":
                decision = "ask"   # paused in llmos-tui: every call waits for a person
            if decision == "deny":
                self._step(step, "denied", is_error=True, human={"decision": "denied", "by": "toolmap"},
                           content=f"{step.tool} is refused here: the ToolMap sets `approval: deny` for it.")
            elif decision == "ask":
                self._step(step, "awaiting_approval")
            else:
                self._step(step, "running", human={"decision": "auto"})
                self._record("step_exec", step=step.n)
                return None   # Claude Code's own permission rules decide, as without llmos-tui
        deadline = time.monotonic() + wait
        first = True
        while step.status == "awaiting_approval" and led.status not in RUN_TERMINAL:
            if led.status == "running":
                self._set_status("awaiting_approval")
            if time.monotonic() >= deadline:
                self._step(step, "running", human={"decision": "handed_back", "by": "timeout"})
                if led.status == "awaiting_approval":
                    self._set_status("running")
                self._record("step_exec", step=step.n)
                return _decision("ask", f"No decision in llmos-tui within {wait:g} s: Claude Code asks instead.")
            self._flush(force=first)   # the wait is on screen and durable before it begins
            first = False
            await asyncio.sleep(self.options.poll_interval)
            self._poll_control()
            self._take_up_state_file()
        if led.status == "cancelled":
            if step.status == "awaiting_approval":
                self._step(step, "skipped", content="The run was cancelled in llmos-tui; not run.",
                           is_error=True, human={"decision": "skipped", "by": "cancel"})
            return {"continue": False, "stopReason": "The run was cancelled in llmos-tui.",
                    **_decision("deny", "The person cancelled this run in llmos-tui.")}
        if step.status == "running":
            if step.human.get("decision") in ("auto", "handed_back"):
                return None       # the same event again: Claude Code's own rules decide, as before
            if not step.executing:
                self._record("step_exec", step=step.n)
                self.journal.sync()   # write-ahead: durable before Claude Code runs it
            out = _decision("allow", f"approved in llmos-tui ({step.human.get('decision', 'approved')})")
            if step.proposed_inputs is not None:
                out["hookSpecificOutput"]["updatedInput"] = dict(step.inputs)
            return out
        reason = step.content if isinstance(step.content, str) else json.dumps(step.content)
        return _decision("deny", reason or f"llmos-tui did not run this call ({step.status}).")

    def post_tool_use(self, data: dict[str, Any], *, failed: bool) -> None:
        step = self._step_of(data)
        self.ensure_active()
        if step.settled:
            return
        if step.status == "proposed":
            self._step(step, "running", human={"decision": "auto", "by": "claude-code"})
        elif step.status in ("awaiting_approval", "uncertain"):
            self._step(step, "running", human={"decision": "approved", "by": "claude-code"})
        if self.ledger.status == "awaiting_approval" and not any(
                s.status == "awaiting_approval" for s in self.ledger.steps[self.ledger.first_unsettled:]):
            self._set_status("running")
        if failed:
            content: Any = str(data.get("error") or "the tool failed")
            if data.get("is_interrupt"):
                content = f"interrupted: {content}"
        else:
            content = _result_text(data.get("tool_response"))
        duration = data.get("duration_ms")
        self._step(step, "failed" if failed else "done", content=content, is_error=failed,
                   duration_s=round(duration / 1000, 4) if isinstance(duration, (int, float)) else None)
        if not failed and step.tool == "TodoWrite":
            plan = _plan_from_todos(step.inputs)
            if plan:
                self._record("plan_updated", data={"plan": plan})

    async def stop(self, data: dict[str, Any]) -> None:
        led = self.ledger
        if led.status in RUN_TERMINAL:
            return
        self.settle_unreported(handed_back_only=False)
        text = data.get("last_assistant_message")
        if isinstance(text, str) and text.strip():
            self._record("model_turn", data={"content": [{"type": "text", "text": text}],
                                             "stop_reason": "end_turn", "usage": {}, "model": "claude-code"})
        if led.status in ("awaiting_approval", "paused", "planning"):
            self._set_status("running")
        self._set_status("completed", error=None)
        ended = getattr(self, "_on_ended", None)
        if ended is not None:   # SmartMemory and tool figures, as a driven run gets them
            await ended()

    def _step_of(self, data: dict[str, Any]) -> StepRecord:
        led = self.ledger
        tid = str(data.get("tool_use_id") or "")
        name = str(data.get("tool_name") or "?")
        inputs = data.get("tool_input") if isinstance(data.get("tool_input"), dict) else {}
        if tid and tid in led.by_tool_use:
            return led.by_tool_use[tid]
        if not tid:   # an older Claude Code: the latest open call with the same tool and inputs
            for s in reversed(led.steps[led.first_unsettled:]):
                if s.tool == name and (s.inputs == inputs or s.proposed_inputs == inputs):
                    return s
            tid = f"toolu_hook_{len(led.steps) + 1}"
        n = len(led.steps) + 1
        self._record("step_status", step=n, frm=None, to="proposed", data={
            "tool": name, "inputs": inputs, "tool_use_id": tid,
            "side_effects": self.registry.side_effects(name), "turn": led.turns - 1})
        return led.steps[n - 1]


def _options() -> RunOptions:
    return RunOptions(poll_interval=0.05)


def _decision(what: str, reason: str) -> dict[str, Any]:
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": what,
                                   "permissionDecisionReason": reason}}


def _result_text(response: Any) -> str:
    """Claude Code's tool_response as text: the output itself for the common shapes (Bash's
    stdout/stderr, Read's file content, what Write/Edit touched), else its JSON."""
    text = None
    if isinstance(response, str):
        text = response
    elif isinstance(response, dict):
        if isinstance(response.get("stdout"), str) or isinstance(response.get("stderr"), str):
            text = "\n".join(p for p in (response.get("stdout"), response.get("stderr")) if p)
        elif isinstance(response.get("file"), dict) and isinstance(response["file"].get("content"), str):
            text = response["file"]["content"]
        elif isinstance(response.get("filePath"), str) and response.get("type") in ("create", "update"):
            text = f"{'Created' if response['type'] == 'create' else 'Updated'} {response['filePath']}"
        elif isinstance(response.get("filePath"), str) and "oldString" in response:
            text = f"Edited {response['filePath']}"
    if text is None:
        text = json.dumps(response, ensure_ascii=False, default=str)
    if len(text) > RESULT_CAP:
        text = text[:RESULT_CAP] + f"\n… [{len(text) - RESULT_CAP} characters left out]"
    return text


def _plan_from_todos(inputs: dict[str, Any]) -> list[dict[str, str]]:
    todos = inputs.get("todos")
    if not isinstance(todos, list):
        return []
    plan = []
    for t in todos:
        if isinstance(t, dict) and str(t.get("content") or "").strip():
            status = t.get("status") if t.get("status") in ("pending", "in_progress", "completed") else "pending"
            plan.append({"title": str(t["content"]).strip(), "status": status})
    return plan


def _goal(data: dict[str, Any]) -> str:
    """The person's prompt this reply answers, from Claude Code's transcript (best effort)."""
    fallback = f"Claude Code session {data.get('session_id', '?')}"
    path = data.get("transcript_path")
    if not isinstance(path, str) or not path:
        return fallback
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 2_000_000))
            lines = fh.read().splitlines()
    except OSError:
        return fallback
    wanted = data.get("prompt_id")
    latest = None
    for raw in lines:
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("type") != "user" or rec.get("isMeta"):
            continue
        content = (rec.get("message") or {}).get("content")
        if isinstance(content, list):
            content = " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        if not isinstance(content, str) or not content.strip() or content.lstrip().startswith("<"):
            continue
        if wanted and rec.get("promptId") == wanted:
            return content.strip()[:2000]
        latest = content.strip()[:2000]
    return latest or fallback


# ---------------------------------------------------------------- one hook call

def _prompt_of(ws: Workspace, run_id: str) -> str | None:
    from llmos_tui.core.journal import iter_records

    for rec in iter_records(ws.run_dir(run_id) / "journal.jsonl"):
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


def _relabel(lock: WorkspaceLock, run_id: str) -> None:
    """Say in the lock file which run the holder drives (for `approve` and watchers)."""
    from llmos_tui.core.state import utcnow

    fd = getattr(lock, "_fd", None)
    if fd is not None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "run_id": run_id, "since": utcnow()}).encode(), 0)


async def handle(data: dict[str, Any], *, wait: float) -> dict[str, Any] | None:
    """Record one hook event; the JSON to print (None: print nothing)."""
    from llmos_tui.core.runtime.claude_code import ClaudeCodeRegistry
    from llmos_tui.core.session import load_parts

    event = data.get("hook_event_name")
    if event not in EVENTS:
        return None
    cwd = Path(str(data.get("cwd") or os.getcwd()))
    if not (cwd / "workspace").is_dir():
        print(f"llmos-tui hook: no workspace/ in {cwd} (set one up with `llmos-tui init --claude`); "
              f"not recorded", file=sys.stderr)
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
            return _decision("ask", f"llmos-tui is still waiting for a decision on another call in "
                                    f"{ws.root}; Claude Code asks instead")
        print(f"llmos-tui hook: {ws.root} is driven by another process (pid {holder.get('pid', '?')}, run "
              f"{holder.get('run_id', '?')}); this {event} is not recorded", file=sys.stderr)
        return None
    runner: HookRunner | None = None
    try:
        from llmos_tui.core.session import read_ledger

        runs = _session_runs(ws, sid)
        open_run = None
        prompt_id = data.get("prompt_id")
        latest = read_ledger(ws, runs[-1]) if runs else None
        if latest is not None and latest.status not in RUN_TERMINAL:
            open_run = HookRunner.reopen(ws, runs[-1], config=config, registry=registry, lock=lock)
        elif latest is not None:
            if event != "PreToolUse" and str(data.get("tool_use_id") or "") in latest.by_tool_use:
                return None   # the result of a call whose run has ended (cancelled meanwhile)
            if latest.status == "cancelled" and event == "PreToolUse" and prompt_id \
                    and prompt_id == _prompt_of(ws, runs[-1]):
                return {"continue": False, "stopReason": "The run was cancelled in llmos-tui.",
                        **_decision("deny", "The person cancelled this run in llmos-tui.")}
        if open_run is not None and prompt_id and open_run.prompt_id and prompt_id != open_run.prompt_id:
            # a new prompt while the last reply never reached Stop (interrupted): that run ends
            open_run.settle_unreported(handed_back_only=False)
            open_run._set_status("cancelled", reason="Claude Code went on to a new prompt before this reply ended")
            open_run.lock = _NoLock()
            open_run.close()
            open_run = None
        if open_run is None:
            if event == "Stop":
                return None   # a reply without tool calls: nothing to record
            run_id = f"{ws.new_run_id()}{RUN_MARK}{sid}"
            _relabel(lock, run_id)
            runner = HookRunner._open(  # type: ignore[assignment]
                ws, _goal(data), config=config.with_(model="claude-code"), registry=registry,
                runtime=None, runtime_name="external", mode="execute", variables=None,
                options=_options(), run_id=run_id, run_files=None, lock=lock)
            runner.prompt_id = prompt_id
            runner._record("claude_session", data={"session_id": data.get("session_id"), "prompt_id": prompt_id,
                                                   "cwd": str(cwd), "transcript_path": data.get("transcript_path"),
                                                   "hooks": True})
        else:
            runner = open_run
            if runner.run_id != guess:
                _relabel(lock, runner.run_id)
        lock = None   # the runner releases it
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


class _NoLock:
    def release(self) -> None:
        pass


def main(stdin: str, *, wait: float) -> int:
    """`llmos-tui hook`: exit 0 (decision on stdout, or none), 1 with a reason on stderr. Never 2,
    which Claude Code would take as "block this call"."""
    try:
        data = json.loads(stdin or "{}")
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        print(f"llmos-tui hook: stdin is not Claude Code's hook JSON ({exc})", file=sys.stderr)
        return 1
    try:
        out = asyncio.run(handle(data, wait=wait))
    except LlmosError as exc:
        print(f"llmos-tui hook: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a hook must never take Claude Code down
        print(f"llmos-tui hook: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if out is not None:
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0
