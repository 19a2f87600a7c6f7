"""The inbox: every step waiting for a person across many workspaces, decided right there; and the
board, every run of those workspaces with a batch's progress on top.

`core.inbox.Inbox` does the looking (incremental, off the event loop: one worker runs its scans
in a thread and posts what it saw); decisions go through `core.inbox.decide` — the run's
control.jsonl, as `llmos-tui approve` sends them — in a thread each, and come back as a message
saying what the driver made of them. Enter opens the run's own screen over the inbox (the run
screen, watching that run); Esc there comes back.

A step that starts waiting after the inbox opened rings the terminal's bell, and where the
terminal is known to show them, an OSC 9 notification (see `osc9_supported`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from llmos_tui.core import inbox as inbox_core
from llmos_tui.core.inbox import Decided, Inbox, InboxView, RunRow, WaitingStep
from llmos_tui.core.text import escape_markup, plural
from llmos_tui.core.workspace import Workspace
from llmos_tui.tui.messages import RunEnded
from llmos_tui.tui.screens.edit_step import EditStep
from llmos_tui.tui.screens.modals import AskText, Confirm, Dialog
from llmos_tui.tui.screens.run import RunScreen
from llmos_tui.tui.widgets.batch_bar import BatchBar
from llmos_tui.tui.widgets.run_board import RunBoard, driver_word, row_key
from llmos_tui.tui.widgets.step_card import StepCard
from llmos_tui.tui.widgets.waiting_list import WaitingList, item_key

if TYPE_CHECKING:
    from llmos_tui.tui.settings import AppSettings

TERMINAL = ("completed", "failed", "cancelled")
POLL = 0.5  # seconds between two scans (a decision made here asks for one at once)
STEP_ACTIONS = frozenset({"approve", "deny", "edit", "skip", "retry"})
NEEDS = {
    "approve": ("awaiting_approval",),
    "deny": ("awaiting_approval",),
    "edit": ("awaiting_approval", "uncertain"),
    "skip": ("awaiting_approval", "uncertain"),
    "retry": ("uncertain",),
}
SENDING = {"approve": "approving…", "deny": "denying…", "edit": "editing…", "skip": "skipping…", "retry": "retrying…"}
DONE = {"approve": "approved", "deny": "denied", "skip": "skipped", "retry": "retried"}

# Terminals known to show `ESC ] 9 ; text BEL` as a desktop notification. Others may print it
# as text or read it as something else (ConEmu and Windows Terminal take `9;<digit>` as their
# own commands), and tmux or screen swallow it unless passthrough is set up: left out.
OSC9_PROGRAMS = frozenset({"iTerm.app", "WezTerm", "ghostty"})
OSC9_TERMS = frozenset({"xterm-kitty", "xterm-ghostty", "wezterm"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def osc9_supported(env: Mapping[str, str], tty: bool) -> bool:
    """Whether to send an OSC 9 notification: only to a real terminal that is known to show it.
    `LLMOS_OSC9=1` sends it anyway (e.g. inside tmux with passthrough), `LLMOS_OSC9=0` never."""
    forced = env.get("LLMOS_OSC9")
    if forced in ("0", "1"):
        return forced == "1" and tty
    if not tty or env.get("TERM", "dumb") in ("dumb", "") or env.get("TMUX") or env.get("STY"):
        return False
    return env.get("TERM_PROGRAM", "") in OSC9_PROGRAMS or env.get("TERM", "") in OSC9_TERMS


def osc9(text: str) -> str:
    """The escape sequence; the text without control characters (one could end it early), never
    starting with a digit (ConEmu's sub-commands), at most 200 characters."""
    clean = _CONTROL.sub(" ", text)[:200]
    return f"\x1b]9;{'llmos-tui: ' if clean[:1].isdigit() else ''}{clean}\x07"


def notify_terminal(app: App[Any], text: str) -> None:
    """The bell, and an OSC 9 notification where it is supported (never in tests, a browser or
    a pipe)."""
    app.bell()
    if app.is_headless or app.is_web:
        return
    if osc9_supported(os.environ, sys.__stdout__ is not None and sys.__stdout__.isatty()):
        driver = app._driver  # (App.bell writes through it too: Textual has no public call for this)
        if driver is not None:
            driver.write(osc9(text))


class InboxScreen(Screen[None]):
    CSS_PATH = "inbox.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    # q first, so the footer never drops it; then the keys that decide (hidden when they do not
    # apply to the step selected), opening the run, and the view toggle (one of two names).
    BINDINGS = [
        Binding("q", "quit_app", "Quit", id="quit"),
        Binding("a", "decide('approve')", "Approve", id="approve"),
        Binding("A", "approve_rest", "Approve rest", id="approve_rest", show=False),  # the card says it
        Binding("d", "deny", "Deny", id="deny"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("s", "decide('skip')", "Skip", id="skip"),
        Binding("r", "decide('retry')", "Retry", id="retry"),
        Binding("enter", "open_run", "Open run", id="open_run", key_display="⏎"),
        Binding("v", "show('board')", "Board", id="show_board"),
        Binding("v", "show('inbox')", "Inbox", id="show_inbox"),
        Binding("tab", "show('board')", "Board", show=False),
        Binding("tab", "show('inbox')", "Inbox", show=False),
    ]

    class Scanned(Message):
        """What a scan of the workspaces saw."""

        def __init__(self, view: InboxView) -> None:
            super().__init__()
            self.view = view

    class Answered(Message):
        """What became of a decision sent from here."""

        def __init__(self, item: WaitingStep, action: str, decided: Decided) -> None:
            super().__init__()
            self.item = item
            self.action = action
            self.decided = decided

    class OpenRun(Message):
        """Show this run's own screen over the inbox (the app pushes it)."""

        def __init__(self, ws: Workspace, run_id: str) -> None:
            super().__init__()
            self.ws = ws
            self.run_id = run_id

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.settings = settings
        self.inbox = Inbox(settings.inbox or ())
        self.mode = "inbox"  # or "board"
        self.last = InboxView()
        self._items: dict[str, WaitingStep] = {}
        self._runs: dict[str, RunRow] = {}
        self._seen: set[tuple[str, str, int, str]] | None = None  # None until the first scan
        self._marks: dict[str, str] = {}  # what was done about a waiting step meanwhile
        self._wake = asyncio.Event()
        self._keys_shown: tuple[bool, ...] = ()

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("Looking at the workspaces…", id="inbox-head")
        with Vertical(id="inbox-view"):
            yield WaitingList(id="waiting")
            yield StepCard(id="card")
        with Vertical(id="board-view"):
            yield BatchBar(id="batches")
            yield RunBoard(id="board")
            yield Static("", id="board-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#waiting").border_title = "Waiting for a person"
        self.query_one("#board").border_title = "Runs"
        self.query_one("#board-view").display = False
        self.query_one(WaitingList).focus()
        self.query_one(StepCard).show_nothing("Looking at the workspaces…")
        self._scan_loop()
        if self.settings.clock:
            self.set_interval(1.0, self._redraw)  # the ages

    def on_resize(self, event: Resize) -> None:
        self.query_one(Footer).compact = event.size.width < 100
        self.call_after_refresh(self._redraw)  # the lists' columns fit the width

    def on_screen_resume(self) -> None:
        """Back from a dialog or a run's screen: the footer was drawn for then."""
        self._keys_shown = ()
        self._redraw()

    # ------------------------------------------------------------------ looking

    @work(group="inbox-scan", exclusive=True, exit_on_error=False)
    async def _scan_loop(self) -> None:
        while True:
            self._wake.clear()
            view = await asyncio.to_thread(self.inbox.scan)
            self.post_message(self.Scanned(view))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL)

    def look_again(self) -> None:
        """Scan now rather than at the next tick (a decision was just answered)."""
        self._wake.set()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "inbox-scan":
            self.notify(f"The inbox stopped looking: {event.worker.error}", severity="error", timeout=30)

    @on(Scanned)
    def _on_scanned(self, message: Scanned) -> None:
        view = message.view
        self.last = view
        keys = {w.key for w in view.waiting}
        if self._seen is None:
            self._seen = set(keys)  # waiting when the inbox opened: no bell for these
        else:
            new = [w for w in view.waiting if w.key not in self._seen]
            self._seen |= keys
            if new:
                self._announce(new)
        for a in view.answers:  # decisions queued here that a driver took up since
            what = f"{a.action} step {a.step} of {a.where} · {a.run_id}"
            if a.applied:
                self.notify(f"{what}: applied by the run's new driver.")
            else:
                self.notify(f"{what}: refused by the driver — {a.reason}", severity="warning", timeout=12)
        live = {item_key(w) for w in view.waiting}
        self._marks = {k: v for k, v in self._marks.items() if k in live}
        self._redraw()

    def _announce(self, new: list[WaitingStep]) -> None:
        first = new[0]
        text = f"{first.where}: step {first.n} {first.tool} waits for a person"
        if len(new) > 1:
            text = f"{len(new)} new steps wait for a person ({first.where}: step {first.n} {first.tool} first)"
        notify_terminal(self.app, text)
        self.notify(escape_markup(text), title="New in the inbox", timeout=8)

    # ------------------------------------------------------------------ drawing

    def _redraw(self) -> None:
        view, t = self.last, inbox_core.now()
        self._items = {item_key(w): w for w in view.waiting}
        self._runs = {row_key(r): r for r in view.runs}
        if self.mode == "inbox":
            self.query_one(WaitingList).show(view.waiting, self._marks, t)
        else:
            self.query_one(BatchBar).show(view.batches)
            self.query_one(RunBoard).show(view.runs, t)
        self._show_head(view)
        self._show_selected()
        keys = tuple(bool(self.check_action(a, p)) for a, p in self._checked_actions())
        if keys != self._keys_shown:
            self._keys_shown = keys
            self.refresh_bindings()

    def _checked_actions(self) -> Iterable[tuple[str, tuple[object, ...]]]:
        for a in ("approve", "skip", "retry"):
            yield "decide", (a,)
        for a in ("deny", "edit", "open_run", "approve_rest"):
            yield a, ()

    def _show_head(self, view: InboxView) -> None:
        no_driver = sum(1 for r in view.runs if r.no_driver)
        runs = plural(len(view.runs), "run") + (f" ({no_driver} with no driver)" if no_driver else "")
        spaces = plural(view.workspaces, "workspace")
        if self.mode == "inbox":
            n = len(view.waiting)
            what = f"[b]{plural(n, 'step')} {'waits' if n == 1 else 'wait'}[/b]" if n else "nothing waits"
            line = f"Inbox · {what} · {spaces} · {runs}"
        else:
            line = f"Board · [b]{runs}[/b] in {spaces}"
        if view.problems:
            line += f"\n[$error]{escape_markup(view.problems[0])}[/]" + (
                f" (+{len(view.problems) - 1} more)" if len(view.problems) > 1 else ""
            )
        self.query_one("#inbox-head", Static).update(line)

    def _show_selected(self) -> None:
        if self.mode == "inbox":
            card = self.query_one(StepCard)
            item = self.selected_item()
            if item is not None:
                card.show(item, self._marks.get(item_key(item), ""), inbox_core.now())
            elif self._seen is None:
                card.show_nothing("Looking at the workspaces…")
            else:
                card.show_nothing(
                    f"Nothing waits for a person in {plural(self.last.workspaces, 'workspace')}: a step that "
                    "starts waiting shows up here (with the terminal's bell). v shows every run."
                )
            return
        detail = self.query_one("#board-detail", Static)
        row = self.selected_run()
        if row is None:
            detail.update("No run yet in these workspaces." if self._seen is not None else "")
            return
        facts = [f"[b]{escape_markup(row.where)}[/b]", f"run {escape_markup(row.run_id)}", row.status.replace("_", " ")]
        if row.step is not None:
            facts.append(f"step {row.step} of {row.steps}")
        facts.append(driver_word(row) if row.driver or row.status in ("completed", "failed", "cancelled") else "")
        if row.no_driver:
            facts[-1] = "[b]no driver[/b] (⏎ opens it; p there takes it over)"
        line = " · ".join(f for f in facts if f and f != "—")
        detail.update(f"{line}\n[dim]Goal:[/] {escape_markup(row.problem or row.goal)}")

    def selected_item(self) -> WaitingStep | None:
        key = self.query_one(WaitingList).selected_key
        return self._items.get(key) if key is not None else None

    def selected_run(self) -> RunRow | None:
        key = self.query_one(RunBoard).selected_key
        return self._runs.get(key) if key is not None else None

    @on(DataTable.RowHighlighted)
    def _on_highlighted(self) -> None:
        self._show_selected()
        self._keys_shown = ()
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _on_selected(self) -> None:
        self.action_open_run()

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.app.screen, Dialog):
            return False
        if action == "show":
            return parameters[0] != self.mode
        if action == "open_run":
            return (self.selected_item() if self.mode == "inbox" else self.selected_run()) is not None
        if action in ("decide", "deny", "edit", "approve_rest"):
            name = str(parameters[0]) if action == "decide" else "approve" if action == "approve_rest" else action
            item = self.selected_item() if self.mode == "inbox" else None
            if item is None or item.queued or self._marks.get(item_key(item), "").endswith("…"):
                return False  # a decision on its way (wait for the answer), or queued for the next driver
            return item.status in NEEDS[name]
        return True

    def action_decide(self, action: str) -> None:
        item = self.selected_item()
        if item is not None and item.status in NEEDS[action]:
            self.send(item, action)

    def action_approve_rest(self) -> None:
        """A: this step and every later one of its run (not of the other runs in the inbox)."""
        item = self.selected_item()
        if item is not None and item.status in NEEDS["approve"]:
            self.send(item, "approve", scope="rest")

    def action_deny(self) -> None:
        item = self.selected_item()
        if item is None:
            return

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.send(item, "deny", feedback=reason or None)

        self.app.push_screen(
            AskText(
                f"Deny step {item.n} · {item.tool} in {item.where}: why? (the agent reads this)",
                placeholder="e.g. write to notes/ instead",
                hint="Enter denies · Escape goes back without denying",
            ),
            answered,
        )

    def action_edit(self) -> None:
        item = self.selected_item()
        if item is not None:
            self._edit(item)

    @work(group="inbox-edit", exclusive=True, exit_on_error=False)
    async def _edit(self, item: WaitingStep) -> None:
        validate = await asyncio.to_thread(self.inbox.validator, item.ws)  # (loaded already, mostly)

        def saved(inputs: dict[str, Any] | None) -> None:
            if inputs is not None:
                self.send(item, "edit", inputs=inputs)

        self.app.push_screen(EditStep(item.n, item.tool, item.inputs, validate), saved)

    def send(self, item: WaitingStep, action: str, **kw: Any) -> None:
        """Decide the step through its run's control.jsonl; the answer comes back as Answered."""
        self._marks[item_key(item)] = SENDING[action]
        self._redraw()
        self._decide(item, action, kw)

    @work(thread=True, group="inbox-decide", exit_on_error=False)
    def _decide(self, item: WaitingStep, action: str, kw: dict[str, Any]) -> None:
        decided = inbox_core.decide(item, action, **kw)
        if decided.outcome == "queued" and decided.cmd_id:
            self.inbox.expect(item.ws, item.run_id, decided.cmd_id, item.where)  # say when a driver takes it up
        self.post_message(self.Answered(item, action, decided))

    @on(Answered)
    def _on_answered(self, message: Answered) -> None:
        key, d = item_key(message.item), message.decided
        self._marks.pop(key, None)
        if d.outcome == "applied":
            self.notify(escape_markup(d.message))
            if message.action == "edit":
                self.notify("Edited; the step still waits: a approves it.")
            elif message.action in DONE:
                self._marks[key] = DONE[message.action]  # until the next scan drops the row
        elif d.outcome == "queued":
            self.notify(escape_markup(d.message), severity="warning", timeout=15)
        else:
            self.notify(
                escape_markup(d.message), severity="warning" if d.outcome != "rejected" else "error", timeout=12
            )
        self._redraw()
        self.look_again()

    def action_show(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        self.query_one("#inbox-view").display = mode == "inbox"
        self.query_one("#board-view").display = mode == "board"
        table = self.query_one(WaitingList if mode == "inbox" else RunBoard)
        table.focus()
        if mode == "board":  # the run of the step selected in the inbox, selected on the board
            item = self.selected_item()
            self._redraw()
            if item is not None:
                self.query_one(RunBoard).select(f"{item.ws.root}\x1f{item.top_id}")
        self._keys_shown = ()
        self._redraw()

    def action_open_run(self) -> None:
        if self.mode == "inbox":
            item = self.selected_item()
            target = (item.ws, item.top_id) if item is not None else None
        else:
            row = self.selected_run()
            target = (row.ws, row.run_id) if row is not None and row.problem is None else None
        if target is not None:
            self.post_message(self.OpenRun(*target))

    def action_quit_app(self) -> None:
        """Quit. Runs this app drives in the background (taken over from the inbox) are paused
        after their current step first, and stay resumable."""
        driving: list[RunScreen] = getattr(self.app, "background_drivers", list)()
        if not driving:
            self.app.exit()
            return
        ask_pause_and_quit(self, driving)

    def commands(self) -> Iterable[SystemCommand]:
        """The palette's inbox commands that apply now."""
        for action, params, title, help_, run in (
            (
                "decide",
                ("approve",),
                "Approve step",
                "Let the selected step run",
                lambda: self.action_decide("approve"),
            ),
            ("deny", (), "Deny step", "Refuse the selected step, with a reason for the agent", self.action_deny),
            ("edit", (), "Edit step", "Change the selected step's inputs (YAML)", self.action_edit),
            ("decide", ("skip",), "Skip step", "Do not run the selected step", lambda: self.action_decide("skip")),
            (
                "decide",
                ("retry",),
                "Retry",
                "Run the selected uncertain step again",
                lambda: self.action_decide("retry"),
            ),
            ("open_run", (), "Open run", "The selected run's own screen (Esc comes back)", self.action_open_run),
            ("show", ("board",), "Board", "Every run of these workspaces", lambda: self.action_show("board")),
            ("show", ("inbox",), "Inbox", "The steps waiting for a person", lambda: self.action_show("inbox")),
        ):
            if self.check_action(action, params):
                yield SystemCommand(title, help_, run)


def ask_pause_and_quit(screen: Screen[Any], driving: list[RunScreen]) -> None:
    """Confirm, then pause every run in `driving` after its current step, then quit."""

    async def pause_then_quit() -> None:
        for sc in driving:
            sc.send("pause", feedback="the inbox quit")
        for _ in range(200):  # let each finish its current step (at most ~10 s)
            if all(sc.ledger is None or sc.ledger.status in ("paused", *TERMINAL) for sc in driving):
                break
            await asyncio.sleep(0.05)
        for sc in driving:
            sc.workers.cancel_group(sc, "runner")
        screen.app.exit()

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(pause_then_quit(), group="quit", exclusive=True)

    n = len(driving)
    screen.app.push_screen(
        Confirm(
            "Quit?",
            f"{plural(n, 'run')} taken over here {'goes' if n == 1 else 'go'} on: "
            f"{'it pauses' if n == 1 else 'they pause'} after the current step and "
            f"{'stays' if n == 1 else 'stay'} resumable (`llmos-tui resume`).",
            yes="Pause and quit",
            no="Stay",
        ),
        answered,
    )


class RunFromInbox(RunScreen):
    """A run the inbox opened, on the run screen: watched (p takes over a run no process drives),
    kept on screen even when a newer run starts there; Esc goes back to the inbox."""

    BINDINGS = [Binding("escape", "back_to_inbox", "Inbox", id="back_to_inbox")]

    def __init__(self, settings: AppSettings, ws: Workspace, run_id: str) -> None:
        super().__init__(replace(settings, workspace=ws.root, watch=True, inbox=None), ws)
        self.run_to_open = run_id

    def on_mount(self) -> None:
        super().on_mount()
        self.notify("Esc goes back to the inbox.", timeout=4)

    def _open_latest(self) -> None:  # (the run screen's first look: this run, not the latest)
        self.open_run(self.run_to_open)
        self._pinned = True

    def header_note(self, note: str) -> None:
        super().header_note(" · ".join(filter(None, (note, "Esc: back to the inbox"))))

    def action_back_to_inbox(self) -> None:
        """Back to the inbox. A run this screen drives goes on in the background: its steps that
        wait show in the inbox like any other's, Enter brings this screen back, and quitting the
        inbox pauses it."""
        driving = self.runner is not None and self.driving
        keep_driving = getattr(self.app, "keep_driving", None)
        if driving and keep_driving is not None:
            keep_driving(self)
            self.app.notify(
                f"Run {self.runner.run_id if self.runner else ''} goes on here in the background; "
                "⏎ on it opens it again.",
                timeout=6,
            )
        self.app.pop_screen()
        if not driving:
            release = getattr(self.app, "release_driving", None)
            if release is not None:
                release(self, remove=True)  # (kept for a run that has ended since: let it go)

    async def action_quit_app(self) -> None:
        """q here: as on any run screen, unless runs go on in the background too — then all of
        them (this one included) pause first."""
        others: list[RunScreen] = getattr(self.app, "background_drivers", list)()
        if not others:
            await super().action_quit_app()
            return
        ask_pause_and_quit(self, [*others, *([self] if self.runner is not None and self.driving else [])])

    def on_run_ended(self, message: RunEnded) -> None:
        """The run ended while this screen was in the background: nothing keeps it any more."""
        if not self.is_current:
            release = getattr(self.app, "release_driving", None)
            if release is not None:
                release(self, remove=True)
