"""Watching a run another process drives: its steps show up live, and keys steer it from here."""

from __future__ import annotations

import json
import time

import pytest

from llmos_tui.core.follow import JournalFollower
from llmos_tui.tui.app import AppSettings, LlmosApp
from llmos_tui.tui.widgets.tool_log import ToolCallLog

from conftest import cli, headless, script_yaml, text, tool, wait_for

SIZE = (160, 45)


def wait_status(project, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = cli("status", "--json", cwd=project)
        if r.returncode == 0:
            st = json.loads(r.stdout)
            if st["status"] == status:
                return st
        time.sleep(0.1)
    raise AssertionError(f"the run never became {status}")


async def test_approve_from_a_watcher_completes_a_headless_run(project):
    (project / "s.yaml").write_text(
        script_yaml(
            [tool("UpdatePlan", steps=[{"title": "Write hello", "status": "in_progress"}])],
            [tool("Write", file_path="hello.txt", content="hi\n")],
            [tool("Write", file_path="bye.txt", content="bye\n")],
            [text("Done.")],
        )
    )
    driver = headless(project, "--script", "s.yaml", "--approve", "side-effects", "say hi")
    try:
        wait_status(project, "awaiting_approval")
        app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    app.view is not None
                    and app.remote_driver
                    and app.view.current_step is not None
                    and app.view.current_step.n == 2
                ),
            )
            assert app.runner is None  # a watcher never drives
            assert "driven by pid" in app.query_one("#header").note
            log = app.query_one(ToolCallLog)
            await wait_for(pilot, lambda: len(log.rows) == 2)
            assert log.rows[1].status == "awaiting_approval"
            await pilot.press("a")
            await wait_for(
                pilot,
                lambda: (
                    app.view.current_step is not None
                    and app.view.current_step.n == 3
                    and app.view.current_step.status == "awaiting_approval"
                ),
            )
            assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
            await pilot.press("d")
            await pilot.press(*"not today")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.view.status == "completed")
            await wait_for(pilot, lambda: log.rows[2].status == "denied")
        assert driver.wait(15) == 0
        assert not (project / "workspace" / "bye.txt").exists()
        trace = json.loads(next((project / "workspace" / "runs").glob("*/trace.json")).read_text())
        assert "not today" in json.dumps(trace["messages"])
    finally:
        if driver.poll() is None:
            driver.kill()


async def test_a_run_whose_driver_died_is_shown_so_and_can_be_taken_over(project):
    (project / "s.yaml").write_text(
        script_yaml([tool("Write", file_path="hello.txt", content="hi\n")], [text("Done.")])
    )
    driver = headless(project, "--script", "s.yaml", "say hi")
    wait_status(project, "awaiting_approval")
    driver.kill()  # the driver dies while the step waits
    driver.wait(10)
    app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.view is not None and app._driver_checked)
        assert not app.remote_driver and "no driver" in app.query_one("#header").note
        assert not app.check_action("approve", ())  # nobody would apply it
        await pilot.press("p")  # take over
        await wait_for(pilot, lambda: app.runner is not None and app.ledger.status == "awaiting_approval")
        await pilot.press("a")
        await wait_for(pilot, lambda: app.ledger.status == "completed")
    assert (project / "workspace" / "hello.txt").read_text() == "hi\n"


async def test_watch_with_no_run_yet_picks_up_the_one_that_starts(project):
    (project / "s.yaml").write_text(script_yaml([tool("Glob", pattern="*")], [text("Done.")]))
    app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert len(app.screen_stack) == 1  # no goal prompt when watching
        assert "no run yet" in app.query_one("#header").note
        driver = headless(project, "--script", "s.yaml", "--approve", "never", "list files")
        assert driver.wait(20) == 0
        await wait_for(pilot, lambda: app.view is not None and app.view.status == "completed")
        assert app.view.goal == "list files"


def test_follower_reads_only_complete_lines(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = {"seq": 1, "kind": "run_started", "data": {"run_id": "r", "goal": "g"}}
    path.write_text(json.dumps(first) + "\n" + '{"seq": 2, "kind": "run_st')
    f = JournalFollower(path)
    assert [r["seq"] for r in f.read_new()] == [1]
    with open(path, "a") as fh:
        fh.write('atus", "from": "planning", "to": "running", "data": {}}\n')
    assert [r["seq"] for r in f.read_new()] == [2]
    assert f.ledger.status == "running"
    with open(path, "a") as fh:
        fh.write('{"seq": 3, "kind": "run_status", "from": "running", "to": "planning", "data": {}}\n')
    with pytest.raises(Exception, match="journal.jsonl:3: cannot follow"):
        f.read_new()


async def test_quitting_a_watcher_leaves_the_run_to_its_driver(project):
    (project / "s.yaml").write_text(
        script_yaml([tool("Write", file_path="hello.txt", content="hi\n")], [text("Done.")])
    )
    driver = headless(project, "--script", "s.yaml", "say hi")
    try:
        wait_status(project, "awaiting_approval")
        app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.view is not None and app.remote_driver)
            await pilot.press("q")  # no question: the watcher owns nothing
            await wait_for(pilot, lambda: not app.is_running)
        assert wait_status(project, "awaiting_approval")["driver"] is not None
        cli("approve", cwd=project, check_rc=0)
        assert driver.wait(15) == 0
    finally:
        if driver.poll() is None:
            driver.kill()


LLMUNIX = """# Execution State

## Metadata
- **Goal**: Get weather for London and save to file
- **Status**: In Progress
- **Current Step**: 2

## Execution Plan

### Step 1: Fetch weather data
- **Status**: Completed

### Step 2: Save to file
- **status**: in_progress

### Step 3 — Verify output
status: pending
"""


async def test_an_llmunix_state_file_is_shown_read_only(tmp_path):
    """A folder an agent writes in the older markdown layout: goal and plan shown, nothing written."""
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "execution_state.md").write_text(LLMUNIX)
    before = sorted(p.name for p in folder.iterdir())
    app = LlmosApp(AppSettings(workspace=folder, watch=True, clock=False))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Get weather for London" in str(app.query_one("#header").render()))
        plan = str(app.query_one("#plan").render())
        assert "Fetch weather data" in plan and "Save to file" in plan and "Verify output" in plan
        assert "read-only" in app.query_one("#header").note
        assert not app.check_action("approve", ()) and not app.check_action("pause", ())
        (folder / "execution_state.md").write_text(
            LLMUNIX.replace("- **status**: in_progress", "- **status**: completed")
        )
        await wait_for(pilot, lambda: str(app.query_one("#plan").render()).count("●") == 2)
    assert sorted(p.name for p in folder.iterdir()) == before  # the watcher wrote nothing


async def test_a_watcher_follows_a_sub_agent_and_decides_its_steps(project):
    import yaml

    doc = yaml.safe_load(
        script_yaml(
            [tool("Task", description="Write the notes", prompt="Write notes.txt holding n.")], [text("All done.")]
        )
    )
    doc["subagents"] = [
        {
            "turns": [
                {"content": [tool("Write", file_path="notes.txt", content="n")]},
                {"content": [text("Wrote notes.txt.")]},
            ]
        }
    ]
    (project / "s.yaml").write_text(yaml.safe_dump(doc))
    driver = headless(project, "--script", "s.yaml", "--approve", "side-effects", "delegate")
    try:
        wait_status(project, "awaiting_approval")
        app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    app.view is not None
                    and app.remote_driver
                    and app.ledger.current_step is not None
                    and app.ledger.current_step.status == "awaiting_approval"
                ),
            )
            assert app.ledger.current_step.tool == "Task"
            await pilot.press("a")  # the Task: its sub-agent starts
            await wait_for(
                pilot,
                lambda: (
                    app.ledger.parent is not None
                    and app.ledger.current_step is not None
                    and app.ledger.current_step.status == "awaiting_approval"
                ),
            )
            await pilot.pause(0.1)
            assert app.query_one("#header").state.goal == "Write the notes"
            assert [r.tool for r in app.query_one(ToolCallLog).rows] == ["Write"]
            await pilot.press("a")  # the sub-agent's Write
            await wait_for(pilot, lambda: app.view.status == "completed")
            await wait_for(pilot, lambda: app.ledger is app.view)
            await pilot.pause(0.1)
            assert app.query_one("#header").state.goal == "delegate"
        assert driver.wait(15) == 0
        assert (project / "workspace" / "notes.txt").read_text() == "n"
    finally:
        if driver.poll() is None:
            driver.kill()
