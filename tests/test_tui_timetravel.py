"""Time travel in the TUI, by keypress: `[` `]` Esc through the steps (the panes as they were, the
step's file changes), `R` rewind, `f` fork, `b` breakpoints, `n` step over — at 80×24 (the
folded layout) and 160×45 — and a watcher seeing a rewind or fork made from another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_layout import screen_text
from test_tui import wait_for
from textual.widgets import Input

from llmos_tui.core import timetravel
from llmos_tui.core.session import RunRequest, read_ledger
from llmos_tui.core.workspace import Workspace
from llmos_tui.tui.app import AppSettings, LlmosApp
from llmos_tui.tui.screens.modals import Confirm, ForkDialog
from llmos_tui.tui.widgets.changes import ChangesPane
from llmos_tui.tui.widgets.panes import PlanPane, RunHeader, StatePane
from llmos_tui.tui.widgets.tool_log import ToolCallLog

from conftest import script_yaml, text, tool

SIZES = [(80, 24), (160, 45)]
size_ids = lambda s: f"{s[0]}x{s[1]}"  # noqa: E731

PLAN_1 = [{"title": "Write a.txt", "status": "in_progress"}, {"title": "Fix it", "status": "pending"}]
PLAN_2 = [{"title": "Write a.txt", "status": "completed"}, {"title": "Fix it", "status": "in_progress"}]
STEPS = script_yaml(
    [text("I'll plan first."), tool("UpdatePlan", steps=PLAN_1)],  # 1
    [tool("Write", file_path="a.txt", content="one\ntwo\n")],  # 2
    [tool("UpdatePlan", steps=PLAN_2)],  # 3
    [tool("Edit", file_path="a.txt", old_string="two", new_string="TWO")],  # 4
    [tool("Read", file_path="a.txt")],  # 5
    [text("Done.")],
)


def make_app(project: Path, approval: str = "never", script: str = STEPS, **kw) -> LlmosApp:
    (project / "s.yaml").write_text(script)
    req = RunRequest(goal="write a.txt", runtime="scripted", script=project / "s.yaml", approval=approval)
    return LlmosApp(AppSettings(workspace=project, request=req, clock=False, watch_files=False, **kw))


def status_is(app, status: str, step: int | None = None):
    def check() -> bool:
        led = app.ledger
        if led is None or led.status != status:
            return False
        return step is None or (led.current_step is not None and led.current_step.n == step)

    return check


def changes_text(app) -> str:
    return str(app.query_one("#changes-text").render())


def plan_text(app) -> str:
    return str(app.query_one(PlanPane).render())


def toasts(app) -> str:
    return "\n".join(n.message for n in app._notifications)


def a_txt(project: Path) -> str | None:
    path = project / "workspace" / "a.txt"
    return path.read_text() if path.exists() else None


async def at_step(pilot, app, n: int) -> None:
    """Wait until the time-travel view shows step n, read (plan, state and changes)."""
    await wait_for(
        pilot,
        lambda: app.run_screen.at_step == n and f"Step {n} ·" in str(app.query_one(ChangesPane).border_title),
    )
    await wait_for(pilot, lambda: not changes_text(app).startswith("Reading"))


# ------------------------------------------------------------------ [ ] Esc


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_brackets_move_through_the_steps_and_esc_goes_back_to_live(project, size):
    app = make_app(project)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, status_is(app, "completed"))
        await wait_for(pilot, lambda: "● Write a.txt" in plan_text(app))  # the last plan, drawn
        live_plan = plan_text(app)
        assert not app.check_action("step_forward", ()) and not app.check_action("rewind", ())
        await pilot.press("[")  # into the view at the selected call: the last one
        await at_step(pilot, app, 5)
        assert "Read is read-only" in changes_text(app)
        assert app.query_one(RunHeader).travel == "as at step 5/5"
        assert "as at step 5/5" in screen_text(app) and "Esc: back to live" in screen_text(app)
        await pilot.press("[")
        await at_step(pilot, app, 4)
        diff = changes_text(app)
        assert "modified a.txt" in diff and "-two" in diff and "+TWO" in diff
        await pilot.press("[", "[")
        await at_step(pilot, app, 2)
        assert "added" in changes_text(app) and "+one" in changes_text(app)
        assert app.query_one(ToolCallLog).selected == 2
        # the plan and the state as they were once step 2 had settled
        state = app.query_one(StatePane).text
        assert "steps_total: 2" in state and "status: running" in state
        assert "○ Fix it" in plan_text(app) and "◐ Write a.txt" in plan_text(app)
        assert app.check_action("rewind", ()) and app.check_action("fork", ()) and app.check_action("live", ())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.run_screen.at_step is None)
        assert app.query_one(RunHeader).travel == "" and not app.query_one(ChangesPane).display
        assert "as at step" not in screen_text(app)
        await wait_for(pilot, lambda: plan_text(app) == live_plan)
        # ] past the last step is live too
        await pilot.press("[")
        await at_step(pilot, app, 5)
        await pilot.press("]")
        await wait_for(pilot, lambda: app.run_screen.at_step is None)


async def test_a_click_on_a_call_shows_that_step(project):
    app = make_app(project)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, status_is(app, "completed"))
        log = app.query_one(ToolCallLog)
        await pilot.click(log, offset=(10, 3))  # the fourth row: step 4 (the log has a border)
        await at_step(pilot, app, 4)
        assert "+TWO" in changes_text(app)
        await pilot.press("down")  # once there, the cursor keys move the view too
        await at_step(pilot, app, 5)


async def test_the_view_does_not_jump_while_the_run_goes_on(project):
    app = make_app(project, approval="side-effects")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, status_is(app, "awaiting_approval", 2))
        await pilot.press("[")
        await at_step(pilot, app, 2)
        assert "has not run yet" in changes_text(app)
        await pilot.press("[")
        await at_step(pilot, app, 1)
        await pilot.press("a")  # the card is still live: step 2 runs, step 4 waits
        await wait_for(pilot, status_is(app, "awaiting_approval", 4))
        assert app.run_screen.at_step == 1 and app.query_one(ToolCallLog).selected == 1
        await wait_for(pilot, lambda: app.query_one(RunHeader).travel == "as at step 1/4")
        await pilot.press("]")  # the history is read again: step 2 has run now
        await at_step(pilot, app, 2)
        # no checkpoint after it yet (step 4 waits): its changes are the files now against its own
        assert "against the files now" in changes_text(app) and "+one" in changes_text(app)
        await pilot.press("a")
        await wait_for(pilot, status_is(app, "completed"))
        assert app.run_screen.at_step == 2
        await pilot.press("[", "]")
        await at_step(pilot, app, 2)
        await wait_for(pilot, lambda: "+one" in changes_text(app) and "files now" not in changes_text(app))


# ------------------------------------------------------------------ R


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_rewind_with_confirm_puts_files_back_and_the_run_waits_at_the_step(project, size):
    app = make_app(project)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, status_is(app, "completed"))
        run_id = app.ledger.run_id
        assert a_txt(project) == "one\nTWO\n"
        await pilot.press("[", "[")
        await at_step(pilot, app, 4)
        await pilot.press("R")
        assert isinstance(app.screen, Confirm)
        assert f"Rewind run {run_id} to before step 4 (Edit a.txt" in str(app.screen.query_one(".title").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: app.runner is not None and status_is(app, "awaiting_approval", 4)())
        assert a_txt(project) == "one\ntwo\n"
        assert app.ledger.run_id == run_id and len(app.ledger.steps) == 4
        assert app.run_screen.at_step is None  # back to live, the run driven here
        assert len(app.query_one(ToolCallLog).rows) == 4
        assert f"Run {run_id} rewound to before step 4 (Edit)" in toasts(app)
        assert "--undo" in toasts(app)
        await pilot.press("a")  # and it goes on from there
        await wait_for(pilot, status_is(app, "completed"))
        assert a_txt(project) == "one\nTWO\n"


async def test_rewind_cancelled_changes_nothing(project):
    app = make_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, status_is(app, "completed"))
        await pilot.press("[", "[")
        await at_step(pilot, app, 4)
        await pilot.press("R")
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause(0.3)
        assert app.ledger.status == "completed" and a_txt(project) == "one\nTWO\n"
        assert read_ledger(Workspace.locate(project), app.ledger.run_id).rewinds == 0
        assert app.run_screen.at_step == 4  # still looking at step 4


async def test_rewind_of_the_run_driven_here_pauses_it_first(project):
    app = make_app(project, approval="side-effects")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, status_is(app, "awaiting_approval", 2))
        await pilot.press("a")
        await wait_for(pilot, status_is(app, "awaiting_approval", 4))
        assert a_txt(project) == "one\ntwo\n"
        await pilot.press("[", "[", "[")  # into the view at step 4 (the selected call), then back to 2
        await at_step(pilot, app, 2)
        await pilot.press("R")
        assert "pauses the run first" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: status_is(app, "awaiting_approval", 2)() and len(app.ledger.steps) == 2)
        assert a_txt(project) is None and app.runner is not None and app.driving


async def test_rewind_refuses_a_run_another_process_drives(project):
    project_ws = Workspace.locate(project)
    (project / "s.yaml").write_text(STEPS)
    driver = subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", "run", "--headless", "--script", "s.yaml", "--approve", "ask", "go"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False, watch_files=False))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.view is not None and app.remote_driver and bool(app.view.steps), 20)
            await pilot.press("[")
            await at_step(pilot, app, 1)
            await pilot.press("R")
            assert not isinstance(app.screen, Confirm)
            assert "pause and stop that driver first" in toasts(app)
            await pilot.press("f")
            assert not isinstance(app.screen, ForkDialog)
        assert project_ws.run_ids() and read_ledger(project_ws, project_ws.run_ids()[0]).rewinds == 0
    finally:
        driver.kill()
        driver.wait(10)


# ------------------------------------------------------------------ f


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_fork_with_feedback_opens_the_fork_here(project, size):
    app = make_app(project)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, status_is(app, "completed"))
        parent = app.ledger.run_id
        await pilot.press("[", "[")
        await at_step(pilot, app, 4)
        await pilot.press("f")
        assert isinstance(app.screen, ForkDialog)
        await pilot.press(*"keep two")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.ledger is not None and app.ledger.run_id != parent)
        fork = app.ledger
        assert fork.forked_from == {"run": parent, "step": 4} and app.runner is not None
        await wait_for(pilot, lambda: fork.steps[3].status == "denied")
        assert "keep two" in str(fork.steps[3].content)
        await wait_for(pilot, status_is(app, "completed"))
        assert a_txt(project) == "one\ntwo\n"  # the files before step 4, which was denied
        assert read_ledger(Workspace.locate(project), parent).status == "completed"  # the parent stays as it was
        assert f"forked from {parent} at step 4" in toasts(app)


async def test_fork_without_feedback_waits_at_the_step(project):
    app = make_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, status_is(app, "completed"))
        parent = app.ledger.run_id
        await pilot.press("[", "[", "[")
        await at_step(pilot, app, 3)
        await pilot.press("f")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.ledger.run_id != parent and status_is(app, "awaiting_approval", 3)())
        assert app.ledger.forked_from == {"run": parent, "step": 3} and a_txt(project) == "one\ntwo\n"
        await pilot.press("escape")  # Escape in the dialog cancels: nothing made


async def test_fork_dialog_escape_makes_nothing(project):
    app = make_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, status_is(app, "completed"))
        runs = Workspace.locate(project).run_ids()
        await pilot.press("[")
        await at_step(pilot, app, 5)
        await pilot.press("f")
        assert isinstance(app.screen, ForkDialog) and isinstance(app.focused, Input)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert Workspace.locate(project).run_ids() == runs


# ------------------------------------------------------------------ b and n


def breakpoint_records(project: Path, run_id: str) -> list[list[str]]:
    records = timetravel.effective_records(Workspace.locate(project), run_id)
    return [r["data"]["breakpoints"] for r in records if r["kind"] == "breakpoints_changed"]


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_b_sets_and_removes_a_breakpoint_on_the_selected_calls_tool(project, size):
    app = make_app(project, approval="side-effects")
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, status_is(app, "awaiting_approval", 2))
        run_id = app.ledger.run_id
        await pilot.press("b")  # the selected call: the Write waiting
        await wait_for(pilot, lambda: app.ledger.breakpoints == ("Write",))
        assert "Breakpoint on Write set." in toasts(app)
        assert breakpoint_records(project, run_id) == [["Write"]]
        await wait_for(pilot, lambda: "breakpoints: Write" in screen_text(app))
        await pilot.press("[", "[")  # a past call's tool: UpdatePlan's
        await at_step(pilot, app, 1)
        await pilot.press("escape")
        await pilot.press("b")  # (live again: the selected call is the Write)
        await wait_for(pilot, lambda: app.ledger.breakpoints == ())
        assert "Breakpoint on Write removed." in toasts(app)
        assert breakpoint_records(project, run_id) == [["Write"], []]


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_n_approves_and_stops_before_the_next_step(project, size):
    app = make_app(project, approval="side-effects")
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, status_is(app, "awaiting_approval", 2))
        await pilot.press("n")
        # step 3 (UpdatePlan, no side effects) would run at once: the breakpoint stops it
        await wait_for(pilot, status_is(app, "awaiting_approval", 3))
        assert a_txt(project) == "one\ntwo\n"
        step = app.ledger.steps[2]
        assert step.breakpoint == "step:3" and app.ledger.breakpoints == ("step:3",)
        await wait_for(pilot, lambda: "breakpoint step:3" in str(app.query_one("#pending-head").render()))
        await pilot.press("n")  # again: step:3 is behind, step:4 set
        await wait_for(pilot, status_is(app, "awaiting_approval", 4))
        assert app.ledger.breakpoints == ("step:4",)


# ------------------------------------------------------------------ a watcher


REWIND_ELSEWHERE = textwrap.dedent(
    """
    import sys
    from llmos_tui.core import timetravel
    from llmos_tui.core.workspace import Workspace
    ws = Workspace.locate(sys.argv[1])
    if sys.argv[3] == "fork":
        timetravel.fork(ws, sys.argv[2], at_step=int(sys.argv[4]))
    else:
        timetravel.rewind(ws, sys.argv[2], to_step=int(sys.argv[4]))
    """
)


async def finished_run(project: Path) -> str:
    from conftest import start_runner

    runner = start_runner(Workspace.locate(project), STEPS)
    assert await runner.drive() == "completed"
    return runner.run_id


def elsewhere(project: Path, what: str, run_id: str, n: int) -> None:
    subprocess.run([sys.executable, "-c", REWIND_ELSEWHERE, str(project), run_id, what, str(n)], check=True)


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_a_watcher_sees_a_rewind_made_by_another_process(project, size):
    run_id = await finished_run(project)
    app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False, watch_files=False))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.view is not None and app.view.status == "completed")
        await wait_for(pilot, lambda: len(app.query_one(ToolCallLog).rows) == 5)
        await pilot.press("[")
        await at_step(pilot, app, 5)  # looking at a step the rewind takes out
        await asyncio.to_thread(elsewhere, project, "rewind", run_id, 2)
        await wait_for(pilot, lambda: app.view.status == "paused" and len(app.view.steps) == 2, 10)
        log = app.query_one(ToolCallLog)
        await wait_for(pilot, lambda: len(log.rows) == 2 and log.rows[1].status == "awaiting_approval")
        assert "Run rewound to step 2 (from another process)." in toasts(app)
        assert app.run_screen.at_step is None  # step 5 is gone: back to live
        # (the rewind held the lock for a moment: the header may first have named it as the driver)
        await wait_for(pilot, lambda: "no driver" in app.query_one(RunHeader).note, 5)
        await wait_for(pilot, lambda: "Step 2 · Write" in screen_text(app))  # the card: it waits again
        assert app.check_action("take_over", ())


async def test_a_watcher_switches_to_a_fork_made_by_another_process(project):
    run_id = await finished_run(project)
    app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False, watch_files=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.view is not None and app.view.status == "completed")
        await asyncio.to_thread(elsewhere, project, "fork", run_id, 4)
        await wait_for(pilot, lambda: app.view.run_id != run_id, 10)
        assert app.view.forked_from == {"run": run_id, "step": 4}
        await wait_for(pilot, lambda: f"is a fork of run {run_id} at step 4 (from another process)" in toasts(app))


# ------------------------------------------------------------------ what a person sees (SVG snapshots)

SNAP_STEPS = script_yaml(
    [text("I'll plan first."), tool("UpdatePlan", steps=PLAN_1)],  # 1
    [tool("Write", file_path="a.txt", content="one\ntwo\n")],  # 2
    [tool("UpdatePlan", steps=PLAN_2)],  # 3
    [tool("Edit", file_path="a.txt", old_string="two", new_string="TWO")],  # 4
    [tool("Write", file_path="b.txt", content="bee\n")],  # 5: stopped by the breakpoint step:5
    [text("Done.")],
)


@pytest.fixture
def reproducible(monkeypatch):
    import llmos_tui.core.runner as runner_module
    import llmos_tui.core.state as state_module

    monkeypatch.setattr(state_module, "clock", lambda: "2026-11-25T09:30:00.00Z")
    monkeypatch.setattr(runner_module, "timer", lambda: 100.0)


def snap_app(project: Path) -> LlmosApp:
    (project / "s.yaml").write_text(SNAP_STEPS)
    req = RunRequest(
        goal="Write a.txt, then fix it",
        runtime="scripted",
        script=project / "s.yaml",
        approval="never",
        run_id="20261125-093000-snap",
        breakpoints=("step:5",),
    )
    return LlmosApp(AppSettings(workspace=project, request=req, clock=False, watch_files=False))


async def _settle(pilot, pred) -> None:
    for _ in range(400):
        if pred():
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("the screen never reached the state to snapshot")
    await pilot.pause(0.3)


async def _at_step_2(pilot) -> None:
    """The run stopped at step 5 by its breakpoint; the time-travel view on step 2 (a.txt written)."""
    app = pilot.app
    await _settle(pilot, status_is(app, "awaiting_approval", 5))
    await pilot.press("[", "[", "[", "[")
    await _settle(pilot, lambda: app.run_screen.at_step == 2 and "+one" in changes_text(app))


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_snapshot_time_travel_view(snap_compare, project, reproducible, size):
    assert snap_compare(snap_app(project), terminal_size=size, run_before=_at_step_2)


def test_snapshot_rewind_confirm(snap_compare, project, reproducible):
    async def ask(pilot) -> None:
        await _at_step_2(pilot)
        await pilot.press("R")
        await _settle(pilot, lambda: isinstance(pilot.app.screen, Confirm))

    assert snap_compare(snap_app(project), terminal_size=(80, 24), run_before=ask)


async def test_a_run_opened_from_the_list_stays_and_a_toast_names_its_fork(project):
    first = await finished_run(project)
    await finished_run(project)  # a newer run: the first is no longer the latest
    app = LlmosApp(AppSettings(workspace=project, watch=True, clock=False, watch_files=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.view is not None)
        app.run_screen.open_run(first)  # as the palette's "Run <id>" does
        await wait_for(pilot, lambda: app.view.run_id == first and app.view.status == "completed")
        await asyncio.to_thread(elsewhere, project, "fork", first, 2)
        await wait_for(pilot, lambda: "was forked from this run at step 2 (from another process)" in toasts(app), 10)
        assert app.view.run_id == first  # it stays on the run chosen


# ------------------------------------------------------------------ replay --recorded


def recorded(project: Path, approval: str):
    """A headless run of STEPS (no wait: it stops where a person must decide), and a playback of
    its recording into a scratch workspace (not yet played)."""
    from llmos_tui.core.replay import Playback

    (project / "s.yaml").write_text(STEPS)
    proc = subprocess.run(
        [sys.executable, "-m", "llmos_tui", "run", "--headless", "--no-wait", "-q", "--runtime", "scripted"]
        + ["--script", str(project / "s.yaml"), "--approve", approval, "write a.txt"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 3), proc.stderr
    ws = Workspace.locate(project)
    return Playback(ws, read_ledger(ws, ws.resolve_run_id(None)).run_id, speed=1000)


async def test_a_playback_offers_no_decision_no_take_over_and_no_new_goal(project):
    """A recording that stopped at a step waiting for a person: in the playback the card says it
    is a recording, and a, p, n, R do nothing — the scratch workspace gets no command, no run."""
    pb = recorded(project, "ask")
    pb.play()
    try:
        app = LlmosApp(
            AppSettings(workspace=pb.workspace.root, watch=True, playback=True, clock=False, watch_files=False)
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.ledger is not None and app.ledger.status == "awaiting_approval")
            await wait_for(pilot, lambda: "A recording played back" in screen_text(app))
            for action in ("approve", "deny", "take_over", "new_goal", "rewind", "fork"):
                assert not app.run_screen.check_action(action, ()), action
            runs_before = sorted(p.name for p in (pb.workspace.root / "runs").iterdir())
            for key in ("a", "p", "n", "d"):
                await pilot.press(key)
            await pilot.pause(0.2)
            assert app.screen is app.run_screen  # no dialog opened
            assert sorted(p.name for p in (pb.workspace.root / "runs").iterdir()) == runs_before
            run_dir = pb.workspace.run_dir(app.ledger.run_id)
            control = run_dir / "control.jsonl"
            assert not control.exists() or control.read_text() == ""
            assert "n starts a new goal" not in screen_text(app)
    finally:
        pb.cleanup()


async def test_a_finished_playback_says_so_and_not_n_starts_a_new_goal(project):
    import threading

    pb = recorded(project, "never")
    pb.speed = 0.1  # slow enough that the app sees it play (the run took a fraction of a second)
    thread = threading.Thread(target=pb.play, daemon=True)
    try:
        app = LlmosApp(
            AppSettings(workspace=pb.workspace.root, watch=True, playback=True, clock=False, watch_files=False)
        )
        async with app.run_test(size=(80, 24)) as pilot:
            thread.start()
            await wait_for(pilot, lambda: "Playback finished: the run completed after 5 calls" in toasts(app), 30)
            assert not app.run_screen.check_action("new_goal", ())
            assert "new goal" not in toasts(app)
    finally:
        pb.stop = True
        thread.join(5)
        pb.cleanup()
