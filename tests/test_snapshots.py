"""What a person sees: SVG snapshots of the main screen in each state, in two themes at 160×45,
and at 80×24 and 100×30 (the side panes folded behind `t`).

Screens are made reproducible: a fixed run id, a pinned clock and step timer, no times or
spinners in the header, animations off.
"""

from __future__ import annotations

import pytest

import llmos_tui.core.runner as runner_module
import llmos_tui.core.state as state_module
from llmos_tui.core.session import RunRequest
from llmos_tui.tui.app import AppSettings, LlmosApp

from conftest import script_yaml, text, tool

SIZE = (160, 45)
SMALL_SIZES = [(80, 24), (100, 30)]
THEMES = ["llmos-dark", "llmos-light"]

WRITE = script_yaml(
    [
        text("I'll write the greeting."),
        tool(
            "UpdatePlan",
            steps=[
                {"title": "Write the greeting", "status": "in_progress"},
                {"title": "Check it", "status": "pending"},
            ],
        ),
    ],
    [tool("Write", file_path="hello.txt", content="Hello from llmos-tui\n")],
    [tool("Read", file_path="hello.txt")],
    [
        tool(
            "UpdatePlan",
            steps=[
                {"title": "Write the greeting", "status": "completed"},
                {"title": "Check it", "status": "completed"},
            ],
        )
    ],
    [text("Done: hello.txt holds the greeting.")],
)


@pytest.fixture(autouse=True)
def reproducible(monkeypatch):
    monkeypatch.setattr(state_module, "clock", lambda: "2026-11-25T09:30:00.00Z")
    monkeypatch.setattr(runner_module, "timer", lambda: 100.0)


def app_for(project, script, approval="side-effects", theme="llmos-dark"):
    if script is None:
        req = None
    else:
        (project / "s.yaml").write_text(script)
        req = RunRequest(
            goal="Write a greeting to hello.txt",
            runtime="scripted",
            script=project / "s.yaml",
            approval=approval,
            run_id="20261125-093000-snap",
        )
    return LlmosApp(AppSettings(workspace=project, request=req, clock=False, watch_files=False, theme=theme))


def until(pred, settle: float = 0.3):
    async def run_before(pilot) -> None:
        app = pilot.app
        for _ in range(400):
            if pred(app):
                break
            await pilot.pause(0.02)
        else:
            raise AssertionError("the screen never reached the state to snapshot")
        # The state file is rewritten at most every flush interval, and not again while a step
        # runs: a record written after the last rewrite (Bash's step_process) may not be in it yet.
        # Bring it up to date, or `journal_seq` on screen varies from run to run.
        if app.ledger is not None and not state_shows_seq(app) and app.runner is not None:
            app.runner.rec.flush(force=True)
        app.run_screen.read_state_file()
        await pilot.pause(settle)
        app.run_screen.read_state_file()
        await pilot.pause(0.1)

    return run_before


def state_shows_seq(app) -> bool:
    try:
        return f"journal_seq: {app.ledger.seq}\n" in app.run_screen.ws.state_path.read_text()
    except OSError:
        return False


def is_running(app) -> bool:
    """A step running, its process started (journaled: the state file shows it too)."""
    cur = app.ledger.current_step if app.ledger is not None else None
    return cur is not None and cur.status == "running" and cur.process is not None


def status_is(status):
    return lambda app: app.ledger is not None and app.ledger.status == status


@pytest.mark.parametrize("theme", THEMES)
def test_goal_prompt(snap_compare, project, theme):
    assert snap_compare(
        app_for(project, None, theme=theme), terminal_size=SIZE, run_before=until(lambda app: len(app.screen_stack) > 1)
    )


@pytest.mark.parametrize("theme", THEMES)
def test_awaiting_approval(snap_compare, project, theme):
    assert snap_compare(
        app_for(project, WRITE, theme=theme), terminal_size=SIZE, run_before=until(status_is("awaiting_approval"))
    )


@pytest.mark.parametrize("theme", THEMES)
def test_running(snap_compare, project, theme):
    script = script_yaml(
        [tool("UpdatePlan", steps=[{"title": "Wait for the build", "status": "in_progress"}])],
        [tool("Bash", command="sleep 20")],
        [text("done")],
    )

    assert snap_compare(
        app_for(project, script, approval="never", theme=theme), terminal_size=SIZE, run_before=until(is_running)
    )


@pytest.mark.parametrize("theme", THEMES)
def test_paused(snap_compare, project, theme):
    async def pause_it(pilot):
        await until(status_is("awaiting_approval"), settle=0.1)(pilot)
        await pilot.press("p")
        await until(status_is("paused"))(pilot)

    assert snap_compare(app_for(project, WRITE, theme=theme), terminal_size=SIZE, run_before=pause_it)


@pytest.mark.parametrize("theme", THEMES)
def test_completed(snap_compare, project, theme):
    assert snap_compare(
        app_for(project, WRITE, approval="never", theme=theme),
        terminal_size=SIZE,
        run_before=until(status_is("completed")),
    )


@pytest.mark.parametrize("theme", THEMES)
def test_failed(snap_compare, project, theme):
    script = script_yaml([tool("Glob", pattern="*.txt")])  # the script ends: the run fails
    assert snap_compare(
        app_for(project, script, approval="never", theme=theme),
        terminal_size=SIZE,
        run_before=until(status_is("failed")),
    )


@pytest.mark.parametrize("theme", THEMES)
def test_edit_modal(snap_compare, project, theme):
    async def open_editor(pilot):
        await until(status_is("awaiting_approval"))(pilot)
        await pilot.press("e")
        await pilot.pause(0.2)

    assert snap_compare(app_for(project, WRITE, theme=theme), terminal_size=SIZE, run_before=open_editor)


# ---------------------------------------------------------------- smaller terminals

RUNNING = script_yaml(
    [tool("UpdatePlan", steps=[{"title": "Wait for the build", "status": "in_progress"}])],
    [tool("Bash", command="sleep 20")],
    [text("done")],
)


async def _pause_at_approval(pilot):
    await until(status_is("awaiting_approval"), settle=0.1)(pilot)
    await pilot.press("p")
    await until(status_is("paused"))(pilot)


async def _approve_while_paused(pilot):
    await _pause_at_approval(pilot)
    await pilot.press("a")
    await until(lambda app: app.ledger.steps[1].status == "running")(pilot)


# state: (script, approval, what to wait for)
STATES = {
    "goal_prompt": (None, "side-effects", until(lambda app: len(app.screen_stack) > 1)),
    "awaiting_approval": (WRITE, "side-effects", until(status_is("awaiting_approval"))),
    "running": (RUNNING, "never", until(is_running)),
    "paused": (WRITE, "side-effects", _pause_at_approval),
    "approved_while_paused": (WRITE, "side-effects", _approve_while_paused),
    "completed": (WRITE, "never", until(status_is("completed"))),
    "failed": (script_yaml([tool("Glob", pattern="*.txt")]), "never", until(status_is("failed"))),
}


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("size", SMALL_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_small_terminal(snap_compare, project, size, state):
    script, approval, run_before = STATES[state]
    assert snap_compare(app_for(project, script, approval=approval), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SMALL_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_small_terminal_side_pane_shown(snap_compare, project, size):
    """t shows the next side pane: at 80 columns the plan, at 100 the state file."""

    async def press_t(pilot):
        await until(status_is("awaiting_approval"))(pilot)
        await pilot.press("t")
        await pilot.pause(0.2)

    assert snap_compare(app_for(project, WRITE), terminal_size=size, run_before=press_t)


@pytest.mark.parametrize("key", ["d", "e"])
def test_small_terminal_dialog(snap_compare, project, key):
    async def open_dialog(pilot):
        await until(status_is("awaiting_approval"))(pilot)
        await pilot.press(key)
        await pilot.pause(0.2)

    assert snap_compare(app_for(project, WRITE), terminal_size=(80, 24), run_before=open_dialog)
