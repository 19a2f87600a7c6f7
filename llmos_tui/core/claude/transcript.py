"""What Claude Code says, in llmos-tui's terms: the SDK's content blocks as Messages-API blocks,
a hook's tool_response as the result text, TodoWrite's list as a plan, and the person's prompt
from a session's transcript."""

from __future__ import annotations

import json
import os
from typing import Any

from llmos_tui.core.claude.runtime import tool_name
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.text import inputs_gist

RESULT_CAP = 30_000  # characters of a tool's response kept in the journal


def sdk_block(b: Any) -> dict[str, Any] | None:
    """An SDK content block as a Messages-API block."""
    kind = type(b).__name__
    if kind == "TextBlock":
        return {"type": "text", "text": b.text}
    if kind == "ToolUseBlock":  # UpdatePlan under its own name, as the ToolMap and the trace know it
        return {"type": "tool_use", "id": b.id, "name": tool_name(b.name), "input": dict(b.input or {})}
    if kind == "ThinkingBlock":
        return {"type": "thinking", "thinking": b.thinking, "signature": b.signature}
    if kind == "ServerToolUseBlock":
        return {"type": "server_tool_use", "id": b.id, "name": b.name, "input": dict(b.input or {})}
    if kind == "ServerToolResultBlock":
        return {**(b.content if isinstance(b.content, dict) else {}), "tool_use_id": b.tool_use_id}
    return None


def result_text(response: Any) -> str:
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


def plan_from_todos(inputs: dict[str, Any]) -> list[dict[str, str]]:
    todos = inputs.get("todos")
    if not isinstance(todos, list):
        return []
    plan: list[dict[str, str]] = []
    for t in todos:
        if isinstance(t, dict) and str(t.get("content") or "").strip():
            status = str(t["status"]) if t.get("status") in ("pending", "in_progress", "completed") else "pending"
            plan.append({"title": str(t["content"]).strip(), "status": status})
    return plan


def goal_from_transcript(data: dict[str, Any]) -> str:
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


# ---------------------------------------------------------------- prompts for a resumed run


def step_line(s: StepRecord) -> str:
    line = f"- step {s.n} {s.tool}({inputs_gist(s.inputs)}) [{s.tool_use_id}]: {s.status}"
    decision = s.human.get("decision")
    if decision and decision != "auto":
        line += f" ({decision}{': ' + s.human['feedback'] if s.human.get('feedback') else ''})"
    if s.result_preview():
        line += f" — {s.result_preview()}"
    return line


def continuation_prompt(led: Ledger, nudge: str | None) -> str:
    """What a resumed Claude Code session is told: where its last calls stand."""
    parts = ["[llmos-tui] This run was interrupted and is now resumed."]
    last_turn = max((s.turn for s in led.steps), default=-1)
    recent = [s for s in led.steps if s.turn == last_turn and last_turn == led.turns - 1]
    if recent and led.messages[-1]["role"] == "user":
        parts.append(
            "Where your last tool calls stand. Your session may record a call as rejected or "
            "interrupted; a call not finished there was settled by llmos-tui (run by it after "
            "a person's decision, or not run), and this list is what happened:"
        )
        parts += [step_line(s) for s in recent]
    if nudge:
        parts.append(nudge)
    parts.append(f"Continue with the goal: {led.goal}")
    return "\n".join(parts)


def summary_prompt(led: Ledger, nudge: str | None) -> str:
    """A new session's first message when the old one cannot be resumed: the run so far."""
    parts = [
        led.goal,
        "",
        "[llmos-tui] This run was interrupted, and Claude Code's earlier session could not be "
        "resumed. What was done so far:",
    ]
    steps = led.steps[-50:]
    if len(led.steps) > len(steps):
        parts.append(f"({len(led.steps) - len(steps)} earlier tool calls left out)")
    parts += [step_line(s) for s in steps] or ["(no tool calls yet)"]
    if led.last_text:
        parts += ["", f"Your last words: {led.last_text[:2000]}"]
    if nudge:
        parts.append(nudge)
    parts.append("Continue from here.")
    return "\n".join(parts)
