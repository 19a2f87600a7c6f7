"""The card of the step selected in the inbox: where it waits, its goal, its full inputs and the
keys that decide it — the run screen's approval card, for a step of any workspace."""

from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from llmos_tui.core.frontmatter import dump_yaml
from llmos_tui.core.inbox import WaitingStep, queued_hint, seconds_since, short_age
from llmos_tui.core.text import escape_markup

INPUT_LINES = 12
DRIVER_WORDS = {"": "no driver", "hooks": "a Claude Code session (hooks)"}


def keys_for(item: WaitingStep) -> str:
    if item.queued:
        return f"{item.queued} is queued: {queued_hint(item)} · ⏎ opens the run (p there takes it over)"
    if item.status == "uncertain":
        keys = "r run it again · s skip it (it happened) · e edit"
    else:
        keys = "a approve · d deny · e edit · s skip · A approve the rest of its run"
    keys += " · ⏎ open the run"
    if item.driver == "hooks":
        keys += " · the Claude Code session takes decisions at its next hook call"
    elif not item.driven:
        keys += " · no process drives it: decisions are queued for `llmos-tui resume`"
    return keys


class StepCard(Vertical):
    DEFAULT_CSS = """
    StepCard { height: auto; max-height: 18; border: thick $warning; padding: 0 1; background: $surface; }
    StepCard.-empty { border: round $pane-border; }
    StepCard > #card-head { height: auto; }
    StepCard > #card-body { height: auto; max-height: 12; scrollbar-size-vertical: 1; }
    StepCard #card-inputs { height: auto; }
    StepCard > #card-keys { height: auto; }
    """

    _shown: tuple[str, str, str] = ("", "", "")

    def compose(self) -> ComposeResult:
        yield Static("", id="card-head")
        with VerticalScroll(id="card-body", can_focus=False):
            yield Static("", id="card-inputs", markup=False)
        yield Static("", id="card-keys")

    def show(self, item: WaitingStep, mark: str, t: float) -> None:
        status = item.status.replace("_", " ")
        head = f"[b $warning]Step {item.n} · {escape_markup(item.tool)} · {status}[/]"
        if item.status == "uncertain":
            head += " — the driver stopped while it ran; its effect may or may not have happened"
        else:
            head += f" · side effects: {item.side_effects}"
        if item.breakpoint:
            head += f" · [b]breakpoint {escape_markup(item.breakpoint)}[/b]"
        ours = item.driver == f"pid {os.getpid()}"  # taken over from the inbox, going on here
        driver = "driven by this app" if ours else DRIVER_WORDS.get(item.driver, f"driven by {item.driver}")
        sub = item.run_id if item.run_id != item.top_id else ""
        where = [
            f"[b]{escape_markup(item.where)}[/b]",
            f"run {escape_markup(item.top_id)}" + (f" › sub-agent {escape_markup(sub)}" if sub else ""),
            f"waiting {short_age(seconds_since(item.since, t))}",
            driver,
        ]
        if mark or item.queued:
            where.append(f"[b $accent]{escape_markup(mark or 'queued: ' + str(item.queued))}[/]")
        goal = escape_markup(item.goal if len(item.goal) <= 300 else item.goal[:299] + "…")
        lines = dump_yaml(item.inputs).rstrip().splitlines()
        inputs = "\n".join(line[:200] for line in lines[:INPUT_LINES])
        if len(lines) > INPUT_LINES:
            inputs += f"\n… {len(lines) - INPUT_LINES} more lines (e shows all)"
        self._fill(f"{head}\n{' · '.join(where)}\n[dim]Goal:[/] {goal}", inputs, keys_for(item))
        self.remove_class("-empty")

    def show_nothing(self, text: str) -> None:
        self._fill(text, "", "")
        self.add_class("-empty")

    def _fill(self, head: str, inputs: str, keys: str) -> None:
        """Updated only when a part changed (an update costs a layout)."""
        shown = (head, inputs, keys)
        if shown == self._shown:
            return
        self._shown = shown
        self.query_one("#card-head", Static).update(head)
        self.query_one("#card-inputs", Static).update(inputs)
        self.query_one("#card-body").display = bool(inputs)
        keys_line = self.query_one("#card-keys", Static)
        keys_line.update(f"[b]{escape_markup(keys)}[/b]")
        keys_line.display = bool(keys)
