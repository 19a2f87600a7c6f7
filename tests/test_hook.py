"""`llmos-tui hook` and `llmos-tui init --claude`: a Claude Code session a person runs themselves,
recorded and gated as a run.

Most tests feed the hook the input JSON Claude Code documents for PreToolUse, PostToolUse,
PostToolUseFailure and Stop (https://code.claude.com/docs/en/hooks); the last one runs a real
`claude -p` (the CLI bundled with claude-agent-sdk) in a folder set up by `init --claude`.
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

from conftest import cli, runs_in
from fakeapi import FakeAnthropic, message, text, tool_use
from test_claude_code import CLAUDE, needs_claude

SESSION = "3f1c2a7e-51b2-4c8e-9d4e-1a2b3c4d5e6f"
PROMPT = "b7c1d2e3-0000-4000-8000-00000000aaaa"


@pytest.fixture
def claude_project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    r = cli("init", "--claude", str(project), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return project


def transcript(project: Path, prompt: str = "Write a greeting to hello.txt", prompt_id: str = PROMPT) -> Path:
    """A session transcript as Claude Code keeps it (one JSON object a line)."""
    path = project.parent / f"{SESSION}.jsonl"
    lines = [
        {
            "type": "user",
            "promptId": prompt_id,
            "sessionId": SESSION,
            "isSidechain": False,
            "message": {"role": "user", "content": prompt},
            "uuid": "u-1",
        },
        {
            "type": "assistant",
            "sessionId": SESSION,
            "message": {"role": "assistant", "content": [{"type": "text", "text": "On it."}]},
        },
    ]
    with open(path, "a") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")
    return path


def event(project: Path, name: str, prompt_id: str = PROMPT, **fields) -> dict:
    """Hook input as documented: the common fields, then the event's own."""
    return {
        "session_id": SESSION,
        "transcript_path": str(project.parent / f"{SESSION}.jsonl"),
        "cwd": str(project),
        "prompt_id": prompt_id,
        "permission_mode": "default",
        "hook_event_name": name,
        **fields,
    }


def pre(project: Path, tool: str, inputs: dict, tid: str, **kw) -> dict:
    return event(project, "PreToolUse", tool_name=tool, tool_input=inputs, tool_use_id=tid, **kw)


def post(project: Path, tool: str, inputs: dict, tid: str, response, **kw) -> dict:
    return event(
        project,
        "PostToolUse",
        tool_name=tool,
        tool_input=inputs,
        tool_response=response,
        tool_use_id=tid,
        duration_ms=12,
        **kw,
    )


def start_hook(payload: dict, *, wait: float = 30) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", "hook", "--wait", str(wait)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=payload.get("cwd") or None,
    )
    proc.stdin.write(json.dumps(payload))
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    return proc


def run_hook(payload: dict, *, wait: float = 30) -> tuple[int, dict | None, str]:
    proc = start_hook(payload, wait=wait)
    out = proc.stdout.read()
    err = proc.stderr.read()
    rc = proc.wait(60)
    return rc, (json.loads(out) if out.strip() else None), err


def status(project: Path) -> dict:
    r = cli("status", "--json", "--workspace", str(project), cwd=project)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def wait_awaiting(project: Path, n: int, proc: subprocess.Popen, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(project)
        if st.get("status") == "awaiting_approval" and st.get("current_step") == n:
            return st
        if proc.poll() is not None:
            raise AssertionError(f"the hook ended first: {proc.returncode} {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"step {n} never waited: {status(project)}")


def records(project: Path) -> list[dict]:
    (path,) = (project / "workspace" / "runs").glob("*/journal.jsonl")
    return read_records(path)


def finish(proc: subprocess.Popen) -> tuple[int, dict | None]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return proc.returncode, (json.loads(out) if out.strip() else None)


# ---------------------------------------------------------------- init --claude


def test_init_claude_adds_the_hooks_and_keeps_what_the_settings_held(tmp_path):
    project = tmp_path / "p"
    (project / ".claude").mkdir(parents=True)
    mine = {
        "permissions": {"allow": ["Bash(ls:*)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo mine"}]}]},
    }
    (project / ".claude" / "settings.json").write_text(json.dumps(mine))
    r = cli("init", "--claude", str(project), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "updated  p/.claude/settings.json" in r.stdout
    assert (project / "system" / "SystemAgent.md").exists() and (project / "workspace").is_dir()
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert settings["permissions"] == mine["permissions"]
    assert settings["hooks"]["PreToolUse"][0] == mine["hooks"]["PreToolUse"][0]
    for ev in ("PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop"):
        (ours,) = [h for e in settings["hooks"][ev] for h in e["hooks"] if "llmos_tui hook" in h["command"]]
        assert ours["type"] == "command" and ours["timeout"] > 120
        assert ours["command"].startswith(sys.executable) or ours["command"].startswith("'" + sys.executable)
    before = (project / ".claude" / "settings.json").read_text()
    r = cli("init", "--claude", str(project), cwd=tmp_path)
    assert "kept  p/.claude/settings.json" in r.stdout
    assert (project / ".claude" / "settings.json").read_text() == before


def test_init_claude_leaves_a_broken_settings_file_alone(tmp_path):
    project = tmp_path / "p"
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "settings.json").write_text('{"hooks": {')
    r = cli("init", "--claude", str(project), cwd=tmp_path)
    assert r.returncode == 2
    assert "settings.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (project / ".claude" / "settings.json").read_text() == '{"hooks": {'


# ---------------------------------------------------------------- the documented hook JSON


def test_a_write_waits_for_approval_and_the_session_becomes_a_run(claude_project):
    project = claude_project
    transcript(project)
    write = {"file_path": str(project / "hello.txt"), "content": "hi\n"}
    proc = start_hook(pre(project, "Write", write, "toolu_01A"))
    st = wait_awaiting(project, 1, proc)
    assert st["run_id"].endswith(f"-claude-{SESSION}") and st["runtime"] == "external"
    assert st["goal"] == "Write a greeting to hello.txt"
    r = cli("approve", "--workspace", str(project), cwd=project)
    assert r.returncode == 0 and "applied" in r.stdout, (r.stdout, r.stderr)
    _, out = finish(proc)
    assert out["hookSpecificOutput"]["hookEventName"] == "PreToolUse"
    assert out["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert "updatedInput" not in out["hookSpecificOutput"]

    rc, out, _ = run_hook(
        post(
            project, "Write", write, "toolu_01A", {"type": "create", "filePath": write["file_path"], "content": "hi\n"}
        )
    )
    assert rc == 0 and out is None
    rc, out, _ = run_hook(event(project, "Stop", stop_hook_active=False, last_assistant_message="Wrote hello.txt."))
    assert rc == 0 and out is None

    recs = records(project)
    steps = [r["to"] for r in recs if r["kind"] == "step_status"]
    assert steps == ["proposed", "awaiting_approval", "running", "done"]
    assert any(r["kind"] == "step_exec" for r in recs)
    st = status(project)
    assert st["status"] == "completed" and st["steps"][0]["duration_s"] == 0.012
    trace = json.loads(next((project / "workspace" / "runs").glob("*/trace.json")).read_text())
    assert trace["runtime"] == "external" and trace["transitions"][0]["human"]["decision"] == "approved"
    assert trace["messages"][-1]["content"][0]["text"] == "Wrote hello.txt."


def test_a_denial_reaches_claude_code_with_the_reason_and_an_edit_as_updated_input(claude_project):
    project = claude_project
    transcript(project)
    proc = start_hook(pre(project, "Bash", {"command": "rm -rf build", "description": "clean"}, "toolu_01B"))
    wait_awaiting(project, 1, proc)
    assert cli("deny", "--feedback", "keep build/", "--workspace", str(project), cwd=project).returncode == 0
    _, out = finish(proc)
    assert out["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "keep build/" in out["hookSpecificOutput"]["permissionDecisionReason"]

    proc = start_hook(pre(project, "Bash", {"command": "rm -rf build/tmp", "description": "clean"}, "toolu_01C"))
    wait_awaiting(project, 2, proc)
    edited = {"command": "rm -rf build/tmp/cache", "description": "clean"}
    r = cli("approve", "--inputs", json.dumps(edited), "--workspace", str(project), cwd=project)
    assert r.returncode == 0, r.stderr
    _, out = finish(proc)
    assert out["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert out["hookSpecificOutput"]["updatedInput"] == edited
    assert [s["status"] for s in status(project)["steps"]] == ["denied", "running"]


def test_no_decision_in_time_hands_the_question_back_to_claude_code(claude_project):
    project = claude_project
    transcript(project)
    t0 = time.monotonic()
    rc, out, _ = run_hook(pre(project, "Write", {"file_path": "a.txt", "content": "a"}, "toolu_01D"), wait=1)
    assert rc == 0 and time.monotonic() - t0 < 15
    assert out["hookSpecificOutput"]["permissionDecision"] == "ask"
    assert "No decision in llmos-tui within 1 s" in out["hookSpecificOutput"]["permissionDecisionReason"]
    st = status(project)
    assert st["status"] == "running" and st["steps"][0]["status"] == "running"
    # refused at Claude Code's own prompt: no PostToolUse; the next call settles it
    rc, out, _ = run_hook(pre(project, "Read", {"file_path": "a.txt"}, "toolu_01E"))
    assert rc == 0 and out is None  # read-only: Claude Code's own rules decide
    steps = status(project)["steps"]
    assert [s["status"] for s in steps] == ["failed", "running"]
    assert "no result" in steps[0]["result"]
    run_hook(
        event(
            project,
            "PostToolUseFailure",
            tool_name="Read",
            tool_input={"file_path": "a.txt"},
            tool_use_id="toolu_01E",
            error="File does not exist.",
            is_interrupt=False,
        )
    )
    run_hook(event(project, "Stop", stop_hook_active=False, last_assistant_message="a.txt is missing."))
    st = status(project)
    assert st["status"] == "completed"
    assert [s["status"] for s in st["steps"]] == ["failed", "failed"]
    assert "File does not exist." in st["steps"][1]["result"]


def test_the_toolmap_denies_without_asking_and_todowrite_becomes_the_plan(claude_project):
    project = claude_project
    toolmap = project / "system" / "ClaudeCodeToolMap.md"
    text_ = toolmap.read_text()
    start = text_.index("claude_tool: Bash")
    end = text_.index("approval: ask", start)
    toolmap.write_text(text_[:end] + "approval: deny" + text_[end + len("approval: ask") :])
    transcript(project)
    rc, out, _ = run_hook(pre(project, "Bash", {"command": "curl example.com"}, "toolu_01F"))
    assert rc == 0 and out["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "ToolMap" in out["hookSpecificOutput"]["permissionDecisionReason"]
    todos = {
        "todos": [
            {"content": "Fetch the page", "status": "completed", "activeForm": "Fetching"},
            {"content": "Summarise it", "status": "in_progress", "activeForm": "Summarising"},
        ]
    }
    assert run_hook(pre(project, "TodoWrite", todos, "toolu_01G"))[1] is None
    run_hook(post(project, "TodoWrite", todos, "toolu_01G", {"oldTodos": [], "newTodos": todos["todos"]}))
    st = status(project)
    assert st["plan"] == [
        {"title": "Fetch the page", "status": "completed"},
        {"title": "Summarise it", "status": "in_progress"},
    ]


def test_a_new_prompt_starts_a_new_run_of_the_session(claude_project):
    project = claude_project
    transcript(project)
    run_hook(pre(project, "Read", {"file_path": "x"}, "toolu_1"))
    run_hook(post(project, "Read", {"file_path": "x"}, "toolu_1", {"type": "text", "file": {"content": "x"}}))
    run_hook(event(project, "Stop", stop_hook_active=False, last_assistant_message="Read it."))
    other = "b7c1d2e3-0000-4000-8000-00000000bbbb"
    transcript(project, "Now list the folder", other)
    run_hook(pre(project, "Glob", {"pattern": "*"}, "toolu_2", prompt_id=other))
    third = "b7c1d2e3-0000-4000-8000-00000000cccc"
    run_hook(pre(project, "Glob", {"pattern": "*.md"}, "toolu_3", prompt_id=third))  # no Stop before it
    runs = cli("runs", "--workspace", str(project), cwd=project).stdout.splitlines()
    assert len(runs) == 3 and all(SESSION in line for line in runs)
    assert [line.split()[1] for line in runs] == ["running", "cancelled", "completed"]
    assert "Now list the folder" in runs[1]


def test_cancelling_the_run_stops_claude_code_s_reply(claude_project):
    project = claude_project
    transcript(project)
    write = {"file_path": "a.txt", "content": "a"}
    proc = start_hook(pre(project, "Write", write, "toolu_C1"))
    wait_awaiting(project, 1, proc)
    assert cli("cancel", "--workspace", str(project), cwd=project).returncode == 0
    _, out = finish(proc)
    assert out["continue"] is False and out["hookSpecificOutput"]["permissionDecision"] == "deny"
    st = status(project)
    assert st["status"] == "cancelled" and st["steps"][0]["status"] == "skipped"
    # the reply goes on regardless: its next call is refused too, and no new run starts for it
    rc, out, _ = run_hook(pre(project, "Read", {"file_path": "b.txt"}, "toolu_C2"))
    assert rc == 0 and out["continue"] is False
    assert len(list(runs_in(project))) == 1


def test_parallel_calls_are_recorded_one_at_a_time(claude_project):
    project = claude_project
    transcript(project)
    first = start_hook(pre(project, "Write", {"file_path": "a.txt", "content": "a"}, "toolu_P1"))
    wait_awaiting(project, 1, first)
    second = start_hook(pre(project, "Read", {"file_path": "b.txt"}, "toolu_P2"))  # waits for the lock
    time.sleep(0.5)
    assert second.poll() is None and status(project)["steps_total"] == 1
    assert cli("approve", "--workspace", str(project), cwd=project).returncode == 0
    assert finish(first)[1]["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert finish(second)[1] is None  # read-only: Claude Code's own rules decide
    assert [(s["tool"], s["status"]) for s in status(project)["steps"]] == [("Write", "running"), ("Read", "running")]


def test_a_watcher_approves_a_waiting_hook_by_keypress(claude_project):
    import asyncio

    from test_watch import SIZE, wait_for

    from llmos_tui.tui.app import AppSettings, LlmosApp

    project = claude_project
    transcript(project)
    proc = start_hook(pre(project, "Edit", {"file_path": "a.md", "old_string": "a", "new_string": "b"}, "toolu_W"))
    wait_awaiting(project, 1, proc)

    async def watch() -> None:
        app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot, lambda: app.view is not None and app.remote_driver and app.view.current_step is not None
            )
            await pilot.press("a")
            await wait_for(pilot, lambda: app.view.steps[0].status == "running")

    asyncio.run(watch())
    _, out = finish(proc)
    assert out["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_a_hook_never_blocks_claude_code_by_accident(tmp_path, claude_project):
    # no workspace here: nothing recorded, no decision, exit 0
    rc, out, err = run_hook(
        {**pre(claude_project, "Write", {"file_path": "x", "content": ""}, "t"), "cwd": str(tmp_path)}
    )
    assert rc == 0 and out is None and "llmos-tui init --claude" in err
    # not hook JSON: exit 1 (Claude Code shows the line and goes on), never 2 (which blocks)
    proc = subprocess.run(
        [sys.executable, "-m", "llmos_tui", "hook"], input="not json", capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 1 and "hook JSON" in proc.stderr
    # a broken agent document: exit 1 with the reason
    (claude_project / "system" / "SystemAgent.md").write_text("---\napproval: sometimes\n---\nbody\n")
    rc, out, err = run_hook(pre(claude_project, "Write", {"file_path": "x", "content": ""}, "t"))
    assert rc == 1 and out is None and "approval must be one of" in err


# ---------------------------------------------------------------- a real Claude Code session


@needs_claude
def test_a_real_claude_p_session_in_a_folder_set_up_by_init_claude(claude_project, tmp_path_factory):
    project = claude_project
    home = tmp_path_factory.mktemp("claude-home")
    replies = [
        message(
            text("Reading, then writing."),
            tool_use("Read", {"file_path": "system/SystemAgent.md", "limit": 3}),
            tool_use("Write", {"file_path": "hello.txt", "content": "hi\n"}),
        ),
        message(tool_use("Write", {"file_path": "secret.txt", "content": "no\n"})),
        message(text("hello.txt is written; secret.txt was refused.")),
    ]
    with FakeAnthropic(replies) as api:
        env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")}
        env.update(api.claude_code_env(home))
        claude = subprocess.Popen(
            [CLAUDE, "-p", "Write a greeting to hello.txt", "--output-format", "json"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_awaiting(project, 2, claude, timeout=60)
            assert not (project / "hello.txt").exists()
            assert cli("approve", "--workspace", str(project), cwd=project).returncode == 0
            wait_awaiting(project, 3, claude, timeout=60)
            assert cli("deny", "--feedback", "no secrets", "--workspace", str(project), cwd=project).returncode == 0
            out, err = claude.communicate(timeout=90)
        finally:
            if claude.poll() is None:
                claude.kill()
        assert claude.returncode == 0, (out, err)
        assert json.loads(out)["result"] == "hello.txt is written; secret.txt was refused."
        denial = api.message_requests[2].body["messages"][-1]["content"][0]
        assert denial["is_error"] and "no secrets" in json.dumps(denial)
    assert (project / "hello.txt").read_text() == "hi\n"
    assert not (project / "secret.txt").exists()
    st = status(project)
    assert st["status"] == "completed" and st["goal"] == "Write a greeting to hello.txt"
    assert [(s["tool"], s["status"]) for s in st["steps"]] == [("Read", "done"), ("Write", "done"), ("Write", "denied")]
    assert st["run_id"].endswith(json.loads(out)["session_id"])
    recs = records(project)
    assert [r["to"] for r in recs if r["kind"] == "step_status" and r["step"] == 2] == [
        "proposed",
        "awaiting_approval",
        "running",
        "done",
    ]


def test_between_hook_events_a_watcher_says_who_drives_and_pause_reaches_the_session(claude_project):
    import asyncio

    from test_watch import SIZE, wait_for

    from llmos_tui.core.journal import read_records as _read
    from llmos_tui.tui.app import AppSettings, LlmosApp

    project = claude_project
    transcript(project)
    assert run_hook(pre(project, "Read", {"file_path": "a.md"}, "toolu_R"))[0] == 0  # no lock held after
    run_hook(post(project, "Read", {"file_path": "a.md"}, "toolu_R", {"content": "a"}))

    async def watch() -> None:
        app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.view is not None and app._driver_checked)
            note = app.query_one("#header").note
            assert "Claude Code session" in note and "no driver" not in note
            assert app.remote_driver
            await pilot.press("p")  # pause: a command for the session's next event
            await pilot.pause(0.2)
            assert app.runner is None  # never "taken over"

    asyncio.run(watch())
    [run] = [p for p in runs_in(project) if p.is_dir()]
    control = (run / "control.jsonl").read_text()
    assert '"action": "pause"' in control or '"action":"pause"' in control
    assert _read(run / "journal.jsonl")[0]["data"]["runtime"] == "external"
