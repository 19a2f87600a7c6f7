"""One trace's conversation made into what every training format starts from.

`conversation()` takes a trace (already filtered and redacted) and gives its Messages-API
conversation cleaned, told as it ran, and ending on an assistant turn:

cleaned     no cache_control keys, no empty text, no empty turns, adjacent turns of one role
            merged (tool_results first), starting with the user's turn; `text_only` also drops
            thinking blocks.
as it ran   a call a person edited shows the inputs it ran with, and its result loses the note
            that told the model about the change (core/editnote.py): the row shows one call and
            its result, consistent, and the model learns the corrected call. (seed keeps the
            story as it happened; preference keeps the original as `rejected`.)
trimmed     trailing work nobody answered is cut: trailing user turns (tool results the model
            never answered, a nudge), then a last assistant turn unless every call in it ran
            and succeeded (a call a person denied or skipped, one that failed, was refused or
            never finished is no ending to learn); repeated until the row ends on an assistant
            turn. The row then says `truncated`. A conversation with no assistant turn left is
            None: the run gives no row in that format (counted as skipped).
single call with `single_call`, an assistant turn with k parallel calls becomes k turns of one
            call each, each answered at once by its result (the turn's text goes with the first).

Steps and calls are matched by tool_use id (trace.json's transitions carry it), or, in a trace
written before they did, by order: step n is the n-th call of the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from llmos_tui.core.editnote import strip_edit_note

PERSON_DECISIONS = frozenset({"approved", "edited", "denied", "skipped", "retried"})


def person_decided(t: dict[str, Any]) -> bool:
    """A person (not the policy, not the ToolMap) decided this step."""
    human = t.get("human") or {}
    decision = human.get("decision")
    if decision not in PERSON_DECISIONS:
        return False
    if decision == "denied":
        return is_person_denial(human)
    return True


def is_person_denial(human: dict[str, Any]) -> bool:
    # a ToolMap refusal is recorded `by: toolmap`; a person's denial always carries a reason
    return human.get("decision") == "denied" and human.get("by") != "toolmap" and "feedback" in human


def ran_edited(t: dict[str, Any]) -> bool:
    """A person edited this step's inputs and it then ran (or was approved to run) with them."""
    human = t.get("human") or {}
    return human.get("proposed_inputs") is not None and human.get("decision") in ("edited", "approved", "retried")


def metadata(trace: dict[str, Any]) -> dict[str, Any]:
    md = {
        "execution_id": trace.get("execution_id"),
        "goal": trace.get("goal"),
        "mode": trace.get("mode"),
        "model": trace.get("model"),
        "final_outcome": trace.get("final_outcome"),
        "total_cost": trace.get("total_cost"),
        "started_at": (trace.get("initial_state") or {}).get("started_at"),
    }
    if trace.get("parent"):
        md["parent"] = trace["parent"]
    if trace.get("forked_from"):
        md["forked_from"] = trace["forked_from"]
    return md


class Tally(Protocol):
    """Where a converter counts its rows cut short and the runs it had nothing left to give."""

    trimmed: int
    skipped: int


@dataclass
class RowTally:
    trimmed: int = 0
    skipped: int = 0


@dataclass
class Conversation:
    messages: list[dict[str, Any]]
    truncated: bool
    edited_steps: list[int]
    steps: dict[str, dict[str, Any]]  # tool_use id → its transition

    def metadata(self, trace: dict[str, Any]) -> dict[str, Any]:
        md = metadata(trace)
        if self.truncated:
            md["truncated"] = True
        if self.edited_steps:
            md["edited_steps"] = self.edited_steps
        return md


def conversation(
    trace: dict[str, Any], *, text_only: bool = False, single_call: bool = False, trim: bool = True
) -> Conversation | None:
    """The trace's conversation cleaned, as it ran and trimmed (see the module's doc); None when
    no assistant turn is left."""
    messages = clean_messages(trace.get("messages") or [], text_only=text_only)
    steps = steps_by_call(trace, messages)
    messages, edited = as_run(messages, steps)
    if single_call:
        messages = split_parallel_calls(messages)
    truncated = False
    if trim:
        messages, truncated = trim_tail(messages, steps)
    if not any(m["role"] == "assistant" for m in messages):
        return None
    return Conversation(messages, truncated, edited, steps)


def steps_by_call(trace: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    transitions = [t for t in trace.get("transitions") or [] if isinstance(t, dict)]
    out = {str(t["tool_use_id"]): t for t in transitions if t.get("tool_use_id")}
    if out:
        return out
    by_n = {t.get("step"): t for t in transitions}
    n = 0
    for m in messages:
        if m["role"] != "assistant":
            continue
        for b in m["content"]:
            if b.get("type") == "tool_use":
                n += 1
                t = by_n.get(n)
                if t is not None and t.get("tool") == b["name"]:
                    out[b["id"]] = t
    return out


def as_run(messages: list[dict[str, Any]], steps: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """Edited calls with the inputs they ran with, their results without the edit note."""
    edited: list[int] = []
    out = []
    for m in messages:
        if m["role"] == "assistant":
            content = []
            for b in m["content"]:
                t = steps.get(b["id"]) if b.get("type") == "tool_use" else None
                if t is not None and ran_edited(t) and isinstance(t.get("inputs"), dict):
                    b = {**b, "input": t["inputs"]}
                    edited.append(int(t.get("step") or 0))
                content.append(b)
            out.append({"role": "assistant", "content": content})
        elif isinstance(m["content"], list):
            out.append(
                {
                    "role": "user",
                    "content": [
                        {**b, "content": strip_edit_note(b.get("content"))} if b.get("type") == "tool_result" else b
                        for b in m["content"]
                    ],
                }
            )
        else:
            out.append(m)
    return out, edited


def split_parallel_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One call per assistant turn, each followed by its result (see the module's doc)."""
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(messages):
        m = messages[i]
        uses = [b for b in m["content"] if b.get("type") == "tool_use"] if m["role"] == "assistant" else []
        if len(uses) < 2:
            out.append(m)
            i += 1
            continue
        others = [b for b in m["content"] if b.get("type") != "tool_use"]
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        results = {}
        rest: list[dict[str, Any]] = []
        if nxt is not None and nxt["role"] == "user":
            blocks = as_blocks(nxt["content"])
            results = {b["tool_use_id"]: b for b in blocks if b.get("type") == "tool_result"}
            rest = [b for b in blocks if b.get("type") != "tool_result"]
        for k, use in enumerate(uses):
            out.append({"role": "assistant", "content": ([*others] if k == 0 else []) + [use]})
            if use["id"] in results:
                out.append({"role": "user", "content": [results[use["id"]]]})
        if rest:
            if out[-1]["role"] == "user":
                out[-1] = {"role": "user", "content": out[-1]["content"] + rest}
            else:
                out.append({"role": "user", "content": rest})
        i += 2 if nxt is not None and nxt["role"] == "user" else 1
    return out


def trim_tail(messages: list[dict[str, Any]], steps: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """Cut what nobody answered at the end, until an assistant turn ends the row."""
    truncated = False
    while len(messages) > 1:
        last = messages[-1]
        if last["role"] == "user":
            messages = messages[:-1]
            truncated = True
            continue
        blocks = as_blocks(last["content"])
        uses = [b for b in blocks if b.get("type") == "tool_use"]
        said = any(b.get("type") in ("text", "tool_use") for b in blocks)
        if said and all((steps.get(b["id"]) or {}).get("status") == "done" for b in uses):
            break
        messages = messages[:-1]
        truncated = True
    return messages, truncated


# ====================================================================== cleaning


def clean_messages(messages: list[dict[str, Any]], *, text_only: bool = False) -> list[dict[str, Any]]:
    """Messages with block lists cleaned (no cache_control, no empty text), empty messages gone,
    adjacent turns of one role merged (tool_results first), starting with a user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            continue
        content = m.get("content")
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}] if content.strip() else []
        elif isinstance(content, list):
            blocks = [b for b in (_clean_block(b, role, text_only) for b in content) if b is not None]
        else:
            blocks = []
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            merged = out[-1]["content"] + blocks
            if role == "user":
                merged = [b for b in merged if b.get("type") == "tool_result"] + [
                    b for b in merged if b.get("type") != "tool_result"
                ]
            out[-1] = {"role": role, "content": merged}
        else:
            out.append({"role": role, "content": blocks})
    while out and out[0]["role"] != "user":
        out.pop(0)
    # a user turn holding only plain text keeps the plain string form of the conversation
    return [
        {"role": m["role"], "content": m["content"][0]["text"]}
        if m["role"] == "user" and len(m["content"]) == 1 and m["content"][0].get("type") == "text"
        else m
        for m in out
    ]


def _clean_block(b: Any, role: str, text_only: bool) -> dict[str, Any] | None:
    if not isinstance(b, dict):
        return None
    kind = b.get("type")
    if kind == "text":
        text = b.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) and text.strip() else None
    if role == "assistant":
        if kind == "tool_use" and b.get("id") and b.get("name"):
            inp = b.get("input")
            return {
                "type": "tool_use",
                "id": str(b["id"]),
                "name": str(b["name"]),
                "input": inp if isinstance(inp, dict) else {},
            }
        if kind in ("thinking", "redacted_thinking") and not text_only:
            return strip_block(b)
        return None
    if kind == "tool_result" and b.get("tool_use_id"):
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": str(b["tool_use_id"]),
            "content": _clean_result_content(b.get("content")),
        }
        if b.get("is_error"):
            block["is_error"] = True
        return block
    if kind == "image":
        return strip_block(b)
    return None


def _clean_result_content(content: Any) -> Any:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        blocks = []
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "text":
                if isinstance(b.get("text"), str) and b["text"].strip():
                    blocks.append({"type": "text", "text": b["text"]})
            elif b.get("type") == "image":
                blocks.append(strip_cache_control(b))
        return blocks or ""
    return str(content)


def as_blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def strip_block(block: dict[str, Any]) -> dict[str, Any]:
    return {k: strip_cache_control(v) for k, v in block.items() if k != "cache_control"}


def strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [strip_cache_control(v) for v in value]
    return value


def anthropic_tools(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        strip_cache_control({k: v for k, v in t.items() if k in ("name", "description", "input_schema")})
        for t in trace.get("tools") or []
        if isinstance(t, dict) and t.get("name")
    ]


def function_tools(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The tools as JSON-schema functions: [{type: function, function: {name, description, parameters}}]."""
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {"type": "object"},
            },
        }
        for t in anthropic_tools(trace)
    ]


# ====================================================================== text for text-only formats


def image_placeholder(b: dict[str, Any]) -> str:
    src = b.get("source") or {}
    media = src.get("media_type") or "image"
    data = src.get("data")
    size = ""
    if isinstance(data, str):
        data = "".join(data.split())
        size = f", {len(data) * 3 // 4 - (len(data) - len(data.rstrip('=')))} bytes"  # base64 padding is no data
    return f"[image {media}{size} not included]"


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    parts = []
    for b in blocks:
        if b.get("type") == "text":
            parts.append(b["text"])
        elif b.get("type") == "image":
            parts.append(image_placeholder(b))
    return "\n".join(parts)


def result_text(b: dict[str, Any]) -> str:
    """A tool_result's content as one string (images as placeholders), errors marked."""
    content = b.get("content")
    text = content if isinstance(content, str) else blocks_text(content or [])
    return ("Error: " + text) if b.get("is_error") else text


def turn_text(blocks: list[dict[str, Any]]) -> str:
    return "\n\n".join(b["text"] for b in blocks if b.get("type") == "text")
