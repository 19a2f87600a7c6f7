"""The run screen at any terminal size, read as a person reads it: the text on screen.

Most terminals open at 80×24. There the call list and the approval card have the whole width, the
side panes fold behind `t`, the footer keeps `q Quit`, and every dialog keeps its buttons on
screen. Also the words on screen: `1 call`, who said the words under the list, what a paused run
does with an approved step, and a card that offers only keys that work.
"""

from __future__ import annotations

import io

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem
from rich.console import Console
from test_tui import awaiting, card_text, make_app, wait_for
from textual.command import CommandPalette
from textual.widgets import Button, Input, TextArea

from llmos_tui.tui.screens.edit_step import EditStep
from llmos_tui.tui.screens.modals import AskText, Confirm, StepDetail
from llmos_tui.tui.widgets.panes import MemoryPane, RunHeader
from llmos_tui.tui.widgets.tool_log import ToolCallLog

from conftest import script_yaml, text, tool

SIZES = [(80, 24), (100, 30), (160, 45)]


def screen_text(app) -> str:
    """The screen as plain text, exactly as drawn (dialogs over the run included)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True, legacy_windows=False
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def lines_of(app) -> list[str]:
    return screen_text(app).splitlines()


def fully_on_screen(app, widget) -> bool:
    region, screen = widget.region, app.screen.region
    return region.area > 0 and screen.contains_region(region)


BIG_WRITE = script_yaml(
    [tool("UpdatePlan", steps=[{"title": "Write the report", "status": "in_progress"}])],
    [tool("Write", file_path="report.txt", content="".join(f"line {i}\n" for i in range(40)))],
    [text("Done.")],
)


# ------------------------------------------------------------------ the main screen at each size


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_call_list_the_card_and_q_quit_stay_on_screen(project, size):
    app = make_app(project)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.2)
        shown = screen_text(app)
        footer = shown.splitlines()[-1]
        assert footer.lstrip().startswith("q Quit") and "a Approve" in footer
        assert "a approve · d deny · e edit · s skip · A approve the rest" in shown  # the card's keys, one line
        assert "file_path: hello.txt" in shown and "? Write" in shown
        log = app.query_one(ToolCallLog)
        assert fully_on_screen(app, log) and fully_on_screen(app, app.query_one("#pending"))
        assert log.scrollable_content_region.width >= 46  # never "8 characters wide"
        assert "hello.txt content=" in shown  # the call's gist is readable, not cut to nothing


async def test_at_80_columns_the_card_is_full_width_and_never_wraps_a_word_per_line(project):
    app = make_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.2)
        assert app.query_one("#pending").region.width == 80
        assert any("Step 2 · Write · awaiting approval · side effects: filesystem" in ln for ln in lines_of(app))
        assert not app.query_one("#plan").region.area and not app.query_one("#state").region.area  # folded: t


async def test_at_100_columns_the_call_list_is_wide_and_one_side_pane_shows(project):
    app = make_app(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.2)
        assert app.query_one(ToolCallLog).region.width >= 60
        assert app.query_one("#plan").region.area and not app.query_one("#state").region.area
        assert "Plan  · State · Memory" in screen_text(app)  # the shown pane highlighted, as a tab


async def test_a_long_step_keeps_its_keys_line_at_80x24(project):
    """40 lines of content: the inputs scroll inside the card, the keys never leave the screen."""
    app = make_app(project, script=BIG_WRITE)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "a approve · d deny · e edit · s skip · A approve the rest" in shown
        assert fully_on_screen(app, app.query_one("#pending-keys"))
        assert app.query_one(ToolCallLog).scrollable_content_region.height >= 2  # the list keeps rows


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_t_cycles_the_side_panes_and_the_card_stays(project, size):
    app = make_app(project)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.1)
        shown = {"plan": "#plan", "state": "#state", "memory": "#memory"}
        order = ["plan", "state", "memory", None] if size[0] >= 100 else [None, "plan", "state", "memory"]
        for expected in [*order[1:], order[0], order[1]]:
            await pilot.press("t")
            await pilot.pause(0.1)
            visible = [name for name, sel in shown.items() if app.query_one(sel).region.area]
            assert visible == ([expected] if expected else []), (expected, visible)
            assert fully_on_screen(app, app.query_one("#pending-keys"))
            assert "a approve" in screen_text(app)


async def test_t_is_not_offered_when_every_pane_fits(project):
    app = make_app(project)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        assert not app.run_screen.check_action("next_pane", ())
        assert "t Panes" not in lines_of(app)[-1]
        assert all(app.query_one(sel).region.area for sel in ("#plan", "#memory", "#state", "#log"))


async def test_folding_a_focused_pane_gives_the_keys_back_to_the_call_list(project):
    app = make_app(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("t")  # state
        app.query_one("#state").focus()
        await pilot.press("t", "t")  # memory, then none
        await pilot.pause(0.1)
        assert isinstance(app.focused, ToolCallLog)


async def test_resizing_moves_between_the_layouts(project):
    app = make_app(project)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        assert app.query_one("#state").region.area and app.query_one("#plan").region.area
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert not app.query_one("#state").region.area and not app.query_one("#plan").region.area
        assert lines_of(app)[-1].lstrip().startswith("q Quit")
        await pilot.resize_terminal(120, 30)
        await pilot.pause(0.2)
        assert app.query_one("#plan").region.area and not app.query_one("#state").region.area
        await pilot.resize_terminal(160, 45)
        await pilot.pause(0.2)
        assert "execution_state.md" in screen_text(app) and app.query_one("#state").region.area


# ------------------------------------------------------------------ the header


async def test_a_long_goal_is_cut_with_an_ellipsis_and_the_status_stays(project):
    goal = "Summarise every note in notes/ " * 12 + "\nand then write them to summary.md"
    (project / "s.yaml").write_text(script_yaml([tool("Write", file_path="a.txt", content="a")]))
    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.app import AppSettings, LlmosApp

    req = RunRequest(goal=goal, runtime="scripted", script=project / "s.yaml", approval="side-effects")
    app = LlmosApp(AppSettings(workspace=project, request=req, clock=False, watch_files=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, awaiting(app, 1))
        await pilot.pause(0.2)
        first, second = lines_of(app)[:2]
        assert first.startswith(" Summarise every note") and first.rstrip().endswith("…")
        assert second.startswith(" awaiting approval · execute · 1 call · $0.0000")
        assert app.query_one(RunHeader).region.height == 2


async def test_the_header_counts_calls_in_the_singular_too(project):
    app = make_app(project, script=script_yaml([tool("Glob", pattern="*")], [text("done")]), approval="never")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.ledger is not None and app.ledger.status == "completed")
        await pilot.pause(0.2)
        status_line = lines_of(app)[1]
        assert "1 call ·" in status_line and "steps" not in status_line
        assert "1 call," in " ".join(n.message for n in app._notifications)  # "Run completed: 1 call, …"


# ------------------------------------------------------------------ words on screen


async def test_a_scripted_models_words_are_labelled_script(project):
    app = make_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        said = str(app.query_one("#said").render())
        assert said.startswith("Script: plan") and "Claude" not in said


def test_who_speaks_is_named_by_runtime_and_model():
    from types import SimpleNamespace

    from llmos_tui.tui.screens.run import speaker

    assert speaker(SimpleNamespace(runtime="scripted", model="scripted")) == "Script"
    assert speaker(SimpleNamespace(runtime="native", model="claude-sonnet-4-5")) == "claude-sonnet-4-5"
    assert speaker(SimpleNamespace(runtime="native", model=None)) == "Model"
    assert speaker(SimpleNamespace(runtime="claude-code", model="")) == "Claude Code"


async def test_approving_while_paused_says_it_runs_on_resume_and_nothing_ticks(project):
    script = script_yaml(
        [tool("Bash", command="echo hi > hi.txt")],
        [text("Done.")],
    )
    app = make_app(project, script=script)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, awaiting(app, 1))
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.status == "paused")
        assert "Paused — decide now" in card_text(app) and "p resume" in card_text(app)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.ledger.steps[0].status == "running")
        await pilot.pause(0.2)
        header = app.query_one(RunHeader)
        assert header.busy_since is None  # no ticking timer: nothing runs
        assert "paused · step 1 approved, runs when you resume (p)" in lines_of(app)[1]
        assert app.query_one(ToolCallLog).rows[0].status == "approved"
        assert "Step 1 · Bash approved — it runs when you resume (p)" in card_text(app)
        assert not (project / "workspace" / "hi.txt").exists()
        assert "p Resume" in lines_of(app)[-1]
        await pilot.press("p")
        await wait_for(pilot, lambda: app.ledger.status == "completed")
        assert (project / "workspace" / "hi.txt").exists()
        await pilot.pause(0.1)
        assert app.query_one(ToolCallLog).rows[0].status == "done"


async def test_the_card_of_a_run_no_one_drives_offers_only_p(project):
    from test_watch import headless, wait_status

    from llmos_tui.tui.app import AppSettings, LlmosApp

    (project / "s.yaml").write_text(script_yaml([tool("Write", file_path="hello.txt", content="hi\n")], [text("ok")]))
    driver = headless(project, "--script", "s.yaml", "say hi")
    wait_status(project, "awaiting_approval")
    driver.kill()
    driver.wait(10)
    app = LlmosApp(AppSettings(workspace=project, clock=False, watch_files=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.view is not None and app._driver_checked)
        await pilot.pause(0.2)
        card = card_text(app)
        assert "p takes it over here" in card and "a approve" not in card
        footer = lines_of(app)[-1]
        assert "p Take over" in footer and "a Approve" not in footer
        await pilot.press("p")
        await wait_for(pilot, lambda: app.runner is not None and app.ledger.status == "awaiting_approval")
        await pilot.pause(0.1)
        assert "a approve · d deny" in card_text(app)


async def test_the_memory_pane_lists_every_experience_and_counts_them(project):
    log = project / "system" / "memory_log.md"
    entries = "".join(
        f"\n---\nexperience_id: exp-20261101-00000{i}-000{i}\ngoal: Goal number {i}\noutcome: completed\n"
        f"tags: [t]\ntools_used: [Write]\n---\nKey learnings: fine.\n"
        for i in range(10)
    )
    log.write_text(log.read_text() + entries)
    app = make_app(project)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.pause(0.2)
        pane = app.query_one(MemoryPane)
        shown = str(pane.render())
        assert "No experiences" not in shown and "Goal number 9" in shown.splitlines()[0]  # newest first
        assert pane.count == 10 and pane.border_subtitle == "10 experiences"


# ------------------------------------------------------------------ dialogs at 80×24


async def test_every_dialog_keeps_its_buttons_and_hint_on_screen_at_80x24(project):
    app = make_app(project, script=BIG_WRITE)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, awaiting(app, 2))
        await pilot.press("d")
        assert isinstance(app.screen, AskText)
        assert all(fully_on_screen(app, w) for w in (app.screen.query_one(Input), app.screen.query_one(".hint")))
        await pilot.press("escape")
        await pilot.press("e")
        assert isinstance(app.screen, EditStep)
        await pilot.pause(0.1)
        for widget in (app.screen.query_one(TextArea), *app.screen.query(Button), app.screen.query_one(".hint")):
            assert fully_on_screen(app, widget), widget
        await pilot.press("escape")
        app.query_one(ToolCallLog).focus()
        await pilot.press("enter")  # the 40-line Write's details
        assert isinstance(app.screen, StepDetail)
        await pilot.pause(0.1)
        assert fully_on_screen(app, app.screen.query_one(".hint"))
        await pilot.press("escape")
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        await pilot.pause(0.1)
        assert all(fully_on_screen(app, b) for b in app.screen.query(Button))
        await pilot.press("n")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Deny")
        await pilot.pause(0.3)
        assert "Deny step" in screen_text(app)


async def test_the_goal_prompt_at_80x24_names_the_app(project):
    app = make_app(project, script=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, AskText)
        assert "llmos-tui" in lines_of(app)[0] and "What should the agent do?" in screen_text(app)


# ------------------------------------------------------------------ colours


@pytest.mark.parametrize("theme", ["llmos-dark", "llmos-light", "llmos-high-contrast"])
async def test_unfocused_pane_borders_stand_out_in_256_colours(project, theme):
    """llmos-light once drew unfocused borders white on white where a terminal has 256 colours."""
    app = make_app(project, script=None, theme=theme)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause(0.1)
        variables = app.get_css_variables()

        def eight_bit(colour: str) -> int | None:
            return RichColor.parse(colour[:7]).downgrade(ColorSystem.EIGHT_BIT).number

        border = app.run_screen.query_one("#memory").styles.border_top[1]
        assert border.hex.upper() == variables["pane-border"].upper()[:7]
        assert eight_bit(border.hex) not in {eight_bit(variables["background"]), eight_bit(variables["surface"])}


async def test_why_a_run_failed_stays_on_screen_after_the_toast(project):
    app = make_app(project, script=script_yaml([tool("Glob", pattern="*")]), approval="never")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.ledger is not None and app.ledger.status == "failed")
        await pilot.pause(0.2)
        app.clear_notifications()
        await pilot.pause(0.1)
        shown = screen_text(app)
        assert "Run failed — the script has no turn 2" in shown and "n starts a new goal" in shown
        assert lines_of(app)[-1].lstrip().startswith("q Quit")
