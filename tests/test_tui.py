"""The TUI driven by keypress (Textual's Pilot): every key, the dialogs, and what reaches the run —
at 80×24, the size most terminals open at (tests/test_layout.py checks the wider layouts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from llmos_tui.core.session import RunRequest
from llmos_tui.core.workspace import Workspace
from llmos_tui.tui.app import AppSettings, LlmosApp
from llmos_tui.tui.screens.edit_step import EditStep
from llmos_tui.tui.screens.modals import AskText, Confirm, StepDetail
from llmos_tui.tui.widgets.tool_log import ToolCallLog

from conftest import script_yaml, text, tool, wait_for

SIZE = (80, 24)

WRITE = script_yaml(
    [text("plan"), tool("UpdatePlan", steps=[{"title": "Write hello", "status": "in_progress"}])],
    [tool("Write", file_path="hello.txt", content="hi\n")],
    [tool("Bash", command="echo later > later.txt")],
    [text("Done.")],
)


def make_app(project: Path, script: str | None = WRITE, approval: str = "side-effects", **kw) -> LlmosApp:
    req = None
    if script is not None:
        (project / "s.yaml").write_text(script)
        req = RunRequest(goal="write a greeting", runtime="scripted", script=project / "s.yaml", approval=approval)
    return LlmosApp(
        AppSettings(
            workspace=project,
            request=req,
            clock=False,
            watch_files=False,
            default_request=RunRequest(goal="", runtime="scripted", script=project / "s.yaml"),
            **kw,
        )
    )


def card_text(app) -> str:
    """The approval card as a person reads it: head, inputs, keys."""
    return "\n".join(str(app.query_one(f"#pending-{part}").render()) for part in ("head", "inputs", "keys"))


def awaiting(app, n: int):
    return lambda: (
        app.ledger is not None
        and app.ledger.status == "awaiting_approval"
        and app.ledger.current_step is not None
        and app.ledger.current_step.n == n
    )


async def test_approve_with_a_runs_the_step(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        assert not (project / "workspace" / "hello.txt").exists()
        await pilot.press("a")
        await wait_for(pilot, awaiting(app, 3))
        assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
        assert app.ledger.steps[1].human["decision"] == "approved"


async def test_keys_that_do_not_apply_are_hidden_and_inert(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        assert app.check_action("approve", ()) and app.check_action("deny", ())
        assert not app.check_action("retry", ()) and not app.check_action("new_goal", ())
        await pilot.press("r")  # nothing to retry: nothing happens
        await pilot.pause(0.1)
        assert app.ledger.current_step.status == "awaiting_approval"


async def test_deny_asks_why_and_the_reason_reaches_the_model(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("d")
        assert isinstance(app.screen, AskText)
        await pilot.press(*"use notes/ instead")
        await pilot.press("enter")
        await wait_for(pilot, awaiting(app, 3))
        step = app.ledger.steps[1]
        assert step.status == "denied" and "use notes/ instead" in step.content
        result = app.ledger.messages[4]["content"][0]
        assert result["is_error"] and "use notes/ instead" in result["content"]


async def test_deny_dialog_escape_changes_nothing(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("d")
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.ledger.current_step.status == "awaiting_approval"
        assert not isinstance(app.screen, AskText)


async def test_keys_do_not_reach_the_run_while_a_dialog_is_open(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("d")
        await pilot.press("a", "s")  # typed into the reason, not approve/skip
        await pilot.pause(0.1)
        assert app.ledger.current_step.status == "awaiting_approval"
        assert app.screen.query_one(Input).value == "as"


async def edit_to(pilot, app, new_text: str) -> None:
    await pilot.press("e")
    assert isinstance(app.screen, EditStep)
    area = app.screen.query_one(TextArea)
    area.text = new_text
    await pilot.press("ctrl+s")
    await pilot.pause(0.05)


async def test_edit_saves_valid_inputs_and_approve_runs_them(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await edit_to(pilot, app, "file_path: notes/greeting.txt\ncontent: |\n  hello there\n")
        assert not isinstance(app.screen, EditStep)
        await wait_for(pilot, lambda: app.ledger.steps[1].inputs["file_path"] == "notes/greeting.txt")
        await pilot.press("a")
        await wait_for(pilot, awaiting(app, 3))
        ws = project / "workspace"
        assert (ws / "notes" / "greeting.txt").read_text() == "hello there\n"
        assert not (ws / "hello.txt").exists()
        assert app.ledger.steps[1].human["decision"] == "edited"


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("file_path: [unclosed\n", "Not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("file_path: x.txt\n", "'content' is a required property"),
        ("file_path: x.txt\ncontent: hi\nmode: fast\n", "('mode' was unexpected)"),
        ("file_path: 42\ncontent: hi\n", "42 is not of type 'string'"),
    ],
)
async def test_edit_refuses_bad_inputs_in_place_and_keeps_the_text(project, bad, reason):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await edit_to(pilot, app, bad)
        assert isinstance(app.screen, EditStep)  # still open
        assert reason in str(app.screen.query_one("#error").render())
        assert app.screen.query_one(TextArea).text == bad  # nothing lost
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert app.ledger.steps[1].inputs == {"file_path": "hello.txt", "content": "hi\n"}


async def test_skip_with_s(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("s")
        await wait_for(pilot, awaiting(app, 3))
        assert app.ledger.steps[1].status == "skipped"
        assert not (project / "workspace" / "hello.txt").exists()


async def test_approve_the_rest_with_shift_a(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("A")
        await wait_for(pilot, lambda: app.ledger.status == "completed")
        assert (project / "workspace" / "later.txt").exists()


async def test_pause_and_resume_with_p(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.status == "paused")
        assert "Paused" in card_text(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.status == "awaiting_approval")


async def test_goal_prompt_when_no_run_exists_and_n_starts_one(project):
    (project / "s.yaml").write_text(script_yaml([tool("Glob", pattern="*")], [text("done")]))
    app = make_app(project, script=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert isinstance(app.screen, AskText)
        await pilot.press("enter")  # empty goal: refused in place
        assert isinstance(app.screen, AskText)
        await pilot.press(*"list the files")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.ledger is not None and app.ledger.status == "completed")
        assert app.ledger.goal == "list the files"
        await pilot.press("n")
        assert isinstance(app.screen, AskText)


async def test_last_run_is_shown_and_p_takes_it_over(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, timeout=8)
    assert app.ledger.status == "paused"  # quitting paused the run; it stays resumable
    again = make_app(project, script=None)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert again.view is not None and again.view.status == "paused"
        assert again.check_action("take_over", ()) and not again.check_action("approve", ())
        assert not again.check_action("pause", ()) and not again.check_action("resume", ())
        await pilot.press("p")  # take over and resume in one key
        await wait_for(pilot, awaiting(again, 2))
        await pilot.press("a")
        await wait_for(pilot, awaiting(again, 3))
        assert (project / "workspace" / "hello.txt").exists()


async def test_quit_can_be_called_off(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("q")
        await pilot.press("n")
        await pilot.pause(0.05)
        assert app.is_running and app.ledger.status == "awaiting_approval"


async def test_retry_runs_an_uncertain_step_again(project):
    """A side-effecting step cut off mid-run comes back uncertain; r runs it again."""
    import asyncio

    from llmos_tui.core.session import start_run

    ws = Workspace.locate(project)
    script = script_yaml([tool("Bash", command="sleep 0.3; echo hi > hello.txt")], [text("done")])
    (project / "s.yaml").write_text(script)
    runner = start_run(ws, RunRequest(goal="g", runtime="scripted", script=project / "s.yaml", approval="never"))
    task = asyncio.create_task(runner.drive())
    for _ in range(200):
        cur = runner.ledger.current_step
        if cur is not None and cur.status == "running":
            break
        await asyncio.sleep(0.005)
    task.cancel()  # the driver dies while the step runs (its process group is killed)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (ws.root / "hello.txt").exists()
    app = make_app(project, script=None, resume_run_id=runner.run_id)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: app.ledger.current_step is not None and app.ledger.current_step.status == "uncertain"
        )
        assert "uncertain" in card_text(app)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.ledger.status == "completed")
        assert (ws.root / "hello.txt").read_text() == "hi\n"
        assert app.ledger.steps[0].human["decision"] == "retried"


async def test_enter_on_a_call_shows_its_inputs_and_output(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.1)
        log = app.query_one(ToolCallLog)
        log.focus()
        await pilot.press("up")
        assert log.selected == 1
        await pilot.press("enter")
        assert isinstance(app.screen, StepDetail)
        assert app.screen.inputs["steps"][0]["title"] == "Write hello"
        await pilot.press("escape")
        assert not isinstance(app.screen, StepDetail)


async def test_theme_switch_is_remembered(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.05)
        assert app.theme == "llmos-dark"
        assert {"llmos-dark", "llmos-light", "llmos-high-contrast"} <= set(app.available_themes)
        app._set_theme("llmos-light")
    again = make_app(project, script=None)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause(0.05)
        assert again.theme == "llmos-light"
    chosen = make_app(project, script=None, theme="llmos-high-contrast")
    async with chosen.run_test(size=SIZE) as pilot:
        await pilot.pause(0.05)
        assert chosen.theme == "llmos-high-contrast"


async def test_palette_offers_the_run_actions_and_themes(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Approve step" in titles and "Deny step" in titles and "Theme: llmos-light" in titles
        assert "Edit execution_state.md in $EDITOR" not in titles  # only while paused
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.status == "paused")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Edit execution_state.md in $EDITOR" in titles


async def test_the_ui_stays_responsive_while_a_step_runs(project):
    script = script_yaml([tool("Bash", command="sleep 2")], [text("done")])
    app = make_app(project, script=script, approval="never")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: app.ledger.current_step is not None and app.ledger.current_step.status == "running"
        )
        await pilot.press("p")  # answered at once, applied when the step ends
        log = app.query_one(ToolCallLog)
        await pilot.press("up", "down")
        assert app.ledger.current_step.status == "running"
        assert log.rows[0].status == "running"
        await wait_for(pilot, lambda: app.ledger.status == "paused", timeout=6)


def _fake_editor(tmp_path, old: str, new: str) -> str:
    script = tmp_path / "fake_editor.py"
    script.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        f"p.write_text(p.read_text().replace({old!r}, {new!r}, 1))\n"
    )
    import sys

    return f"{sys.executable} {script}"


async def test_edit_state_file_in_editor_while_paused_is_taken_up(project, tmp_path, monkeypatch):
    from contextlib import nullcontext

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app, "suspend", nullcontext)  # the headless test driver cannot suspend
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.status == "paused")
        monkeypatch.setenv("EDITOR", _fake_editor(tmp_path, "file_path: hello.txt", "file_path: edited.txt"))
        app.edit_state_file()
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.steps[1].inputs["file_path"] == "edited.txt")
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("a")
        await wait_for(pilot, awaiting(app, 3))
        assert (project / "workspace" / "edited.txt").exists()


async def test_broken_state_edit_is_reported_and_resume_refused(project, tmp_path, monkeypatch):
    from contextlib import nullcontext

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app, "suspend", nullcontext)
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.status == "paused")
        monkeypatch.setenv("EDITOR", _fake_editor(tmp_path, "status: paused", "status: [paused"))
        app.edit_state_file()
        broken = (project / "workspace" / "execution_state.md").read_text()
        assert "status: [paused" in broken
        await pilot.press("p")
        await pilot.pause(0.3)
        assert app.ledger.status == "paused"  # resume refused while the file does not parse
        assert (project / "workspace" / "execution_state.md").read_text() == broken
        shown = [n.message for n in app._notifications]
        assert any("resume refused" in m and "does not parse" in m for m in shown), shown


async def test_run_list_in_the_palette_opens_an_older_run(project):
    first = make_app(project, script=script_yaml([tool("Glob", pattern="*")], [text("first done")]), approval="never")
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: first.ledger is not None and first.ledger.status == "completed")
        first_id = first.ledger.run_id
    second = make_app(project, script=script_yaml([text("second done")]), approval="never")
    async with second.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: second.ledger is not None and second.ledger.status == "completed")
        runs = [c for c in second.get_system_commands(second.screen) if c.title.startswith("Run ")]
        assert len(runs) == 2 and runs[0].title.endswith("write a greeting")  # newest first
        assert "completed" in runs[1].help and "1 call ·" in runs[1].help
        runs[1].callback()  # open the older run
        await wait_for(pilot, lambda: second.view is not None and second.view.run_id == first_id)
        await pilot.pause(0.7)  # the watch tick must not jump back to the newest run
        assert second.view.run_id == first_id
        assert second.query_one(ToolCallLog).rows[0].tool == "Glob"
        assert f"run_id: {first_id}" in second.query_one("#state").text


async def test_a_sub_agents_steps_are_shown_and_decided_by_keypress(project):
    import yaml

    from llmos_tui.tui.widgets.panes import RunHeader

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
    app = make_app(project, yaml.safe_dump(doc))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 1))
        assert app.ledger.current_step.tool == "Task"
        await pilot.press("a")  # let the sub-agent start
        await wait_for(pilot, lambda: app.ledger.parent is not None and app.ledger.status == "awaiting_approval")
        await pilot.pause(0.1)
        # the screen is the sub-agent's: its goal in the header, its Write waiting in the log
        assert app.query_one(RunHeader).state.goal == "Write the notes"
        rows = app.query_one(ToolCallLog).rows
        assert [r.tool for r in rows] == ["Write"]
        assert "Write" in card_text(app)
        await pilot.press("a")  # approve the sub-agent's Write
        await wait_for(pilot, lambda: app.ledger.status == "completed")
        await pilot.pause(0.1)
        assert (project / "workspace" / "notes.txt").read_text() == "n"
        assert app.ledger.parent is None and app.query_one(RunHeader).state.goal == "write a greeting"
        assert [r.tool for r in app.query_one(ToolCallLog).rows] == ["Task"]


async def test_the_command_palette_offers_the_waiting_steps_actions_and_they_work(project):
    """The palette once counted itself as 'a dialog is open' and offered none of the run's actions."""
    from textual.command import CommandPalette

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Approve step")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, awaiting(app, 3))
        assert (project / "workspace" / "hello.txt").read_text() == "hi\n"


DENY_THEN_ASK_AGAIN = """
turns:
  - content:
      - {type: tool_use, name: Write, input: {file_path: a.txt, content: "x"}}
    on_deny:
      - content:
          - {type: tool_use, when: reason_file, name: Write, input: {file_path: "{reason_file}", content: "x"}}
      - content:
          - {type: text, text: "done"}
  - content:
      - {type: text, text: "done"}
"""


async def test_the_footer_offers_the_keys_of_a_step_that_waits_right_after_a_denial(project):
    """Found trying the demo at 80×24: after a denial the next step waited, its card listed
    `a approve · d deny …`, and the footer still showed only q, p and t (it was redrawn when the
    deny dialog closed, for the run as it was then, and never again)."""
    from textual.widgets._footer import FooterKey

    app = make_app(project, DENY_THEN_ASK_AGAIN)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, awaiting(app, 1))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText))
        await pilot.press(*"use", "space", *"b.txt", "enter")
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.3)
        shown = {k.key for k in app.screen.query(FooterKey)}
        assert {"a", "d", "e", "s", "q"} <= shown
