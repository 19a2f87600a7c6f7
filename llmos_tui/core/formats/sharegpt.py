"""The ShareGPT formats: sharegpt (calls as text, Hermes style) and llamafactory (LLaMA-Factory's
sharegpt with function_call/observation turns, plus its dataset_info.json entry)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmos_tui.core.formats.shape import (
    Tally,
    as_blocks,
    blocks_text,
    conversation,
    function_tools,
    result_text,
    turn_text,
)
from llmos_tui.core.fsutil import atomic_write

# ====================================================================== sharegpt (generic)


def to_sharegpt(trace: dict[str, Any], tally: Tally, single_call: bool = False) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True, single_call=single_call)
    if conv is None:
        tally.skipped += 1
        return
    tally.trimmed += conv.truncated
    tools = function_tools(trace)
    system = (trace.get("system") or "").rstrip()
    if tools:
        sigs = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
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
    for m in conv.messages:
        blocks = as_blocks(m["content"])
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
            text = turn_text(blocks)
            calls = []
            for b in blocks:
                if b.get("type") == "tool_use":
                    names[b["id"]] = b["name"]
                    calls.append(
                        "<tool_call>\n"
                        + json.dumps({"name": b["name"], "arguments": b["input"]}, ensure_ascii=False)
                        + "\n</tool_call>"
                    )
            conversations.append({"from": "gpt", "value": "\n".join(([text] if text else []) + calls)})
    yield {"conversations": conversations, "metadata": conv.metadata(trace)}


# ====================================================================== llamafactory

# LLaMA-Factory (src/llamafactory/data/converter.py, SharegptDatasetConverter): turns alternate
# human|observation, then gpt|function_call, from the first; an odd count is dropped ("Invalid
# message count"). A function_call value is the call's JSON, {"name", "arguments"} or a list of
# them for parallel calls; text before the calls goes first and the JSON inside one
# <tool_call></tool_call> (formatter.py's FunctionFormatter, LLaMA-Factory 0.9.5 and later).
# Parallel results share one observation, joined as its openai converter joins them.
RESULTS_JOIN = "\n</tool_response>\n<tool_response>\n"
DATASET_INFO = "dataset_info.json"


def _call_json(calls: list[dict[str, Any]]) -> str:
    objs = [{"name": b["name"], "arguments": b["input"]} for b in calls]
    text = json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False)
    # "</" inside a string as "<\/" (the same JSON): a value holding "</tool_call>" cannot end the call early
    return text.replace("</", "<\\/")


def to_llamafactory(trace: dict[str, Any], tally: Tally, single_call: bool = False) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True, single_call=single_call)
    if conv is None:
        tally.skipped += 1
        return
    tally.trimmed += conv.truncated
    turns: list[dict[str, str]] = []
    for m in conv.messages:
        blocks = as_blocks(m["content"])
        if m["role"] == "user":
            results = [result_text(b) for b in blocks if b.get("type") == "tool_result"]
            rest = blocks_text([b for b in blocks if b.get("type") != "tool_result"])
            if results:
                value = RESULTS_JOIN.join(results) + (f"\n\n{rest}" if rest else "")
                turns.append({"from": "observation", "value": value})
            else:
                turns.append({"from": "human", "value": rest})
            continue
        text = turn_text(blocks)
        calls = [b for b in blocks if b.get("type") == "tool_use"]
        if calls:
            value = f"{text}\n<tool_call>{_call_json(calls)}</tool_call>" if text else _call_json(calls)
            turns.append({"from": "function_call", "value": value})
        else:
            turns.append({"from": "gpt", "value": text})
    tools = [t["function"] for t in function_tools(trace)]
    yield {
        "conversations": turns,
        "system": trace.get("system") or "",
        "tools": json.dumps(tools, ensure_ascii=False) if tools else "",
        "metadata": conv.metadata(trace),
    }


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """The dataset_info.json entry LLaMA-Factory reads for a llamafactory file (data/parser.py)."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
        "tags": {
            "role_tag": "from",
            "content_tag": "value",
            "user_tag": "human",
            "assistant_tag": "gpt",
            "observation_tag": "observation",
            "function_tag": "function_call",
            "system_tag": "system",
        },
    }


def dataset_name(stem: str) -> str:
    """A name for `dataset:` in a LLaMA-Factory config: letters, digits, _ . -"""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_") or "llmos"


def write_dataset_info(folder: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Add (or replace) entries in folder/dataset_info.json, keeping the ones already there."""
    path = folder / DATASET_INFO
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(current, dict):
            current = {}
    except (OSError, ValueError):
        current = {}
    current.update(entries)
    atomic_write(path, json.dumps(current, ensure_ascii=False, indent=2) + "\n")
