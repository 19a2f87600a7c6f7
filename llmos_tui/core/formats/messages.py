"""The Messages-API formats: seed (the trace), anthropic, preference."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from llmos_tui.core.formats.shape import (
    Tally,
    anthropic_tools,
    clean_messages,
    conversation,
    is_person_denial,
    metadata,
    ran_edited,
    steps_by_call,
)


def to_seed(trace: dict[str, Any], tally: Tally, single_call: bool = False) -> Iterator[dict[str, Any]]:
    yield trace


def to_anthropic(trace: dict[str, Any], tally: Tally, single_call: bool = False) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, single_call=single_call)
    if conv is None:
        tally.skipped += 1
        return
    tally.trimmed += conv.truncated
    yield {
        "system": trace.get("system") or "",
        "tools": anthropic_tools(trace),
        "messages": conv.messages,
        "metadata": conv.metadata(trace),
    }


REASON_PREFIX = "A person reviewing your calls said: "


def to_preference(trace: dict[str, Any], tally: Tally, single_call: bool = False) -> Iterator[dict[str, Any]]:
    """One pair per assistant turn in which a person edited or denied a call (see formats/__init__)."""
    transitions = trace.get("transitions") or []
    if not any(ran_edited(t) or is_person_denial(t.get("human") or {}) for t in transitions):
        return
    original = clean_messages(trace.get("messages") or [])
    told = conversation(trace, trim=False)  # the context as it ran: earlier edits shown as run
    if told is None or len(told.messages) != len(original):
        return
    steps = steps_by_call(trace, original)
    by_turn: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for i, m in enumerate(original):
        if m["role"] != "assistant":
            continue
        for j, b in enumerate(m["content"]):
            t = steps.get(b.get("id", "")) if b.get("type") == "tool_use" else None
            if t is not None and (ran_edited(t) or is_person_denial(t.get("human") or {})):
                by_turn.setdefault(i, []).append((j, t))
    tools = anthropic_tools(trace)
    for i in sorted(by_turn):
        decided = [t for _, t in by_turn[i]]
        rejected = original[i]
        prompt = copy.deepcopy(told.messages[:i])
        denials = [t for t in decided if is_person_denial(t.get("human") or {})]
        if denials:
            nxt = next((k for k in range(i + 1, len(told.messages)) if told.messages[k]["role"] == "assistant"), None)
            if nxt is None:
                continue  # the model never answered the denial
            chosen = told.messages[nxt]
            source = "next_turn_after_denial"
            # the chosen turn was written after the person's reason: the prompt carries it
            reasons = "\n".join(REASON_PREFIX + str((t.get("human") or {}).get("feedback") or "") for t in denials)
            prompt = _with_user_text(prompt, reasons)
        else:
            content = copy.deepcopy(rejected["content"])
            for j, t in by_turn[i]:
                content[j]["input"] = copy.deepcopy(t.get("inputs") or {})
            chosen = {"role": "assistant", "content": content}
            source = "edited_inputs"
        if chosen["content"] == rejected["content"]:
            continue
        first = decided[0]
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
                for t in decided
            ],
        }
        yield {
            "prompt": {"system": trace.get("system") or "", "tools": tools, "messages": prompt},
            "chosen": [copy.deepcopy(chosen)],
            "rejected": [copy.deepcopy(rejected)],
            "metadata": md,
        }


def _with_user_text(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The prompt with text added to its last (user) turn, after any tool results."""
    last = messages[-1]
    content = last["content"]
    if isinstance(content, str):
        merged: Any = content + "\n\n" + text
    else:
        merged = [*content, {"type": "text", "text": text}]
    return [*messages[:-1], {"role": "user", "content": merged}]
