"""The run's side panes: plan, live state file, memory, and the header line."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static, TextArea

from llmos_tui.core.state import PlanItem, RunState, cost_text
from llmos_tui.core.text import escape_markup, parse_iso, plural

PLAN_MARK = {
    "pending": ("○", ""),
    "in_progress": ("◐", "bold $warning"),
    "completed": ("●", "$success"),
    "failed": ("✗", "$error"),
    "skipped": ("↷", "dim"),
}


class PlanPane(Static):
    """UpdatePlan's items with status marks."""

    DEFAULT_CSS = "PlanPane { padding: 0 1; }"

    _shown: object = None

    def show(self, plan: tuple[PlanItem, ...]) -> None:
        if plan == self._shown:
            return  # unchanged: no repaint
        self._shown = plan
        if not plan:
            self.update(Text("No plan yet — the agent plans with UpdatePlan.", style="italic"))
            return
        lines = []
        for p in plan:
            mark, style = PLAN_MARK.get(p.status, ("?", ""))
            title = escape_markup(p.title)
            lines.append(f"[{style}]{mark} {title}[/]" if style else f"{mark} {title}")
        self.update("\n".join(lines), layout=False)


class StatePane(TextArea):
    """execution_state.md exactly as it is on disk (read-only; refreshed when the file changes)."""

    DEFAULT_CSS = "StatePane { border: none; padding: 0; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", read_only=True, show_line_numbers=False, soft_wrap=False, language=None, **kwargs)
        self._shown = ""

    def show_text(self, text: str) -> None:
        if text == self._shown:
            return  # skip work when nothing changed
        self._shown = text
        top = self.scroll_offset
        self.load_text(text)
        self.scroll_to(top.x, top.y, animate=False)


class MemoryPane(Static):
    """SmartMemory experiences; those put into this run's prompt are marked."""

    DEFAULT_CSS = "MemoryPane { padding: 0 1; }"

    count = 0  # experiences in the log (the pane shows the newest first, as many as fit)

    def show(self, entries: list[dict[str, Any]], used: set[str]) -> None:
        self.count = len(entries)
        if not entries:
            self.update(Text("No experiences yet: each finished run adds one to system/memory_log.md.", style="italic"))
            return
        lines = []
        for e in entries[-30:][::-1]:
            mark = "★ " if e.get("experience_id") in used else "  "
            tools = e.get("tools_used") if isinstance(e.get("tools_used"), list) else []
            lines.append(
                f"{mark}[b]{escape_markup(str(e.get('goal', '?')))}[/b]\n"
                f"   [dim]{e.get('outcome', '?')} · {_entry_cost(e)}"
                f"{' · ' + escape_markup(', '.join(map(str, tools[:4]))) if tools else ''}[/dim]"
            )
        self.update("\n".join(lines))


def _entry_cost(e: dict[str, Any]) -> str:
    """An experience's cost: `cost_usd: null` is a run whose model had no price."""
    if "cost_usd" in e and e["cost_usd"] is None:
        return "cost unknown"
    try:
        return f"${float(e.get('cost_usd') or 0):.4f}"
    except (TypeError, ValueError):
        return "$?"


class RunHeader(Static):
    """Goal on the first line; status, mode (execute or simulate), calls, cost, time, tokens,
    runtime and model on the second, most important first. A line too long for the terminal is cut with an ellipsis, so a
    long goal never pushes the status out of view."""

    DEFAULT_CSS = """
    RunHeader {
        height: 2; padding: 0 1; background: $panel; color: $foreground;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """
    SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    busy_since: reactive[float | None] = reactive(None)

    def __init__(self, *, clock: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state: RunState | None = None
        self.note = ""
        self.sub_of: dict[str, Any] | None = None  # set while a Task sub-agent's run is shown
        self.queued: int | None = None  # a step approved while the run is paused: runs on resume
        self.travel = ""  # the time-travel view's marker ("as at step 3/9"), shown before the goal
        self.clock = clock  # off in snapshot tests: no times on screen
        self._frame = 0
        self._text = ""

    def on_mount(self) -> None:
        self.refresh_text()  # the app's name and a note before any run is shown
        if self.clock:
            self.set_interval(0.1, self._tick)

    def _tick(self) -> None:
        self._frame += 1
        if self.state is not None and (
            self.busy_since is not None or self.state.status == "running" or self._frame % 10 == 0
        ):
            self.refresh_text()

    def show(self, state: RunState | None, note: str = "") -> None:
        self.state = state
        self.note = note
        self.refresh_text()

    def refresh_text(self) -> None:
        st = self.state
        if st is None:
            self.update(f"[b]llmos-tui[/b]  {escape_markup(self.note) or 'no run'}")
            return
        colour = {
            "running": "$accent",
            "awaiting_approval": "$warning",
            "paused": "$warning",
            "completed": "$success",
            "failed": "$error",
            "cancelled": "$error",
        }.get(st.status, "$foreground")
        status = st.status.replace("_", " ")
        spin = ""
        if self.busy_since is not None and self.clock:
            spin = (
                f" {self.SPINNER[self._frame % len(self.SPINNER)]} step {st.current_step} "
                f"{time.monotonic() - self.busy_since:4.1f}s"
            )
        if st.status == "paused" and self.queued is not None:
            spin = f" · step {self.queued} approved, runs when you resume (p)"
        end = st.updated_at if st.status in ("completed", "failed", "cancelled") else None
        elapsed = f" · {_elapsed(st.started_at, end)}" if self.clock else ""
        u = st.usage
        goal = escape_markup(" ".join(st.goal.split()))  # one line, whatever the goal holds
        line1 = f"[b]{goal}[/b]"
        if self.sub_of:  # a Task sub-agent on screen
            line1 = (
                f"[b]↳ sub-agent:[/b] [b]{goal}[/b]  [dim](Task step {self.sub_of.get('step')} "
                f"of run {escape_markup(str(self.sub_of.get('run_id')))})[/dim]"
            )
        if self.travel:  # first, so a long goal never hides it
            line1 = f"[reverse $accent] ◀ {self.travel} — Esc: back to live [/] {line1}"
        tokens = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
        model = f" · {escape_markup(st.model)}" if st.model and st.model != st.runtime else ""
        line2 = (
            f"[{colour}][b]{status}[/b][/]{spin} · {st.mode} · {plural(st.steps_total, 'call')} · {cost_text(u)}"
            f"{elapsed} · {tokens:,} in / {u.output_tokens:,} out tok · {st.runtime}{model}"
            f"{'  — ' + escape_markup(self.note) if self.note else ''}"
        )
        text = line1 + "\n" + line2
        if text != self._text:  # a fixed-height line: repaint only when it changed, never relayout
            self._text = text
            self.update(text, layout=False)


def _elapsed(started_at: str, ended_at: str | None) -> str:
    import datetime as dt

    t0 = parse_iso(started_at)
    t1 = parse_iso(ended_at) if ended_at else dt.datetime.now(dt.UTC)
    if t0 is None or t1 is None:
        return "-"
    secs = max(int((t1 - t0).total_seconds()), 0)
    return f"{secs // 3600}:{secs // 60 % 60:02d}:{secs % 60:02d}" if secs >= 3600 else f"{secs // 60}:{secs % 60:02d}"
