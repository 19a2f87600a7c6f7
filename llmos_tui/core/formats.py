"""Export formats: one trace (already filtered and redacted) → its rows, one per format.

Formats (one JSON object per line)
    seed        the trace as it is (redacted): nothing lost, for re-import and analysis.
    anthropic   {system, tools, messages, metadata}: Messages-API shape. messages start with a
                user turn and strictly alternate user/assistant (adjacent turns of one role are
                merged); every tool_use is answered by a tool_result with its id in the very next
                user turn, tool_results first; no cache_control keys, no empty text blocks; the
                last turn is the assistant's, or the user turn carrying the results of the last
                answered calls (a run that stopped there).
    openai      {messages, tools}: chat fine-tuning shape. [system], user, then assistant turns
                {content (string, or null when it only calls tools), tool_calls: [{id,
                type: "function", function: {name, arguments: JSON string}}]}, each followed at
                once by one `tool` message {tool_call_id, content: string} per call, in order.
                Images become "[image …]" placeholders; an error result's content starts with
                "Error: ". No metadata key: OpenAI's validator refuses unknown keys.
    sharegpt    {conversations: [{from, value}], metadata}: from is system | human | gpt | tool,
                every value a non-empty string. The system value ends with the tools' signatures
                in <tools></tools> (one JSON object a line). A gpt value is the assistant's text
                then one `<tool_call>\\n{"name", "arguments"}\\n</tool_call>` per call; the turn
                after a gpt value with k calls is a tool value holding exactly k
                `<tool_response>\\n{"name", "content"}\\n</tool_response>`, in the calls' order
                and with their names. Order: system, human, then gpt; after a gpt without calls
                comes human; after a tool comes gpt (or human); the last is gpt, or tool for a
                run that stopped after results.
    preference  one row per assistant turn in which a person edited or denied a call (nearly
                always one step): {prompt: {system, tools, messages up to that turn},
                rejected: [the model's original turn], chosen: [for an edit: the same turn with
                the edited inputs; for a denial: the model's next turn, written after it read
                the person's reason], metadata: {…, step, decision, feedback, steps}} in the
                Anthropic message shape. A denial the model never answered (the run ended or was
                killed first) gives no row; nor does a chosen turn identical to the rejected one.

A run killed midway: the trailing assistant turn whose calls have no results is dropped (so the
row stays valid) and metadata says `truncated: true`; seed keeps the trace exactly as rebuilt.
A run whose conversation has no assistant turn left gives no row (counted as skipped).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

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
    return md


def to_seed(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield trace


def to_anthropic(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    conv = conversation(trace)
    if conv is None:
        return
    messages, truncated = conv
    md = metadata(trace)
    if truncated:
        md["truncated"] = True
    yield {"system": trace.get("system") or "", "tools": anthropic_tools(trace), "messages": messages, "metadata": md}


def to_openai(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True)
    if conv is None:
        return
    messages, _ = conv
    out: list[dict[str, Any]] = []
    if trace.get("system"):
        out.append({"role": "system", "content": trace["system"]})
    for m in messages:
        blocks = _as_blocks(m["content"])
        if m["role"] == "user":
            for b in blocks:
                if b.get("type") == "tool_result":
                    out.append({"role": "tool", "tool_call_id": b["tool_use_id"], "content": result_text(b)})
            rest = [b for b in blocks if b.get("type") != "tool_result"]
            if rest:
                out.append({"role": "user", "content": blocks_text(rest)})
        else:
            text = "\n\n".join(b["text"] for b in blocks if b.get("type") == "text")
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {}, ensure_ascii=False)},
                }
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
    tools = [
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
    yield {"messages": out, "tools": tools}


def to_sharegpt(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True)
    if conv is None:
        return
    messages, truncated = conv
    tools = anthropic_tools(trace)
    system = (trace.get("system") or "").rstrip()
    if tools:
        sigs = "\n".join(
            json.dumps(
                {
                    "type": "function",
                    "function": {
                        "name": t["name"],
                        "description": t.get("description", ""),
                        "parameters": t.get("input_schema") or {"type": "object"},
                    },
                },
                ensure_ascii=False,
            )
            for t in tools
        )
        system = (system + "\n\n" if system else "") + (
            "# Tools\n\nYou may call one or more functions. Their signatures are within <tools></tools>:\n"
            f"<tools>\n{sigs}\n</tools>\n\nFor each call, write a JSON object with the function's name and "
            "arguments within <tool_call></tool_call> tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n'
            "Results come back within <tool_response></tool_response> tags."
        )
    conversations: list[dict[str, str]] = []
    if system:
        conversations.append({"from": "system", "value": system})
    names: dict[str, str] = {}
    for m in messages:
        blocks = _as_blocks(m["content"])
        if m["role"] == "user":
            results = [b for b in blocks if b.get("type") == "tool_result"]
            if results:
                conversations.append(
                    {
                        "from": "tool",
                        "value": "\n".join(
                            "<tool_response>\n"
                            + json.dumps(
                                {"name": names.get(b["tool_use_id"], ""), "content": result_text(b)}, ensure_ascii=False
                            )
                            + "\n</tool_response>"
                            for b in results
                        ),
                    }
                )
            rest = [b for b in blocks if b.get("type") != "tool_result"]
            if rest:
                conversations.append({"from": "human", "value": blocks_text(rest)})
        else:
            parts = [b["text"] for b in blocks if b.get("type") == "text"]
            text = "\n\n".join(parts)
            calls = []
            for b in blocks:
                if b.get("type") == "tool_use":
                    names[b["id"]] = b["name"]
                    calls.append(
                        "<tool_call>\n"
                        + json.dumps({"name": b["name"], "arguments": b.get("input") or {}}, ensure_ascii=False)
                        + "\n</tool_call>"
                    )
            conversations.append({"from": "gpt", "value": "\n".join(([text] if text else []) + calls)})
    md = metadata(trace)
    if truncated:
        md["truncated"] = True
    yield {"conversations": conversations, "metadata": md}


def to_preference(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    transitions = trace.get("transitions") or []
    if not any(_edited(t) or is_person_denial(t.get("human") or {}) for t in transitions):
        return
    messages = clean_messages(trace.get("messages") or [])
    # step n is the n-th tool_use of the conversation (the runner proposes them in order)
    where: dict[int, tuple[int, int]] = {}
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        for j, b in enumerate(m["content"]):
            if b.get("type") == "tool_use":
                where[len(where) + 1] = (i, j)
    by_turn: dict[int, list[dict[str, Any]]] = {}
    for t in transitions:
        if not (_edited(t) or is_person_denial(t.get("human") or {})):
            continue
        pos = where.get(t.get("step"))
        if pos is None or messages[pos[0]]["content"][pos[1]].get("name") != t.get("tool"):
            continue  # the conversation and the steps do not line up: no pair rather than a wrong one
        by_turn.setdefault(pos[0], []).append(t)
    tools = anthropic_tools(trace)
    for i in sorted(by_turn):
        steps = by_turn[i]
        rejected = messages[i]
        if any(is_person_denial(t.get("human") or {}) for t in steps):
            nxt = next((k for k in range(i + 1, len(messages)) if messages[k]["role"] == "assistant"), None)
            if nxt is None:
                continue  # the model never answered the denial
            chosen = messages[nxt]
            source = "next_turn_after_denial"
        else:
            content = copy.deepcopy(rejected["content"])
            for t in steps:
                content[where[t["step"]][1]]["input"] = copy.deepcopy(t.get("inputs") or {})
            chosen = {"role": "assistant", "content": content}
            source = "edited_inputs"
        if chosen["content"] == rejected["content"]:
            continue
        first = steps[0]
        human = first.get("human") or {}
        md = {
            **metadata(trace),
            "step": first.get("step"),
            "tool": first.get("tool"),
            "decision": "denied" if is_person_denial(human) else "edited",
            "feedback": human.get("feedback"),
            "chosen_from": source,
            "steps": [
                {
                    "step": t.get("step"),
                    "tool": t.get("tool"),
                    "decision": "denied" if is_person_denial(t.get("human") or {}) else "edited",
                    "feedback": (t.get("human") or {}).get("feedback"),
                }
                for t in steps
            ],
        }
        yield {
            "prompt": {"system": trace.get("system") or "", "tools": tools, "messages": copy.deepcopy(messages[:i])},
            "chosen": [copy.deepcopy(chosen)],
            "rejected": [copy.deepcopy(rejected)],
            "metadata": md,
        }


def _edited(t: dict[str, Any]) -> bool:
    human = t.get("human") or {}
    return human.get("proposed_inputs") is not None and human.get("decision") in ("edited", "approved", "retried")


CONVERTERS: dict[str, Callable[[dict[str, Any]], Iterator[dict[str, Any]]]] = {
    "seed": to_seed,
    "anthropic": to_anthropic,
    "openai": to_openai,
    "sharegpt": to_sharegpt,
    "preference": to_preference,
}


# ====================================================================== conversation shaping


def anthropic_tools(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _strip_cache_control({k: v for k, v in t.items() if k in ("name", "description", "input_schema")})
        for t in trace.get("tools") or []
        if isinstance(t, dict) and t.get("name")
    ]


def conversation(trace: dict[str, Any], *, text_only: bool = False) -> tuple[list[dict[str, Any]], bool] | None:
    """The trace's messages made valid (see the module's doc), and whether an unanswered trailing
    turn was dropped; None when no assistant turn is left. text_only drops thinking blocks."""
    messages = clean_messages(trace.get("messages") or [], text_only=text_only)
    messages, truncated = _trim_tail(messages)
    if not any(m["role"] == "assistant" for m in messages):
        return None
    return messages, truncated


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
            return _strip_block(b)
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
        return _strip_block(b)
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
                blocks.append(_strip_cache_control(b))
        return blocks or ""
    return str(content)


def _trim_tail(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """Drop what has no answer at the end: an assistant turn whose calls got no results (a run
    killed or stopped midway), and a trailing user turn that is not tool results."""
    truncated = False
    while messages:
        last = messages[-1]
        blocks = _as_blocks(last["content"])
        if last["role"] == "assistant" and any(b.get("type") == "tool_use" for b in blocks):
            messages = messages[:-1]
            truncated = True
        elif last["role"] == "user" and not any(b.get("type") == "tool_result" for b in blocks) and len(messages) > 1:
            messages = messages[:-1]
            truncated = True
        else:
            break
    return messages, truncated


def _as_blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _strip_block(block: dict[str, Any]) -> dict[str, Any]:
    return {k: _strip_cache_control(v) for k, v in block.items() if k != "cache_control"}


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def image_placeholder(b: dict[str, Any]) -> str:
    src = b.get("source") or {}
    media = src.get("media_type") or "image"
    size = f", {len(src['data']) * 3 // 4} bytes" if isinstance(src.get("data"), str) else ""
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
