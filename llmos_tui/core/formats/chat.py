"""The chat-completions formats: openai (fine-tuning files) and hf (transformers chat templates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from llmos_tui.core.formats.shape import (
    Conversation,
    Tally,
    as_blocks,
    blocks_text,
    conversation,
    function_tools,
    result_text,
    turn_text,
)


def _chat_messages(
    trace: dict[str, Any], conv: Conversation, *, arguments_as_text: bool, assistant_empty: str | None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if trace.get("system"):
        out.append({"role": "system", "content": trace["system"]})
    names: dict[str, str] = {}
    for m in conv.messages:
        blocks = as_blocks(m["content"])
        if m["role"] == "user":
            for b in blocks:
                if b.get("type") == "tool_result":
                    msg = {"role": "tool", "tool_call_id": b["tool_use_id"], "content": result_text(b)}
                    if not arguments_as_text:  # transformers' templates name the tool a result is from
                        msg["name"] = names.get(b["tool_use_id"], "")
                    out.append(msg)
            rest = [b for b in blocks if b.get("type") != "tool_result"]
            if rest:
                out.append({"role": "user", "content": blocks_text(rest)})
            continue
        calls = []
        for b in blocks:
            if b.get("type") != "tool_use":
                continue
            names[b["id"]] = b["name"]
            args: Any = json.dumps(b["input"], ensure_ascii=False) if arguments_as_text else b["input"]
            calls.append({"id": b["id"], "type": "function", "function": {"name": b["name"], "arguments": args}})
        msg = {"role": "assistant", "content": turn_text(blocks) or assistant_empty}
        if calls:
            msg["tool_calls"] = calls  # no key at all without calls: templates test `'tool_calls' in message`
        out.append(msg)
    return out


def to_openai(trace: dict[str, Any], tally: Tally, single_call: bool = False) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True, single_call=single_call)
    if conv is None:
        tally.skipped += 1
        return
    tally.trimmed += conv.truncated
    messages = _chat_messages(trace, conv, arguments_as_text=True, assistant_empty=None)
    yield {"messages": messages, "tools": function_tools(trace)}


def to_hf(trace: dict[str, Any], tally: Tally, single_call: bool = False) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True, single_call=single_call)
    if conv is None:
        tally.skipped += 1
        return
    tally.trimmed += conv.truncated
    messages = _chat_messages(trace, conv, arguments_as_text=False, assistant_empty="")
    md = conv.metadata(trace)
    if single_call:
        md["single_call"] = True
    yield {"messages": messages, "tools": function_tools(trace), "metadata": md}
