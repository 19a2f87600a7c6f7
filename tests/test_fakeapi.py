"""The fake Anthropic API (tests/fakeapi.py), driven by the real anthropic SDK."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.error
import urllib.request

import anthropic
import httpx2
import pytest

from fakeapi import FakeAnthropic, drop, error, estimate_tokens, message, stream_cut, stream_error, text, tool_use

CC = {"type": "ephemeral"}
USER_HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def api():
    with FakeAnthropic() as server:
        yield server


def client(api: FakeAnthropic, retries: int = 0) -> anthropic.AsyncAnthropic:
    return api.async_client(max_retries=retries, timeout=5)


async def create(api: FakeAnthropic, retries: int = 0, **kw):
    kw.setdefault("model", "claude-test")
    kw.setdefault("max_tokens", 100)
    kw.setdefault("messages", USER_HI)
    async with client(api, retries) as c:
        return await c.messages.create(**kw)


def raw_post(api: FakeAnthropic, path: str, body: dict, headers: dict) -> tuple[int, dict, str]:
    req = urllib.request.Request(
        api.base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# -- plain JSON ------------------------------------------------------------------------------------


async def test_json_message_with_text_and_tool_use(api):
    api.add(message(text("Let me read it."), tool_use("Read", {"path": "a.txt", "lines": [1, 2]})))
    async with anthropic.AsyncAnthropic(base_url=api.base_url, api_key="test-key", max_retries=0) as c:
        msg = await c.messages.create(
            model="claude-test",
            max_tokens=100,
            messages=USER_HI,
            tools=[{"name": "Read", "description": "read", "input_schema": {"type": "object"}}],
        )
    assert msg.id == "msg_fake_1" and msg.model == "claude-test" and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    assert msg.content[0].text == "Let me read it."
    tu = msg.content[1]
    assert (tu.id, tu.name, tu.input) == ("toolu_fake_1", "Read", {"path": "a.txt", "lines": [1, 2]})
    assert msg.stop_reason == "tool_use"
    assert msg.usage.output_tokens == api.usage_log[0]["output_tokens"] > 1
    [rec] = api.requests
    assert rec.path == "/v1/messages" and not rec.stream and rec.model == "claude-test"
    assert rec.api_key == "test-key" and "anthropic-version" in rec.headers
    assert rec.body["messages"] == USER_HI and rec.status == 200


async def test_stop_reasons_usage_override_and_model_override(api):
    api.add(
        message(text("done")),
        message(text("cut"), stop_reason="max_tokens"),
        message(text("x"), stop_reason="refusal", usage={"output_tokens": 7, "input_tokens": 3}),
        message("plain string block", model="claude-other"),
    )
    assert (await create(api)).stop_reason == "end_turn"
    assert (await create(api)).stop_reason == "max_tokens"
    m = await create(api)
    assert m.stop_reason == "refusal" and (m.usage.output_tokens, m.usage.input_tokens) == (7, 3)
    m = await create(api)
    assert m.model == "claude-other" and m.content[0].text == "plain string block"
    assert api.usage_log[2]["output_tokens"] == 7 and len(api.usage_log) == 4


async def test_callable_reply_and_default(api):
    api.add(lambda rec: message(text("echo: " + rec.body["messages"][-1]["content"])))
    api.default = lambda rec: message(tool_use("Bash", {"command": f"n={rec.number}"}))
    assert (await create(api, messages=[{"role": "user", "content": "ping"}])).content[0].text == "echo: ping"
    a, b = await create(api), await create(api)
    assert a.content[0].input == {"command": "n=2"} and b.content[0].input == {"command": "n=3"}
    assert a.content[0].id != b.content[0].id  # fresh ids each time the default is used
    assert api.pending == 0


async def test_empty_queue_is_a_clear_500_that_the_sdk_does_not_retry(api):
    with pytest.raises(anthropic.InternalServerError, match=r"no reply queued for request #1"):
        await create(api, retries=2)
    assert len(api.requests) == 1 and api.requests[0].status == 500


async def test_count_tokens(api):
    body = {"system": "be brief", "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]}
    async with client(api) as c:
        res = await c.messages.count_tokens(model="claude-test", **body)
    assert res.input_tokens == estimate_tokens("be brief") + estimate_tokens({"type": "text", "text": "hello"})
    assert api.pending == 0 and api.requests[0].path == "/v1/messages/count_tokens"


# -- SSE -------------------------------------------------------------------------------------------


async def test_stream_manager_text_deltas_and_final_message(api):
    api.add(message(text("Streaming works fine here."), tool_use("Write", {"path": "b.txt", "content": "x" * 50})))
    async with client(api) as c:
        async with c.messages.stream(model="claude-test", max_tokens=100, messages=USER_HI) as s:
            deltas = [t async for t in s.text_stream]
            final = await s.get_final_message()
    assert len(deltas) >= 2 and "".join(deltas) == "Streaming works fine here."
    assert final.content[0].text == "Streaming works fine here."
    assert final.content[1].input == {"path": "b.txt", "content": "x" * 50}
    assert final.content[1].id == "toolu_fake_1" and final.stop_reason == "tool_use"
    u = api.usage_log[0]
    assert final.usage.output_tokens == u["output_tokens"] > 1
    assert final.usage.input_tokens == u["input_tokens"]
    assert api.requests[0].stream


async def test_create_stream_true_event_sequence(api):
    api.add(message(text("abc def ghi"), tool_use("T", {"k": "v" * 10})))
    async with client(api) as c:
        events = [e async for e in await c.messages.create(model="m", max_tokens=9, messages=USER_HI, stream=True)]
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert events[0].message.usage.output_tokens == 1 and events[0].message.content == []
    json_parts = [
        e.delta.partial_json for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert 2 <= len(json_parts) <= 3 and json.loads("".join(json_parts)) == {"k": "v" * 10}
    assert types.count("content_block_start") == types.count("content_block_stop") == 2
    delta = events[-2]
    assert delta.delta.stop_reason == "tool_use" and delta.usage.output_tokens == api.usage_log[0]["output_tokens"]


def test_sse_wire_format_ping_and_keep_alive(api):
    """Raw HTTP/1.1: chunked SSE with a ping, then a JSON answer on the same connection."""
    api.add(message(text("hello")), message(text("again")))
    conn = http.client.HTTPConnection("127.0.0.1", int(api.base_url.rsplit(":", 1)[1]), timeout=5)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    conn.request(
        "POST",
        "/v1/messages",
        json.dumps({"model": "m", "max_tokens": 5, "messages": USER_HI, "stream": True}),
        headers,
    )
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("transfer-encoding") == "chunked"
    assert resp.getheader("content-type").startswith("text/event-stream")
    raw = resp.read().decode()
    frames = [f for f in raw.split("\n\n") if f]
    names = []
    for f in frames:
        ev, data = f.split("\n")
        assert ev.startswith("event: ") and data.startswith("data: ")
        names.append(ev[7:])
        assert json.loads(data[6:])["type"] == ev[7:]
    assert names[:2] == ["message_start", "ping"] and names[-1] == "message_stop"
    conn.request("POST", "/v1/messages", json.dumps({"model": "m", "max_tokens": 5, "messages": USER_HI}), headers)
    resp = conn.getresponse()
    assert json.loads(resp.read())["content"] == [{"type": "text", "text": "again"}]
    conn.close()
    assert api.requests[0].peer_port == api.requests[1].peer_port


async def test_sdk_reuses_one_connection_across_json_and_sse(api):
    api.default = message(text("some text"), tool_use("T", {"a": 1}))
    async with client(api) as c:
        for i in range(6):
            if i % 2:
                async with c.messages.stream(model="m", max_tokens=5, messages=USER_HI) as s:
                    assert (await s.get_final_message()).content[1].input == {"a": 1}
            else:
                assert (await c.messages.create(model="m", max_tokens=5, messages=USER_HI)).content[0].text
    assert len(api.requests) == 6 and len({r.peer_port for r in api.requests}) == 1


def test_sync_client_works_too():
    with FakeAnthropic([message(text("sync"))]) as api:
        with api.sync_client() as c:
            assert c.messages.create(model="m", max_tokens=5, messages=USER_HI).content[0].text == "sync"


# -- errors, retries, broken connections ----------------------------------------------------------


async def test_529_then_success_is_retried_instantly(api):
    api.add(error(529), message(text("ok")))
    t0 = time.monotonic()
    msg = await create(api, retries=2)
    assert msg.content[0].text == "ok"
    assert time.monotonic() - t0 < 0.35  # retry-after-ms: 1 beats the SDK's >= 0.375 s backoff
    assert [r.status for r in api.requests] == [529, 200]
    assert [r.headers["x-stainless-retry-count"] for r in api.requests] == ["0", "1"]
    assert len(api.usage_log) == 1


@pytest.mark.parametrize(
    "status, exc, kind",
    [
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
    ],
)
async def test_retries_exhausted(api, status, exc, kind):
    api.add(*[error(status, message=f"boom {i}") for i in range(3)])
    with pytest.raises(exc) as info:
        await create(api, retries=2)
    assert isinstance(info.value, anthropic.APIStatusError) and info.value.status_code == status
    assert info.value.body["error"] == {"type": kind, "message": "boom 2"}
    assert len(api.requests) == 3 and api.pending == 0


async def test_client_errors_are_not_retried(api):
    api.add(error(400, message="bad"), message(text("unused")))
    with pytest.raises(anthropic.BadRequestError, match="bad"):
        await create(api, retries=2)
    assert len(api.requests) == 1 and api.pending == 1


async def test_error_headers_override(api):
    api.add(error(429, headers={"retry-after": "0.01", "x-extra": "1"}), message(text("ok")))
    status, headers, body = raw_post(
        api,
        "/v1/messages",
        {"model": "m", "max_tokens": 1, "messages": USER_HI},
        {"x-api-key": "k", "anthropic-version": "v"},
    )
    lower = {k.lower(): v for k, v in headers.items()}
    assert status == 429 and lower["retry-after"] == "0.01" and lower["x-extra"] == "1"
    assert "retry-after-ms" not in lower  # would shadow retry-after in the SDK
    assert json.loads(body)["error"]["type"] == "rate_limit_error"
    assert (await create(api, retries=1)).content[0].text == "ok"


async def test_drop_raises_connection_error_without_retries(api):
    api.add(drop())
    with pytest.raises(anthropic.APIConnectionError):
        await create(api, retries=0)
    assert len(api.requests) == 1 and api.requests[0].status is None


async def test_drop_then_success_with_a_retry(api, monkeypatch):
    # no response means no retry-after header: the SDK falls back to its 0.5 s backoff; shorten it
    monkeypatch.setattr(anthropic._base_client, "INITIAL_RETRY_DELAY", 0.001)
    api.add(drop(), message(text("second try")))
    assert (await create(api, retries=1)).content[0].text == "second try"
    assert len(api.requests) == 2


async def test_stream_cut_raises_a_transport_error_mid_stream(api):
    """The SDK raised the raw httpx2 error up to 2.16 and wraps it in APIConnectionError since 2.17:
    either way the cut is reported (native.py handles both) and the SDK does not retry it."""
    api.add(stream_cut(text("partial answer here")), message(text("fine")))
    seen = []
    async with client(api, retries=2) as c:
        with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError), match="incomplete chunked read"):
            async with c.messages.stream(model="m", max_tokens=5, messages=USER_HI) as s:
                async for ev in s:
                    seen.append(ev.type)
        # not retried by the SDK (the 200 was already returned); the client stays usable
        assert (await c.messages.create(model="m", max_tokens=5, messages=USER_HI)).content[0].text == "fine"
    assert seen[0] == "message_start" and "content_block_delta" in seen and "message_stop" not in seen
    assert len(api.requests) == 2 and len(api.usage_log) == 1


async def test_stream_cut_on_a_json_request_is_a_connection_error(api):
    api.add(stream_cut(text("x" * 200)))
    with pytest.raises(anthropic.APIConnectionError):
        await create(api)


async def test_stream_error_event_raises_api_status_error(api):
    api.add(stream_error(text("partial"), kind="overloaded_error", message="Overloaded"))
    async with client(api, retries=2) as c:
        with pytest.raises(anthropic.APIStatusError) as info:
            async with c.messages.stream(model="m", max_tokens=5, messages=USER_HI) as s:
                await s.get_final_message()
    assert info.value.body["error"]["type"] == "overloaded_error"
    assert len(api.requests) == 1


async def test_request_validation(api):
    api.add(message(text("unused")))
    good = {"model": "m", "max_tokens": 1, "messages": USER_HI}
    status, _, body = raw_post(api, "/v1/messages", good, {"anthropic-version": "2023-06-01"})
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
    status, _, body = raw_post(api, "/v1/messages", good, {"x-api-key": "k"})
    assert status == 400 and "anthropic-version" in json.loads(body)["error"]["message"]
    status, _, body = raw_post(
        api, "/v1/messages", {"model": "m", "messages": USER_HI}, {"x-api-key": "k", "anthropic-version": "v"}
    )
    assert status == 400 and "max_tokens" in json.loads(body)["error"]["message"]
    status, _, body = raw_post(api, "/v1/models", good, {"x-api-key": "k", "anthropic-version": "v"})
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"
    assert len(api.requests) == 4 and api.pending == 1  # errored requests consume no reply


# -- the prompt cache model ------------------------------------------------------------------------

LONG = "The system prompt. " * 300  # ~1400 tokens
TOOLS = [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}]


def sys_blocks(s: str = LONG, cached: bool = True) -> list[dict]:
    return [{"type": "text", "text": s, **({"cache_control": CC} if cached else {})}]


def tok(*pieces) -> int:
    return sum(estimate_tokens(p) for p in pieces)


def usage_of(msg) -> tuple[int, int, int]:
    u = msg.usage
    return u.cache_read_input_tokens, u.cache_creation_input_tokens, u.input_tokens


async def test_cache_write_then_read_then_miss_on_changed_system():
    with FakeAnthropic(default=message(text("ok"))) as api:
        sys_tokens = tok({"type": "text", "text": LONG})
        assert sys_tokens >= 1024
        first = await create(api, system=sys_blocks())
        assert usage_of(first) == (0, sys_tokens, tok("hi"))
        second = await create(api, system=sys_blocks(), messages=[{"role": "user", "content": "other question"}])
        assert usage_of(second) == (first.usage.cache_creation_input_tokens, 0, tok("other question"))
        changed = await create(api, system=sys_blocks(LONG + "changed"))
        assert changed.usage.cache_read_input_tokens == 0 and changed.usage.cache_creation_input_tokens > 1024
        other_model = await create(api, system=sys_blocks(), model="claude-other")
        assert usage_of(other_model) == (0, sys_tokens, tok("hi"))
        assert [u["cache_read_input_tokens"] for u in api.usage_log] == [0, sys_tokens, 0, 0]


async def test_streaming_reports_the_same_cache_usage():
    with FakeAnthropic(default=message(text("ok"))) as api:
        await create(api, system=sys_blocks())
        async with client(api) as c:
            async with c.messages.stream(model="claude-test", max_tokens=5, system=sys_blocks(), messages=USER_HI) as s:
                final = await s.get_final_message()
        sys_tokens = tok({"type": "text", "text": LONG})
        assert usage_of(final) == (sys_tokens, 0, tok("hi")) and final.usage.output_tokens == tok(text("ok"))


async def test_short_prefix_is_never_cached():
    with FakeAnthropic(default=message(text("ok"))) as api:
        short = sys_blocks("short system prompt")
        total = tok({"type": "text", "text": "short system prompt"}, "hi")
        for _ in range(2):
            assert usage_of(await create(api, system=short)) == (0, 0, total)


async def test_breakpoint_below_the_minimum_is_not_written():
    with FakeAnthropic(default=message(text("ok")), min_cache_tokens=300) as api:
        small = {"type": "text", "text": "s" * 400, "cache_control": CC}  # ~100 tokens: too short alone
        big = {"type": "text", "text": "b" * 1600, "cache_control": CC}  # cumulative ~500: cached
        await create(api, system=[small, big])
        plain = [{k: v for k, v in b.items() if k != "cache_control"} for b in (small, big)]
        assert api.usage_log[0]["cache_creation_input_tokens"] == tok(*plain)
        # same first block, different second: the short prefix was never written, so no read
        await create(api, system=[small, {**big, "text": "c" * 1600}])
        assert api.usage_log[1]["cache_read_input_tokens"] == 0
        assert api.usage_log[1]["cache_creation_input_tokens"] > 300


async def test_growing_conversation_reads_the_whole_previous_prefix():
    with FakeAnthropic(default=message(text("ok"))) as api:

        def user(s, cached):
            block = {"type": "text", "text": s, **({"cache_control": CC} if cached else {})}
            return {"role": "user", "content": [block]}

        def assistant(s):
            return {"role": "assistant", "content": [{"type": "text", "text": s}]}

        convo = [user("first question " * 5, True)]
        u1 = (await create(api, tools=TOOLS, system=sys_blocks(), messages=convo)).usage
        assert u1.cache_read_input_tokens == 0 and u1.input_tokens == 0
        prev_prefix = u1.cache_creation_input_tokens
        assert prev_prefix == tok(*TOOLS, text(LONG), text("first question " * 5))
        for turn in range(2, 5):
            convo = [
                *(
                    dict(m, content=[{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]])
                    for m in convo
                ),
                assistant(f"answer {turn}"),
                user(f"question {turn}", True),
            ]
            u = (await create(api, tools=TOOLS, system=sys_blocks(), messages=convo)).usage
            assert u.cache_read_input_tokens == prev_prefix
            assert u.cache_creation_input_tokens == tok(text(f"answer {turn}"), text(f"question {turn}"))
            assert u.input_tokens == 0
            prev_prefix += u.cache_creation_input_tokens


async def test_lookback_limits_how_far_back_a_read_can_reach():
    with FakeAnthropic(default=message(text("ok")), lookback=2) as api:
        base = [{"role": "user", "content": [{"type": "text", "text": "q0", "cache_control": CC}]}]
        await create(api, system=sys_blocks(), messages=base)
        grown = [
            {"role": "user", "content": [text("q0")]},
            {"role": "assistant", "content": [text("a1")]},
            {"role": "user", "content": [text("q1")]},
            {"role": "assistant", "content": [text("a2")]},
            {"role": "user", "content": [{"type": "text", "text": "q2", "cache_control": CC}]},
        ]
        u = (await create(api, system=sys_blocks(), messages=grown)).usage
        # q0's entry is 4 pieces back from the last breakpoint: out of reach; the system breakpoint is not
        assert u.cache_read_input_tokens == tok({"type": "text", "text": LONG})


async def test_cache_entries_expire_after_ttl():
    with FakeAnthropic(default=message(text("ok")), ttl_s=0.05) as api:
        await create(api, system=sys_blocks())
        assert (await create(api, system=sys_blocks())).usage.cache_read_input_tokens > 0
        await asyncio.sleep(0.1)
        assert (await create(api, system=sys_blocks())).usage.cache_read_input_tokens == 0


async def test_cache_disabled_counts_everything_as_input():
    with FakeAnthropic(default=message(text("ok")), cache=False) as api:
        for _ in range(2):
            assert usage_of(await create(api, system=sys_blocks())) == (0, 0, tok({"type": "text", "text": LONG}, "hi"))


async def test_more_than_four_breakpoints_is_a_400(api):
    api.add(message(text("unused")))
    blocks = [{"type": "text", "text": f"block {i}", "cache_control": CC} for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4"):
        await create(api, retries=2, system=blocks)
    assert len(api.requests) == 1 and api.pending == 1


# -- lifecycle ---------------------------------------------------------------------------------------


async def test_add_is_thread_safe_and_stop_closes_idle_connections():
    api = FakeAnthropic().start()
    threads = [threading.Thread(target=lambda: api.add(*[message(text("t"))] * 50)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert api.pending == 200
    assert (await create(api)).content[0].text == "t"  # leaves an idle keep-alive connection
    t0 = time.monotonic()
    api.stop()
    assert time.monotonic() - t0 < 2 and not api._thread.is_alive()
    api.stop()  # idempotent
