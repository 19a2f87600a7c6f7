"""`llmos-tui inbox`: every step waiting for a person across workspaces, decided from one screen.

Runs wait in several workspaces — real `llmos-tui run --headless` processes, or runs started here
with `--no-wait`'s rule (no driver) — and the inbox decides them through each run's control.jsonl.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from textual.app import App

import llmos_tui.core.inbox as inbox_core
import llmos_tui.core.state as state_module
from llmos_tui.core.config import load_agent_config
from llmos_tui.core.inbox import Inbox, places_from, short_labels
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import Runner, RunOptions
from llmos_tui.core.runtime.scripted import ScriptedRuntime
from llmos_tui.core.scaffold import init_project
from llmos_tui.core.session import read_ledger
from llmos_tui.core.toolmap import load_toolmap
from llmos_tui.core.workspace import Workspace
from llmos_tui.tui.app import AppSettings, LlmosApp
from llmos_tui.tui.screens.edit_step import EditStep
from llmos_tui.tui.screens.inbox import InboxScreen, RunFromInbox, osc9, osc9_supported
from llmos_tui.tui.screens.modals import AskText, Confirm
from llmos_tui.tui.widgets.run_board import RunBoard, driver_word, row_key
from llmos_tui.tui.widgets.waiting_list import WaitingList, item_key

from conftest import cli, headless, script_yaml, text, tool, wait_for

SIZE = (160, 45)
NAMES = ("alpha", "beta", "gamma")


def write_script(name: str) -> str:
    return script_yaml([tool("Write", file_path=f"hello-{name}.txt", content=f"hi from {name}\n")], [text("Done.")])


def new_project(folder: Path) -> Path:
    init_project(folder)
    (folder / "s.yaml").write_text(write_script(folder.name))
    return folder


def latest(project: Path):
    ws = Workspace.locate(project)
    run_id = ws.latest_run_id()
    return read_ledger(ws, run_id) if run_id else None


def wait_waiting(project: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            led = latest(project)
        except Exception:  # noqa: BLE001 - a journal being written
            led = None
        if led is not None and led.decision_step is not None:
            return led.run_id
        time.sleep(0.05)
    raise AssertionError(f"no step of {project} began waiting")


def waiting_run(project: Path, run_id: str | None = None, goal: str | None = None, approval: str = "ask") -> str:
    """A run of the project's script stopped at its first step (with approval "ask"), with no
    process driving it."""
    ws = Workspace.locate(project)
    config = load_agent_config(ws.system / "SystemAgent.md").with_(approval=approval)
    runner = Runner.start(
        ws,
        goal or f"Write a greeting to hello-{project.name}.txt",
        config=config,
        registry=ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md")),
        runtime=ScriptedRuntime.parse((project / "s.yaml").read_text()),
        runtime_name="scripted",
        options=RunOptions(no_wait=True, poll_interval=0.01),
        run_id=run_id,
        run_files={"script.yaml": (project / "s.yaml").read_bytes()},  # (`resume` replays it)
    )
    asyncio.run(runner.drive())
    return runner.ledger.run_id


async def stopped_run(project: Path, **kw) -> str:
    """waiting_run, from an async test (its run is driven on a loop of its own)."""
    return await asyncio.to_thread(waiting_run, project, **kw)


def inbox_app(*dirs: Path, clock: bool = False) -> LlmosApp:
    places = tuple(places_from([str(d) for d in dirs]))
    return LlmosApp(AppSettings(workspace=dirs[0], clock=clock, watch=True, inbox=places))


async def take_over(pilot, app: LlmosApp) -> None:
    """From the inbox: open the selected run (Enter) and take it over (p) until its step waits."""
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RunFromInbox) and app.view is not None)
    await wait_for(pilot, lambda: app.run_screen.check_action("take_over", ()))
    await pilot.press("p")
    await wait_for(pilot, lambda: app.runner is not None and app.ledger.status == "awaiting_approval")


def waiting_in(screen: InboxScreen, where: str):
    return next((w for w in screen.last.waiting if w.where == where), None)


def said(app: LlmosApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr("llmos_tui.tui.screens.inbox.POLL", 0.1)


# ---------------------------------------------------------------------------- the core


def test_places_name_workspaces_projects_and_batches(tmp_path, monkeypatch):
    for name in NAMES:
        new_project(tmp_path / name)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "batch.jsonl").write_text("")
    places = places_from([tmp_path / "alpha", tmp_path / "beta" / "workspace", tmp_path / "b", tmp_path / "alpha"])
    assert [(p.label, p.batch) for p in places] == [("alpha", False), ("beta", False), ("b", True)]
    assert places[0].ws.root == tmp_path / "alpha" / "workspace"
    monkeypatch.chdir(tmp_path / "gamma")
    assert places_from([])[0].label == "gamma"
    with pytest.raises(Exception, match="no workspace"):
        places_from([tmp_path / "missing"])
    assert short_labels([Path("/x/a/p"), Path("/y/b/p"), Path("/z/q")]) == {
        Path("/x/a/p"): "a/p",
        Path("/y/b/p"): "b/p",
        Path("/z/q"): "q",
    }


def test_a_scan_reads_only_what_changed(tmp_path, monkeypatch):
    for name in NAMES:
        new_project(tmp_path / name)
    ids = {name: waiting_run(tmp_path / name) for name in NAMES}
    inbox = Inbox(places_from([tmp_path / n for n in NAMES]))
    view = inbox.scan()
    assert [w.where for w in view.waiting] == list(NAMES)  # oldest first
    assert {r.run_id for r in view.runs} == set(ids.values()) and all(r.no_driver for r in view.runs)
    from llmos_tui.core.source import FollowedRun

    polls = []
    real = FollowedRun.poll
    monkeypatch.setattr(FollowedRun, "poll", lambda self: polls.append(self.run_id) or real(self))
    inbox.scan()
    assert polls == []  # no journal moved: none is read
    cli("approve", cwd=tmp_path / "beta", check_rc=0)  # queued: control.jsonl, not the journal
    view = inbox.scan()
    assert polls == [] and waiting_in_view(view, "beta").queued == "approve"
    cli("resume", "--headless", cwd=tmp_path / "beta", check_rc=0)
    view = inbox.scan()
    assert polls == [ids["beta"]]  # only the journal that grew
    assert [w.where for w in view.waiting] == ["alpha", "gamma"]
    assert next(r for r in view.runs if r.where == "beta").status == "completed"


def waiting_in_view(view, where):
    return next(w for w in view.waiting if w.where == where)


def test_osc9_only_where_a_terminal_shows_it():
    assert osc9_supported({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, True)
    assert osc9_supported({"TERM": "xterm-kitty"}, True)
    assert not osc9_supported({"TERM": "xterm-kitty"}, False)  # not a terminal
    assert not osc9_supported({"TERM": "dumb", "TERM_PROGRAM": "iTerm.app"}, True)
    assert not osc9_supported({"TERM": "xterm-256color"}, True)  # unknown: the bell only
    assert not osc9_supported({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, True)
    assert osc9_supported({"TERM": "screen", "TMUX": "x", "LLMOS_OSC9": "1"}, True)
    assert not osc9_supported({"TERM_PROGRAM": "WezTerm", "LLMOS_OSC9": "0"}, True)
    assert osc9("beta: step 2\x07 Write\x1b]") == "\x1b]9;beta: step 2  Write ]\x07"
    assert osc9("3 new steps wait").startswith("\x1b]9;llmos-tui: 3 new")


# ---------------------------------------------------------------------------- deciding from the inbox


async def test_the_inbox_decides_steps_of_runs_in_three_workspaces(tmp_path, fast):
    projects = {name: new_project(tmp_path / name) for name in NAMES}
    drivers = {
        name: headless(p, "--approve", "ask", "--script", "s.yaml", f"greet from {name}")
        for name, p in projects.items()
    }
    try:
        for p in projects.values():
            wait_waiting(p)
        app = inbox_app(*projects.values())
        async with app.run_test(size=SIZE) as pilot:
            screen = app.inbox_screen
            await wait_for(pilot, lambda: len(screen.last.waiting) == 3 and all(w.driven for w in screen.last.waiting))
            waiting = screen.query_one(WaitingList)

            # alpha: approved
            waiting.select(item_key(waiting_in(screen, "alpha")))
            await pilot.pause()
            assert "hello-alpha.txt" in str(screen.query_one("#card-inputs").render())
            await pilot.press("a")
            await wait_for(pilot, lambda: waiting_in(screen, "alpha") is None)
            assert any("alpha · step 1 Write approved" in s for s in said(app))

            # beta: denied, with a reason the model reads
            waiting.select(item_key(waiting_in(screen, "beta")))
            await pilot.pause()
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, AskText))
            await pilot.press(*"not in beta, thanks")
            await pilot.press("enter")
            await wait_for(pilot, lambda: waiting_in(screen, "beta") is None)

            # gamma: edited — inputs that do not fit Write are refused in the dialog — then approved
            item = waiting_in(screen, "gamma")
            waiting.select(item_key(item))
            await pilot.pause()
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EditStep))
            dialog = app.screen
            dialog.query_one("TextArea").text = "file_path: 42\n"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "do not fit Write" in str(dialog.query_one("#error").render())
            assert app.screen is dialog  # the bad edit stays in the dialog, nothing sent
            dialog.query_one("TextArea").text = "file_path: edited-gamma.txt\ncontent: edited\n"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: (w := waiting_in(screen, "gamma")) is not None and "edited" in str(w.inputs))
            assert waiting_in(screen, "gamma").inputs == {"file_path": "edited-gamma.txt", "content": "edited"}
            await pilot.press("a")
            await wait_for(pilot, lambda: not screen.last.waiting)
            assert "Nothing waits" in str(screen.query_one("#card-head").render())
        for name, d in drivers.items():
            assert d.wait(15) == 0, (name, d.stdout.read(), d.stderr.read())
    finally:
        for d in drivers.values():
            if d.poll() is None:
                d.kill()
    ws = {name: p / "workspace" for name, p in projects.items()}
    assert (ws["alpha"] / "hello-alpha.txt").read_text() == "hi from alpha\n"
    assert not (ws["beta"] / "hello-beta.txt").exists()
    trace = json.loads(next((ws["beta"] / "runs").glob("*/trace.json")).read_text())
    assert "not in beta, thanks" in json.dumps(trace["messages"])  # the model got the reason
    assert (ws["gamma"] / "edited-gamma.txt").read_text() == "edited"
    assert not (ws["gamma"] / "hello-gamma.txt").exists()
    for name in NAMES:  # each decision reached its own run only
        assert not any((ws[name] / f"hello-{other}.txt").exists() for other in NAMES if other != name)


async def test_shift_a_approves_the_rest_of_that_run_only(tmp_path, fast):
    """A on a step: it and every later step of its run are approved (one decision, as
    `approve --rest`); a step of another workspace still waits."""
    three = new_project(tmp_path / "alpha")
    (three / "s.yaml").write_text(
        script_yaml(
            [tool("Write", file_path="one.txt", content="1\n")],
            [tool("Write", file_path="two.txt", content="2\n")],
            [tool("Bash", command="echo three > three.txt")],
            [text("Done.")],
        )
    )
    other = new_project(tmp_path / "beta")
    drivers = [headless(p, "--approve", "ask", "--script", "s.yaml", f"work in {p.name}") for p in (three, other)]
    try:
        for p in (three, other):
            wait_waiting(p)
        app = inbox_app(three, other)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.inbox_screen
            await wait_for(pilot, lambda: len(screen.last.waiting) == 2 and all(w.driven for w in screen.last.waiting))
            assert "A approve the rest of its run" in str(screen.query_one("#card-keys").render())
            waiting = screen.query_one(WaitingList)
            waiting.select(item_key(waiting_in(screen, "alpha")))
            await pilot.pause()
            await pilot.press("A")
            await wait_for(pilot, lambda: waiting_in(screen, "alpha") is None)
            assert any(
                "alpha · step 1 Write approved, and every later step of this run will be" in s for s in said(app)
            )
            assert drivers[0].wait(15) == 0, drivers[0].stderr.read()
            await pilot.pause(0.5)  # a scan or two: nothing of alpha comes back, beta still waits
            assert [w.where for w in screen.last.waiting] == ["beta"]
    finally:
        for d in drivers:
            if d.poll() is None:
                d.kill()
    ws = three / "workspace"
    assert [(ws / f).read_text() for f in ("one.txt", "two.txt", "three.txt")] == ["1\n", "2\n", "three\n"]
    control = next((ws / "runs").glob("*/control.jsonl")).read_text().splitlines()
    assert len(control) == 1 and json.loads(control[0])["scope"] == "rest"  # one decision for three steps
    assert not (other / "workspace" / "hello-beta.txt").exists()


async def test_a_decision_for_a_run_no_process_drives_is_queued_then_applied(tmp_path, fast):
    project = new_project(tmp_path / "alpha")
    run_id = await stopped_run(project)
    app = inbox_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 1)
        item = screen.last.waiting[0]
        assert not item.driven
        assert "no process drives it" in str(screen.query_one("#card-keys").render())
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.last.waiting and screen.last.waiting[0].queued == "approve")
        note = next(s for s in said(app) if "queued" in s)
        assert f"llmos-tui resume {run_id}" in note
        assert not screen.check_action("decide", ("approve",))  # one decision queued is enough
        assert "approve is queued" in str(screen.query_one("#card-keys").render())
        control = (project / "workspace" / "runs" / run_id / "control.jsonl").read_text()
        assert json.loads(control)["action"] == "approve" and json.loads(control)["step"] == 1
        await asyncio.to_thread(cli, "resume", "--headless", cwd=project, check_rc=0)
        await wait_for(pilot, lambda: not screen.last.waiting)
        await wait_for(pilot, lambda: any("applied by the run's new driver" in s for s in said(app)))
    assert (project / "workspace" / "hello-alpha.txt").read_text() == "hi from alpha\n"


async def test_enter_opens_the_run_and_escape_comes_back(tmp_path, fast):
    projects = [new_project(tmp_path / n) for n in NAMES[:2]]
    ids = [await stopped_run(p) for p in projects]
    app = inbox_app(*projects)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 2)
        screen.query_one(WaitingList).select(item_key(waiting_in(screen, "beta")))
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(screen)]
        assert {"Approve step", "Deny step", "Edit step", "Skip step", "Open run", "Board"} <= set(titles)
        assert "Retry" not in titles and "Inbox" not in titles  # (nothing uncertain; the inbox is shown)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunFromInbox) and app.view is not None)
        assert app.view.run_id == ids[1] and app.run_screen.ws.root == projects[1] / "workspace"
        await wait_for(pilot, lambda: "Esc: back to the inbox" in app.screen.query_one("#header").note)
        assert "no driver" in app.screen.query_one("#header").note
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert screen.selected_item().where == "beta"  # the same step stays selected
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_a_run_taken_over_from_the_inbox_is_decided_there(tmp_path, fast):
    project = new_project(tmp_path / "alpha")
    await stopped_run(project)
    app = inbox_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 1)
        await take_over(pilot, app)  # Enter, then p: driven here, its step waits
        await pilot.press("a")
        await wait_for(pilot, lambda: app.ledger.status == "completed")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: not screen.last.waiting and screen.last.runs[0].status == "completed")
    assert (project / "workspace" / "hello-alpha.txt").exists()


async def test_a_run_taken_over_goes_on_in_the_background_and_is_decided_from_the_inbox(tmp_path, fast):
    """Esc from a run this app took over does not pause it: it is driven on in the background,
    its next waiting step shows in the inbox and is decided there, and Enter brings back the
    same screen. Once it ends, nothing of it is kept."""
    project = new_project(tmp_path / "alpha")
    (project / "s.yaml").write_text(
        script_yaml(
            [tool("Write", file_path="one.txt", content="1\n")],
            [tool("Write", file_path="two.txt", content="2\n")],
            [text("Done.")],
        )
    )
    await stopped_run(project)
    app = inbox_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 1)
        await take_over(pilot, app)  # Enter, then p: driven here, its step waits
        run_screen = app.run_screen
        await pilot.press("escape")  # back to the inbox while step 1 waits: no question, no pause
        await wait_for(pilot, lambda: app.screen is screen)
        assert any("goes on here in the background" in s for s in said(app))
        assert run_screen.driving and run_screen.ledger.status == "awaiting_approval"
        await wait_for(pilot, lambda: len(screen.last.waiting) == 1 and screen.last.waiting[0].driven)
        await wait_for(pilot, lambda: "driven by this app" in str(screen.query_one("#card-head").render()))
        assert driver_word(screen.last.runs[0]) == "this app"
        await pilot.press("a")  # decided from the inbox, applied by the runner in the background
        await wait_for(pilot, lambda: any(w.n == 2 for w in screen.last.waiting))
        await pilot.press("enter")  # the same screen, still driving
        await wait_for(pilot, lambda: app.screen is run_screen)
        await pilot.press("a")
        await wait_for(pilot, lambda: run_screen.ledger.status == "completed")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert not app.background_drivers() and not app._background
    ws = project / "workspace"
    assert (ws / "one.txt").read_text() == "1\n" and (ws / "two.txt").read_text() == "2\n"


async def test_quitting_the_inbox_pauses_a_run_driven_in_the_background(tmp_path, fast):
    project = new_project(tmp_path / "alpha")
    run_id = await stopped_run(project)
    app = inbox_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 1)
        await take_over(pilot, app)  # Enter, then p: driven here, its step waits
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        assert "1 run taken over here goes on: it pauses after the current step" in app.screen.detail
        await pilot.press("y")  # Pause and quit
        await wait_for(pilot, lambda: not app.is_running)
    led = read_ledger(Workspace.locate(project), run_id)
    assert led.status == "paused" and led.current_step.n == 1  # resumable, the step still waits
    assert not (project / "workspace" / "hello-alpha.txt").exists()


async def test_the_board_lists_every_run_and_marks_those_with_no_driver(tmp_path, fast):
    projects = {name: new_project(tmp_path / name) for name in NAMES}
    quiet = await stopped_run(projects["alpha"])
    cli("approve", cwd=projects["alpha"], check_rc=0)
    cli("resume", "--headless", cwd=projects["alpha"], check_rc=0)  # alpha: completed
    stopped = await stopped_run(projects["beta"])  # beta: waits, no driver
    driver = headless(projects["gamma"], "--approve", "ask", "--script", "s.yaml", "greet")  # gamma: driven
    try:
        driven = wait_waiting(projects["gamma"])
        app = inbox_app(*projects.values())
        async with app.run_test(size=SIZE) as pilot:
            screen = app.inbox_screen
            await wait_for(pilot, lambda: len(screen.last.runs) == 3 and len(screen.last.waiting) == 2)
            await pilot.press("v")
            assert screen.mode == "board" and screen.query_one(RunBoard).has_focus
            board = screen.query_one(RunBoard)
            await wait_for(pilot, lambda: board.row_count == 3)
            rows = {r.where: r for r in screen.last.runs}
            cells = {name: [str(c) for c in board.get_row(row_key(rows[name]))] for name in NAMES}
            assert cells["beta"][6] == "no driver" and cells["beta"][2] == "awaiting"
            assert cells["gamma"][6] == f"pid {driver.pid}"
            assert cells["alpha"][2] == "completed" and cells["alpha"][6] == "—"
            assert [r.run_id for r in screen.last.runs][-1] == quiet  # ended runs last
            assert {rows["beta"].run_id, rows["gamma"].run_id} == {stopped, driven}
            assert "(1 with no driver)" in str(screen.query_one("#inbox-head").render())
            board.select(row_key(rows["beta"]))
            await pilot.pause()
            assert "no driver" in str(screen.query_one("#board-detail").render())
            assert not screen.check_action("decide", ("approve",))  # deciding is the inbox's
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunFromInbox) and app.view is not None)
            assert app.view.run_id == stopped
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen)
            await pilot.press("v")
            assert screen.mode == "inbox"
    finally:
        driver.kill()
        driver.wait(10)


async def test_the_bell_rings_once_for_a_step_that_begins_waiting(tmp_path, fast, monkeypatch):
    rings = []
    monkeypatch.setattr(App, "bell", lambda self: rings.append(1))
    old, new = new_project(tmp_path / "alpha"), new_project(tmp_path / "beta")
    await stopped_run(old)  # waiting before the inbox opens: no bell for it
    app = inbox_app(old, new)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 1)
        await pilot.pause(0.3)
        assert rings == []
        await stopped_run(new)
        await wait_for(pilot, lambda: len(screen.last.waiting) == 2)
        await pilot.pause(0.3)  # more scans: still one ring
        assert rings == [1]
        assert any("beta: step 1 Write waits" in s for s in said(app))


async def test_an_uncertain_step_is_retried_from_the_inbox(tmp_path, fast):
    """A driver killed while its Bash ran: resumed, the step is uncertain; r runs it again."""
    project = tmp_path / "alpha"
    init_project(project)
    toolmap = project / "system" / "ClaudeCodeToolMap.md"
    toolmap.write_text(toolmap.read_text().replace("sandbox: on ", "sandbox: off "))
    command = "if [ -f again ]; then echo second >> log; else touch again; sleep 30; fi"
    (project / "s.yaml").write_text(script_yaml([tool("Bash", command=command)], [text("Done.")]))
    first = headless(project, "--approve", "never", "--script", "s.yaml", "run it")
    ws = Workspace.locate(project)
    deadline = time.monotonic() + 20
    while not ((ws.root / "again").exists() and latest(project).steps and latest(project).steps[0].executing):
        assert time.monotonic() < deadline, "the Bash call never started"
        await asyncio.sleep(0.05)
    first.kill()  # (kill -9: its Bash is left for resume to stop)
    first.wait(10)
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    second = subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", "resume", "--headless"],
        cwd=project,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        app = inbox_app(project)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.inbox_screen
            await wait_for(pilot, lambda: screen.last.waiting and screen.last.waiting[0].driven, timeout=30)
            item = screen.last.waiting[0]
            assert item.status == "uncertain"
            assert not screen.check_action("decide", ("approve",)) and screen.check_action("decide", ("retry",))
            assert "r run it again" in str(screen.query_one("#card-keys").render())
            await pilot.press("r")
            await wait_for(pilot, lambda: not screen.last.waiting)
            assert any("retried" in s for s in said(app))
        assert second.wait(20) == 0, second.stderr.read()
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
    assert (ws.root / "log").read_text() == "second\n"


# ---------------------------------------------------------------------------- a batch folder


def goal(words: str, call: dict) -> dict:
    return {"goal": words, "script": {"turns": [{"content": [call]}, {"content": [text("Done.")]}]}}


GOALS = [
    goal("write one", tool("Write", file_path="one.txt", content="1")),
    goal("write two", tool("Write", file_path="two.txt", content="2")),
    goal("look only", tool("Glob", pattern="*")),
]


async def test_a_batch_folder_opens_every_goals_workspace_with_its_progress(tmp_path, fast):
    project = new_project(tmp_path / "proj")
    (project / "goals.yaml").write_text(yaml.safe_dump(GOALS))
    out = tmp_path / "batch"
    args = ("--out", str(out), "--approve", "side-effects", "--no-wait", "-q")
    r = cli("batch", "goals.yaml", *args, cwd=project, timeout=120)
    assert r.returncode == 3, r.stderr
    app = inbox_app(out)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 2 and screen.last.batches)
        assert sorted(w.where for w in screen.last.waiting) == ["0001-write-one", "0002-write-two"]
        progress = screen.last.batches[0].progress
        assert progress.total == 3 and progress.counts["done"] == 1 and progress.counts["waiting"] == 2
        assert not screen.last.batches[0].running
        await pilot.press("a")  # the oldest: queued (the batch is not running)
        await wait_for(pilot, lambda: any(w.queued for w in screen.last.waiting))
        assert any("llmos-tui batch --out" in s for s in said(app))
        await pilot.press("v")
        await pilot.pause()
        line = str(screen.query_one("#batches").render())
        assert "1/3 done" in line and "2 waiting" in line and "stopped: waiting" in line
    decided = next(w for w in screen.last.waiting if w.queued)
    r = cli("batch", *args, cwd=project, timeout=120)  # the batch again: it applies the decision
    assert r.returncode == 3, r.stderr  # (the other goal still waits)
    assert (decided.ws.root / ("one.txt" if "one" in decided.where else "two.txt")).exists()


# ---------------------------------------------------------------------------- what a person sees


NOW = "2026-11-25T09:30:00.00Z"


def snap_places(tmp_path: Path) -> list[Path]:
    """Three workspaces with a step waiting in each (no driver: no pid on screen), one more run
    completed, and a batch folder whose journal says how far it got."""
    projects = [new_project(tmp_path / n) for n in NAMES]
    (projects[2] / "s.yaml").write_text(
        script_yaml([tool("Bash", command="rm -rf build && make all", description="rebuild")], [text("Done.")])
    )
    for i, p in enumerate(projects):
        waiting_run(p, run_id=f"20261125-0928{i}0-snap")
    (projects[0] / "s.yaml").write_text(script_yaml([tool("Glob", pattern="*.md")], [text("Done.")]))
    waiting_run(projects[0], run_id="20261125-092000-done", goal="List the notes", approval="never")
    out = tmp_path / "nightly"
    (out / ".batch").mkdir(parents=True)
    (out / ".batch" / "lock").write_text(str(os.getpid()))  # a live coordinator
    recs = [("batch_started", None, "09:20:00", {"settings": {"max_cost": 5.0}, "goals": 40})]
    recs += [("goal_ended", i, f"09:2{i % 10}:30", {"status": "done", "cost": 0.03}) for i in range(1, 13)]
    recs += [("goal_ended", 13, "09:29:00", {"status": "failed", "cost": 0.01})]
    recs += [("goal_ended", i, "09:29:10", {"status": "waiting", "cost": 0.02}) for i in (14, 15, 16)]
    recs += [("goal_started", i, "09:29:20", {"run_id": f"r{i}", "dir": f"{i:04d}-g"}) for i in (17, 18)]
    with open(out / "batch.jsonl", "w") as fh:
        for seq, (kind, goal, at, data) in enumerate(recs, start=1):
            rec = {
                "seq": seq,
                "at": f"2026-11-25T{at}.000Z",
                "kind": kind,
                **({"goal": goal} if goal else {}),
                "data": data,
            }
            fh.write(json.dumps(rec) + "\n")
    return [*projects, out]


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setattr(state_module, "clock", lambda: NOW)
    monkeypatch.setattr(inbox_core, "now", lambda: 1795599120.0)  # 2026-11-25T09:32:00Z


def settled(board: bool):
    async def run_before(pilot) -> None:
        screen = pilot.app.inbox_screen
        for _ in range(400):
            if len(screen.last.waiting) == 3 and screen.last.batches:
                break
            await pilot.pause(0.02)
        if board:
            await pilot.press("v")
        await pilot.pause(0.3)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
@pytest.mark.parametrize("view", ["inbox", "board"])
def test_snapshot(snap_compare, tmp_path, pinned, monkeypatch, size, view):
    places = snap_places(tmp_path)
    monkeypatch.chdir(tmp_path)
    app = inbox_app(*places)
    assert snap_compare(app, terminal_size=size, run_before=settled(view == "board"))


async def test_q_on_a_run_screen_pauses_the_runs_in_the_background_too(tmp_path, fast):
    alpha, beta = new_project(tmp_path / "alpha"), new_project(tmp_path / "beta")
    ids = {p.name: await stopped_run(p) for p in (alpha, beta)}
    app = inbox_app(alpha, beta)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inbox_screen
        await wait_for(pilot, lambda: len(screen.last.waiting) == 2)
        waiting = screen.query_one(WaitingList)
        for name in ("alpha", "beta"):  # take both over; alpha goes on in the background
            await wait_for(pilot, lambda name=name: app.screen is screen and waiting_in(screen, name) is not None)
            waiting.select(item_key(waiting_in(screen, name)))
            await pilot.pause()
            await take_over(pilot, app)  # Enter, then p: driven here, its step waits
            if name == "alpha":
                await pilot.press("escape")
        assert len(app.background_drivers()) == 1
        await pilot.press("q")  # on beta's screen
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        assert app.screen.detail.startswith("2 runs taken over here go on: they pause")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    for p in (alpha, beta):
        led = read_ledger(Workspace.locate(p), ids[p.name])
        assert led.status == "paused" and led.current_step.n == 1, p.name
