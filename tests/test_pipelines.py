"""Issue 12: the exports taken unedited by the pipelines people train with.

First the reported failures, each reproduced over a real run (scripted runtime, real tools, real
decisions): an edited call that contradicts its result, rows that end on a tool result, the
image placeholder's byte count, the denial pair's prompt. Then every format loaded through its
consumer's own code (tests/pipelines.py), over one workspace holding parallel calls, an edit, a
denial, a skip, a killed run, a max_turns failure, a sub-agent, an image Read and simulate mode;
then `export --dataset` and `export --check`.
"""

from __future__ import annotations

import json

from test_export import PNG, a_person, make_reviewed, rows_of

from llmos_tui.core.control import new_command
from llmos_tui.core.editnote import NOTE_START
from llmos_tui.core.export import ExportStats
from llmos_tui.core.trace import load_trace

from conftest import script_yaml, start_runner, text, tool

# ====================================================================== an edited call


def calls_in(messages: list[dict]) -> list[dict]:
    return [b for m in messages if m["role"] == "assistant" for b in m["content"] if b.get("type") == "tool_use"]


def results_in(messages: list[dict]) -> list[dict]:
    return [
        b
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]


async def test_the_model_is_told_that_a_person_edited_its_call_and_to_what(ws):
    run_id = await make_reviewed(ws)
    trace = load_trace(ws, run_id)
    result = results_in(trace["messages"])[1]  # step 2: Write hello.txt, edited to greeting.txt
    assert result["content"].startswith(NOTE_START), result
    assert '"greeting.txt"' in result["content"] and '"hello.txt"' in result["content"]
    assert "greeting.txt" in result["content"].split("]\n", 1)[1]  # then the real result
    assert trace["transitions"][1]["outputs"] == result["content"]  # the trace's outputs say the same


async def test_sft_rows_show_the_call_that_ran_and_its_result(ws):
    run_id = await make_reviewed(ws)
    for fmt in ("anthropic", "openai", "sharegpt", "hf", "llamafactory"):
        (row,) = rows_of(ws, fmt, [run_id])
        blob = json.dumps(row)
        assert "hello.txt" not in blob, fmt  # the model's original call is not a training target
        assert NOTE_START not in blob, fmt  # nor the note about a change the row does not show
        assert "greeting.txt" in blob, fmt
    (a,) = rows_of(ws, "anthropic", [run_id])
    call, result = calls_in(a["messages"])[1], results_in(a["messages"])[1]
    assert call["input"] == {"file_path": "greeting.txt", "content": "hello\n"}
    assert result["tool_use_id"] == call["id"] and "greeting.txt" in result["content"]
    assert a["metadata"]["edited_steps"] == [2]
    # seed keeps the story as it happened: the original call, answered with the note
    (seed,) = rows_of(ws, "seed", [run_id])
    assert calls_in(seed["messages"])[1]["input"]["file_path"] == "hello.txt"
    assert seed["transitions"][1]["outputs"].startswith(NOTE_START)


async def test_the_denial_pairs_prompt_carries_the_persons_reason(ws):
    run_id = await make_reviewed(ws)
    edit, denial = rows_of(ws, "preference", [run_id])
    last = denial["prompt"]["messages"][-1]
    assert "never write keys to disk" in json.dumps(last), last
    assert "never write keys to disk" not in json.dumps(edit["prompt"])
    assert edit["rejected"][0]["content"][0]["input"]["file_path"] == "hello.txt"
    assert edit["chosen"][0]["content"][0]["input"]["file_path"] == "greeting.txt"


# ====================================================================== rows end on an assistant turn


def last_role(fmt: str, row: dict) -> str:
    if fmt in ("anthropic",):
        return row["messages"][-1]["role"]
    if fmt in ("openai", "hf"):
        return row["messages"][-1]["role"]
    return row["conversations"][-1]["from"]


ASSISTANT = {"anthropic": "assistant", "openai": "assistant", "hf": "assistant", "sharegpt": "gpt"}


async def make_max_turns(ws) -> str:
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="m.txt", content="m")], [text("never reached")]),
        goal="one turn only",
        max_turns=1,
    )
    assert await r.drive() == "failed"
    return r.run_id


async def make_blank_ending(ws) -> str:
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="b.txt", content="b")], [text("  \n ")]),
        goal="ends in whitespace",
    )
    assert await r.drive() == "completed"
    return r.run_id


async def test_rows_end_on_an_assistant_turn_and_say_they_were_trimmed(ws):
    ids = [await make_max_turns(ws), await make_blank_ending(ws)]
    for fmt in ("anthropic", "openai", "sharegpt", "hf"):
        for run_id in ids:
            (row,) = rows_of(ws, fmt, [run_id])
            assert last_role(fmt, row) == ASSISTANT[fmt], (fmt, run_id)
    (a,) = rows_of(ws, "anthropic", [ids[0]])
    assert a["metadata"]["truncated"] is True
    assert a["messages"][-1]["content"][-1]["name"] == "Write"  # the call that ran, its result trimmed
    (lf,) = rows_of(ws, "llamafactory", [ids[1]])
    assert lf["conversations"][-1]["from"] == "function_call" and lf["metadata"]["truncated"] is True


async def test_a_run_with_no_assistant_content_left_is_skipped_and_counted(ws):
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="k.txt", content="k")], [text("x")]),
        goal="deny, then the run stops",
        approval="side-effects",
        max_turns=1,
    )
    a_person(r, {1: [new_command("deny", step=1, feedback="no")]})
    assert await r.drive() == "failed"
    for fmt in ("anthropic", "openai", "sharegpt", "hf", "llamafactory"):
        stats = ExportStats()
        assert rows_of(ws, fmt, [r.run_id], stats=stats) == [], fmt  # its one call was denied
        assert stats.skipped == 1 and stats.empty == 1, fmt


# ====================================================================== images


async def test_the_image_placeholder_counts_the_real_bytes(ws):
    png = PNG + b"\x00" * 17  # 73 bytes: 100 base64 characters, two of them padding
    (ws.root / "pic.png").write_bytes(png)
    r = start_runner(ws, script_yaml([tool("Read", file_path="pic.png")], [text("A picture.")]), goal="look")
    assert await r.drive() == "completed"
    for fmt in ("openai", "hf"):
        (row,) = rows_of(ws, fmt, [r.run_id])
        tool_msg = [m for m in row["messages"] if m["role"] == "tool"][0]
        assert "[image image/png, 73 bytes not included]" in tool_msg["content"], tool_msg["content"]
