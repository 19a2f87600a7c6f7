"""Time travel on the run screen: the run as it was at a past step, and the keys that act on one.

`[` and `]` (or a click in the call list) select a step: the plan and state panes show the run as
it was once that step had settled (`timetravel.ledger_at`), and a pane shows the files it changed
(`timetravel.step_changes`). The live run goes on underneath; nothing on screen jumps while a
past step is shown, and Esc goes back to it. From a selected step, `R` rewinds the run to before
it and `f` forks a new run there (both need the workspace's lock: a run driven here is paused and
let go first, a run another process drives is refused). `b` toggles a breakpoint on the selected
call's tool, and `n` on a waiting step approves it and stops before the next one.

Reading a step runs git (the checkpoint store), so it happens in a thread that posts `StepRead`;
rewinds and forks run in a worker that posts `MovedInTime`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.worker import Worker

from llmos_tui.core.errors import LlmosError
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.source import DrivenRun, FollowedRun
from llmos_tui.core.statuses import NOT_REWINDABLE, RUN_TERMINAL
from llmos_tui.core.text import short_inputs
from llmos_tui.tui.messages import MovedInTime, StepRead
from llmos_tui.tui.screens.modals import Confirm, Dialog, ForkDialog
from llmos_tui.tui.screens.run_keys import PLAYBACK_OFF, RunKeys
from llmos_tui.tui.widgets.changes import ChangesPane
from llmos_tui.tui.widgets.panes import PlanPane, RunHeader, StatePane
from llmos_tui.tui.widgets.tool_log import ToolCallLog

if TYPE_CHECKING:
    from llmos_tui.core.checkpoints import FileChange
    from llmos_tui.core.config import AgentConfig
    from llmos_tui.core.records import JournalRecord
    from llmos_tui.core.workspace import Workspace
    from llmos_tui.tui.widgets.changes import Shown

# core.timetravel is imported where it is used: it brings the checkpoint store, ~30 ms of the first
# frame otherwise

NOW_NOTE = "against the files now: nothing with side effects has run since this step"
TIMELINE_ACTIONS = frozenset({"step_back", "step_forward", "live", "rewind", "fork", "toggle_breakpoint", "step_over"})
PAUSE_WAIT_S = 10.0  # how long R or f waits for the run driven here to pause (a step may be running)


@dataclass(frozen=True)
class History:
    """A run's effective journal records, read once per entry into the view (again when the run
    has moved on), and the run folded from them."""

    run_id: str
    seq: int
    records: list[JournalRecord]
    full: Ledger


def state_then(at: Ledger) -> str:
    """The state file's front matter as it was at a step."""
    from llmos_tui.core.frontmatter import dump_yaml
    from llmos_tui.core.state import to_front_matter

    return "---\n" + dump_yaml(to_front_matter(at.snapshot())) + "---\n"


def past_step_breakpoint(spec: str, n: int) -> bool:
    """A `step:N` breakpoint for a step already reached (n or before): it cannot stop the run again."""
    kind, _, value = spec.partition(":")
    return kind.strip() == "step" and value.strip().isdigit() and int(value) <= n


class Timeline(RunKeys):
    if TYPE_CHECKING:  # the run screen's, used here
        ws: Workspace
        _views_dirty: bool

        def _load_views(self) -> None: ...

        def _show_said(self, text: str | None) -> None: ...

        def _title_panes(self) -> None: ...

        def read_state_file(self) -> None: ...

        def header_note(self, note: str) -> None: ...

        def _read_run(self, run_id: str, previous: str | None = None) -> Worker[None]: ...

        def _start_following(self) -> None: ...

    at_step: int | None = None  # the step the time-travel view shows (None: the live run)
    _travel_run = ""
    _marked: tuple[int, int] = (0, 0)  # the step and step count the marker shows
    _history: History | None = None
    _config: AgentConfig | None = None
    _changes_cache: dict[tuple[str, str], list[FileChange]] | None = None
    _moving = False  # a rewind or fork made here is under way (its records are not "from another process")
    _runner_worker: Worker[None] | None = None

    # ------------------------------------------------------------------ which keys apply

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in TIMELINE_ACTIONS:
            return super().check_action(action, parameters)
        if isinstance(self.app.screen, Dialog) or (self.settings.playback and action in PLAYBACK_OFF):
            return False
        led = self.ledger
        if led is None or not led.steps:
            return False
        travelling = self.at_step is not None
        if action == "step_back":
            return True
        if action in ("step_forward", "live"):
            return travelling
        if action in ("rewind", "fork"):  # a top run whose history lives in its journal
            return travelling and led.parent is None and led.runtime not in NOT_REWINDABLE
        if action == "toggle_breakpoint":
            return self.driving and self.selected_step() is not None
        if action == "step_over":
            cur = led.decision_step
            return self.driving and cur is not None and cur.status == "awaiting_approval"
        return True

    def selected_step(self) -> int | None:
        """The step a key acts on: the one the time-travel view shows, else the call list's cursor."""
        if self.at_step is not None:
            return self.at_step
        led = self.ledger
        return self.query_one(ToolCallLog).selected or (len(led.steps) if led is not None and led.steps else None)

    # ------------------------------------------------------------------ moving through the steps

    def action_step_back(self) -> None:
        """[: into the time-travel view at the selected call, or one step further back."""
        led = self.ledger
        if led is None or not led.steps:
            return
        if self.at_step is None:
            self.travel_to(self.query_one(ToolCallLog).selected or len(led.steps))
        else:
            self.travel_to(max(1, self.at_step - 1))

    def action_step_forward(self) -> None:
        """]: one step on; past the last step, back to the live run."""
        led = self.ledger
        if self.at_step is None or led is None:
            return
        if self.at_step >= len(led.steps):
            self.action_live()
        else:
            self.travel_to(self.at_step + 1)

    def action_live(self) -> None:
        """Esc: back to the run as it is now."""
        if self.at_step is None:
            return
        self.at_step = None
        self._marked = (0, 0)
        self.remove_class("-travel")
        self.query_one(ToolCallLog).follow_end()
        self.query_one(RunHeader).travel = ""
        self.query_one(RunHeader).refresh_text()
        self.query_one("#log").border_title = "Tool calls"
        led = self.ledger
        self._show_said(led.last_text if led else None)
        self._title_panes()
        self.read_state_file()  # the state pane shows the file on disk again
        self.query_one(PlanPane).show(led.plan if led else ())
        self._views_dirty = True
        self.refresh_bindings()

    @on(ToolCallLog.Selected)
    def _on_call_selected(self, message: ToolCallLog.Selected) -> None:
        """A click selects a call (into the time-travel view); keys move it once there."""
        if (message.click or self.at_step is not None) and message.n != self.at_step:
            self.travel_to(message.n)

    def travel_to(self, n: int) -> None:
        led = self.ledger
        if led is None or not 0 < n <= len(led.steps):
            return
        entering = self.at_step is None
        if entering or self._travel_run != led.run_id:
            self._history = None  # read the journal anew on each entry into the view
        self.at_step, self._travel_run = n, led.run_id
        self.add_class("-travel")
        self.query_one(ToolCallLog).select(n)
        self._mark_travel()
        if entering:
            self._show_said(None)
            self.query_one(ChangesPane).show(f"Reading step {n}…")
            self.refresh_bindings()
        self._read_step(led.run_id, n, led.seq)

    def _mark_travel(self) -> None:
        """The marker: in the header, the call list's title and the changes pane's."""
        led = self.ledger
        n = self.at_step
        if led is None or n is None:
            return
        total = len(led.steps)
        if (n, total) == self._marked:
            return
        self._marked = (n, total)
        header = self.query_one(RunHeader)
        header.travel = f"as at step {n}/{total}"
        header.refresh_text()
        self.query_one("#log").border_title = f"Tool calls — [reverse] as at step {n}/{total} [/]"
        step = led.steps[n - 1]
        changes = self.query_one(ChangesPane)
        changes.border_title = f"Step {n} · {step.tool} — what it changed"
        changes.border_subtitle = "\\[ ] step · R rewind · f fork · b break · esc live"
        self._title_panes()

    def travel_titles(self) -> tuple[str, str]:
        """The plan and state panes' names while a past step is shown ("" when live)."""
        if self.at_step is None:
            return "", ""
        return f"at step {self.at_step}", f"front matter at step {self.at_step}"

    @work(thread=True, group="timeline", exclusive=True, exit_on_error=False)
    def _read_step(self, run_id: str, n: int, seq: int) -> None:
        """The run at step n, and the files step n changed (git), off the event loop."""
        from llmos_tui.core import timetravel

        try:
            history = self._history
            if history is None or history.run_id != run_id or history.seq < seq:
                records = timetravel.effective_records(self.ws, run_id)
                full = Ledger.from_records(records, keep_messages=False)
                history = History(run_id, records[-1]["seq"] if records else 0, records, full)
                self._history = history
            if not 0 < n <= len(history.full.steps):
                self.post_message(StepRead(run_id, n, None, f"Step {n} is not in the run's history now."))
                return
            at = timetravel.ledger_at(history.records, n)
            changes = self._step_changes(history.full, n)
        except LlmosError as exc:
            self.post_message(StepRead(run_id, n, None, f"Step {n} could not be read: {exc}"))
            return
        self.post_message(StepRead(run_id, n, at, changes))

    def _step_changes(self, full: Ledger, n: int) -> Shown:
        from llmos_tui.core import timetravel

        step = full.steps[n - 1]
        if step.status in ("proposed", "awaiting_approval"):
            return f"Step {n} has not run yet: no file changes."
        if step.status in ("denied", "skipped"):
            return f"Step {n} was {step.status}: it did not run, so it changed no files."
        if step.simulated:
            return f"Step {n} was simulated: it changed no files."
        if step.side_effects == "none":
            return f"No file changes: {step.tool} is read-only."
        if step.status == "running":
            return f"Step {n} is running: its changes show once the files after it are checkpointed."
        after = timetravel.files_after(full, n)
        key = (step.checkpoint or "", after or "")
        cache = self._changes_cache if self._changes_cache is not None else {}
        self._changes_cache = cache
        if key not in cache:
            if self._config is None:
                from llmos_tui.core.session import load_parts

                self._config = load_parts(self.ws)[0]
            found = timetravel.step_changes(self.ws, full, n, self._config)
            if found is None and step.checkpoint and full.status not in RUN_TERMINAL:
                # nothing with side effects has run since step n (it would have been checkpointed
                # first): the files after it are the files now — never cached, they may change
                now = self._changes_since(full, n, self._config)
                if not now:
                    return f"No file changes: step {n} ran and left every file as it was (the files now)."
                return NOW_NOTE, now
            if found is None:
                return f"Not recorded: no checkpoint was taken before step {n} (checkpoints were off)."
            cache[key] = found
        return cache[key] or f"No file changes: step {n} ran and left every file as it was."

    def _changes_since(self, full: Ledger, n: int, config: AgentConfig) -> list[FileChange]:
        """From step n's checkpoint to the files as they are now."""
        from llmos_tui.core import timetravel

        return timetravel.step_changes(self.ws, full, n, config, against_now=True) or []

    @on(StepRead)
    def _on_step_read(self, message: StepRead) -> None:
        if message.n != self.at_step or message.run_id != self._travel_run:
            return  # the view has moved on since
        if message.at is not None:
            self.query_one(PlanPane).show(message.at.plan)
            self.query_one(StatePane).show_text(state_then(message.at))
        self.query_one(ChangesPane).show(message.changes)

    def keep_travelling(self) -> None:
        """After the call list was reloaded: the time-travel view stays on its step, or (another
        run on screen, the step gone in a rewind) goes back to live."""
        led = self.ledger
        if self.at_step is None:
            return
        if led is None or led.run_id != self._travel_run or self.at_step > len(led.steps):
            self.action_live()
            return
        self.query_one(ToolCallLog).select(self.at_step)
        self._mark_travel()
        self._read_step(led.run_id, self.at_step, led.seq)

    # ------------------------------------------------------------------ breakpoints

    def action_toggle_breakpoint(self) -> None:
        """b: a breakpoint on the selected call's tool, set or removed (the run's whole list)."""
        led = self.ledger
        n = self.selected_step()
        if led is None or n is None or not 0 < n <= len(led.steps) or self.source is None:
            return
        tool = led.steps[n - 1].tool
        specs = list(led.breakpoints)
        if tool in specs:
            specs.remove(tool)
            done = "removed"
        else:
            specs.append(tool)
            done = "set"
        if self.source.send("breakpoints", breakpoints=specs) is None:
            self.notify("No process drives this run: press p to take it over, then set breakpoints.")
            return
        self.notify(f"Breakpoint on {tool} {done}.")

    def action_step_over(self) -> None:
        """n on a waiting step: approve it and stop before the next one (breakpoint step:N+1)."""
        led = self.ledger
        cur = led.decision_step if led else None
        if led is None or cur is None or cur.status != "awaiting_approval" or self.source is None:
            return
        n = cur.n
        specs = [b for b in led.breakpoints if not past_step_breakpoint(b, n)]
        if f"step:{n + 1}" not in specs:
            specs.append(f"step:{n + 1}")
        self.send("breakpoints", breakpoints=specs)
        self.send("approve", step=n)
        self.notify(f"Step {n} approved; the run stops before step {n + 1} (breakpoint step:{n + 1}).")

    # ------------------------------------------------------------------ rewind and fork

    def _lock_problem(self) -> str | None:
        """Why this app cannot take the workspace's lock for a rewind or fork now, if it cannot."""
        source = self.source
        led = self.ledger
        if source is None or led is None:
            return "No run is on screen."
        if led.parent is not None:
            return f"This is a sub-agent's run: rewind or fork its top run ({led.parent.get('run_id')})."
        if isinstance(source, FollowedRun):
            source.check_driver()  # as it is now, not as last seen
            if source.has_driver:
                who = source.describe_driver().removeprefix(f"watching run {led.run_id}, ")
                return f"Run {led.run_id} is {who or 'driven by another process'}: pause and stop that driver first."
        return None

    def _step_words(self, n: int) -> str:
        led = self.ledger
        if led is None:
            return ""
        step = led.steps[n - 1]
        gist = short_inputs(step.tool, step.inputs)
        return f"{step.tool} {gist[:24] + '…' if len(gist) > 24 else gist}".strip()  # the title is one line

    def action_rewind(self) -> None:
        led, n = self.ledger, self.at_step
        if led is None or n is None:
            return
        problem = self._lock_problem()
        if problem:
            self.notify(problem, title="Cannot rewind", severity="warning", timeout=10)
            return
        run_id = led.run_id
        detail = (
            "Files are put back as they were; the files now are checkpointed first and "
            f"`llmos-tui rewind {run_id} --undo` takes it back. Step {n} then waits for your decision."
        )
        if self._drives_active_run():
            detail += " This app pauses the run first."

        def answered(yes: bool | None) -> None:
            if yes:
                self._move_in_time("rewind", run_id, n)

        self.app.push_screen(
            Confirm(
                f"Rewind run {run_id} to before step {n} ({self._step_words(n)})?", detail, yes="Rewind", no="Cancel"
            ),
            answered,
        )

    def action_fork(self) -> None:
        led, n = self.ledger, self.at_step
        if led is None or n is None:
            return
        problem = self._lock_problem()
        if problem:
            self.notify(problem, title="Cannot fork", severity="warning", timeout=10)
            return
        run_id = led.run_id
        detail = (
            f"A new run with this run's history up to step {n} (no model call for it) and the files as they "
            "were before it (the files now are checkpointed first); it opens here. Feedback denies the step "
            "with that reason, for the model to go another way; empty, the step waits for your decision."
        )
        if self._drives_active_run():
            detail += f" This app pauses run {run_id} first; it stays paused."

        def answered(feedback: str | None) -> None:
            if feedback is not None:
                self._move_in_time("fork", run_id, n, feedback or None)

        self.app.push_screen(ForkDialog(f"Fork run {run_id} at step {n} ({self._step_words(n)})?", detail), answered)

    def _drives_active_run(self) -> bool:
        worker = self._runner_worker
        return isinstance(self.source, DrivenRun) and worker is not None and worker.is_running

    @work(group="timetravel", exclusive=True, exit_on_error=False)
    async def _move_in_time(self, what: str, run_id: str, n: int, feedback: str | None = None) -> None:
        """Let go of the run if this app drives it, then rewind or fork it (git: in a thread)."""
        from llmos_tui.core import timetravel

        self._moving = True
        problem = await self._let_go()
        if problem:
            self.post_message(MovedInTime(what, run_id, None, problem))
            return
        try:
            if what == "rewind":
                moved = await asyncio.to_thread(timetravel.rewind, self.ws, run_id, to_step=n)
            else:
                moved = await asyncio.to_thread(timetravel.fork, self.ws, run_id, at_step=n, feedback=feedback)
        except LlmosError as exc:
            self.post_message(MovedInTime(what, run_id, None, str(exc)))
            return
        self.post_message(MovedInTime(what, run_id, moved))

    async def _let_go(self) -> str | None:
        """A run driven here: paused (after the step running, if one is), then its runner closed,
        which lets go of the workspace's lock. Why not, if it could not be."""
        worker = self._runner_worker
        source = self.source
        if not isinstance(source, DrivenRun) or worker is None or not worker.is_running:
            return None
        led = source.top
        if led.status not in ("paused", *RUN_TERMINAL):
            source.send("pause", feedback="paused to go back in time from the TUI")
            deadline = time.monotonic() + PAUSE_WAIT_S
            while led.status not in ("paused", *RUN_TERMINAL):
                if time.monotonic() > deadline:
                    return f"the run did not pause within {PAUSE_WAIT_S:.0f} s (a step still runs); try again"
                await asyncio.sleep(0.05)
        worker.cancel()  # it waits for a person or for resume: nothing is cut midway
        deadline = time.monotonic() + 5
        while worker.is_running and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return None

    @on(MovedInTime)
    def _on_moved(self, message: MovedInTime) -> None:
        self._moving = False
        verb = "rewind" if message.what == "rewind" else "fork"
        moved = message.moved
        if moved is None:
            self.notify(message.problem, title=f"Could not {verb} run {message.run_id}", severity="error", timeout=15)
            if isinstance(self.source, DrivenRun) and not self._drives_active_run():
                self._show_followed(message.run_id)  # let go of for nothing: shown as it is, p drives it again
            return
        self.action_live()
        self._history, self._changes_cache = None, None
        skipped = f" ({len(moved.skipped)} files could not be put back: see the journal)" if moved.skipped else ""
        if message.what == "rewind":
            undo = f"`llmos-tui rewind {moved.run_id} --undo` takes it back."
            files = "files put back" if moved.checkpoint else "no checkpoint: files left as they are"
            text = f"Run {moved.run_id} rewound to before step {moved.step} ({moved.tool}): {files}{skipped}. {undo}"
        else:
            text = (
                f"Run {moved.run_id} forked from {moved.parent} at step {moved.step} ({moved.tool}); "
                f"files as they were before it{skipped}. Run {moved.parent} stays as it was (ctrl+p opens it)."
            )
        self.source = None  # (a run let go of, or one followed: the run goes on here now)
        self.resume_run(moved.run_id)
        if self.source is None:  # could not be driven here (no API key…): shown as it is
            self._show_followed(moved.run_id)
        self.notify(text, timeout=12)

    def _show_followed(self, run_id: str) -> None:
        self.source = None
        self._read_run(run_id)
        self._start_following()

    def on_rewound(self, rec: JournalRecord) -> None:
        """A rewind recorded in the run on screen: its steps after the one rewound to are gone
        and that step waits again."""
        self._history, self._changes_cache = None, None
        self._load_views()
        source = self.source
        if source is None or source.here or self._moving:
            return
        step = rec.get("step")
        if step:
            self.notify(f"Run rewound to step {step} (from another process).", timeout=10)
        else:
            self.notify("A rewind of this run was undone (from another process).", timeout=10)
        self.header_note(source.describe_driver())

    def note_fork(self, led: Ledger, previous: str | None, switched: bool) -> None:
        """A run that is a fork of the one watched, made by another process."""
        forked = led.forked_from
        if not forked or previous is None or (not switched and forked.get("run") != previous):
            return
        if switched:  # watching moved on to it by itself: a fork of the run shown, or of another
            self.notify(
                f"Run {led.run_id} is a fork of run {forked.get('run')} at step {forked.get('step')} (from "
                f"another process): showing it. ctrl+p → Run {previous} goes back.",
                timeout=12,
            )
        else:
            self.notify(
                f"Run {led.run_id} was forked from this run at step {forked.get('step')} (from another "
                f"process): ctrl+p → Run {led.run_id} opens it.",
                timeout=15,
            )
