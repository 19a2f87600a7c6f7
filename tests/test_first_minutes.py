"""The first ten minutes (points 2, 5 and 6 of the issue): every message that tells a person what to
do names a command that works there, waits say what they wait for, and the small words are right."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from conftest import cli, runs_in

SLEEPY = yaml.safe_dump(
    {
        "turns": [
            {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "sleep 3; echo slept"}}]},
            {"content": [{"type": "text", "text": "ok"}]},
        ]
    }
)
WRITE = yaml.safe_dump(
    {
        "turns": [
            {"content": [{"type": "tool_use", "name": "Write", "input": {"file_path": "a.txt", "content": "x"}}]},
            {"content": [{"type": "text", "text": "ok"}]},
        ]
    }
)


def _script(project: Path, text: str, name: str = "s.yaml") -> Path:
    p = project / name
    p.write_text(text)
    return p


def _start(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"},
    )


def _wait_for(pred, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _status(project: Path) -> dict:
    r = cli("status", "--json", cwd=project)
    return json.loads(r.stdout) if r.returncode == 0 else {}


# ------------------------------------------------------------------ point 2: waits, and one name for "go on"


def test_a_paused_headless_run_says_what_it_waits_for_and_resume_lets_it_go_on(project):
    """The run pauses (a person's `pause`); the waiting process says so and how to go on; `resume`
    from another terminal — the one name — lets it go on; nothing is rejected."""
    script = _script(project, WRITE)
    proc = _start(project, "run", "--headless", "--approve", "ask", "--script", str(script), "write")
    _wait_for(lambda: _status(project).get("status") == "awaiting_approval")
    assert cli("pause", cwd=project).returncode == 0
    _wait_for(lambda: _status(project).get("status") == "paused")
    r = cli("resume", cwd=project)  # driven elsewhere: asks the driver to go on
    assert r.returncode == 0, r.stderr
    assert "asking it to go on" in r.stdout and "applied" in r.stdout
    _wait_for(lambda: _status(project).get("status") == "awaiting_approval")
    assert cli("approve", cwd=project).returncode == 0
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, (out, err)
    assert "waiting while paused: `llmos-tui resume" in err and "Ctrl-C stops here" in err
    assert "waiting for a decision on step 1 (Write)" in err
    assert "rejected" not in out + err


def test_ctrl_c_on_a_paused_run_stops_without_a_rejected_pause(project):
    script = _script(project, WRITE)
    proc = _start(project, "run", "--headless", "--approve", "ask", "--script", str(script), "write")
    _wait_for(lambda: _status(project).get("status") == "awaiting_approval")
    cli("pause", cwd=project, check_rc=0)
    _wait_for(lambda: _status(project).get("status") == "paused")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 3, (out, err)
    assert "stays paused and resumable" in err
    assert "rejected" not in out + err
    assert "paused (paused by a person)" in out  # the last line says why


def test_resume_of_a_run_driven_elsewhere_that_is_not_paused_says_what_works(project):
    script = _script(project, WRITE)
    proc = _start(project, "run", "--headless", "--approve", "ask", "--script", str(script), "write")
    try:
        _wait_for(lambda: _status(project).get("status") == "awaiting_approval")
        r = cli("resume", cwd=project)
        assert r.returncode == 2
        assert "driven by another process" in r.stderr and "llmos-tui approve|deny|skip" in r.stderr
    finally:
        cli("cancel", cwd=project)
        proc.communicate(timeout=20)


async def test_a_bad_state_file_edit_names_the_resume_command(ws):
    """A live driver refuses a broken edit; its advice names a command that works: `llmos-tui resume RUN`."""
    import asyncio

    from conftest import script_yaml, start_runner, tool

    runner = start_runner(ws, script_yaml([tool("Write", file_path="a", content="b")]), approval="ask")
    task = asyncio.create_task(runner.drive())
    for _ in range(200):
        if runner.ledger.status == "awaiting_approval":
            break
        await asyncio.sleep(0.02)
    ws.state_path.write_text("---\nstatus: [unclosed\n---\n")
    journal = ws.journal_path(runner.run_id)
    for _ in range(200):
        if "fix it, then" in journal.read_text():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert f"fix it, then `llmos-tui resume {runner.run_id}`" in journal.read_text()


# ------------------------------------------------------------------ point 5


def test_status_of_an_interrupted_run_and_the_ways_out_of_its_uncertain_step(project):
    script = _script(project, SLEEPY)
    proc = _start(project, "run", "--headless", "--approve", "never", "--script", str(script), "sleep")
    _wait_for(lambda: (_status(project).get("steps") or [{}])[-1].get("status") == "running")
    time.sleep(0.3)
    proc.kill()  # the driver dies while the Bash call runs
    proc.communicate()
    r = cli("status", cwd=project, check_rc=0)
    assert "interrupted (its driver stopped while it was running)" in r.stdout
    assert "step 1 Bash was running when its driver stopped" in r.stdout
    assert "asks whether to run it again (retry) or skip it" in r.stdout
    runs = cli("runs", cwd=project, check_rc=0).stdout
    assert "running (no driver)" in runs and "1 call " in runs
    # resume --no-wait: the uncertain step and its two ways out
    r = cli("resume", "--headless", "--no-wait", cwd=project)
    assert r.returncode == 3
    assert "uncertain" in r.stdout and "retry|skip" in r.stdout
    r = cli("status", cwd=project, check_rc=0)
    assert "`llmos-tui retry --step 1` runs it again" in r.stdout and "`llmos-tui skip --step 1`" in r.stdout
    # a decision sent while no process drives the run is shown as queued
    cli("skip", cwd=project, check_rc=0)
    assert "queued: skip step 1" in cli("status", cwd=project).stdout


def test_resume_of_a_completed_run_is_one_line_in_the_tui_path_too(project):
    script = _script(project, WRITE)
    cli("run", "--headless", "--approve", "never", "--script", str(script), "w", cwd=project, check_rc=0)
    for extra in ((), ("--headless",)):
        r = cli("resume", *extra, cwd=project)
        assert r.returncode == 2 and "is completed; there is nothing to resume" in r.stderr
        assert "llmos-tui rewind" in r.stderr


def test_no_wait_says_why_the_run_paused(project):
    script = _script(project, WRITE)
    r = cli("run", "--headless", "--no-wait", "--approve", "ask", "--script", str(script), "w", cwd=project)
    assert r.returncode == 3
    cli("pause", "--feedback", "lunch", cwd=project, check_rc=0)  # queued: no process drives it
    r = cli("resume", "--headless", "--no-wait", cwd=project)
    assert r.returncode == 3, (r.stdout, r.stderr)
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith(f"run {_status(project)['run_id']} paused (lunch)"), last


# ------------------------------------------------------------------ point 6: help and words


def test_help_words(project):
    deny = cli("deny", "--help", cwd=project).stdout
    assert "the model reads it" in deny and "))" not in deny
    skip = cli("skip", "--help", cwd=project).stdout
    assert "recorded with the decision" in " ".join(skip.split()) and "reaches the model" not in skip
    demo = " ".join(cli("demo", "--help", cwd=project).stdout.split())
    assert "(default: a new temporary folder)" in demo
    for cmd in ("resume", "status", "approve", "rewind"):
        assert "default: the latest" in " ".join(cli(cmd, "--help", cwd=project).stdout.split()), cmd


def test_a_slow_step_is_said_while_it_runs(project):
    script = _script(project, SLEEPY)
    r = cli("run", "--headless", "--approve", "never", "--script", str(script), "sleep", cwd=project, check_rc=0)
    lines = r.stdout.splitlines()
    running = next(i for i, line in enumerate(lines) if "running…" in line)
    done = next(i for i, line in enumerate(lines) if ": done" in line)
    assert running < done and "1 call," in lines[-1]


def test_export_all_with_no_runs_says_so_and_writes_nothing(project):
    out = project / "out.jsonl"
    r = cli("export", "--all", "-o", str(out), cwd=project)
    assert r.returncode == 2 and "no runs in" in r.stderr and "nothing written" in r.stderr
    assert not out.exists()


def test_an_emoji_goal_is_stored_as_itself(project):
    script = _script(project, WRITE)
    cli("run", "--headless", "--approve", "never", "--script", str(script), "launch 🚀 now", cwd=project, check_rc=0)
    state = (project / "workspace" / "execution_state.md").read_text(encoding="utf-8")
    assert "goal: launch 🚀 now" in state and "\\U0001F680" not in state
    (run,) = runs_in(project)
    assert "launch 🚀 now" in (run / "execution_state.md").read_text(encoding="utf-8")
