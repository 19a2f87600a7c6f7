"""The rules every exported row must pass, one checker per format: `export --check` runs them on
what it wrote, and the tests run the same ones (tests/test_export.py, tests/test_pipelines.py),
beside the pipelines' own code. A broken rule raises RowInvalid saying where.

Common to the conversation formats: the conversation starts with the user's turn and ends on an
assistant turn; every call is answered by its result at once, except the calls of that last turn
(a row may end on the call the model made); ids do not repeat; no empty text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from llmos_tui.core.formats.sharegpt import RESULTS_JOIN


class RowInvalid(ValueError):
    pass


def need(ok: Any, problem: str) -> None:
    if not ok:
        raise RowInvalid(problem)


def _nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def no_key_anywhere(value: Any, key: str, where: str = "row") -> None:
    if isinstance(value, dict):
        need(key not in value, f"{where} holds {key!r}")
        for k, v in value.items():
            no_key_anywhere(v, key, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            no_key_anywhere(v, key, f"{where}[{i}]")


def check_metadata(md: Any) -> None:
    need(isinstance(md, dict), "metadata is not an object")
    for k in ("execution_id", "goal", "mode", "final_outcome", "total_cost"):
        need(k in md, f"metadata lacks {k}")
    need(_nonempty_str(md["execution_id"]), "metadata.execution_id is empty")
    need(md["mode"] in ("execute", "simulate"), f"metadata.mode is {md['mode']!r}")


# ====================================================================== Messages API


def check_anthropic_tools(tools: Any) -> set[str]:
    need(isinstance(tools, list), "tools is not a list")
    names = []
    for t in tools:
        need(isinstance(t, dict) and set(t) <= {"name", "description", "input_schema"}, f"tool {t!r}")
        need(_nonempty_str(t.get("name")), "a tool without a name")
        need(isinstance(t.get("input_schema"), dict) and t["input_schema"].get("type") == "object", "input_schema")
        names.append(t["name"])
    need(len(names) == len(set(names)), "tool names repeat")
    return set(names)


def check_anthropic_messages(messages: Any, tool_names: set[str], *, prompt: bool = False) -> None:
    """Messages-API rules; `prompt`: the conversation is a prompt (ends with the user's turn)."""
    need(isinstance(messages, list) and messages, "no messages")
    pending: list[str] = []
    seen: set[str] = set()
    for i, m in enumerate(messages):
        need(isinstance(m, dict) and set(m) == {"role", "content"}, f"message {i}: keys")
        need(m["role"] == ("user" if i % 2 == 0 else "assistant"), f"message {i} is {m['role']}")
        content = m["content"]
        if isinstance(content, str):
            need(content.strip(), f"message {i}: empty text")
            blocks = [{"type": "text", "text": content}]
        else:
            need(isinstance(content, list) and content, f"message {i}: empty content")
            blocks = content
        for b in blocks:
            need(isinstance(b, dict) and "type" in b, f"message {i}: a block without a type")
            if b["type"] == "text":
                need(set(b) == {"type", "text"} and _nonempty_str(b["text"]), f"message {i}: empty text block")
        if m["role"] == "user":
            results = [b for b in blocks if b["type"] == "tool_result"]
            need(all(b["type"] in ("text", "image", "tool_result") for b in blocks), f"message {i}: block types")
            ids = [b.get("tool_use_id") for b in results]
            need(ids == pending, f"message {i}: results {ids} answer {pending}")
            need(blocks[: len(results)] == results, f"message {i}: tool_results must come first")
            for b in results:
                need(set(b) <= {"type", "tool_use_id", "content", "is_error"}, f"message {i}: result keys")
                need(b.get("is_error", True) is True, f"message {i}: is_error is not true")
                c = b["content"]
                need(
                    isinstance(c, str)
                    or (isinstance(c, list) and c and all(x.get("type") in ("text", "image") for x in c)),
                    f"message {i}: result content",
                )
                parts: list[dict[str, Any]] = c if isinstance(c, list) else []
                for x in parts:
                    if x["type"] == "text":
                        need(_nonempty_str(x.get("text")), f"message {i}: empty text in a result")
                    else:
                        src = x.get("source") or {}
                        need(src.get("type") == "base64" and src.get("data"), f"message {i}: image source")
            pending = []
        else:
            need(
                all(b["type"] in ("text", "tool_use", "thinking", "redacted_thinking") for b in blocks),
                f"message {i}: block types",
            )
            uses = [b for b in blocks if b["type"] == "tool_use"]
            for b in uses:
                need(set(b) == {"type", "id", "name", "input"}, f"message {i}: tool_use keys")
                need(isinstance(b["input"], dict), f"message {i}: input is not an object")
                need(b["name"] in tool_names, f"message {i}: unknown tool {b['name']!r}")
                need(b["id"] not in seen, f"tool_use id {b['id']} repeats")
                seen.add(b["id"])
            need(any(b["type"] in ("text", "tool_use") for b in blocks), f"message {i}: says nothing")
            pending = [b["id"] for b in uses]
    if prompt:
        need(messages[-1]["role"] == "user", "a prompt ends with the user's turn")
    else:
        need(messages[-1]["role"] == "assistant", "the row does not end on an assistant turn")


def check_anthropic(row: Any) -> None:
    need(isinstance(row, dict) and set(row) == {"system", "tools", "messages", "metadata"}, "keys")
    need(isinstance(row["system"], str), "system is not text")
    no_key_anywhere(row, "cache_control")
    check_anthropic_messages(row["messages"], check_anthropic_tools(row["tools"]))
    check_metadata(row["metadata"])


def check_preference(row: Any) -> None:
    need(isinstance(row, dict) and set(row) == {"prompt", "chosen", "rejected", "metadata"}, "keys")
    no_key_anywhere(row, "cache_control")
    p = row["prompt"]
    need(isinstance(p, dict) and set(p) == {"system", "tools", "messages"}, "prompt keys")
    need(isinstance(p["system"], str), "prompt.system is not text")
    names = check_anthropic_tools(p["tools"])
    check_anthropic_messages(p["messages"], names, prompt=True)
    for side in ("chosen", "rejected"):
        turn = row[side]
        need(isinstance(turn, list) and len(turn) == 1 and turn[0].get("role") == "assistant", f"{side}: one turn")
        # prompt + the turn is a valid conversation ending on the assistant's turn
        check_anthropic_messages([*p["messages"], turn[0]], names)
    need(row["chosen"] != row["rejected"], "chosen and rejected are the same")
    md = row["metadata"]
    check_metadata(md)
    need(md.get("decision") in ("edited", "denied") and isinstance(md.get("step"), int), "metadata.decision")
    need(md.get("chosen_from") in ("edited_inputs", "next_turn_after_denial"), "metadata.chosen_from")
    if md["decision"] == "denied":
        need(md.get("feedback"), "a denial without its reason")
        need(
            str(md["feedback"]) in json.dumps(p["messages"][-1], ensure_ascii=False), "the reason is not in the prompt"
        )


def check_seed(row: Any) -> None:
    need(isinstance(row, dict), "not an object")
    for k in (
        "execution_id",
        "goal",
        "mode",
        "runtime",
        "model",
        "initial_state",
        "transitions",
        "final_outcome",
        "total_cost",
        "execution_time",
        "messages",
        "system",
        "tools",
    ):
        need(k in row, f"seed row lacks {k}")
    for n, t in enumerate(row["transitions"], start=1):
        need(t.get("step") == n, f"transition {n} is step {t.get('step')}")
        for k in ("tool", "inputs", "outputs", "state_after", "started_at", "duration_s", "cost_usd", "simulated"):
            need(k in t, f"transition {n} lacks {k}")
        need("decision" in (t.get("human") or {}), f"transition {n}: human lacks decision")


# ====================================================================== chat formats


def check_function_tools(tools: Any) -> set[str]:
    need(isinstance(tools, list), "tools is not a list")
    names = []
    for t in tools:
        need(isinstance(t, dict) and set(t) == {"type", "function"} and t["type"] == "function", f"tool {t!r}")
        f = t["function"]
        need(isinstance(f, dict) and set(f) == {"name", "description", "parameters"}, "function keys")
        need(_nonempty_str(f["name"]) and isinstance(f["description"], str), "function name or description")
        need(isinstance(f["parameters"], dict) and f["parameters"].get("type") == "object", "function parameters")
        names.append(f["name"])
    need(len(names) == len(set(names)), "tool names repeat")
    return set(names)


def _check_chat(messages: Any, names: set[str], *, hf: bool) -> None:
    need(isinstance(messages, list) and messages, "no messages")
    i = 0
    if messages[0].get("role") == "system":
        need(set(messages[0]) == {"role", "content"} and _nonempty_str(messages[0]["content"]), "system message")
        i = 1
    need(i < len(messages) and messages[i].get("role") == "user", "the conversation starts with the user")
    pending: list[tuple[str, str]] = []
    prev: str | None = None
    ids: set[str] = set()
    for k, m in enumerate(messages[i:], start=i):
        role = m.get("role")
        if pending:
            need(role == "tool", f"message {k}: {role} before the results of {[p[0] for p in pending]}")
        if role == "user":
            need(set(m) == {"role", "content"} and _nonempty_str(m["content"]), f"message {k}: user message")
            need(prev in (None, "assistant", "tool"), f"message {k}: user after {prev}")
        elif role == "assistant":
            need(set(m) <= {"role", "content", "tool_calls"} and "content" in m, f"message {k}: keys")
            need(prev in ("user", "tool"), f"message {k}: assistant after {prev}")
            calls = m.get("tool_calls")
            c = m["content"]
            if hf:
                need(isinstance(c, str), f"message {k}: content is not text")
            else:
                need(c is None or _nonempty_str(c), f"message {k}: content is empty text")
            need(calls is None or (isinstance(calls, list) and calls), f"message {k}: tool_calls is empty")
            need(calls or _nonempty_str(c), f"message {k}: assistant with neither content nor tool_calls")
            for call in calls or []:
                need(set(call) == {"id", "type", "function"} and call["type"] == "function", f"message {k}: call")
                f = call["function"]
                need(set(f) == {"name", "arguments"} and f["name"] in names, f"message {k}: call {f.get('name')}")
                args = f["arguments"]
                if hf:
                    need(isinstance(args, dict), f"message {k}: arguments are not an object")
                else:
                    need(isinstance(args, str), f"message {k}: arguments are not a JSON string")
                    try:
                        need(isinstance(json.loads(args), dict), f"message {k}: arguments are not an object")
                    except ValueError:
                        raise RowInvalid(f"message {k}: arguments are not JSON") from None
                need(call["id"] not in ids, f"message {k}: call id {call['id']} repeats")
                ids.add(call["id"])
            pending = [(call["id"], call["function"]["name"]) for call in calls or []]
        elif role == "tool":
            keys = {"role", "tool_call_id", "content"} | ({"name"} if hf else set())
            need(set(m) == keys and isinstance(m["content"], str), f"message {k}: tool message keys")
            need(pending and m["tool_call_id"] == pending[0][0], f"message {k}: answers {m['tool_call_id']}")
            if hf:
                need(m["name"] == pending[0][1], f"message {k}: the result names {m['name']!r}")
            pending.pop(0)
        else:
            raise RowInvalid(f"message {k}: role {role!r}")
        prev = role
    need(prev == "assistant", "the row does not end on an assistant turn")


def check_openai(row: Any) -> None:
    need(isinstance(row, dict) and set(row) == {"messages", "tools"}, "keys (OpenAI refuses others)")
    _check_chat(row["messages"], check_function_tools(row["tools"]), hf=False)


def check_hf(row: Any) -> None:
    need(isinstance(row, dict) and set(row) == {"messages", "tools", "metadata"}, "keys")
    _check_chat(row["messages"], check_function_tools(row["tools"]), hf=True)
    check_metadata(row["metadata"])
    if row["metadata"].get("single_call"):
        for m in row["messages"]:
            need(len(m.get("tool_calls") or []) <= 1, "single_call: a turn with parallel calls")


# ====================================================================== sharegpt formats

CALL = re.compile(r"<tool_call>\n(.*?)\n</tool_call>", re.S)
RESPONSE = re.compile(r"<tool_response>\n(.*?)\n</tool_response>", re.S)


def check_sharegpt(row: Any) -> None:
    need(isinstance(row, dict) and set(row) == {"conversations", "metadata"}, "keys")
    check_metadata(row["metadata"])
    conv = row["conversations"]
    need(isinstance(conv, list) and conv, "no conversations")
    for c in conv:
        need(isinstance(c, dict) and set(c) == {"from", "value"}, "entry keys")
        need(c["from"] in ("system", "human", "gpt", "tool") and _nonempty_str(c["value"]), f"entry {c['from']}")
    i = 0
    names: set[str] = set()
    if conv[0]["from"] == "system":
        m = re.search(r"<tools>\n(.*?)\n</tools>", conv[0]["value"], re.S)
        if m:
            names = {json.loads(line)["function"]["name"] for line in m.group(1).splitlines()}
        i = 1
    need(len(conv) > i and conv[i]["from"] == "human", "the conversation starts with human")
    prev: str | None = None
    pending: list[str] = []
    for k, c in enumerate(conv[i:], start=i):
        who = c["from"]
        if pending:
            need(who == "tool", f"entry {k}: {who} before the results of {pending}")
        need("<tool_call>" not in c["value"] or who == "gpt", f"entry {k}: a call outside gpt")
        need("<tool_response>" not in c["value"] or who == "tool", f"entry {k}: a result outside tool")
        if who == "human":
            need(prev in (None, "gpt", "tool"), f"entry {k}: human after {prev}")
        elif who == "gpt":
            need(prev in ("human", "tool"), f"entry {k}: gpt after {prev}")
            calls = [json.loads(x) for x in CALL.findall(c["value"])]
            need(c["value"].count("<tool_call>") == len(calls), f"entry {k}: a call that does not parse")
            for call in calls:
                need(set(call) == {"name", "arguments"} and isinstance(call["arguments"], dict), f"entry {k}: call")
                need(not names or call["name"] in names, f"entry {k}: unknown tool {call['name']!r}")
            pending = [call["name"] for call in calls]
        elif who == "tool":
            need(prev == "gpt" and pending, f"entry {k}: tool without calls before it")
            responses = [json.loads(x) for x in RESPONSE.findall(c["value"])]
            need(c["value"].count("<tool_response>") == len(responses), f"entry {k}: a result that does not parse")
            need([r.get("name") for r in responses] == pending, f"entry {k}: results do not answer {pending}")
            for r in responses:
                need(set(r) == {"name", "content"} and isinstance(r["content"], str), f"entry {k}: result keys")
            pending = []
        else:
            raise RowInvalid(f"entry {k}: from {who!r}")
        prev = who
    need(prev == "gpt", "the row does not end on a gpt turn")


def function_call_json(value: str) -> list[dict[str, Any]]:
    """The calls of a function_call value as LLaMA-Factory's FunctionFormatter reads them (the
    JSON inside the first <tool_call>…</tool_call>, else the whole value)."""
    m = re.search(r"<tool_call>(.*?)</tool_call>", value, re.S)
    try:
        calls = json.loads(m.group(1) if m else value)
    except ValueError:
        raise RowInvalid(f"a function_call that is not JSON: {value[:80]!r}") from None
    return calls if isinstance(calls, list) else [calls]


def check_llamafactory(row: Any) -> None:
    need(isinstance(row, dict) and set(row) == {"conversations", "system", "tools", "metadata"}, "keys")
    check_metadata(row["metadata"])
    need(isinstance(row["system"], str), "system is not text")
    names: set[str] = set()
    if row["tools"]:
        tools = json.loads(row["tools"])
        need(isinstance(tools, list), "tools is not a JSON list")
        for t in tools:
            need(isinstance(t, dict) and _nonempty_str(t.get("name")), "a tool without a name")
            need(isinstance(t.get("parameters"), dict), f"tool {t['name']}: parameters")
        names = {t["name"] for t in tools}
    conv = row["conversations"]
    need(isinstance(conv, list) and conv, "no conversations")
    need(len(conv) % 2 == 0, "an odd number of turns (LLaMA-Factory: 'Invalid message count')")
    calls_pending = 0
    for k, c in enumerate(conv):
        need(isinstance(c, dict) and set(c) == {"from", "value"} and isinstance(c["value"], str), f"turn {k}: keys")
        who = c["from"]
        allowed = ("human", "observation") if k % 2 == 0 else ("gpt", "function_call")
        need(who in allowed, f"turn {k}: {who} where LLaMA-Factory expects {'|'.join(allowed)} ('Invalid role tag')")
        need(_nonempty_str(c["value"]), f"turn {k}: empty value")
        if who == "observation":
            need(calls_pending, f"turn {k}: an observation without a call before it")
            need(c["value"].count(RESULTS_JOIN) >= calls_pending - 1, f"turn {k}: fewer results than calls")
            calls_pending = 0
        elif who == "human":
            need(not calls_pending, f"turn {k}: human after unanswered calls")
        else:
            need(not calls_pending, f"turn {k}: {who} after unanswered calls")
            if who == "function_call":
                calls = function_call_json(c["value"])
                for call in calls:
                    need(isinstance(call, dict) and set(call) == {"name", "arguments"}, f"turn {k}: call keys")
                    need(isinstance(call["arguments"], dict), f"turn {k}: arguments are not an object")
                    need(not names or call["name"] in names, f"turn {k}: unknown tool {call['name']!r}")
                calls_pending = len(calls)
    need(conv[-1]["from"] in ("gpt", "function_call"), "the row does not end on an assistant turn")


CHECKS: dict[str, Callable[[Any], None]] = {
    "seed": check_seed,
    "anthropic": check_anthropic,
    "openai": check_openai,
    "sharegpt": check_sharegpt,
    "preference": check_preference,
    "hf": check_hf,
    "llamafactory": check_llamafactory,
}


def check_row(fmt: str, row: Any) -> None:
    """Raise RowInvalid when row breaks a rule of fmt."""
    CHECKS[fmt](row)
