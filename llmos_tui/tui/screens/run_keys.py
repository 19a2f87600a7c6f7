"""What each key of the run screen does: its checks (which keys apply now) and its actions.

Every decision takes the run's command path (`send`): the runner driven here, or the control.jsonl
of a run another process drives. The run screen (screens/run.py) supplies the run on screen —
`ledger`, `driving`, `source` — and this class only reads them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import on
from textual.screen import Screen

from llmos_tui.core.ledger import Ledger
from llmos_tui.core.source import RunSource
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.tui.screens.edit_step import EditStep
from llmos_tui.tui.screens.modals import AskText, Confirm, Dialog, StepDetail
from llmos_tui.tui.widgets.tool_log import ToolCallLog

# what a recording played back (replay --recorded) never offers: it shows a run, nothing more
PLAYBACK_OFF = frozenset(
    {"approve", "deny", "edit", "retry", "skip", "pause", "resume", "take_over", "approve_rest", "new_goal"}
    | {"rewind", "fork", "toggle_breakpoint", "step_over"}
)

if TYPE_CHECKING:
    from llmos_tui.core.runner import Runner
    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.settings import AppSettings


class RunKeys(Screen[None]):
    if TYPE_CHECKING:  # the run screen's, read here
        settings: AppSettings
        source: RunSource | None
        _folded: Any

        @property
        def ledger(self) -> Ledger | None: ...

        @property
        def driving(self) -> bool: ...

        @property
        def runner(self) -> Runner | None: ...

        def start_run(self, req: RunRequest) -> None: ...

        def resume_run(self, run_id: str) -> None: ...

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.app.screen, Dialog):
            return False  # a dialog is open: keys belong to it, never to the run behind it
        if self.settings.playback and action in PLAYBACK_OFF:
            return False  # a recording played back: looked at, never decided, taken over or re-run
        # (the command palette is no Dialog: it offers the run's actions that apply)
        led = self.ledger
        cur = led.decision_step if led else None
        waiting = cur is not None and cur.status == "awaiting_approval" and self.driving
        uncertain = cur is not None and cur.status == "uncertain" and self.driving
        if action in ("approve", "deny", "approve_rest"):
            return waiting
        if action in ("edit", "skip"):
            return waiting or uncertain
        if action == "retry":  # an uncertain step, or a run an error paused
            return uncertain or (self.driving and led is not None and led.status == "paused" and bool(led.error))
        if action == "pause":
            return self.driving and led is not None and led.status != "paused"
        if action == "resume":
            return self.driving and led is not None and led.status == "paused"
        if action == "take_over":  # a run no process drives: p drives it here and goes on
            return not self.driving and led is not None and led.status not in RUN_TERMINAL and self.source is not None
        if action == "new_goal":
            return not self.driving
        if action == "next_pane":
            return bool(self._folded)
        return True

    def send(self, action: str, **kw: object) -> None:
        """Every decision takes the run's command path: the runner here, or its control.jsonl."""
        if self.source is not None:
            self.source.send(action, **kw)

    def action_approve(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is not None:
            self.send("approve", step=cur.n)

    def action_approve_rest(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is not None:
            self.send("approve", step=cur.n, scope="rest")
            self.notify("Approving this step and every later one in this run.")

    def action_deny(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is None:
            return
        n = cur.n

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.send("deny", step=n, feedback=reason or None)

        self.app.push_screen(
            AskText(
                f"Deny step {n} · {cur.tool}: why? (the agent reads this)",
                placeholder="e.g. write to notes/ instead",
                hint="Enter denies · Escape goes back without denying",
            ),
            answered,
        )

    def action_edit(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is None or not self.driving or self.source is None:
            return
        n = cur.n

        def saved(inputs: dict[str, Any] | None) -> None:
            if inputs is not None:
                self.send("edit", step=n, inputs=inputs)
                self.notify(f"Step {n} edited; press a to approve it.")

        self.app.push_screen(EditStep(n, cur.tool, cur.inputs, self.source.validate), saved)

    def action_skip(self) -> None:
        cur = self.ledger.decision_step if self.ledger else None
        if cur is not None:
            self.send("skip", step=cur.n)

    def action_retry(self) -> None:
        led = self.ledger
        if led is None:
            return
        cur = led.current_step
        selected = self.query_one(ToolCallLog).selected
        if selected is not None and led.steps[selected - 1].status == "uncertain":
            self.send("retry", step=selected)
        elif cur is not None and cur.status == "uncertain":
            self.send("retry", step=cur.n)
        elif led.status == "paused":
            self.send("retry")
        else:
            self.notify("Retry applies to an uncertain step, or to a run paused by an error.")

    def action_pause(self) -> None:
        led = self.ledger
        if led is None or self.source is None:
            return
        if led.status in RUN_TERMINAL:
            return
        if not self.source.has_driver:
            self.resume_run(led.run_id)  # take over a run no one drives, and go on
            return
        self.send("resume" if led.status == "paused" else "pause")

    def action_resume(self) -> None:
        self.action_pause()  # p: one key, named by what it does now

    def action_take_over(self) -> None:
        self.action_pause()

    def action_new_goal(self) -> None:
        from llmos_tui.core.session import RunRequest

        if self.driving:
            self.notify("A run is active; cancel or finish it first.")
            return

        def answered(goal: str | None) -> None:
            if goal:
                base = self.settings.default_request or RunRequest(goal="")
                self.start_run(RunRequest(**{**base.__dict__, "goal": goal}))

        self.app.push_screen(
            AskText(
                "What should the agent do?",
                placeholder="e.g. Summarise notes/*.md into summary.md",
                hint="Enter starts the run · Escape cancels",
                allow_empty=False,
            ),
            answered,
        )

    async def action_quit_app(self) -> None:
        if self.runner is None or not self.driving:
            self.app.exit()  # nothing of ours to pause: a watcher just leaves, the driver goes on
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._quit_gracefully(), group="quit", exclusive=True)

        self.app.push_screen(
            Confirm(
                "Quit while the run is active?",
                "The run pauses and stays resumable: `llmos-tui resume`, or open llmos-tui again and press p.",
                yes="Quit",
                no="Stay",
            ),
            answered,
        )

    async def _quit_gracefully(self) -> None:
        led = self.ledger
        if led is not None and led.status not in ("paused", *RUN_TERMINAL):
            self.send("pause", feedback="the TUI was closed")
            for _ in range(100):  # let the current step finish (at most ~5 s)
                if led.status in ("paused", *RUN_TERMINAL):
                    break
                await asyncio.sleep(0.05)
        self.workers.cancel_group(self, "runner")
        self.app.exit()

    @on(ToolCallLog.Opened)
    def _open_step(self, message: ToolCallLog.Opened) -> None:
        led = self.ledger
        if led is None or not 0 < message.n <= len(led.steps):
            return
        s = led.steps[message.n - 1]
        extra = ""
        if s.human:
            extra = "Person: " + ", ".join(f"{k}={v}" for k, v in s.human.items() if k != "edited_inputs")
        if s.proposed_inputs is not None:
            extra += f"\nThe model proposed: {s.proposed_inputs}"
        self.app.push_screen(StepDetail(f"Step {s.n} · {s.tool} · {s.status}", s.inputs, s.content, extra))
