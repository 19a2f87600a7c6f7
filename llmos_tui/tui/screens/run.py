"""The run screen: plan, live state file, tool call log, memory and the approval card, steered by
keypress.

The run comes from a `core.source.RunSource` — a Runner driven here, or a run another process
drives, followed through its journal — and each is wrapped in one worker that posts messages
(`tui.messages`); the handlers here own everything on screen. Every decision a person makes goes
back through the source's command path (the same one control.jsonl feeds).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from llmos_tui.core.errors import LlmosError
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.source import DrivenRun, FollowedRun, RunSource
from llmos_tui.core.state import cost_text, text_to_show
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.text import escape_markup, plural, short_inputs
from llmos_tui.core.workspace import JOURNAL_NAME, STATE_NAME, Workspace
from llmos_tui.tui.messages import (
    ActiveRunChanged,
    DriverChanged,
    RunEnded,
    RunOpened,
    RunRecord,
    RunUnreadable,
    StateFileChanged,
    TextStreamed,
)
from llmos_tui.tui.screens.timeline import TIMELINE_ACTIONS, Timeline
from llmos_tui.tui.widgets.changes import ChangesPane
from llmos_tui.tui.widgets.panes import MemoryPane, PlanPane, RunHeader, StatePane
from llmos_tui.tui.widgets.tool_log import CallRow, ToolCallLog

if TYPE_CHECKING:
    from llmos_tui.core.records import JournalRecord
    from llmos_tui.core.runner import Runner
    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.settings import AppSettings

RUN_ACTIONS = (
    frozenset({"approve", "deny", "edit", "retry", "skip", "pause", "resume", "take_over", "approve_rest", "new_goal"})
    | TIMELINE_ACTIONS
)

# Widths (columns) where the layout changes; Textual sets the class on the screen as it resizes.
# From FULL_WIDTH up, plan and memory | tool calls | execution_state.md side by side (34 + 60 + 56);
# below it the side panes fold into one side area showing one of them at a time (`t` cycles);
# below NARROW it starts hidden, so the call list and the approval card have the whole width.
NARROW, FULL_WIDTH = 100, 150
SHORT = 30  # rows: below this the approval card shows fewer input lines (the keys line always stays)
SIDE_PANES = ("plan", "state", "memory")
SIDE_TITLES = {"plan": "Plan", "state": "State", "memory": "Memory"}


def queued_step(led: Ledger) -> StepRecord | None:
    """A step approved while the run is paused: `running` in the journal, but nothing runs until
    the run is resumed."""
    if led.status != "paused":
        return None
    return next((s for s in led.steps[led.first_unsettled :] if s.status == "running"), None)


def speaker(led: Ledger) -> str:
    """Who said the words under the call list: a script is not a model, and a model has a name."""
    if led.runtime == "scripted":
        return "Script"
    if led.runtime == "claude-code":
        return "Claude Code"
    return led.model or "Model"


def row_of(step: StepRecord, led: Ledger) -> CallRow:
    status = step.status
    if status == "running" and led.status == "paused":
        status = "approved"  # approved while paused: it runs on resume
    return CallRow(
        n=step.n,
        tool=step.tool,
        short=short_inputs(step.tool, step.inputs),
        status=status,
        duration_s=step.duration_s,
        cost_usd=led.step_cost(step),
        simulated=step.simulated,
    )


class RunScreen(Timeline):
    CSS_PATH = "run.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW, "-medium"), (FULL_WIDTH, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT, "-tall")]
    # The footer shows these in this order and drops what does not fit at the right: q first, so
    # it never falls out; then the keys that apply now (those that do not are hidden). The three
    # p bindings say what p does now; only the one that applies is shown and runs. A is left to
    # the approval card, which lists it whenever it applies (at 80 columns the footer is full).
    # The time-travel keys (screens/timeline.py) come after the ones that decide; the call list's
    # title and the changes pane name them too while a past step is shown.
    BINDINGS = [
        Binding("q", "quit_app", "Quit", id="quit"),
        Binding("a", "approve", "Approve", id="approve"),
        Binding("d", "deny", "Deny", id="deny"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("s", "skip", "Skip", id="skip"),
        Binding("r", "retry", "Retry", id="retry"),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("p", "resume", "Resume", id="resume"),
        Binding("p", "take_over", "Take over", id="take_over"),
        Binding("t", "next_pane", "Panes", id="next_pane"),
        Binding("[", "step_back", "Back", id="step_back", tooltip="The run as it was at the previous step"),
        Binding("]", "step_forward", "Fwd", id="step_forward", tooltip="The next step; past the last: live"),
        Binding("escape", "live", "Live", id="live", tooltip="Back to the run as it is now"),
        Binding("R", "rewind", "Rewind", id="rewind", tooltip="Files and run back to before this step (undoable)"),
        Binding("f", "fork", "Fork", id="fork", tooltip="A new run from this step, opened here"),
        Binding("n", "step_over", "Next", id="step_over", tooltip="Approve, and stop before the next step"),
        Binding("b", "toggle_breakpoint", "Break", id="toggle_breakpoint", tooltip="A breakpoint on this call's tool"),
        Binding("A", "approve_rest", "Approve rest", id="approve_rest", show=False),  # the card says it
        Binding("n", "new_goal", "New goal", id="new_goal"),
    ]

    def __init__(self, settings: AppSettings, ws: Workspace) -> None:
        super().__init__()
        self.settings = settings
        self.ws = ws
        self.source: RunSource | None = None  # the run on screen
        self.busy_step: int | None = None
        self._views_dirty = False
        self._keys_shown: tuple[bool, ...] = ()
        self._streamed = ""
        self._following = False
        self._pinned = False  # a run chosen from the list: do not jump to newer ones
        self._latest_seen: str | None = None  # the newest run looked at while pinned (is it a fork?)
        self._state_text = ""  # execution_state.md as last read (shown again after time travel)
        self._side = "auto"  # the folded side area: auto (plan; hidden when narrow) or a chosen pane
        self._folded: bool | None = None
        self._card_shown: tuple[str, str, str] = ("", "", "")

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header", clock=self.settings.clock)
        with Horizontal(id="main", classes="-side-auto"):
            with Vertical(id="left"):
                yield PlanPane(id="plan")
                yield MemoryPane(id="memory")
            with Vertical(id="center"):
                yield ToolCallLog(id="log")
                yield ChangesPane(id="changes")  # time travel: the files the step shown changed
                yield Static("", id="said", markup=False)
                with Vertical(id="pending"):  # the approval card: its keys line never scrolls away
                    yield Static("", id="pending-head")
                    with VerticalScroll(id="pending-body", can_focus=False):
                        yield Static("", id="pending-inputs", markup=False)
                    yield Static("", id="pending-keys")
            yield StatePane(id="state")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log").border_title = "Tool calls"
        self._lay_out(self.app.size.width)
        self.set_interval(0.05, self._refresh_views)
        self.call_after_refresh(self._after_first_frame)
        if self.settings.request is not None:
            self.start_run(self.settings.request)
        elif self.settings.resume_run_id is not None:
            self.resume_run(self.settings.resume_run_id)
        else:
            self._open_latest()
        self.query_one(ToolCallLog).focus()

    # ------------------------------------------------------------------ width

    def on_resize(self, event: Resize) -> None:
        self._lay_out(event.size.width)

    def _lay_out(self, width: int) -> None:
        """What the breakpoint classes cannot do in CSS: the panes' titles and the footer's spacing."""
        self.query_one(Footer).compact = width < NARROW
        folded = width < FULL_WIDTH
        if folded == self._folded:
            return
        self._folded = folded
        self._title_panes()
        self.refresh_bindings()  # t applies only while the panes are folded

    def _title_panes(self) -> None:
        """Side by side each pane has its name; folded, the one shown has a title that reads as
        tabs (its own name highlighted) and says which key shows the next."""
        folded = bool(self._folded)
        memory = self.query_one(MemoryPane)
        plan_then, state_then = self.travel_titles()  # a past step shown: the panes say which
        about = {
            "plan": plan_then,
            "state": state_then or "execution_state.md",
            "memory": plural(memory.count, "experience") if memory.count else "",
        }
        for pane in SIDE_PANES:
            widget = self.query_one(f"#{pane}")
            if folded:
                widget.border_title = " · ".join(
                    f"[reverse] {SIDE_TITLES[p]} [/reverse]" if p == pane else f"[dim]{SIDE_TITLES[p]}[/dim]"
                    for p in SIDE_PANES
                )
                widget.border_subtitle = " · ".join(filter(None, (about[pane], "t next")))
            elif pane == "state":
                widget.border_title = f"State {state_then}" if state_then else "execution_state.md"
                widget.border_subtitle = ""
            else:
                widget.border_title = SIDE_TITLES[pane]
                widget.border_subtitle = about[pane]

    def side_pane(self) -> str:
        """The pane the folded side area shows: plan, state, memory or none."""
        if self._side != "auto":
            return self._side
        return "none" if self.size.width < NARROW else "plan"

    def action_next_pane(self) -> None:
        """Show the next side pane (plan → state → memory → none) while they are folded."""
        order = [*SIDE_PANES, "none"]
        shown = self.side_pane()
        main = self.query_one("#main")
        main.remove_class(f"-side-{self._side}")
        self._side = order[(order.index(shown) + 1) % len(order)]
        main.add_class(f"-side-{self._side}")
        self.call_after_refresh(self._keep_focus_visible)

    def _keep_focus_visible(self) -> None:
        focused = self.focused  # (Textual drops the focus of a widget that stops displaying)
        if focused is None or not all(w.display for w in focused.ancestors_with_self if isinstance(w, Widget)):
            self.query_one(ToolCallLog).focus()  # the pane that had the keys was folded away

    def _after_first_frame(self) -> None:
        """What the first frame need not wait for."""
        self._show_memory()
        if self.settings.watch_files:
            self._watch_state_file()
        else:
            self.read_state_file()

    # ------------------------------------------------------------------ the run on screen

    @property
    def ledger(self) -> Ledger | None:
        """The run decided now: while a Task sub-agent runs the screen shows it (its steps are the
        ones to decide)."""
        return self.source.ledger if self.source is not None else None

    @property
    def view(self) -> Ledger | None:
        """The followed run (not driven here), if any."""
        return self.source.top if isinstance(self.source, FollowedRun) else None

    @property
    def runner(self) -> Runner | None:
        """The Runner this screen drives, if any."""
        return self.source.runner if isinstance(self.source, DrivenRun) else None

    @property
    def driving(self) -> bool:
        """A run is active and someone drives it: this app, or (watching) another process."""
        return self.source is not None and self.source.driven

    # ------------------------------------------------------------------ a run followed

    def _open_latest(self) -> None:
        run_id = self.ws.latest_run_id()
        if run_id is None:
            if self.settings.watch:
                self.header_note(f"watching {self.ws.root}: no run yet — one appears here when it starts")
                self._start_following()
            else:
                self.action_new_goal()
            return
        self.header_note(f"opening run {run_id}…")
        self._read_run(run_id)

    @work(thread=True, group="open-run", exclusive=True, exit_on_error=False)
    def _read_run(self, run_id: str, previous: str | None = None) -> None:
        """Fold a (possibly huge) journal off the event loop, so the first frame does not wait.
        `previous`: the run shown before, when watching moves on to a newer one by itself."""
        try:
            source = FollowedRun.open(self.ws, run_id)
        except LlmosError as exc:
            self.post_message(RunUnreadable(str(exc)))
            return
        self.post_message(RunOpened(source, previous))

    @on(RunOpened)
    def _show_run(self, message: RunOpened) -> None:
        if self.source is not None and self.source.here:
            return  # a run started here meanwhile
        self.action_live()
        self.source = source = message.source
        source.add_listener(self._record_written)
        self.note_fork(source.top, message.previous, switched=True)
        self._load_views()
        self.read_state_file()
        gc.freeze()  # the folded run is long-lived: keep it out of every later full collection
        self.header_note(source.describe_driver())
        self._start_following()
        if self.settings.playback and source.top.status in RUN_TERMINAL:
            self.post_message(RunEnded(source.top.status))  # a short recording may be over before it is read

    @on(RunUnreadable)
    def _on_unreadable(self, message: RunUnreadable) -> None:
        self.notify(message.reason, severity="error", timeout=10)

    def open_run(self, run_id: str) -> None:
        """Show another run of the workspace (from the run list); watching stays on it."""
        if self.source is not None and self.source.here:
            if self.driving:
                self.notify("This app drives an active run; finish or pause-and-quit it first.")
                return
            self.source = None
        self._pinned = run_id != self.ws.latest_run_id()
        self._read_run(run_id)

    def _start_following(self) -> None:
        if not self._following:  # a run on screen that this app does not drive is followed live
            self._following = True
            self._follow()

    @work(group="follow", exclusive=True, exit_on_error=False)
    async def _follow(self) -> None:
        """Follow the workspace's runs as other processes write them: new journal lines within a
        frame, and twice a second whether the driver is still there and whether a newer run began."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._watch_journals())
            tasks.create_task(self._look_twice_a_second())

    async def _watch_journals(self) -> None:
        """Watch the runs folder, not the file (a new run's journal is a new file)."""
        from watchfiles import Change, awatch

        runs = self.ws.runs_dir
        if not runs.is_dir():  # a watcher writes nothing: wait for the driver to create runs/
            async for _ in awatch(
                self.ws.root, step=50, recursive=False, watch_filter=lambda change, path: path == str(runs)
            ):
                if runs.is_dir():
                    break

        def journal_only(change: Change, path: str) -> bool:
            return path.endswith(JOURNAL_NAME)

        async for _ in awatch(runs, watch_filter=journal_only, step=10, debounce=50):
            self._take_new_records()

    async def _look_twice_a_second(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            source = self.source
            if source is not None and source.here:
                continue
            if source is not None and source.check_driver():
                self.post_message(DriverChanged())
            latest = self.ws.latest_run_id()
            if latest is not None and not self._pinned and (source is None or latest != source.run_id):
                self._read_run(latest, source.run_id if source is not None else None)
            else:
                self._take_new_records()
                if self._pinned and source is not None and latest not in (None, source.run_id, self._latest_seen):
                    self._latest_seen = latest  # a newer run while one chosen from the list is shown: a fork of it?
                    await self._look_for_fork(latest, source.run_id)

    async def _look_for_fork(self, run_id: str, shown: str) -> None:
        from llmos_tui.core.session import read_ledger

        try:
            led = await asyncio.to_thread(read_ledger, self.ws, run_id)
        except (LlmosError, OSError):  # (a run still being made, or gone): nothing to say about it
            return
        self.note_fork(led, shown, switched=False)

    def _take_new_records(self) -> None:
        """Poll the followed run; its listener posts each new record as a RunRecord."""
        source = self.source
        if source is None or source.here:
            return
        deciding = source.ledger
        try:
            records = source.poll()
        except LlmosError as exc:
            self.post_message(RunUnreadable(str(exc)))  # it polls nothing more
            return
        for rec, led in records:
            to = rec.get("to")
            if led is source.top and rec["kind"] == "run_status" and to in RUN_TERMINAL:
                self.post_message(RunEnded(str(to)))
        if source.ledger is not deciding:
            self.post_message(ActiveRunChanged())

    @on(ActiveRunChanged)
    def _on_active_run_changed(self) -> None:
        self._load_views()

    @on(DriverChanged)
    def _on_driver_changed(self) -> None:
        if self.source is not None and not self.source.here:
            self.header_note(self.source.describe_driver())
            self._views_dirty = True

    # ------------------------------------------------------------------ a run driven here

    def start_run(self, req: RunRequest) -> None:
        from llmos_tui.core.runner import RunOptions
        from llmos_tui.core.session import start_run

        try:
            runner = start_run(self.ws, req, RunOptions())
        except LlmosError as exc:
            self.notify(str(exc), title="Could not start the run", severity="error", timeout=12)
            return
        self._drive_here(runner)

    def resume_run(self, run_id: str) -> None:
        from llmos_tui.core.runner import RunOptions
        from llmos_tui.core.session import resume_run

        try:
            runner = resume_run(self.ws, run_id, options=RunOptions())
        except LlmosError as exc:
            self.notify(str(exc), title="Could not resume the run", severity="error", timeout=12)
            return
        self._drive_here(runner)

    def _drive_here(self, runner: Runner) -> None:
        gc.freeze()  # the script, config and folded history live as long as the run: keep them
        # out of full collections, which otherwise scan them all (100+ ms pauses while streaming)
        self.action_live()
        self.source = source = DrivenRun(runner)
        source.add_listener(self._record_written)
        self._streamed = ""
        source.add_text_listener(self._text_streamed)
        self._load_views()
        self.header_note(source.describe_driver())
        self._runner_worker = self.run_worker(
            self._drive(source), name="runner", group="runner", exclusive=True, exit_on_error=False
        )

    async def _drive(self, source: DrivenRun) -> None:
        result = await source.drive()
        self.post_message(RunEnded(result))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "runner" and event.state == WorkerState.ERROR:
            self.notify(
                f"The runner stopped: {event.worker.error}. The run stays resumable.", severity="error", timeout=15
            )
            self.refresh_bindings()

    # ------------------------------------------------------------------ what the run says

    def _record_written(self, rec: JournalRecord, led: Ledger) -> None:
        self.post_message(RunRecord(rec, led))

    def _text_streamed(self, text: str) -> None:
        self.post_message(TextStreamed(text))

    @on(TextStreamed)
    def _on_text_streamed(self, message: TextStreamed) -> None:
        self._streamed = (self._streamed + message.text)[-2000:]
        self._show_said(self._streamed)

    def _show_said(self, text: str | None) -> None:
        """The model's latest words, its last three lines, under the tool log."""
        said = self.query_one("#said", Static)
        lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
        said.display = bool(lines) and self.at_step is None  # a past step shown: its changes take the room
        led = self.ledger
        said.update(f"{speaker(led) if led else 'Model'}: " + "\n".join(lines[-3:]) if lines else "")

    @on(RunRecord)
    def _on_record(self, message: RunRecord) -> None:
        rec = message.rec
        led = self.ledger
        if led is None:
            return
        if rec["kind"] == "task":  # a sub-agent started or ended: show the run now active
            self._streamed = ""
            self._load_views()
            return
        if rec["kind"] == "rewound" and (message.ledger is None or message.ledger is led):
            self.on_rewound(rec)  # steps taken out of the history: the list is drawn anew
            return
        if message.ledger is not None and message.ledger is not led:
            self._views_dirty = True  # from a run no longer (or not yet) on screen
            return
        if rec["kind"] == "model_turn":
            self._streamed = ""
            self._show_said(led.last_text)
        if rec["kind"] == "command" and rec["data"].get("applied") is False and rec["data"].get("reason"):
            self.notify(
                f"{rec['data'].get('action', 'command')} refused: {rec['data']['reason']}",
                severity="warning",
                timeout=10,
            )
        if rec["kind"] in ("step_status", "step_edited"):
            step = led.steps[rec["step"] - 1]
            self.query_one(ToolCallLog).put(row_of(step, led))
        elif rec["kind"] == "run_status" and led.current_step is not None:
            self.query_one(ToolCallLog).put(row_of(led.current_step, led))  # approved ↔ running
        if rec["kind"] in ("step_status", "run_status"):
            self._sync_busy(led)
        self._views_dirty = True

    def _sync_busy(self, led: Ledger) -> None:
        """The header's spinner and timer: while a step runs — not while an approved step waits
        for the paused run to resume."""
        cur = led.current_step
        busy = cur.n if cur is not None and cur.status == "running" and led.status != "paused" else None
        if busy != self.busy_step:
            self.busy_step = busy
            self.query_one(RunHeader).busy_since = time.monotonic() if busy is not None else None

    @on(RunEnded)
    def _on_run_ended(self, message: RunEnded) -> None:
        self._views_dirty = True
        self.busy_step = None
        self.query_one(RunHeader).busy_since = None
        led = self.ledger
        if led is None:
            return
        if self.settings.playback:  # the recording's end: nothing to start or decide here
            self.notify(
                f"Playback finished: the run {led.status} after {plural(len(led.steps), 'call')}, "
                f"{cost_text(led.usage)}. [ and ] go through its steps; q quits.",
                timeout=30,
            )
        elif message.result == "completed":
            self.notify(
                f"Run completed: {plural(len(led.steps), 'call')}, {cost_text(led.usage)}. n starts a new goal."
            )
        elif message.result == "paused" and (refusal := self._refusal()) is not None:
            self._on_refused(led.run_id, refusal)
        elif message.result in ("failed", "cancelled") and led.error:  # the card says why, and stays
            self.notify(f"Run {message.result}: the reason is below the call list.", severity="error", timeout=6)
        elif message.result in ("failed", "cancelled"):
            self.notify(f"Run {message.result}.", severity="error", timeout=12)
        self._show_memory()

    def _refusal(self) -> str | None:
        """Why the model server refused this run's request for good (in the run or the sub-agent
        it stopped in), or None."""
        runner = self.runner
        while runner is not None:
            if runner.ledger.refusal is not None:
                return runner.ledger.refusal
            runner = runner.stopped_in
        return None

    def _on_refused(self, run_id: str, refusal: str) -> None:
        """The model server refused the request for good: its driver has stopped (waiting could
        never help). Say what to change, and follow the run, so that p takes it over again once
        the change is made (SystemAgent.md is read anew)."""
        self.notify(
            f"{refusal}. The run is paused: make that change, then p resumes it.",
            title="The model server refused the request",
            severity="error",
            timeout=60,
        )
        self.source = None
        self._read_run(run_id)

    # ------------------------------------------------------------------ panes

    def _load_views(self) -> None:
        led = self.ledger
        if led is None:
            return
        self.query_one(ToolCallLog).load([row_of(s, led) for s in led.steps])
        self._show_said(led.last_text)
        self._show_memory()  # which experiences this run's prompt carries
        header = self.query_one(RunHeader)
        header.sub_of = led.parent
        self._sync_busy(led)  # the spinner belongs to the run on screen
        self.keep_travelling()  # a past step shown stays shown (the same run), or the view goes live
        self._views_dirty = True
        self._refresh_views()

    def on_screen_resume(self) -> None:
        """Back from a dialog: Textual has just redrawn the footer for the run as it was then,
        which a decision made in the dialog may already have changed; take no key set as shown."""
        self._keys_shown = ()
        self._views_dirty = True

    def _refresh_views(self) -> None:
        if not self._views_dirty:
            return
        self._views_dirty = False
        led = self.ledger
        if led is None:
            return
        snap = led.snapshot(20)
        header = self.query_one(RunHeader)
        queued = queued_step(led)
        header.queued = queued.n if queued is not None else None
        header.show(snap, header.note)
        if self.at_step is None:  # (a past step shown: the plan as it was then)
            self.query_one(PlanPane).show(snap.plan)
        else:
            self._mark_travel()  # N in "step n/N" grows as the run goes on
        log = self.query_one(ToolCallLog)
        marks = "breakpoints: " + " · ".join(escape_markup(b) for b in led.breakpoints) if led.breakpoints else ""
        if log.border_subtitle != marks:
            log.border_subtitle = marks
        self._show_pending(led)
        keys = tuple(bool(self.check_action(a, ())) for a in sorted(RUN_ACTIONS))
        if keys != self._keys_shown:  # rebuilding the footer costs a layout: only on change
            self._keys_shown = keys
            self.refresh_bindings()

    def _show_pending(self, led: Ledger) -> None:
        """The approval card: the step waiting for a person, its inputs and the keys that work now.
        While a step waits it is always shown (paused or not); a paused run without one gets a
        short card saying what p will do."""
        from llmos_tui.core.frontmatter import dump_yaml

        card = self.query_one("#pending")
        cur = led.decision_step
        paused = led.status == "paused"
        driven = self.driving
        ended = led.error if led.status in ("failed", "cancelled") else None
        card.set_class(bool(ended), "-ended")
        if ended:  # why it ended stays on screen after the toast has gone
            why = escape_markup(str(ended.get("message")))
            after = "q quits" if self.settings.playback else "n starts a new goal · ctrl+p lists the runs"
            self._fill_card(f"[b $error]Run {led.status}[/] — {why}", "", after)
            return
        if cur is None and not paused:
            card.display = False
            return
        head: list[str] = []
        if paused:
            why = f" — {escape_markup(str(led.error.get('message')))}" if led.error else ""
            head.append(f"[b $warning]Paused[/]{why}")
        inputs = ""
        if cur is None:
            queued = queued_step(led)
            if queued is not None:
                head.append(f"Step {queued.n} · {queued.tool} approved — it runs when you resume (p)")
            keys = "p resumes" if driven else "p resumes it here (takes the run over)"
        else:
            lines = dump_yaml(cur.inputs).rstrip().splitlines()
            inputs = "\n".join(line[:200] for line in lines[:12])
            if len(lines) > 12:
                inputs += f"\n… {len(lines) - 12} more lines (e shows all)"
            if cur.status == "uncertain":
                head.append(
                    f"[b $warning]Step {cur.n} · {cur.tool} · uncertain[/] — the driver stopped while it "
                    f"ran; its effect may or may not have happened"
                )
                keys = "r run it again · s skip it (it happened) · e edit"
            else:
                stopped = f" · [b]breakpoint {escape_markup(cur.breakpoint)}[/b]" if cur.breakpoint else ""
                head.append(
                    f"[b $warning]Step {cur.n} · {cur.tool} · awaiting approval[/]{stopped}"
                    f" · side effects: {cur.side_effects}"
                )
                keys = "a approve · d deny · e edit · s skip · A approve the rest"
            if not driven:  # nobody would apply a decision: offer only the key that works
                keys = "No process drives this run: p takes it over here, then decide"
            elif paused:
                keys += " · p resume"
                head[0] += " — decide now; the run goes on when you resume (p)"
        if self.settings.playback:  # what the recording shows is history: nothing is decided here
            keys = "A recording played back: nothing is decided or run here · [ ] go through its steps · q quits"
        self._fill_card("\n".join(head), inputs, keys)

    def _fill_card(self, head: str, inputs: str, keys: str) -> None:
        """Show the card; its parts are updated only when they changed (an update costs a layout,
        and the views refresh every 50 ms while records stream in)."""
        shown = (head, inputs, keys)
        if shown != self._card_shown:
            self._card_shown = shown
            self.query_one("#pending-head", Static).update(head)
            self.query_one("#pending-inputs", Static).update(inputs)
            self.query_one("#pending-body").display = bool(inputs)
            self.query_one("#pending-keys", Static).update(f"[b]{keys}[/b]")
        self.query_one("#pending").display = True

    def header_note(self, note: str) -> None:
        header = self.query_one(RunHeader)
        header.note = note or self.settings.note
        led = self.ledger
        header.show(led.snapshot(20) if led else None, header.note)

    def _show_memory(self) -> None:
        from llmos_tui.core.memory import read_memory

        try:
            entries = read_memory(self.ws.system / "memory_log.md")
        except LlmosError as exc:
            self.query_one(MemoryPane).update(str(exc))
            return
        used = set(self.ledger.config.get("memory_used", [])) if self.ledger else set()
        self.query_one(MemoryPane).show(entries, used)
        self._title_panes()  # the count of experiences

    # ------------------------------------------------------------------ the state file pane

    @work(group="state-file", exclusive=True, exit_on_error=False)
    async def _watch_state_file(self) -> None:
        from watchfiles import Change, awatch

        self.read_state_file()
        target = str(self.ws.state_path)

        def only_state(change: Change, path: str) -> bool:
            return path == target

        gc.freeze()  # the app's widgets live as long as it does: keep them out of full collections
        # step=5: a change reaches the screen within a frame (benchmarks/watch.py: p50 ≈ 17 ms vs
        # ≈ 40 ms at step=15 and ≈ 90 ms at watchfiles' defaults), for ≈ 1.5 % of a CPU when idle.
        # debounce=200 coalesces a burst of replaces while still showing the last one.
        async for _ in awatch(self.ws.root, watch_filter=only_state, step=5, debounce=200, recursive=False):
            self.read_state_file()

    def read_state_file(self) -> None:
        """Read execution_state.md (an older run shown: its own final copy) and post it."""
        path = self.ws.state_path
        if self._pinned and self.view is not None:
            final = self.ws.run_dir(self.view.run_id) / STATE_NAME
            path = final if final.exists() else path
        self.post_message(StateFileChanged(text_to_show(path)))  # bounded: never a fifo, a /dev/zero

    @on(StateFileChanged)
    def _on_state_file(self, message: StateFileChanged) -> None:
        self._state_text = message.text
        if self.at_step is None:  # (a past step shown: the state as it was then, until Esc)
            self.query_one(StatePane).show_text(message.text)
        if self.ledger is None:
            self._show_legacy(message.text)

    def _show_legacy(self, text: str) -> None:
        """A state file in the older LLMunix markdown layout: goal and plan, read-only."""
        from llmos_tui.core.legacy_state import is_legacy, parse_legacy, to_run_state

        if not is_legacy(text):
            return
        try:
            state = to_run_state(parse_legacy(text))
        except LlmosError:
            return
        self.query_one(RunHeader).show(state, "LLMunix layout — shown read-only")
        self.query_one(PlanPane).show(state.plan)
