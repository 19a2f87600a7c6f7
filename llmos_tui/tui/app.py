"""The llmos-tui app: plan, live state file, tool call log and memory, steered by keypress.

The runner works in a background worker and reports through messages; every decision a person
makes here goes back through the runner's command path (the same one control.jsonl feeds).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from llmos_tui.core.errors import LlmosError
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.text import age, escape_markup, short_inputs
from llmos_tui.core.workspace import Workspace
from llmos_tui.tui.themes import DEFAULT_THEME, load_themes, remember_theme, remembered_theme
from llmos_tui.tui.widgets.panes import MemoryPane, PlanPane, RunHeader, StatePane
from llmos_tui.tui.widgets.tool_log import CallRow, ToolCallLog

if TYPE_CHECKING:
    from llmos_tui.core.session import RunRequest


@dataclass(frozen=True)
class AppSettings:
    workspace: Path
    request: Any = None                    # a core.session.RunRequest to start at once
    resume_run_id: str | None = None       # resume this run at once
    default_request: Any = None            # the RunRequest a typed goal runs with (runtime, script…)
    theme: str | None = None
    clock: bool = True                     # times and spinners (off for snapshot tests)
    watch_files: bool = True               # follow execution_state.md on disk
    note: str = ""                         # a line for the header (e.g. the demo's hint)
    watch: bool = False                    # follow runs other processes drive (llmos-tui watch)
    extra: dict[str, Any] = field(default_factory=dict)


class RunRecord(Message):
    """A journal record the runner just wrote."""

    def __init__(self, rec: dict[str, Any], ledger: Any = None) -> None:
        super().__init__()
        self.rec = rec
        self.ledger = ledger   # the run it belongs to (a Task sub-agent's records come through too)


class RunEnded(Message):
    def __init__(self, result: str) -> None:
        super().__init__()
        self.result = result


class StateFileChanged(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


RUN_ACTIONS = frozenset({"approve", "deny", "edit", "retry", "skip", "pause", "approve_rest", "new_goal"})


def row_of(step, led: Ledger) -> CallRow:
    return CallRow(n=step.n, tool=step.tool, short=short_inputs(step.tool, step.inputs),
                   status=step.status, duration_s=step.duration_s, cost_usd=led.step_cost(step),
                   simulated=step.simulated)


class LlmosApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "llmos-tui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("a", "approve", "Approve", id="approve"),
        Binding("d", "deny", "Deny", id="deny"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("r", "retry", "Retry", id="retry"),
        Binding("s", "skip", "Skip", id="skip"),
        Binding("p", "pause", "Pause/Resume", id="pause"),
        Binding("A", "approve_rest", "Approve rest", id="approve_rest"),
        Binding("n", "new_goal", "New goal", id="new_goal"),
        Binding("q", "quit_app", "Quit", id="quit"),
    ]

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.settings = settings
        self.ws = Workspace.locate(settings.workspace)
        self.runner = None                 # the Runner this app drives, if any
        self.view: Ledger | None = None    # the run shown when not driven here
        self.busy_step: int | None = None
        self._views_dirty = False
        self._theme_names: list[str] = []
        self._keys_shown: tuple[bool, ...] = ()
        self._theme_problem = self._choose_theme()
        self.follower = None               # reads the viewed run's journal as it grows
        self.sub_followers: list = []      # the running Task sub-agents of the viewed run, outermost first
        self.remote_driver = False         # another process drives the viewed run
        self._driver_checked = False
        self._following = False
        self._pinned = False               # a run chosen from the list: do not jump to newer ones

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header", clock=self.settings.clock)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield PlanPane(id="plan")
                yield MemoryPane(id="memory")
            with Vertical(id="center"):
                yield ToolCallLog(id="log")
                yield Static("", id="said", markup=False)
                yield Static("", id="pending")
            yield StatePane(id="state")
        yield Footer()

    def _choose_theme(self) -> str | None:
        """Register themes/*.yaml and pick the theme before the first frame (no re-style after)."""
        for theme in load_themes():
            self.register_theme(theme)
            self._theme_names.append(theme.name)
        wanted = self.settings.theme or remembered_theme() or DEFAULT_THEME
        problem = None
        if wanted not in self.available_themes:
            problem = f"No theme {wanted!r}; using {DEFAULT_THEME}. Themes: {', '.join(self._theme_names)}"
            wanted = DEFAULT_THEME
        self.theme = wanted
        if self.settings.theme and problem is None:
            remember_theme(wanted)  # --theme is remembered too
        return problem

    def on_mount(self) -> None:
        if self._theme_problem:
            self.notify(self._theme_problem, severity="warning", timeout=8)
        self.query_one("#plan").border_title = "Plan"
        self.query_one("#memory").border_title = "Memory"
        self.query_one("#log").border_title = "Tool calls"
        self.query_one("#state").border_title = "execution_state.md"
        self.set_interval(0.05, self._refresh_views)
        self.call_after_refresh(self._after_first_frame)
        if self.settings.request is not None:
            self.start_run(self.settings.request)
        elif self.settings.resume_run_id is not None:
            self.resume_run(self.settings.resume_run_id)
        else:
            self._open_latest()
        self.query_one(ToolCallLog).focus()

    def _after_first_frame(self) -> None:
        """What the first frame need not wait for."""
        self._show_memory()
        if self.settings.watch_files:
            self._watch_state_file()
        else:
            self._read_state_file()

    # ------------------------------------------------------------------ runs

    @property
    def ledger(self) -> Ledger | None:
        # while a Task sub-agent runs, the screen shows it: its steps are the ones to decide
        if self.runner is not None:
            return self.runner.active.ledger
        return self.sub_followers[-1].ledger if self.sub_followers else self.view

    @property
    def driving(self) -> bool:
        """A run is active and someone drives it: this app, or (watching) another process."""
        if self.runner is not None:
            return self.runner.ledger.status not in RUN_TERMINAL
        return self.view is not None and self.remote_driver and self.view.status not in RUN_TERMINAL

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
    def _read_run(self, run_id: str) -> None:
        """Fold a (possibly huge) journal off the event loop, so the first frame does not wait."""
        from llmos_tui.core.follow import JournalFollower

        follower = JournalFollower(self.ws.run_dir(run_id) / "journal.jsonl")
        try:
            follower.read_new()
        except LlmosError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=10)
            return
        self.call_from_thread(self._show_run, follower)

    def _show_run(self, follower) -> None:
        import gc

        if self.runner is not None:
            return  # a run started here meanwhile
        self.follower = follower
        self.sub_followers = []
        self.view = follower.ledger
        self._load_views()
        self._read_state_file()
        gc.freeze()  # the folded run is long-lived: keep it out of every later full collection
        self._check_driver()
        self._start_following()

    def open_run(self, run_id: str) -> None:
        """Show another run of the workspace (from the run list); watching stays on it."""
        if self.runner is not None and self.driving:
            self.notify("This app drives an active run; finish or pause-and-quit it first.")
            return
        self.runner = None
        self._pinned = run_id != self.ws.latest_run_id()
        self._driver_checked = False
        self._read_run(run_id)

    def _check_driver(self) -> None:
        """Is another process driving the viewed run? Says so in the header."""
        from llmos_tui.core.lock import holder_info

        led = self.view
        if led is None or self.runner is not None:
            return
        holder = holder_info(self.ws.root)
        alive = bool(holder) and holder.get("run_id") == led.run_id
        # a run recorded from a Claude Code session's hooks: its driver is that session, which
        # holds the lock only while a hook runs; commands wait in control.jsonl for its next event
        hooked = led.runtime == "external" and led.status not in RUN_TERMINAL
        alive = alive or hooked
        if alive != self.remote_driver or not self._driver_checked:
            self._driver_checked = True
            self.remote_driver = alive
            if led.status in RUN_TERMINAL:
                note = ""
            elif hooked:
                note = f"watching run {led.run_id}, recorded from a Claude Code session through its hooks"
            elif alive:
                note = f"watching run {led.run_id}, driven by pid {holder.get('pid', '?')}"
            else:
                note = f"run {led.run_id} is {led.status} with no driver — p takes it over here"
            self.header_note(note)
            self._views_dirty = True

    def _start_following(self) -> None:
        if not self._following:  # a run on screen that this app does not drive is followed live
            self._following = True
            self.set_interval(0.5, self._watch_tick)
            self._follow_journals()

    def _watch_tick(self) -> None:
        """Twice a second: is the driver still there, has a newer run started?"""
        if self.runner is not None:
            return
        self._check_driver()
        latest = self.ws.latest_run_id()
        if latest is not None and not self._pinned and (self.view is None or latest != self.view.run_id):
            self._read_run(latest)
        else:
            self._take_new_records()

    @work(group="follow", exclusive=True, exit_on_error=False)
    async def _follow_journals(self) -> None:
        """New journal lines show within a frame: watch the runs folder, not the file."""
        from watchfiles import awatch

        runs = self.ws.runs_dir
        if not runs.is_dir():  # a watcher writes nothing: wait for the driver to create runs/
            async for _ in awatch(self.ws.root, step=50, recursive=False,
                                  watch_filter=lambda change, path: path == str(runs)):
                if runs.is_dir():
                    break

        def journal_only(change, path: str) -> bool:
            return path.endswith("journal.jsonl")

        async for _ in awatch(runs, watch_filter=journal_only, step=10, debounce=50):
            self._take_new_records()

    def _take_new_records(self) -> None:
        follower = self.follower
        if follower is None or self.runner is not None:
            return
        try:
            records = follower.read_new()
        except LlmosError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            self.follower = None
            return
        for rec in records:
            self.post_message(RunRecord(rec, follower.ledger))
            if rec["kind"] == "run_status" and rec.get("to") in RUN_TERMINAL:
                self.post_message(RunEnded(rec["to"]))
        self._follow_sub_agents()

    def _follow_sub_agents(self) -> None:
        """Follow the viewed run's running Task sub-agent (and its own), as the driver shows them."""
        from llmos_tui.core.follow import JournalFollower

        changed = False
        chain = [self.follower, *self.sub_followers]
        for i, f in enumerate(chain[1:], start=1):   # new records of the sub-agents followed
            try:
                for rec in f.read_new():
                    self.post_message(RunRecord(rec, f.ledger))
            except LlmosError:
                del self.sub_followers[i - 1:]
                changed = True
                break
        while True:
            chain = [self.follower, *self.sub_followers]
            # drop the sub-agents that ended
            alive = 0
            while alive < len(chain) - 1 and chain[alive].ledger.active_child == chain[alive + 1].ledger.run_id:
                alive += 1
            if alive < len(chain) - 1:
                del self.sub_followers[alive:]
                changed = True
                continue
            child = chain[-1].ledger.active_child
            if child is None:
                break
            f = JournalFollower(self.ws.run_dir(child) / "journal.jsonl")
            try:
                f.read_new()
            except LlmosError:
                break
            if not f.ledger.run_id:
                break  # its journal is not there yet
            self.sub_followers.append(f)
            changed = True
        if changed:
            self._load_views()

    def start_run(self, req: RunRequest) -> None:
        from llmos_tui.core.runner import RunOptions
        from llmos_tui.core.session import start_run

        try:
            runner = start_run(self.ws, req, RunOptions())
        except LlmosError as exc:
            self.notify(str(exc), title="Could not start the run", severity="error", timeout=12)
            return
        self._attach(runner)

    def resume_run(self, run_id: str) -> None:
        from llmos_tui.core.runner import RunOptions
        from llmos_tui.core.session import resume_run

        try:
            runner = resume_run(self.ws, run_id, options=RunOptions())
        except LlmosError as exc:
            self.notify(str(exc), title="Could not resume the run", severity="error", timeout=12)
            return
        self._attach(runner)

    def _attach(self, runner) -> None:
        import gc

        gc.freeze()  # the script, config and folded history live as long as the run: keep them
        # out of full collections, which otherwise scan them all (100+ ms pauses while streaming)
        self.runner = runner
        self.view = None
        runner.add_listener(lambda rec, led: self.post_message(RunRecord(rec, led)))
        self._streamed = ""
        runner.add_text_listener(self._on_text_delta)  # the model's words as they stream in
        self._load_views()
        self.header_note("")
        self.run_worker(self._drive(runner), name="runner", group="runner", exclusive=True,
                        exit_on_error=False)

    async def _drive(self, runner) -> None:
        result = await runner.drive()
        self.post_message(RunEnded(result))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "runner" and event.state == WorkerState.ERROR:
            self.notify(f"The runner stopped: {event.worker.error}. The run stays resumable.",
                        severity="error", timeout=15)
            self.refresh_bindings()

    def _on_text_delta(self, text: str) -> None:
        self._streamed = (getattr(self, "_streamed", "") + text)[-2000:]
        self._show_said(self._streamed)

    def _show_said(self, text: str | None) -> None:
        """The model's latest words, its last three lines, under the tool log."""
        said = self.query_one("#said", Static)
        lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
        said.display = bool(lines)
        said.update("Claude: " + "\n".join(lines[-3:]) if lines else "")

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
        if message.ledger is not None and message.ledger is not led:
            self._views_dirty = True   # from a run no longer (or not yet) on screen
            return
        if rec["kind"] == "model_turn":
            self._streamed = ""
            self._show_said(led.last_text)
        if rec["kind"] == "command" and rec["data"].get("applied") is False and rec["data"].get("reason"):
            self.notify(f"{rec['data'].get('action', 'command')} refused: {rec['data']['reason']}",
                        severity="warning", timeout=10)
        if rec["kind"] in ("step_status", "step_edited"):
            step = led.steps[rec["step"] - 1]
            self.query_one(ToolCallLog).put(row_of(step, led))
            if rec["kind"] == "step_status":
                header = self.query_one(RunHeader)
                if rec.get("to") == "running":
                    import time

                    self.busy_step = step.n
                    header.busy_since = time.monotonic()
                elif self.busy_step == step.n:
                    self.busy_step = None
                    header.busy_since = None
        self._views_dirty = True

    @on(RunEnded)
    def _on_run_ended(self, message: RunEnded) -> None:
        self._views_dirty = True
        self.query_one(RunHeader).busy_since = None
        led = self.ledger
        if led is None:
            return
        if message.result == "completed":
            self.notify(f"Run completed: {len(led.steps)} step{'' if len(led.steps) == 1 else 's'}, "
                        f"${led.usage.cost_usd:.4f}. n starts a new goal.")
        elif message.result in ("failed", "cancelled"):
            why = f": {led.error.get('message')}" if led.error else ""
            self.notify(f"Run {message.result}{why}", severity="error", timeout=12)
        self._show_memory()

    def _load_views(self) -> None:
        led = self.ledger
        if led is None:
            return
        self.query_one(ToolCallLog).load([row_of(s, led) for s in led.steps])
        self._show_said(led.last_text)
        self._show_memory()   # which experiences this run's prompt carries
        header = self.query_one(RunHeader)
        header.sub_of = led.parent
        busy = led.current_step if led.current_step is not None and led.current_step.status == "running" else None
        if busy is None or busy.n != self.busy_step:   # the spinner belongs to the run on screen
            self.busy_step = None
            header.busy_since = None
        self._views_dirty = True
        self._refresh_views()

    def _refresh_views(self) -> None:
        if not self._views_dirty:
            return
        self._views_dirty = False
        led = self.ledger
        if led is None:
            return
        snap = led.snapshot(20)
        self.query_one(RunHeader).show(snap, self.query_one(RunHeader).note)
        self.query_one(PlanPane).show(snap.plan)
        self._show_pending(led)
        keys = tuple(bool(self.check_action(a, ())) for a in sorted(RUN_ACTIONS))
        if keys != self._keys_shown:  # rebuilding the footer costs a layout: only on change
            self._keys_shown = keys
            self.refresh_bindings()

    def _show_pending(self, led: Ledger) -> None:
        from llmos_tui.core.frontmatter import dump_yaml

        box = self.query_one("#pending", Static)
        cur = led.decision_step or led.current_step
        if led.status == "paused":
            why = f" — {led.error.get('message')}" if led.error else ""
            box.update(f"[b $warning]Paused[/]{escape_markup(why)}\n"
                       f"{'p resumes' if self.driving else 'p resumes it here (take over)'}")
            box.display = True
            return
        if cur is None or cur.status not in ("awaiting_approval", "uncertain"):
            box.display = False
            return
        lines = dump_yaml(cur.inputs).rstrip().splitlines()
        shown = "\n".join(escape_markup(line[:200]) for line in lines[:12])
        more = f"\n… {len(lines) - 12} more lines (e shows all)" if len(lines) > 12 else ""
        if cur.status == "uncertain":
            head = (f"[b $warning]Step {cur.n} · {cur.tool} · uncertain[/] — the driver stopped while it "
                    f"ran; its effect may or may not have happened")
            keys = "r run it again · s skip it (it happened) · e edit"
        else:
            head = f"[b $warning]Step {cur.n} · {cur.tool} · awaiting approval[/] · side effects: {cur.side_effects}"
            keys = "a approve · d deny · e edit · s skip · A approve the rest"
        box.update(f"{head}\n{shown}{more}\n[b]{keys}[/b]")
        box.display = True

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

    # ------------------------------------------------------------------ the state file pane

    @work(group="state-file", exclusive=True, exit_on_error=False)
    async def _watch_state_file(self) -> None:
        from watchfiles import Change, awatch

        self._read_state_file()
        target = str(self.ws.state_path)

        def only_state(change: Change, path: str) -> bool:
            return path == target

        import gc

        gc.freeze()  # the app's widgets live as long as it does: keep them out of full collections
        # step=5: a change reaches the screen within a frame (benchmarks/watch.py: p50 ≈ 17 ms vs
        # ≈ 40 ms at step=15 and ≈ 90 ms at watchfiles' defaults), for ≈ 1.5 % of a CPU when idle.
        # debounce=200 coalesces a burst of replaces while still showing the last one.
        async for _ in awatch(self.ws.root, watch_filter=only_state, step=5, debounce=200,
                              recursive=False):
            self._read_state_file()

    def _read_state_file(self) -> None:
        path = self.ws.state_path
        if self._pinned and self.view is not None:  # an older run: its own final copy
            final = self.ws.run_dir(self.view.run_id) / "execution_state.md"
            path = final if final.exists() else path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = "(no execution_state.md yet: it appears when a run starts)"
        self.post_message(StateFileChanged(text))

    @on(StateFileChanged)
    def _on_state_file(self, message: StateFileChanged) -> None:
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

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in RUN_ACTIONS and len(self.screen_stack) > 1:
            return False  # a dialog is open: keys belong to it, never to the run behind it
        led = self.ledger
        cur = led.decision_step if led else None
        waiting = cur is not None and cur.status == "awaiting_approval" and self.driving
        uncertain = cur is not None and cur.status == "uncertain" and self.driving
        if action in ("approve", "deny", "approve_rest"):
            return waiting
        if action in ("edit", "skip"):
            return waiting or uncertain
        if action == "retry":
            return uncertain or (self.driving and led is not None and led.status == "paused")
        if action == "pause":
            return self.driving or (led is not None and led.status not in RUN_TERMINAL)
        if action == "new_goal":
            return not self.driving
        return True

    def _send(self, action: str, **kw: Any) -> None:
        """Every decision takes the command path: this app's runner, or the run's control.jsonl."""
        from llmos_tui.core.control import ControlChannel, new_command

        cmd = new_command(action, **kw)
        if self.runner is not None:
            self.runner.submit(cmd)
        elif self.view is not None and self.remote_driver:
            ControlChannel(self.ws.run_dir(self.view.run_id) / "control.jsonl").append(cmd)

    def action_approve(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is not None:
            self._send("approve", step=cur.n)

    def action_approve_rest(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is not None:
            self._send("approve", step=cur.n, scope="rest")
            self.notify("Approving this step and every later one in this run.")

    def action_deny(self) -> None:
        from llmos_tui.tui.screens.modals import AskText

        cur = self.ledger.decision_step if self.ledger else None
        if cur is None:
            return
        n = cur.n

        def answered(reason: str | None) -> None:
            if reason is not None:
                self._send("deny", step=n, feedback=reason or None)

        self.push_screen(AskText(f"Deny step {n} · {cur.tool}: why? (the agent reads this)",
                                 placeholder="e.g. write to notes/ instead",
                                 hint="Enter denies · Escape goes back without denying"), answered)

    def action_edit(self) -> None:
        from llmos_tui.tui.screens.edit_step import EditStep

        cur = self.ledger.decision_step if self.ledger else None
        if cur is None or not self.driving:
            return
        n = cur.n

        def saved(inputs: dict | None) -> None:
            if inputs is not None:
                self._send("edit", step=n, inputs=inputs)
                self.notify(f"Step {n} edited; press a to approve it.")

        self.push_screen(EditStep(n, cur.tool, cur.inputs, self._validator()), saved)

    def _validator(self):
        """The schema check for edited inputs: the driver's own registry, or this workspace's."""
        if self.runner is not None:
            return self.runner.validate
        from llmos_tui.core.session import load_parts

        try:
            return load_parts(self.ws)[1].validate
        except LlmosError as exc:
            message = str(exc)
            return lambda tool, inputs: message

    def action_skip(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is not None:
            self._send("skip", step=cur.n)

    def action_retry(self) -> None:
        led = self.ledger
        if led is None:
            return
        cur = led.current_step
        selected = self.query_one(ToolCallLog).selected
        if selected is not None and led.steps[selected - 1].status == "uncertain":
            self._send("retry", step=selected)
        elif cur is not None and cur.status == "uncertain":
            self._send("retry", step=cur.n)
        elif led.status == "paused":
            self._send("retry")
        else:
            self.notify("Retry applies to an uncertain step, or to a run paused by an error.")

    def action_pause(self) -> None:
        led = self.ledger
        if led is None:
            return
        if led.status in RUN_TERMINAL:
            return
        if self.runner is None and not self.remote_driver:
            self.resume_run(led.run_id)  # take over a run no one drives, and go on
            return
        self._send("resume" if led.status == "paused" else "pause")

    def action_new_goal(self) -> None:
        from llmos_tui.core.session import RunRequest
        from llmos_tui.tui.screens.modals import AskText

        if self.driving:
            self.notify("A run is active; cancel or finish it first.")
            return

        def answered(goal: str | None) -> None:
            if goal:
                base = self.settings.default_request or RunRequest(goal="")
                self.start_run(RunRequest(**{**base.__dict__, "goal": goal}))

        self.push_screen(AskText("What should the agent do?", placeholder="e.g. Summarise notes/*.md into summary.md",
                                 hint="Enter starts the run · Escape cancels", allow_empty=False), answered)

    async def action_quit_app(self) -> None:
        from llmos_tui.tui.screens.modals import Confirm

        if self.runner is None or not self.driving:
            self.exit()  # nothing of ours to pause: a watcher just leaves, the driver goes on
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._quit_gracefully(), group="quit", exclusive=True)

        self.push_screen(Confirm("Quit while the run is active?",
                                 "The run pauses and stays resumable: `llmos-tui resume`, or open llmos-tui "
                                 "again and press p.", yes="Quit", no="Stay"), answered)

    async def _quit_gracefully(self) -> None:
        led = self.ledger
        if led is not None and led.status not in ("paused", *RUN_TERMINAL):
            self._send("pause", feedback="the TUI was closed")
            for _ in range(100):  # let the current step finish (at most ~5 s)
                if led.status in ("paused", *RUN_TERMINAL):
                    break
                await asyncio.sleep(0.05)
        self.workers.cancel_group(self, "runner")
        self.exit()

    @on(ToolCallLog.Opened)
    def _open_step(self, message: ToolCallLog.Opened) -> None:
        from llmos_tui.tui.screens.modals import StepDetail

        led = self.ledger
        if led is None or not 0 < message.n <= len(led.steps):
            return
        s = led.steps[message.n - 1]
        extra = ""
        if s.human:
            extra = "Person: " + ", ".join(f"{k}={v}" for k, v in s.human.items() if k != "edited_inputs")
        if s.proposed_inputs is not None:
            extra += f"\nThe model proposed: {s.proposed_inputs}"
        self.push_screen(StepDetail(f"Step {s.n} · {s.tool} · {s.status}", s.inputs, s.content, extra))

    # ------------------------------------------------------------------ palette

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for name in self._theme_names:
            yield SystemCommand(f"Theme: {name}", f"Switch to the {name} theme (remembered)",
                                lambda n=name: self._set_theme(n))
        for action, title, help_ in (
                ("approve", "Approve step", "Let the pending step run"),
                ("deny", "Deny step", "Refuse the pending step, with a reason for the agent"),
                ("edit", "Edit step", "Change the pending step's inputs (YAML)"),
                ("skip", "Skip step", "Do not run the pending step"),
                ("retry", "Retry", "Run an uncertain step again, or continue after an error"),
                ("pause", "Pause / resume", "Pause the run after the current step, or resume it"),
                ("approve_rest", "Approve the rest", "Approve this step and every later one"),
                ("new_goal", "New goal", "Start a new run")):
            if self.check_action(action, ()):
                yield SystemCommand(title, help_, getattr(self, f"action_{action}"))
        if not (self.runner is not None and self.driving):  # while driving, the screen stays on that run
            from llmos_tui.core.session import list_runs

            for r in list_runs(self.ws)[:50]:
                here = " (on screen)" if self.ledger is not None and self.ledger.run_id == r.run_id else ""
                yield SystemCommand(f"Run {r.run_id}: {r.goal[:60] or r.problem or '?'}",
                                    f"{r.status} · {r.steps} steps · ${r.cost_usd:.4f} · {age(r.started_at)}{here}",
                                    lambda run_id=r.run_id: self.open_run(run_id))
        led = self.ledger
        if led is not None and led.status == "paused" and self.runner is not None:
            yield SystemCommand("Edit execution_state.md in $EDITOR",
                                "Change the plan, variables or the pending step's inputs; taken up on resume",
                                self.edit_state_file)

    def _set_theme(self, name: str) -> None:
        self.theme = name
        remember_theme(name)

    def edit_state_file(self) -> None:
        from textual.app import SuspendNotSupported

        from llmos_tui.core.state import StateFile

        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        path = self.ws.state_path
        try:
            with self.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
        except SuspendNotSupported:
            self.notify(f"This terminal cannot hand over to an editor; edit {path} elsewhere, then resume.",
                        severity="warning", timeout=10)
            return
        except OSError as exc:
            self.notify(f"Could not start {editor!r}: {exc}", severity="error", timeout=10)
            return
        try:
            StateFile(path).load()
        except LlmosError as exc:
            self.notify(f"{exc} — fix it before resuming; the file is left as you wrote it.",
                        severity="error", timeout=15)
            return
        self.notify("execution_state.md is valid; its changes are taken up on resume (p).")

