"""The claude-code runtime: the real Claude Code CLI (bundled in claude-agent-sdk's wheel), offline,
against the fake Messages API on 127.0.0.1, gated and recorded by llmos-tui.

These tests need the `claude-code` extra. Without it they are skipped, with the reason; CI installs
it and sets LLMOS_REQUIRE_CLAUDE_CODE, which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmos_tui.core.journal import read_records

from conftest import cli
from fakeapi import FakeAnthropic, error, message, text, tool_use


def _find_claude() -> str | None:
    try:
        from llmos_tui.core.claude.runtime import find_cli

        return find_cli()
    except Exception:  # noqa: BLE001 - the extra (or its CLI) is not installed
        return None


CLAUDE = _find_claude()
if CLAUDE is None and os.environ.get("LLMOS_REQUIRE_CLAUDE_CODE"):
    raise RuntimeError(
        "LLMOS_REQUIRE_CLAUDE_CODE is set but claude-agent-sdk and its Claude Code CLI "
        "are not installed (pip install -e '.[claude-code]')"
    )
needs_claude = pytest.mark.skipif(
    CLAUDE is None,
    reason="the claude-code extra is not installed (pip install -e '.[claude-code]': "
    "claude-agent-sdk, whose wheel bundles the Claude Code CLI)",
)

PLAN = "mcp__llmos__UpdatePlan"  # UpdatePlan, as Claude Code names our in-process tool


@pytest.fixture
def home(tmp_path_factory) -> Path:
    """Claude Code's HOME and config dir: never the real ~/.claude."""
    return tmp_path_factory.mktemp("claude-home")


def env_for(api: FakeAnthropic, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")}
    env.update(api.claude_code_env(home))
    env.update(extra)
    return env


def headless(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", "run", "--headless", "--runtime", "claude-code", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def status(project: Path, env: dict[str, str]) -> dict:
    r = cli("status", "--json", cwd=project, env=env)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def wait_until(
    project: Path, env: dict[str, str], pred, what: str, proc: subprocess.Popen | None = None, timeout: float = 60
) -> dict:
    deadline = time.monotonic() + timeout
    st: dict = {}
    while time.monotonic() < deadline:
        st = status(project, env)
        if st and pred(st):
            return st
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: rc {proc.returncode}\n{proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"never {what}: {st}")


def awaiting(n: int):
    return lambda st: st["status"] == "awaiting_approval" and st["current_step"] == n


def journal(project: Path) -> list[dict]:
    (path,) = (project / "workspace" / "runs").glob("*/journal.jsonl")
    return read_records(path)


def transitions(records: list[dict], n: int) -> list[str]:
    return [r["to"] for r in records if r["kind"] == "step_status" and r.get("step") == n]


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


# ---------------------------------------------------------------- the gate, end to end


@needs_claude
def test_a_write_waits_at_the_gate_is_approved_run_by_claude_code_and_recorded(project, home):
    replies = [
        message(
            text("Planning first."),
            tool_use(PLAN, {"steps": [{"title": "Write the greeting", "status": "in_progress"}]}),
            tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"}),
        ),
        message(text("Done: hello.txt holds the greeting.")),
    ]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        proc = headless(project, env, "Write a greeting to hello.txt")
        try:
            st = wait_until(project, env, awaiting(2), "waiting at step 2", proc)
            # the Write waits at our gate: Claude Code has not run it
            assert st["steps"][-1]["tool"] == "Write"
            assert not (project / "workspace" / "hello.txt").exists()
            time.sleep(0.5)
            assert not (project / "workspace" / "hello.txt").exists()
            assert len(api.message_requests) == 1  # Claude Code waits for the answer too
            r = cli("approve", cwd=project, env=env)
            assert r.returncode == 0 and "applied" in r.stdout, (r.stdout, r.stderr)
            rc, out, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert rc == 0, (out, err)
        # executed by Claude Code, in the workspace
        assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
        assert "run " in out and "completed" in out

        # what Claude Code was given: SystemAgent.md as the system prompt, the ToolMap's tools,
        # UpdatePlan in process, no sub-agent tool
        first = api.message_requests[0].body
        system = json.dumps(first["system"])
        assert "You are the SystemAgent of LLM-OS" in system
        assert "Tools (from ClaudeCodeToolMap.md)" in system
        names = {t["name"] for t in first["tools"]}
        assert {"Read", "Write", "Edit", "Bash", "Grep", "Glob", "WebFetch", PLAN} <= names
        assert not names & {"Task", "Agent"}
        # Claude Code's own tool result went back to the model
        second = json.dumps(api.message_requests[1].body["messages"][-1])
        assert "hello.txt" in second and '"is_error": true' not in second

    records = journal(project)
    assert transitions(records, 1) == ["proposed", "running", "done"]  # UpdatePlan: auto
    assert transitions(records, 2) == ["proposed", "awaiting_approval", "running", "done"]
    kinds = [(r["kind"], r.get("step")) for r in records]
    # write-ahead: `running` and the exec mark are journaled before Claude Code reports the result
    assert kinds.index(("step_exec", 2)) < max(
        i for i, r in enumerate(records) if r["kind"] == "step_status" and r.get("step") == 2
    )
    started = records[0]["data"]
    assert started["runtime"] == "claude-code" and started["model"] == "claude-sonnet-4-6"
    assert any(r["kind"] == "claude_session" and r["data"]["session_id"] for r in records)
    turns = [r for r in records if r["kind"] == "model_turn"]
    assert len(turns) == 2 and turns[0]["data"]["stop_reason"] == "tool_use"
    assert turns[0]["data"]["usage"]["cost_usd"] > 0  # priced with our table
    assert [r["to"] for r in records if r["kind"] == "run_status"] == [
        "running",
        "awaiting_approval",
        "running",
        "completed",
    ]
    approve = next(r for r in records if r["kind"] == "command")
    assert approve["data"]["action"] == "approve" and approve["data"]["applied"]

    # status, the state file and the trace read it like any other run
    st = status(project, env)
    assert st["status"] == "completed" and st["runtime"] == "claude-code"
    assert st["plan"] == [{"title": "Write the greeting", "status": "in_progress"}]
    trace = json.loads(next((project / "workspace" / "runs").glob("*/trace.json")).read_text())
    assert trace["runtime"] == "claude-code" and trace["final_outcome"] == "completed"
    assert [t["status"] for t in trace["transitions"]] == ["done", "done"]
    assert trace["transitions"][1]["human"]["decision"] == "approved"
    roles = [m["role"] for m in trace["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert trace["messages"][1]["content"][1]["name"] == "UpdatePlan"  # the ToolMap's name
    assert trace["messages"][2]["content"][1]["tool_use_id"] == trace["messages"][1]["content"][2]["id"]
    # and it exports like any run: each call names a tool the row offers
    r = cli("export", "--all", "--format", "anthropic", "-o", "-", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    (row,) = [json.loads(line) for line in r.stdout.splitlines()]
    offered = {t["name"] for t in row["tools"]}
    called = {
        b["name"] for m in row["messages"] if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"
    }
    assert called == {"UpdatePlan", "Write"} and called <= offered


@needs_claude
def test_a_denied_write_is_not_run_and_the_model_reads_why(project, home):
    replies = [
        message(tool_use("Write", {"file_path": "notes.txt", "content": "draft\n"})),
        message(text("Understood, I will not write it.")),
    ]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        proc = headless(project, env, "--approve", "ask", "Save a draft")
        try:
            wait_until(project, env, awaiting(1), "waiting at step 1", proc)
            r = cli("deny", "--feedback", "keep notes out of it", cwd=project, env=env)
            assert r.returncode == 0, r.stderr
            rc, out, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert rc == 0, (out, err)
        assert not (project / "workspace" / "notes.txt").exists()
        result = api.message_requests[1].body["messages"][-1]["content"][0]
        assert result["type"] == "tool_result" and result["is_error"] is True
        assert "keep notes out of it" in json.dumps(result)
    records = journal(project)
    assert transitions(records, 1) == ["proposed", "awaiting_approval", "denied"]
    assert not any(r["kind"] == "step_exec" for r in records)
    assert status(project, env)["status"] == "completed"


@needs_claude
def test_a_person_edits_the_call_and_claude_code_runs_the_edited_one(project, home):
    replies = [message(tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"})), message(text("Done."))]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        proc = headless(project, env, "Write hello.txt")
        try:
            wait_until(project, env, awaiting(1), "waiting at step 1", proc)
            edited = {"file_path": "hello.txt", "content": "hello, edited\n"}
            r = cli("approve", "--inputs", json.dumps(edited), cwd=project, env=env)
            assert r.returncode == 0, r.stderr
            rc, out, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert rc == 0, (out, err)
    assert (project / "workspace" / "hello.txt").read_text() == "hello, edited\n"
    trace = json.loads(next((project / "workspace" / "runs").glob("*/trace.json")).read_text())
    human = trace["transitions"][0]["human"]
    assert human["decision"] == "edited" and human["proposed_inputs"]["content"] == "hi\n"


@needs_claude
def test_the_cost_budget_pauses_before_the_next_turn_and_resume_with_more_goes_on(project, home):
    def reply(rec):  # Claude Code asks for the next turn as soon as it has the result: that
        first = len(rec.body["messages"]) <= 2  # reply may come before it is stopped
        return message(tool_use("Read", {"file_path": "in.txt"})) if first else message(text("Done."))

    (project / "workspace" / "in.txt").write_text("x\n")
    with FakeAnthropic(default=reply) as api:
        env = env_for(api, home)
        rc, out, err = finish(headless(project, env, "--no-wait", "--max-cost", "0.000001", "Read in.txt"))
        assert rc == 3, (out, err)
        st = status(project, env)
        assert st["status"] == "paused" and st["error"]["type"] == "budget"
        assert st["steps"][0]["status"] == "done" and st["turns"] in (1, 2)
        r = cli("resume", "--headless", "--max-cost", "5", cwd=project, env=env, timeout=90)
        assert r.returncode == 0, (r.stdout, r.stderr)
    assert status(project, env)["status"] == "completed"


@needs_claude
def test_max_turns_ends_the_run_once_the_turns_are_used(project, home):
    agent = project / "system" / "SystemAgent.md"
    agent.write_text(agent.read_text().replace("max_turns: 60 ", "max_turns: 1  ", 1))
    (project / "workspace" / "in.txt").write_text("x\n")
    with FakeAnthropic(default=message(tool_use("Read", {"file_path": "in.txt"}))) as api:
        env = env_for(api, home)
        rc, out, err = finish(headless(project, env, "Read in.txt forever"))
    assert rc == 1, (out, err)
    st = status(project, env)
    assert st["status"] == "failed" and st["error"]["type"] == "max_turns"
    assert st["steps"][0]["status"] == "done"


@needs_claude
def test_the_workspace_sandbox_refuses_paths_outside_it_without_asking(project, home):
    (project / "workspace" / "in.txt").write_text("inside\n")
    replies = [
        message(
            tool_use("Read", {"file_path": "in.txt"}),
            tool_use("Write", {"file_path": "../escape.txt", "content": "out\n"}),
            tool_use("Write", {"file_path": "runs/x.txt", "content": "mine\n"}),
            tool_use("Write", {"file_path": "ok.txt", "content": "fine\n"}),
        ),
        message(text("Done.")),
    ]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        rc, out, err = finish(headless(project, env, "--approve", "never", "Copy things"))
        assert rc == 0, (out, err)
        results = {b["tool_use_id"]: b for b in api.message_requests[1].body["messages"][-1]["content"]}
    assert not (project / "escape.txt").exists()
    assert not (project / "workspace" / "runs" / "x.txt").exists()
    assert (project / "workspace" / "ok.txt").read_text() == "fine\n"
    records = journal(project)
    assert [transitions(records, n)[-1] for n in (1, 2, 3, 4)] == ["done", "denied", "denied", "done"]
    denied = [r for r in records if r["kind"] == "step_status" and r.get("to") == "denied"]
    assert all(r["data"]["human"]["by"] == "sandbox" for r in denied)
    assert "outside the workspace" in denied[0]["data"]["content"]
    assert "reserved" in denied[1]["data"]["content"]
    assert sum(1 for b in results.values() if b.get("is_error")) == 2


# ---------------------------------------------------------------- stopping and resuming


@needs_claude
def test_no_wait_then_approve_then_resume_runs_the_call_once_and_continues_the_session(project, home):
    replies = [
        message(text("Writing it."), tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"})),
        message(text("Resumed: the greeting is written.")),
    ]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        rc, out, err = finish(headless(project, env, "--no-wait", "Write hello.txt"))
        assert rc == 3, (out, err)
        assert "needs a decision" in out
        assert not (project / "workspace" / "hello.txt").exists()
        r = cli("approve", cwd=project, env=env)
        assert r.returncode == 0 and "queued" in r.stdout, r.stdout
        r = cli("resume", "--headless", cwd=project, env=env, timeout=90)
        assert r.returncode == 0, (r.stdout, r.stderr)
        # the approved call ran once, by llmos-tui (Claude Code's session had ended)
        assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
        # Claude Code resumed its session: the earlier turn is there, and it was told the result
        last = api.message_requests[-1].body["messages"]
        flat = json.dumps(last)
        assert "Writing it." in flat
        assert "[llmos-tui] This run was interrupted and is now resumed." in flat
        assert "step 1 Write" in flat and ": done" in flat
    records = journal(project)
    assert transitions(records, 1) == ["proposed", "awaiting_approval", "running", "done"]
    sessions = [r["data"]["session_id"] for r in records if r["kind"] == "claude_session"]
    assert len(sessions) == 1  # the same session, resumed
    assert status(project, env)["status"] == "completed"


def by_conversation(first_reply, resumed_reply):
    """Replies chosen by what the request holds, not by their order: a Claude Code that outlives
    its driver may still ask once more (its answer is never journaled), and that must not take the
    reply meant for the resumed session."""

    def reply(rec):
        flat = json.dumps(rec.body.get("messages", []))
        if "[llmos-tui] This run was interrupted" in flat:
            return resumed_reply
        if len(rec.body.get("messages", [])) <= 2:
            return first_reply
        return message(text("(a reply no one journals)"))

    return reply


@needs_claude
@pytest.mark.parametrize("stop", ["kill -9", "ctrl-c"])
def test_a_run_stopped_at_a_decision_resumes_and_the_approved_call_runs_once(project, home, stop):
    import signal

    reply = by_conversation(
        message(text("Writing it."), tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"})),
        message(text("Resumed: the greeting is written.")),
    )
    with FakeAnthropic(default=reply) as api:
        env = env_for(api, home)
        proc = headless(project, env, "Write hello.txt")
        wait_until(project, env, awaiting(1), "waiting at step 1", proc)
        if stop == "kill -9":
            proc.kill()
            proc.wait(10)
            assert status(project, env)["status"] == "awaiting_approval"  # as the journal left it
        else:
            proc.send_signal(signal.SIGINT)
            rc, out, err = finish(proc)
            assert rc == 3 and "paused" in out, (out, err)
        assert not (project / "workspace" / "hello.txt").exists()
        if stop == "ctrl-c":
            r = cli("resume", "--headless", "--no-wait", cwd=project, env=env, timeout=90)
            assert r.returncode == 3, (r.stdout, r.stderr)  # unpaused: the Write waits again
        r = cli("approve", cwd=project, env=env)
        assert r.returncode == 0 and "queued" in r.stdout, r.stdout
        r = cli("resume", "--headless", cwd=project, env=env, timeout=90)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "Resumed: the greeting is written." in r.stdout
    assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
    records = journal(project)
    assert [t for t in transitions(records, 1)] == ["proposed", "awaiting_approval", "running", "done"]
    assert sum(1 for r in records if r["kind"] == "step_exec") == 1
    assert len({r["data"]["session_id"] for r in records if r["kind"] == "claude_session"}) == 1
    assert status(project, env)["status"] == "completed"


@needs_claude
def test_cancel_ends_the_run_and_claude_code_with_it(project, home):
    with FakeAnthropic(default=message(tool_use("Write", {"file_path": "x.txt", "content": "x"}))) as api:
        env = env_for(api, home)
        proc = headless(project, env, "Write x.txt")
        wait_until(project, env, awaiting(1), "waiting at step 1", proc)
        assert cli("cancel", cwd=project, env=env).returncode == 0
        rc, out, err = finish(proc, timeout=30)
        assert rc == 1 and "cancelled" in out, (out, err)
        assert len(api.message_requests) == 1  # Claude Code did not go on
    assert not (project / "workspace" / "x.txt").exists()
    assert status(project, env)["status"] == "cancelled"


@needs_claude
def test_an_api_error_pauses_the_run_and_resume_carries_on(project, home):
    replies = [
        error(500, message="fake outage for this test", headers={"x-should-retry": "false"}),
        message(text("Back again, and done.")),
    ]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        rc, out, err = finish(headless(project, env, "--no-wait", "Say hello"))
        assert rc == 3, (out, err)
        st = status(project, env)
        assert st["status"] == "paused" and st["error"]["type"] == "runtime"
        assert "fake outage" in st["error"]["message"]
        r = cli("resume", "--headless", cwd=project, env=env, timeout=90)
        assert r.returncode == 0, (r.stdout, r.stderr)
    st = status(project, env)
    assert st["status"] == "completed" and st["error"] is None


@needs_claude
def test_a_claude_code_that_dies_pauses_the_run_with_its_reason(project, home, tmp_path):
    fake_cli = tmp_path / "claude"
    fake_cli.write_text("#!/bin/sh\necho 'simulated crash' >&2\nexit 7\n")
    fake_cli.chmod(0o755)
    with FakeAnthropic([]) as api:
        env = env_for(api, home, LLMOS_CLAUDE_CLI=str(fake_cli))
        rc, out, err = finish(headless(project, env, "--no-wait", "Say hello"))
    assert rc == 3, (out, err)
    st = status(project, env)
    assert st["status"] == "paused" and "Claude Code stopped" in st["error"]["message"]
    assert read_records(next((project / "workspace" / "runs").glob("*/journal.jsonl")))[0]["kind"] == "run_started"


# ---------------------------------------------------------------- watched from the TUI


@needs_claude
async def test_a_watcher_approves_a_claude_code_call_by_keypress(project, home):
    from test_watch import SIZE, wait_for

    from llmos_tui.tui.app import AppSettings, LlmosApp

    replies = [message(tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"})), message(text("Done."))]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        proc = headless(project, env, "Write hello.txt")
        try:
            wait_until(project, env, awaiting(1), "waiting at step 1", proc)
            app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(
                    pilot, lambda: app.view is not None and app.remote_driver and app.view.current_step is not None
                )
                await pilot.press("a")
                await wait_for(pilot, lambda: app.view.status == "completed", timeout=30)
            rc, out, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert rc == 0, (out, err)
    assert (project / "workspace" / "hello.txt").read_text() == "hi\n"


@needs_claude
async def test_the_tui_drives_a_claude_code_run_and_streams_its_words(project, home, monkeypatch):
    from test_watch import SIZE, wait_for

    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.app import AppSettings, LlmosApp

    replies = [
        message(text("I'll write the greeting now."), tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"})),
        message(text("Done.")),
    ]
    from llmos_tui.core.claude.runtime import ClaudeCodeRuntime

    streamed: list[str] = []
    init = ClaudeCodeRuntime.__init__

    def listening(self, **kw):
        init(self, **kw)
        self.text_listeners.append(streamed.append)

    monkeypatch.setattr(ClaudeCodeRuntime, "__init__", listening)
    with FakeAnthropic(replies) as api:
        for k, v in api.claude_code_env(home).items():
            monkeypatch.setenv(k, v)
        req = RunRequest(goal="Write hello.txt", runtime="claude-code")
        app = LlmosApp(AppSettings(workspace=project, request=req, clock=False, watch_files=False))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    app.runner is not None
                    and app.ledger.current_step is not None
                    and app.ledger.current_step.status == "awaiting_approval"
                ),
                timeout=30,
            )
            assert len(streamed) > 1 and "".join(streamed) == "I'll write the greeting now."
            assert "write the greeting" in str(app.query_one("#said").render())
            assert not (project / "workspace" / "hello.txt").exists()
            await pilot.press("a")
            await wait_for(pilot, lambda: app.ledger.status == "completed", timeout=30)
    assert (project / "workspace" / "hello.txt").read_text() == "hi\n"


# ---------------------------------------------------------------- clear errors


def test_without_the_extra_a_claude_code_run_is_refused_in_one_line(project, tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "claude_agent_sdk.py").write_text(
        "raise ImportError(\"No module named 'claude_agent_sdk'\", name='claude_agent_sdk')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    r = cli("run", "--headless", "--runtime", "claude-code", "Say hello", cwd=project, env=env)
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and "pip install 'llmos-tui[claude-code]'" in line, line
    assert not (project / "workspace" / "runs").exists()


@needs_claude
def test_a_missing_claude_code_cli_is_refused_in_one_line(project, tmp_path):
    env = {**os.environ, "LLMOS_CLAUDE_CLI": str(tmp_path / "no-such-claude")}
    r = cli("run", "--headless", "--runtime", "claude-code", "Say hello", cwd=project, env=env)
    assert r.returncode == 2
    assert "\n" not in r.stderr.strip() and "LLMOS_CLAUDE_CLI" in r.stderr
    r = cli("run", "--runtime", "claude-code", "Say hello", cwd=project, env=env)  # before the TUI
    assert r.returncode == 2 and "not an executable Claude Code CLI" in r.stderr


@needs_claude
def test_simulate_mode_is_refused_with_the_claude_code_runtime(project):
    r = cli("run", "--headless", "--runtime", "claude-code", "--mode", "simulate", "x", cwd=project)
    assert r.returncode == 2 and "--mode simulate is not available" in r.stderr
    assert not list((project / "workspace").glob("runs/*"))


# ---------------------------------------------------------------- the pieces, without the CLI


def test_edited_inputs_are_checked_only_for_the_parameters_we_know(ws):
    from llmos_tui.core.claude.runtime import ClaudeCodeRegistry
    from llmos_tui.core.toolmap import load_toolmap

    reg = ClaudeCodeRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
    assert reg.validate("Bash", {"command": "ls", "run_in_background": False}) is None  # Claude Code's
    assert "command" in reg.validate("Bash", {"description": "no command"})
    assert reg.validate("UpdatePlan", {"steps": [{"title": "x", "status": "done?"}]}) is not None
    assert reg.validate("TodoWrite", {"todos": []}) is None  # not ours to check
    assert "Task" not in reg.claude_code_tools() and "Task" in reg.unavailable
    assert reg.claude_code_tools() == ["Read", "Write", "Edit", "Bash", "Grep", "Glob", "WebFetch"]
