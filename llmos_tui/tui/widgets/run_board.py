"""The board: every run of the inbox's workspaces, with its status, step, cost, age and driver."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.text import Text

from llmos_tui.core.inbox import RunRow, seconds_since, short_age
from llmos_tui.tui.widgets.keyed_table import Cell, Column, KeyedTable, cut
from llmos_tui.tui.widgets.waiting_list import WIDE, short_run

STATUS_WORD = {"awaiting_approval": "awaiting"}
STATUS_STYLE = {
    "awaiting_approval": "bold",
    "completed": "",
    "failed": "bold red",
    "cancelled": "dim",
    "paused": "italic",
    "unreadable": "bold red",
}


def row_key(row: RunRow) -> str:
    return f"{row.ws.root}\x1f{row.run_id}"


def driver_word(row: RunRow) -> str:
    if row.problem is not None or row.status in ("completed", "failed", "cancelled"):
        return "—"
    if row.driver == f"pid {os.getpid()}":
        return "this app"  # taken over from the inbox, going on in the background
    return row.driver or "no driver"


class RunBoard(KeyedTable):
    """Rows: workspace, run, status, step, cost, age, driver, goal."""

    def show(self, runs: Sequence[RunRow], t: float) -> None:
        width = self.size.width or 80
        wide = width >= WIDE
        where_w, run_w = (18, 20) if wide else (10, 11)
        columns: list[Column] = [
            ("where", "workspace", where_w),
            ("run", "run", run_w),
            ("status", "status", 9),
            ("step", "step", 5 if wide else 4),
            ("cost", "cost", 7 if wide else 6),
            ("age", "age", 4 if wide else 3),
            ("driver", "driver", 9),
        ]
        room = width - sum(c[2] or 0 for c in columns) - 2 * (len(columns) + 1) - 1  # (cell padding, scrollbar)
        goal_w = room if room >= 8 else 0  # narrow: the goal is on the line under the board
        if goal_w:
            columns.append(("goal", "goal", goal_w))
        rows = []
        for r in runs:
            status: Cell = Text(STATUS_WORD.get(r.status, r.status), style=STATUS_STYLE.get(r.status, ""))
            step = "" if r.step is None else f"{r.step}/{r.steps}" if wide else str(r.step)
            driver = driver_word(r)
            driver_cell: Cell = Text(driver, style="bold" if driver == "no driver" else "")
            cells: list[Cell] = [
                cut(r.where, where_w),
                short_run(r.run_id, run_w),
                status,
                step,
                f"${r.cost:.3f}" if r.cost < 10 else f"${r.cost:.0f}",
                short_age(seconds_since(r.started_at, t)) if r.started_at else "",
                driver_cell,
            ]
            if goal_w:
                cells.append(cut(r.problem or r.goal, goal_w))
            rows.append((row_key(r), tuple(cells)))
        self.show_rows(columns, rows)
