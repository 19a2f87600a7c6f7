"""The tool call log: one line per call, as a virtual list.

Rows are plain tuples rendered on demand (`render_line`), so 100,000 calls cost their row data
and nothing per widget; new rows are batched on a short timer. A cursor selects a call; Enter
opens its full inputs and output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

STATUS_MARK = {
    "proposed": "·",
    "awaiting_approval": "?",
    "approved": "‖",  # approved while the run is paused: it runs on resume
    "running": "▶",
    "done": "✓",
    "failed": "✗",
    "denied": "⊘",
    "skipped": "↷",
    "uncertain": "‼",
}


SHORT_STATUS = {"awaiting_approval": "awaiting"}


@dataclass(frozen=True)
class CallRow:
    n: int
    tool: str
    short: str
    status: str
    duration_s: float | None = None
    cost_usd: float = 0.0
    simulated: bool = False

    def text(self, width: int) -> str:
        dur = f"{self.duration_s:.2f}s" if self.duration_s is not None else "-"
        cost = f" ${self.cost_usd:.4f}" if self.cost_usd else ""
        sim = " sim" if self.simulated else ""
        status = SHORT_STATUS.get(self.status, self.status)
        head = f"{self.n:>4} {STATUS_MARK.get(self.status, ' ')} {self.tool:<10} "
        tail = f" {status:<8} {dur:>6}{cost}{sim}"
        if width - len(head) - len(tail) < 16:  # a narrow list: what the call does beats its timing
            tail = f" {status:<8}{sim}"
        room = max(width - len(head) - len(tail), 8)
        short = self.short if len(self.short) <= room else self.short[: room - 1] + "…"
        return f"{head}{short:<{room}}{tail}"


class ToolCallLog(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    ToolCallLog { background: $surface; color: $foreground; }
    ToolCallLog > .tool-log--cursor { background: $accent 40%; text-style: bold; }
    ToolCallLog:focus > .tool-log--cursor { background: $accent 70%; }
    ToolCallLog > .tool-log--awaiting { color: $warning; text-style: bold; }
    ToolCallLog > .tool-log--failed { color: $error; }
    ToolCallLog > .tool-log--done { color: $success; }
    ToolCallLog > .tool-log--muted { color: $text-muted; }
    """
    COMPONENT_CLASSES = {
        "tool-log--cursor",
        "tool-log--awaiting",
        "tool-log--failed",
        "tool-log--done",
        "tool-log--muted",
    }
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-20)", show=False),
        Binding("pagedown", "cursor(20)", show=False),
        Binding("home", "cursor_to(0)", show=False),
        Binding("end", "cursor_to(-1)", show=False),
        Binding("enter", "open", "Details", show=False),
    ]

    cursor: reactive[int] = reactive(-1, repaint=False)

    class Opened(Message):
        """A call was chosen for a full view."""

        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

    class Selected(Message):
        """A person moved the cursor to a call (a click, or a key): the time-travel view follows it."""

        def __init__(self, n: int, click: bool) -> None:
            super().__init__()
            self.n = n
            self.click = click

    def __init__(self, *, flush_interval: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[CallRow] = []
        self._pending: dict[int, CallRow] = {}
        self._follow = True  # keep the newest call in view until the person moves the cursor
        self.hold = False  # a past call is shown (time travel): new calls never move the cursor
        self._flush_interval = flush_interval

    def on_mount(self) -> None:
        self.set_interval(self._flush_interval, self.flush)

    # -------------------------------------------------------------- data

    def put(self, row: CallRow) -> None:
        """Add or update a call (applied on the next flush)."""
        self._pending[row.n] = row

    def load(self, rows: list[CallRow]) -> None:
        """Replace everything at once (opening a run)."""
        self._pending.clear()
        self.rows = list(rows)
        self.cursor = len(self.rows) - 1
        self._follow = True
        self._resize()
        self.refresh()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        grew = False
        for n, row in sorted(pending.items()):
            if n <= len(self.rows):
                self.rows[n - 1] = row
            else:
                self.rows.append(row)
                grew = True
        if grew:
            self._resize()
            if self._follow and not self.hold:
                self.cursor = len(self.rows) - 1
                self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def row(self, n: int) -> CallRow | None:
        if n in self._pending:
            return self._pending[n]
        return self.rows[n - 1] if 0 < n <= len(self.rows) else None

    @property
    def selected(self) -> int | None:
        return self.rows[self.cursor].n if 0 <= self.cursor < len(self.rows) else None

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows))

    def select(self, n: int) -> None:
        """Put the cursor on call n and keep it there while new calls arrive."""
        self.flush()
        if not 0 < n <= len(self.rows):
            return
        self.hold = True
        self.cursor = n - 1
        self._follow = False
        self.scroll_to_region_of(self.cursor)
        self.refresh()

    def follow_end(self) -> None:
        """Back to the newest call, followed as calls arrive."""
        self.hold = False
        self._follow = True
        if self.rows:
            self.cursor = len(self.rows) - 1
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    # -------------------------------------------------------------- keys

    def action_cursor(self, delta: int) -> None:
        if not self.rows:
            return
        self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))
        self._follow = self.cursor == len(self.rows) - 1
        self.scroll_to_region_of(self.cursor)
        self.refresh()
        self.post_message(self.Selected(self.rows[self.cursor].n, click=False))

    def action_cursor_to(self, index: int) -> None:
        if self.rows:
            self.action_cursor((index if index >= 0 else len(self.rows) - 1) - self.cursor)

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.Opened(self.selected))

    def on_click(self, event: events.Click) -> None:
        y = event.y + self.scroll_offset.y
        if 0 <= y < len(self.rows):
            self.cursor = y
            self._follow = y == len(self.rows) - 1
            self.refresh()
            if event.chain == 2:
                self.action_open()
            else:
                self.post_message(self.Selected(self.rows[y].n, click=True))

    def scroll_to_region_of(self, y: int) -> None:
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        if y < top:
            self.scroll_to(y=y, animate=False, immediate=True)
        elif y >= top + height:
            self.scroll_to(y=y - height + 1, animate=False, immediate=True)

    # -------------------------------------------------------------- rendering

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        style = base
        if row.status in ("awaiting_approval", "uncertain", "approved"):
            style = base + self.get_component_rich_style("tool-log--awaiting")
        elif row.status in ("failed", "denied"):
            style = base + self.get_component_rich_style("tool-log--failed")
        elif row.status == "skipped":
            style = base + self.get_component_rich_style("tool-log--muted")
        if index == self.cursor:
            style = style + self.get_component_rich_style("tool-log--cursor")
        text = row.text(width)
        return Strip([Segment(text[:width].ljust(width), style)], width)

    def on_resize(self) -> None:
        self._resize()
