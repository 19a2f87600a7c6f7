"""Local models (llama.cpp, Ollama, vLLM behind ANTHROPIC_BASE_URL), against the fake API for speed:
the model profile, a cost that is unknown rather than $0, and the answers that asking again cannot
mend (a context overflow, an unknown model) stopping the run with one line instead of a pause.
tests/test_llama_server.py checks the same against a real llama-server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from llmos_tui.core.config import load_agent_config
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.journal import read_records
from llmos_tui.core.memory import read_memory
from llmos_tui.core.pricing import served_price, with_cost
from llmos_tui.core.profile import trim_limits
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import Runner, RunOptions
from llmos_tui.core.runtime.base import MODEL_REFUSED, ModelRefused, TurnRequest
from llmos_tui.core.runtime.native import NativeRuntime
from llmos_tui.core.state import StateFile, Usage, cost_text, parse, render
from llmos_tui.core.toolmap import load_toolmap
from llmos_tui.core.workspace import Workspace

from conftest import cli
from fakeapi import FakeAnthropic, error, message, text, tool_use

GGUF = "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"  # what llama-server answers as the model's name
OVERFLOW = "request (9031 tokens) exceeds the available context size (8192 tokens), try increasing it"


@pytest.fixture
def api():
    with FakeAnthropic() as server:
        yield server


def set_profile(project: Path, **keys) -> None:
    """SystemAgent.md's front matter with these keys set (the shipped file otherwise)."""
    path = project / "system" / "SystemAgent.md"
    head, body = path.read_text().split("\n---\n", 1)
    data = yaml.safe_load(head.removeprefix("---\n"))
    data.update(keys)
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)


def env_for(api: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "local", "ANTHROPIC_BASE_URL": api.base_url}


def only_run(project: Path) -> str:
    (run_id,) = [p.name for p in (project / "workspace" / "runs").iterdir() if not p.name.startswith(".")]
    return run_id


def learnings_reply(req) -> object:
    return message(text("Keep the reply short."), model=GGUF)


# ---------------------------------------------------------------- the model profile


def test_a_claude_model_keeps_claudes_profile(project):
    c = load_agent_config(project / "system" / "SystemAgent.md")
    assert (c.model, c.small_model, c.context_window, c.max_tokens) == (
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        200_000,
        8192,
    )
    assert c.notes == () and c.cost_known
    rt = NativeRuntime(api_key="k", base_url="http://127.0.0.1:9", model=c.model, max_tokens=c.max_tokens)
    assert (rt.trim_high, rt.trim_low, rt.small_model) == (60_000, 24_000, "claude-haiku-4-5")


def test_a_local_model_profile_sizes_everything_from_its_context(project):
    set_profile(project, model="qwen2.5:0.5b", context_window=8192)
    c = load_agent_config(project / "system" / "SystemAgent.md")
    assert (c.small_model, c.context_window, c.max_tokens) == ("qwen2.5:0.5b", 8192, 2048)
    assert not c.cost_known
    assert any("qwen2.5:0.5b has no price" in n and "cost is unknown" in n for n in c.notes)
    assert not any("context window is not known" in n for n in c.notes)
    high, low = trim_limits(8192, 2048)
    assert high + 2048 < 8192 * 0.8 and low < high  # room for a tokenizer that counts a third more
    rt = NativeRuntime(
        api_key="k", base_url="http://127.0.0.1:9", model=c.model, context_window=8192, max_tokens=c.max_tokens
    )
    assert (rt.trim_high, rt.trim_low) == (high, low) and rt.small_model == "qwen2.5:0.5b"


def test_model_flag_on_a_claude_file_derives_the_profile_and_says_what_it_assumed(project):
    set_profile(project, max_tokens=8192)  # (as an older project's file has it)
    c = load_agent_config(project / "system" / "SystemAgent.md").with_(model="llama3.2:3b")
    # max_tokens 8192 cannot fit the 8k context assumed for an unknown model
    assert (c.small_model, c.context_window, c.max_tokens) == ("llama3.2:3b", 8192, 2048)
    said = " | ".join(c.notes)
    assert "max_tokens 8192 leaves no room" in said and "set context_window:" in said
    assert "llama3.2:3b has no price" in said and "max_cost_usd cannot be enforced" in said
    back = c.with_(model="claude-opus-4-6")  # the profile follows the model again, notes too
    assert (back.small_model, back.context_window, back.max_tokens, back.notes) == (  # (the file's 8192 stands)
        "claude-haiku-4-5",
        200_000,
        8192,
        (),
    )


def test_small_model_and_prices_in_the_profile(project):
    set_profile(
        project,
        model="qwen2.5:7b",
        small_model="qwen2.5:0.5b",
        context_window=32768,
        max_tokens=4096,
        prices={"qwen2.5:7b": {"input": 0}, "qwen2.5:0.5b": {"input": 0}},
    )
    c = load_agent_config(project / "system" / "SystemAgent.md")
    assert (c.small_model, c.context_window, c.max_tokens) == ("qwen2.5:0.5b", 32768, 4096)
    assert c.cost_known and c.notes == ()  # priced (free) and sized: nothing to say


def test_a_max_tokens_that_fills_the_context_is_refused_with_its_line(project):
    set_profile(project, model="qwen2.5:0.5b", context_window=4096, max_tokens=4096)
    with pytest.raises(FileFormatError) as exc:
        load_agent_config(project / "system" / "SystemAgent.md")
    assert exc.value.line is not None and "max_tokens (4096) must be smaller than context_window (4096)" in str(
        exc.value
    )


def test_the_shipped_file_documents_the_profile_keys():
    text_ = (Path(__file__).parent.parent / "system" / "SystemAgent.md").read_text()
    for key in ("small_model", "context_window", "max_tokens"):
        assert f"{key}:" in text_


# ---------------------------------------------------------------- cost unknown, never $0


def test_a_reply_is_priced_only_when_a_price_covers_the_name_the_server_gave():
    u = Usage(1000, 100)
    assert with_cost(u, "claude-sonnet-4-6").cost_known
    unknown = with_cost(u, GGUF, requested="claude-sonnet-4-6")  # llama-server's .gguf name: not Claude's price
    assert not unknown.cost_known and unknown.cost_usd == 0.0 and cost_text(unknown) == "cost unknown"
    # SystemAgent.md's price for the profile's name covers the server's own name for it
    priced = with_cost(u, GGUF, {"qwen2.5:0.5b": {"input": 0.1}}, requested="qwen2.5:0.5b")
    assert priced.cost_known and priced.cost_usd > 0
    assert served_price("claude-sonnet-4-5-20250929") is not None
    mixed = with_cost(u, "claude-haiku-4-5") + unknown
    assert not mixed.cost_known and cost_text(mixed).endswith(" + unknown")


def test_the_state_file_says_cost_known_only_when_false_and_reads_older_files():
    from llmos_tui.core.state import RunState

    st = RunState(run_id="r", goal="g", status="completed", usage=Usage(10, 5, cost_known=False))
    text_ = render(st)
    assert "cost_known: false" in text_ and "cost unknown" in text_ and "$0.0000" not in text_
    assert parse(text_).usage.cost_known is False
    known = render(st.with_(usage=Usage(10, 5, cost_usd=0.5)))
    assert "cost_known" not in known and parse(known).usage.cost_known  # an older file: no key, known
    with pytest.raises(FileFormatError):
        parse(text_.replace("cost_known: false", "cost_known: maybe"))


def test_a_run_on_a_server_naming_its_model_by_its_gguf_path_has_an_unknown_cost(project, api):
    api.add(
        message(text("Writing it."), tool_use("Write", {"file_path": "out.txt", "content": "ok\n"}), model=GGUF),
        message(text("Done."), model=GGUF),
    )
    api.default = learnings_reply
    set_profile(project, model="qwen2.5:0.5b", context_window=8192, max_tokens=1024)
    proc = cli("run", "--headless", "--approve", "never", "write out.txt", cwd=project, env=env_for(api))
    assert proc.returncode == 0, proc.stderr
    run_id = only_run(project)
    assert f"run {run_id} completed: 1 call, 2 model turns, cost unknown" in proc.stdout
    assert "$0.0000" not in proc.stdout
    assert "llmos-tui: note: qwen2.5:0.5b has no price: the run's cost is unknown" in proc.stderr
    # side calls ask for the profile's small model (the model itself), never claude-haiku-4-5
    assert {r.model for r in api.message_requests} == {"qwen2.5:0.5b"}
    ws = Workspace.locate(project)
    st = StateFile(ws.run_dir(run_id) / "execution_state.md").load()
    assert not st.usage.cost_known and st.usage.input_tokens > 0
    trace = json.loads((ws.run_dir(run_id) / "trace.json").read_text())
    assert trace["total_cost"] is None and trace["cost_known"] is False
    assert trace["served_model"] == GGUF and trace["model"] == "qwen2.5:0.5b"
    assert all(t["cost_usd"] is None for t in trace["transitions"])
    (entry,) = read_memory(project / "system" / "memory_log.md")
    assert entry["cost_usd"] is None
    assert entry["model"] == "qwen2.5:0.5b (served as qwen2.5-0.5b-instruct-q4_k_m.gguf)"
    assert entry["learnings_by"] == "qwen2.5:0.5b" and entry["learnings"] == "Key learnings: Keep the reply short."
    status = cli("status", run_id, cwd=project, check_rc=0).stdout
    assert "cost unknown" in status and "model qwen2.5:0.5b" in status and "$0" not in status
    out = project / "rows.jsonl"
    cli("export", run_id, "--format", "anthropic", "-o", str(out), cwd=project, check_rc=0)
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["metadata"]["total_cost"] is None


def test_a_claude_name_through_another_server_is_said_to_be_priced_as_claude(project, api):
    api.add(message(text("Hi.")))
    api.default = lambda req: message(text("ok"))
    proc = cli("run", "--headless", "say hi", cwd=project, env=env_for(api))
    assert proc.returncode == 0, proc.stderr
    assert f"ANTHROPIC_BASE_URL is {api.base_url}, not Anthropic's API" in proc.stderr
    assert "cost unknown" not in proc.stdout  # priced as Claude, and said so


# ---------------------------------------------------------------- answers asking again cannot mend


def test_a_context_overflow_stops_the_run_with_one_line_and_exit_2(project, api):
    api.add(error(400, "exceed_context_size_error", OVERFLOW))
    set_profile(project, model="qwen2.5:0.5b", context_window=8192, max_tokens=2048)
    t0 = time.monotonic()
    proc = cli("run", "--headless", "--approve", "never", "write out.txt", cwd=project, env=env_for(api))
    assert time.monotonic() - t0 < 30  # it did not wait while paused
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    run_id = only_run(project)
    (line,) = [ln for ln in proc.stderr.splitlines() if not ln.startswith("llmos-tui: note:")]
    assert line.startswith(
        f"llmos-tui: run {run_id} stopped: the model call was refused (400 exceed_context_size_error"
    )
    assert "lower max_tokens in SystemAgent.md" in line and "llama-server -c" in line
    assert line.endswith(f"then `llmos-tui resume {run_id}`")
    assert "resume the run to try again" not in proc.stdout + proc.stderr
    assert len(api.message_requests) == 1  # never asked again
    led_status = cli("status", run_id, cwd=project, check_rc=0).stdout
    assert "paused" in led_status and "stopped: the model call was refused" in led_status
    # once the server's context is raised, resume goes on
    api.add(message(text("Done.")))
    api.default = lambda req: message(text("ok"))
    again = cli("resume", "--headless", run_id, cwd=project, env=env_for(api))
    assert again.returncode == 0, again.stderr
    assert "completed" in again.stdout


def test_an_unknown_model_stops_the_run_with_one_line_and_exit_2(project, api):
    api.add(error(404, "not_found_error", "model 'qwen2.5:0.5b' not found"))
    set_profile(project, model="qwen2.5:0.5b", context_window=8192)
    proc = cli("run", "--headless", "say hi", cwd=project, env=env_for(api))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    (line,) = [ln for ln in proc.stderr.splitlines() if not ln.startswith("llmos-tui: note:")]
    assert "404 not_found_error: model 'qwen2.5:0.5b' not found" in line
    assert "the server has no model 'qwen2.5:0.5b'" in line and "ollama pull" in line
    records = read_records(Workspace.locate(project).journal_path(only_run(project)))
    paused = [r for r in records if r["kind"] == "run_status" and r.get("to") == "paused"]
    assert paused[-1]["data"]["error"]["type"] == MODEL_REFUSED


@pytest.mark.parametrize(
    ("reply", "retried"),
    [
        (error(429), True),
        (error(529), True),
        (error(503), True),
        (error(401, message="invalid x-api-key"), False),
        (error(403), False),
        (error(400, message="messages: text content blocks must be non-empty"), False),
        (error(400, message="prompt is too long: 201234 tokens > 200000 maximum"), False),
    ],
)
async def test_retryable_answers_pause_and_permanent_ones_are_refusals(api, reply, retried):
    api.add(reply, reply, reply)
    rt = NativeRuntime(api_key="k", base_url=api.base_url, model="claude-sonnet-4-6", max_retries=1)
    request = TurnRequest(
        system="s", tools=[], messages=[{"role": "user", "content": "hi"}], model=rt.model, max_tokens=64, turn_index=0
    )
    with pytest.raises(Exception) as exc:
        await rt.next_turn(request)
    await rt.aclose()
    assert isinstance(exc.value, ModelRefused) is not retried
    assert len(api.message_requests) == (2 if retried else 1)  # the SDK's one retry, or none
    if "too long" in str(exc.value):
        assert "lower max_tokens" in str(exc.value)


async def test_a_refusal_mid_run_pauses_it_and_the_driver_returns_at_once(ws, api):
    api.add(
        message(text("Reading."), tool_use("Read", {"file_path": "x.txt"})),
        error(400, "exceed_context_size_error", OVERFLOW),
    )
    config = load_agent_config(ws.system / "SystemAgent.md").with_(model="qwen2.5:0.5b", approval="never")
    runner = Runner.start(
        ws,
        "read x",
        config=config,
        registry=ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md")),
        runtime=NativeRuntime(api_key="k", base_url=api.base_url, model=config.model, max_retries=0),
        runtime_name="native",
        options=RunOptions(poll_interval=0.01),  # (waiting would never end: no one resumes it)
    )
    assert await runner.drive() == "paused"
    assert runner.ledger.refusal is not None and "lower max_tokens" in runner.ledger.refusal
    assert runner.ledger.error["type"] == MODEL_REFUSED


async def test_side_calls_ask_for_the_small_model_and_say_what_to_change_when_it_is_missing(api):
    rt = NativeRuntime(api_key="k", base_url=api.base_url, model="qwen2.5:7b", small_model="qwen2.5:0.5b")
    api.add(message(text("The title is Example."), model=GGUF))
    assert await rt.webfetch_answer("title?", "# Example", "https://example.com/") == "The title is Example."
    api.add(message(text("Learned."), model=GGUF))
    assert await rt.learnings("goal", "what happened") == "Learned."
    assert [r.model for r in api.message_requests] == ["qwen2.5:0.5b", "qwen2.5:0.5b"]
    assert not rt.take_side_usage().cost_known
    api.add(error(404, "not_found_error", "model 'qwen2.5:0.5b' not found"))
    with pytest.raises(ModelRefused, match="SmartMemory's summary .small_model. was refused"):
        await rt.learnings("goal", "what happened")
    default = NativeRuntime(api_key="k", base_url=api.base_url, model="llama3.2:3b")
    assert default.small_model == "llama3.2:3b"  # a local server has no claude-haiku-4-5
    await rt.aclose()
    await default.aclose()


# ---------------------------------------------------------------- the TUI


async def test_the_tui_says_a_refusal_and_p_takes_the_run_over_once_mended(project, api, monkeypatch):
    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.app import AppSettings, LlmosApp
    from llmos_tui.tui.widgets.panes import RunHeader

    monkeypatch.setenv("ANTHROPIC_API_KEY", "local")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    set_profile(project, model="qwen2.5:0.5b", context_window=8192, max_tokens=1024)
    api.add(error(400, "exceed_context_size_error", OVERFLOW))
    app = LlmosApp(
        AppSettings(
            workspace=project,
            request=RunRequest(goal="say hi", runtime="native", approval="never"),
            clock=False,
            watch_files=False,
        )
    )
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(400):
            if any("refused" in n.title for n in app._notifications):
                break
            await pilot.pause(0.02)
        (note,) = [n for n in app._notifications if "refused" in n.title]
        assert "lower max_tokens in SystemAgent.md" in note.message and "p resumes it" in note.message
        for _ in range(400):  # followed, no longer driven: p takes it over
            source = app.run_screen.source
            if source is not None and not source.here and not source.has_driver:
                break
            await pilot.pause(0.02)
        assert app.ledger.status == "paused"
        api.add(message(text("Hello."), model=GGUF))
        api.default = lambda req: message(text("ok"), model=GGUF)
        await pilot.press("p")
        for _ in range(500):
            if app.ledger is not None and app.ledger.status == "completed":
                break
            await pilot.pause(0.02)
        assert app.ledger.status == "completed"
        await pilot.pause(0.1)
        assert "cost unknown" in str(app.query_one(RunHeader).render())


def test_run_lists_say_cost_unknown_never_dollars_zero():
    from llmos_tui.core.session import RunSummary

    assert RunSummary("r", "completed", "g", 0.0, 1, "", cost_known=False).cost == "cost unknown"
    assert RunSummary("r", "completed", "g", 0.01, 1, "", cost_known=False).cost == "$0.0100 + unknown"
    assert RunSummary("r", "completed", "g", 0.01, 1, "").cost == "$0.0100"
