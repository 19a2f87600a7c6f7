"""The native runtime on the real anthropic SDK, against a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from llmos_tui.core.config import load_agent_config
from llmos_tui.core.control import new_command
from llmos_tui.core.journal import read_records
from llmos_tui.core.pricing import price_for
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import MAX_TOKENS_NUDGE, Runner, RunOptions
from llmos_tui.core.runtime.base import TurnRequest
from llmos_tui.core.runtime.native import NativeRuntime
from llmos_tui.core.state import StateFile, Usage
from llmos_tui.core.state import parse as parse_state
from llmos_tui.core.toolmap import load_toolmap
from llmos_tui.core.workspace import Workspace

from conftest import cli
from fakeapi import FakeAnthropic, drop, error, message, stream_cut, stream_error, text, tool_use

MODEL = "claude-sonnet-4-6"


LEARNINGS = "Plan first; check the file after writing it."


def _side_calls(req):
    """Calls outside the conversation that a test did not queue: SmartMemory's learnings summary."""
    if str(req.body.get("system", "")).startswith("You write the 'Key learnings'"):
        return message(text(LEARNINGS))
    return error(500, message=f"no reply queued for request #{req.number}", headers={"x-should-retry": "false"})


@pytest.fixture
def api():
    with FakeAnthropic(default=_side_calls) as server:
        yield server


def turns(api: FakeAnthropic) -> list:
    """The conversation's requests (not simulation, WebFetch or memory side calls)."""
    return [r for r in api.message_requests if "tools" in r.body and not r.body.get("tool_choice")]


def cost_of(reqs) -> float:
    return sum(
        price_for(r.model).cost(
            Usage(
                r.usage["input_tokens"],
                r.usage["output_tokens"],
                r.usage["cache_read_input_tokens"],
                r.usage["cache_creation_input_tokens"],
            )
        )
        for r in reqs
        if r.usage
    )


def runtime(api: FakeAnthropic, **kw) -> NativeRuntime:
    kw.setdefault("max_retries", 2)
    return NativeRuntime(api_key="test-key", base_url=api.base_url, model=MODEL, **kw)


def parts(ws: Workspace, **changes):
    config = load_agent_config(ws.system / "SystemAgent.md").with_(model=MODEL, **changes)
    return config, ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))


def start(
    ws: Workspace,
    api: FakeAnthropic,
    goal: str = "write hello.txt",
    *,
    approval: str = "never",
    mode: str = "execute",
    no_wait: bool = False,
    rt: NativeRuntime | None = None,
    **changes,
) -> Runner:
    config, registry = parts(ws, approval=approval, **changes)
    return Runner.start(
        ws,
        goal,
        config=config,
        registry=registry,
        runtime=rt or runtime(api),
        runtime_name="native",
        mode=mode,
        options=RunOptions(no_wait=no_wait, poll_interval=0.01),
    )


def resume(ws: Workspace, api: FakeAnthropic, run_id: str, **kw) -> Runner:
    config, registry = parts(ws)
    return Runner.resume(
        ws, run_id, config=config, registry=registry, runtime=runtime(api, **kw), options=RunOptions(poll_interval=0.01)
    )


def tool_results(body: dict) -> list[dict]:
    last = body["messages"][-1]
    return [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def has_breakpoint(x) -> bool:
    return isinstance(x, dict) and x.get("cache_control") == {"type": "ephemeral"}


# ---------------------------------------------------------------- a whole run


async def test_multi_step_tool_use_run_completes(ws, api):
    api.add(
        message(text("Planning."), tool_use("UpdatePlan", {"steps": [{"title": "Write it", "status": "in_progress"}]})),
        message(tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"})),
        message(tool_use("Read", {"file_path": "hello.txt"})),
        message(text("Done: hello.txt holds hi.")),
    )
    runner = start(ws, api)
    streamed: list[str] = []
    runner.runtime.text_listeners.append(streamed.append)
    assert await runner.drive() == "completed"

    assert (ws.root / "hello.txt").read_text() == "hi\n"
    reqs = turns(api)
    assert len(reqs) == 4 and all(r.stream for r in reqs)  # streamed, every turn
    assert "".join(streamed) == "Planning.Done: hello.txt holds hi."
    first = reqs[0].body
    assert first["model"] == MODEL
    # the system prompt: SystemAgent.md's body, the ToolMap, the workspace
    system = first["system"][0]["text"]
    assert "UpdatePlan" in system and "side effects" in system.lower() and str(ws.root) in system
    assert {t["name"] for t in first["tools"]} >= {
        "Read",
        "Write",
        "Edit",
        "Bash",
        "Grep",
        "Glob",
        "UpdatePlan",
        "WebFetch",
    }
    assert all("side effects:" in t["description"] for t in first["tools"])
    # cache breakpoints: last tool, the system block, the newest message block
    for r in reqs:
        b = r.body
        assert has_breakpoint(b["tools"][-1]) and not any(has_breakpoint(t) for t in b["tools"][:-1])
        assert has_breakpoint(b["system"][-1])
        assert has_breakpoint(b["messages"][-1]["content"][-1])
        assert sum(has_breakpoint(blk) for m in b["messages"] for blk in m["content"] if isinstance(blk, dict)) == 1
    # the tool results went back, matched to their calls
    read_result = tool_results(reqs[3].body)
    assert read_result[0]["content"].endswith("1\thi") and not read_result[0].get("is_error")
    assert reqs[3].body["messages"][-2]["content"][0]["name"] == "Read"
    st = StateFile(ws.state_path).load()
    assert st.status == "completed" and st.steps_total == 3 and st.runtime == "native" and st.model == MODEL


async def test_stable_prefix_is_read_from_cache_on_later_turns(ws, api):
    api.add(*[message(tool_use("Glob", {"pattern": "*"})) for _ in range(5)], message(text("Done.")))
    assert await start(ws, api).drive() == "completed"
    log = [r.usage for r in turns(api)]
    assert log[0]["cache_read_input_tokens"] == 0 and log[0]["cache_creation_input_tokens"] > 1000
    for before, after in zip(log, log[1:]):  # each turn reads all the turn before it wrote
        assert after["cache_read_input_tokens"] == (
            before["cache_read_input_tokens"] + before["cache_creation_input_tokens"]
        )
    total_in = sum(u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"] for u in log)
    assert sum(u["cache_read_input_tokens"] for u in log) / total_in > 0.75


async def test_cost_is_usage_times_the_price_table(ws, api):
    api.add(
        message(tool_use("Glob", {"pattern": "*"})),
        message(tool_use("Glob", {"pattern": "*.md"})),
        message(text("Done.")),
    )
    runner = start(ws, api)
    assert await runner.drive() == "completed"
    price = price_for(MODEL)
    assert price is not None and price.input == 3.0 and price.output == 15.0
    conv = [r.usage for r in turns(api)]
    expected = (
        sum(
            u["input_tokens"] * 3.0
            + u["output_tokens"] * 15.0
            + u["cache_creation_input_tokens"] * 3.75
            + u["cache_read_input_tokens"] * 0.30
            for u in conv
        )
        / 1e6
    )
    assert expected > 0 and expected == pytest.approx(cost_of(turns(api)))
    led = runner.ledger
    # the run's total: the conversation plus the memory summary (claude-haiku-4-5 prices)
    summary = [r for r in api.message_requests if r not in turns(api)]
    assert len(summary) == 1 and summary[0].model == "claude-haiku-4-5"
    total = expected + cost_of(summary)
    assert led.usage.cost_usd == pytest.approx(total, rel=1e-6)
    assert led.usage.input_tokens == sum(u["input_tokens"] for u in api.usage_log)
    assert led.usage.cache_read_input_tokens == sum(u["cache_read_input_tokens"] for u in api.usage_log)
    # the same total in the state file, the journal and the trace; per step it adds up too
    st = StateFile(ws.state_path).load()
    assert st.usage.cost_usd == pytest.approx(total, abs=1e-6)
    recs = read_records(runner.run_dir / "journal.jsonl")
    assert sum(r["data"]["usage"]["cost_usd"] for r in recs if r["kind"] == "model_turn") == pytest.approx(expected)
    trace = json.loads((runner.run_dir / "trace.json").read_text())
    assert trace["total_cost"] == pytest.approx(total, rel=1e-6)
    assert trace["usage"]["cache_read_input_tokens"] == led.usage.cache_read_input_tokens
    # each step carries its share of the turn that proposed it; the last (text-only) turn has no step
    last_turn = [r for r in recs if r["kind"] == "model_turn"][-1]["data"]["usage"]["cost_usd"]
    assert sum(t["cost_usd"] for t in trace["transitions"]) == pytest.approx(expected - last_turn, rel=1e-6)


async def test_prices_in_system_agent_md_override_the_table(ws, api):
    api.add(message(text("Done.")))
    rt = runtime(api, prices={MODEL: {"input": 1000, "output": 0, "cache_write": 0, "cache_read": 0}})
    runner = start(ws, api, rt=rt)
    assert await runner.drive() == "completed"
    u = turns(api)[0].usage
    summary = [r for r in api.message_requests if r not in turns(api)]
    assert runner.ledger.usage.cost_usd == pytest.approx(u["input_tokens"] * 1000 / 1e6 + cost_of(summary))


async def test_max_cost_usd_pauses_the_run(ws, api):
    api.add(*[message(tool_use("Glob", {"pattern": "*"})) for _ in range(3)], message(text("Done.")))
    runner = start(ws, api, max_cost_usd=0.000001, no_wait=True)
    assert await runner.drive() == "paused"
    led = runner.ledger
    assert led.error["type"] == "budget" and "max_cost_usd" in led.error["message"]
    assert led.turns == 1 and len(turns(api)) == 1


# ---------------------------------------------------------------- failures


async def test_overloaded_then_success_is_retried_by_the_sdk(ws, api):
    api.add(error(529), message(text("Done.")))
    runner = start(ws, api)
    assert await runner.drive() == "completed"
    assert len(turns(api)) == 2 and runner.ledger.error is None


async def test_retries_exhausted_pause_then_resume_completes(ws, api):
    api.add(message(tool_use("Write", {"file_path": "a.txt", "content": "a"})), error(529), error(529), error(529))
    runner = start(ws, api, no_wait=True)
    assert await runner.drive() == "paused"
    led = runner.ledger
    assert led.error["type"] == "runtime" and "529" in led.error["message"]
    assert (ws.root / "a.txt").read_text() == "a" and led.steps[0].status == "done"  # no step lost
    recs = read_records(runner.run_dir / "journal.jsonl")
    assert (
        recs[-1]["kind"] == "run_status"
        and recs[-1]["to"] == "paused"
        and "529" in recs[-1]["data"]["error"]["message"]
    )
    st = StateFile(ws.state_path).load()
    assert st.status == "paused" and "529" in st.error["message"]

    api.add(message(text("Done after the outage.")))
    again = resume(ws, api, runner.run_id)
    assert await again.drive() == "completed"
    assert again.ledger.steps[0].status == "done" and len(again.ledger.steps) == 1
    last = turns(api)[-1].body
    assert tool_results(last)[0]["tool_use_id"] == led.steps[0].tool_use_id  # the conversation went on


async def test_an_unreachable_server_pauses(ws, tmp_path):
    rt = NativeRuntime(api_key="test-key", base_url="http://127.0.0.1:9", model=MODEL, max_retries=0)
    config, registry = parts(ws)
    runner = Runner.start(
        ws, "g", config=config, registry=registry, runtime=rt, runtime_name="native", options=RunOptions(no_wait=True)
    )
    assert await runner.drive() == "paused"
    assert "could not be reached" in runner.ledger.error["message"]


async def test_a_stream_cut_midway_is_retried(ws, api):
    api.add(stream_cut(text("Half a repl")), message(text("Done.")))
    runner = start(ws, api)
    shown: list[str] = []
    runner.runtime.text_listeners.append(shown.append)
    assert await runner.drive() == "completed"
    assert len(turns(api)) == 2 and runner.ledger.last_text == "Done."
    said = "".join(shown)  # the broken-off words are not passed off as part of the answer
    assert said == "Half\n[the reply broke off; asking again]\nDone."


async def test_an_overloaded_error_inside_the_stream_is_retried(ws, api):
    api.add(stream_error(text("Star")), message(text("Done.")))
    runner = start(ws, api)
    assert await runner.drive() == "completed"
    assert len(turns(api)) == 2


async def test_dropped_connection_is_retried(ws, api):
    api.add(drop(), message(text("Done.")))
    assert await start(ws, api).drive() == "completed"


async def test_a_rejected_key_pauses_with_a_hint(ws, api):
    api.add(error(401, message="invalid x-api-key"))
    runner = start(ws, api, no_wait=True)
    assert await runner.drive() == "paused"
    assert "401" in runner.ledger.error["message"] and "ANTHROPIC_API_KEY" in runner.ledger.error["message"]


# ---------------------------------------------------------------- stop reasons


async def test_a_slow_model_call_has_the_state_file_written_first(ws, api):
    """A quick call leaves the state file to the next records; a call still going after
    flush_interval finds what the run did already on disk (watchers and people see it while the
    model thinks)."""
    seen: list[str] = []

    def slow(req):
        time.sleep(0.4)  # the model thinks; the runner must not wait for it to write the state
        seen.append(ws.state_path.read_text())
        return message(text("Done: hello.txt holds hi."))

    api.add(message(tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"})), slow)
    runner = start(ws, api)
    assert await runner.drive() == "completed"
    during = parse_state(seen[0], str(ws.state_path))
    assert during.status == "running" and during.steps_total == 1
    assert [(s.tool, s.status) for s in during.steps] == [("Write", "done")]
    assert StateFile(ws.state_path).load().status == "completed"


async def test_thinking_blocks_go_back_to_the_api_byte_for_byte(ws, api):
    """Streamed in pieces (thinking_delta ×3, signature_delta), put together once, and sent back
    unchanged on the next turn, as the API requires; a redacted block and a server tool's block
    too (the latter is not part of this engine's conversation)."""
    thought = "Read the file first; Ünïcode and a long line " + "x" * 5000
    api.add(
        message(
            {"type": "thinking", "thinking": thought, "signature": "c2lnbmF0dXJl" * 40},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
            tool_use("Read", {"file_path": "notes.txt"}),
        ),
        message(text("Done.")),
    )
    (ws.root / "notes.txt").write_text("n\n")
    runner = start(ws, api, no_wait=True)
    assert await runner.drive() == "completed", runner.ledger.error
    sent = turns(api)[1].body["messages"][-2]["content"]
    assert sent[0] == {"type": "thinking", "thinking": thought, "signature": "c2lnbmF0dXJl" * 40}
    assert sent[1] == {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
    assert [b["type"] for b in sent] == ["thinking", "redacted_thinking", "tool_use"]


async def test_a_big_tool_input_streamed_in_pieces_arrives_whole(ws, api):
    body = "".join(f'line {i}: ünïcødé ✓ "quoted" \\ back\n' for i in range(4_000))  # ~140 KB, under the default budget
    api.add(message(tool_use("Write", {"file_path": "big.txt", "content": body})), message(text("Written.")))
    runner = start(ws, api, no_wait=True)
    assert await runner.drive() == "completed", (runner.ledger.status, runner.ledger.error)
    assert (ws.root / "big.txt").read_text() == body


def test_the_reply_builder_reads_the_sdks_own_event_types():
    """Raw events as the SDK parses them: a reply cut by max_tokens mid tool call keeps what
    parsed of its input; the usage is message_start's, updated by message_delta's."""
    from anthropic.types import (
        InputJSONDelta,
        Message,
        MessageDeltaUsage,
        RawContentBlockDeltaEvent,
        RawContentBlockStartEvent,
        RawContentBlockStopEvent,
        RawMessageDeltaEvent,
        RawMessageStartEvent,
        RawMessageStopEvent,
        TextBlock,
        TextDelta,
        ToolUseBlock,
    )
    from anthropic.types import (
        Usage as ApiUsage,
    )
    from anthropic.types.raw_message_delta_event import Delta

    from llmos_tui.core.runtime.reply import ReplyBuilder

    start_usage = ApiUsage(input_tokens=120, output_tokens=1, cache_read_input_tokens=100)
    events = [
        RawMessageStartEvent(
            type="message_start",
            message=Message(
                id="m", type="message", role="assistant", model="served-model", content=[], usage=start_usage
            ),
        ),
        RawContentBlockStartEvent(type="content_block_start", index=0, content_block=TextBlock(type="text", text="")),
        RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=TextDelta(type="text_delta", text="Hel")),
        RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=TextDelta(type="text_delta", text="lo")),
        RawContentBlockStopEvent(type="content_block_stop", index=0),
        RawContentBlockStartEvent(
            type="content_block_start",
            index=1,
            content_block=ToolUseBlock(type="tool_use", id="t1", name="Write", input={}),
        ),
        RawContentBlockDeltaEvent(
            type="content_block_delta",
            index=1,
            delta=InputJSONDelta(type="input_json_delta", partial_json='{"file_path": "a.txt", "cont'),
        ),
        RawMessageDeltaEvent(
            type="message_delta",
            delta=Delta(stop_reason="max_tokens"),
            usage=MessageDeltaUsage(output_tokens=50),
        ),
        RawMessageStopEvent(type="message_stop"),
    ]
    reply = ReplyBuilder()
    said = [reply.add(e) for e in events]
    assert [s for s in said if s] == ["Hel", "lo"]
    assert reply.ended and reply.stop_reason == "max_tokens" and reply.model == "served-model"
    assert reply.usage == {"input_tokens": 120, "output_tokens": 50, "cache_read_input_tokens": 100}
    content = reply.content()
    assert content[0] == {"type": "text", "text": "Hello"}
    assert content[1]["input"] == {"file_path": "a.txt"}  # what parsed of a call cut midway


async def test_max_tokens_asks_to_continue(ws, api):
    api.add(message(text("The first half"), stop_reason="max_tokens"), message(text("and the rest.")))
    runner = start(ws, api)
    assert await runner.drive() == "completed"
    second = turns(api)[1].body["messages"]
    assert second[-2]["role"] == "assistant" and second[-2]["content"][0]["text"] == "The first half"
    assert second[-1]["role"] == "user" and second[-1]["content"][0]["text"] == MAX_TOKENS_NUDGE


async def test_a_tool_call_cut_by_max_tokens_is_never_run(ws, api):
    api.add(
        message(
            text("Writing"), tool_use("Write", {"file_path": "half.txt", "content": "trunc"}), stop_reason="max_tokens"
        ),
        message(text("Done.")),
    )
    runner = start(ws, api)
    assert await runner.drive() == "completed"
    assert not (ws.root / "half.txt").exists() and runner.ledger.steps == []


async def test_pause_turn_continues_the_same_turn(ws, api):
    api.add(message(text("Working…"), stop_reason="pause_turn"), message(text("Done.")))
    runner = start(ws, api)
    assert await runner.drive() == "completed"
    assert turns(api)[1].body["messages"][-1]["role"] == "assistant"


async def test_refusal_fails_the_run(ws, api):
    api.add(message(text("I can't help with that."), stop_reason="refusal"))
    runner = start(ws, api)
    assert await runner.drive() == "failed"
    assert runner.ledger.error["type"] == "refusal"


# ---------------------------------------------------------------- people


async def test_a_denial_reaches_the_model_as_an_error_result(ws, api):
    api.add(
        message(tool_use("Write", {"file_path": "secrets.txt", "content": "x"})),
        message(text("Understood, I will not write it.")),
    )
    runner = start(ws, api, approval="ask")

    def decide(rec, led):
        if rec["kind"] == "step_status" and rec["to"] == "awaiting_approval":
            runner.submit(new_command("deny", feedback="not that file, use notes.txt"))

    runner.add_listener(decide)
    assert await runner.drive() == "completed"
    result = tool_results(turns(api)[1].body)[0]
    assert result["is_error"] is True and "not that file, use notes.txt" in json.dumps(result["content"])
    assert not (ws.root / "secrets.txt").exists()


# ---------------------------------------------------------------- simulate mode


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and "runs" not in p.relative_to(root).parts
        and p.name != "execution_state.md"
        and not p.name.startswith(".llmos")
    }


async def test_simulate_mode_leaves_the_workspace_byte_identical(ws, api):
    (ws.root / "data.txt").write_text("original\n")
    before = tree_digest(ws.root)
    conversation = iter(
        [
            message(tool_use("Write", {"file_path": "data.txt", "content": "changed"})),
            message(tool_use("Bash", {"command": "rm -f data.txt && touch made.txt"})),
            message(tool_use("WebFetch", {"url": "https://example.com/", "prompt": "title?"})),
            message(tool_use("Read", {"file_path": "data.txt"})),
            message(text("Done.")),
        ]
    )

    def reply(req):
        if req.body.get("tool_choice", {}).get("name") == "tool_result":  # a simulation call
            tool = req.body["messages"][0]["content"].split("\n")[0]
            return message(tool_use("tool_result", {"content": f"simulated output of {tool}"}))
        return next(conversation)

    api.default = reply
    runner = start(ws, api, mode="simulate")
    assert await runner.drive() == "completed"
    assert tree_digest(ws.root) == before
    assert not (ws.root / "made.txt").exists()
    led = runner.ledger
    assert [s.tool for s in led.steps] == ["Write", "Bash", "WebFetch", "Read"]
    assert all(s.simulated and s.status == "done" for s in led.steps)
    assert led.steps[0].content == "simulated output of Tool: Write"
    sims = [r for r in api.message_requests if r.body.get("tool_choice")]
    assert len(sims) == 4 and "side effects: filesystem" in sims[0].body["messages"][0]["content"]
    # marked in the journal, the state file and the trace; the calls' cost is counted
    recs = read_records(runner.run_dir / "journal.jsonl")
    assert sum(1 for r in recs if r["kind"] == "step_status" and r["data"].get("simulated")) == 4
    assert all(s.simulated for s in StateFile(ws.state_path).load().steps)
    trace = json.loads((runner.run_dir / "trace.json").read_text())
    assert all(t["simulated"] for t in trace["transitions"])
    assert sum(1 for r in recs if r["kind"] == "usage") == 4
    assert led.usage.cost_usd == pytest.approx(cost_of(api.message_requests), rel=1e-6)


async def test_simulation_outage_pauses_and_the_step_runs_again(ws, api):
    api.add(message(tool_use("Write", {"file_path": "x.txt", "content": "x"})), error(529), error(529), error(529))
    runner = start(ws, api, mode="simulate", no_wait=True)
    assert await runner.drive() == "paused"
    assert runner.ledger.steps[0].status == "running" and "529" in runner.ledger.error["message"]
    api.add(message(tool_use("tool_result", {"content": "Wrote 1 bytes"})), message(text("Done.")))
    again = resume(ws, api, runner.run_id)
    assert await again.drive() == "completed"
    assert again.ledger.steps[0].status == "done" and again.ledger.steps[0].content == "Wrote 1 bytes"
    assert not (ws.root / "x.txt").exists()


# ---------------------------------------------------------------- WebFetch's answer, context growth


async def test_webfetch_answer_comes_from_a_small_model(api):
    api.add(message(text("The title is Example Domain.")))
    rt = runtime(api)
    answer = await rt.webfetch_answer("What is the title?", "# Example Domain\nSome text.", "https://example.com/")
    assert answer == "The title is Example Domain."
    body = api.message_requests[0].body
    assert body["model"] == "claude-haiku-4-5" and "Example Domain" in body["messages"][0]["content"]
    assert rt.take_side_usage().cost_usd > 0 and rt.take_side_usage().cost_usd == 0


def test_the_context_stays_bounded_and_is_cut_in_rare_batches():
    rt = NativeRuntime(
        api_key="k",
        base_url="http://127.0.0.1:9",
        trim_high=40_000,
        trim_low=10_000,
        keep_recent=2,
        trim_keep_chars=500,
    )
    messages = [{"role": "user", "content": "goal"}]
    sizes, batches, prev, trimmed_seen = [], 0, None, False
    for i in range(150):  # a long run of large results: 7,500 tokens each
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": f"t{i}", "name": "Read", "input": {"file_path": f"big{i}.txt"}}],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": f"line {i}\n" + "x" * 30_000}],
            }
        )
        params = rt.build_params(
            TurnRequest(system="s", tools=[], messages=messages, model=MODEL, max_tokens=100, turn_index=i)
        )
        sent = params["messages"]
        sizes.append(len(json.dumps(sent)) // 4)
        trimmed_seen = trimmed_seen or "[trimmed from 30008 characters" in json.dumps(sent)

        # between batches the sent history only grows at its end: the cached prefix holds
        def strip(ms: list) -> str:
            return json.dumps(
                [
                    {**m, "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]]}
                    for m in ms
                ]
            )

        if prev is not None and strip(sent[: len(prev) - 1]) != strip(prev[:-1]):
            batches += 1
        prev = sent
        assert messages[-1]["content"][0]["content"].endswith("x" * 30_000)  # the ledger's copy is whole
        assert sent[0]["role"] == "user" and all(a["role"] != b["role"] for a, b in zip(sent, sent[1:]))
        assert sum(1 for m in sent for b in m["content"] if "cache_control" in b) <= 2
    assert max(sizes) <= 40_000 + 7_600  # bounded by trim_high and one result, however long the run
    assert max(sizes[-20:]) <= 40_000 + 7_600
    assert batches <= 150 // 3  # in rare batches, not every turn
    note = prev[0]["content"][1]["text"]
    assert note.startswith("[Earlier in this run: ") and "(the last 60 shown)" in note
    assert "Read(file_path='big100.txt') → line 100" in note and "big0.txt" not in note
    assert trimmed_seen  # stage 1 (results cut to their start) came before stage 2 (left out)


# ---------------------------------------------------------------- the command line


def test_run_without_a_key_says_how_to_set_one(project):
    proc = cli("run", "--headless", "say hi", cwd=project)
    assert proc.returncode == 2
    assert "ANTHROPIC_API_KEY" in proc.stderr and "llmos-tui demo" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_run_on_claude_through_anthropic_base_url(project, api):
    api.add(
        message(text("Writing it."), tool_use("Write", {"file_path": "out.txt", "content": "ok\n"})),
        message(text("Done.")),
    )
    proc = cli(
        "run",
        "--headless",
        "--approve",
        "never",
        "write out.txt",
        cwd=project,
        env={"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.base_url},
    )
    assert proc.returncode == 0, proc.stderr
    assert (project / "workspace" / "out.txt").read_text() == "ok\n"
    assert "Writing it." in proc.stdout and "completed" in proc.stdout
    h = api.requests[0].headers  # the SDK sends the key as x-api-key or (2.x) a bearer token
    assert h.get("x-api-key") == "test-key" or h.get("authorization") == "Bearer test-key"
