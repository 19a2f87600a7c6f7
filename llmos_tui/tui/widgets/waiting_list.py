"""The inbox's list: one row per step waiting for a person, oldest first."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text

from llmos_tui.core.inbox import WaitingStep, seconds_since, short_age
from llmos_tui.core.text import short_inputs
from llmos_tui.tui.widgets.keyed_table import Cell, Column, KeyedTable, cut
from llmos_tui.tui.widgets.tool_log import STATUS_MARK

WIDE = 120  # from here on the list has room for the goal and whole run ids
RUN_ID = re.compile(r"\d{8}-(\d{6}-.*)")


def short_run(run_id: str, width: int) -> str:
    """A run id without its date (the age column says when): still a suffix `resume` accepts."""
    m = RUN_ID.fullmatch(run_id)
    return cut(m.group(1) if m and len(run_id) > width else run_id, width)


def item_key(item: WaitingStep) -> str:
    return "\x1f".join(map(str, item.key))


class WaitingList(KeyedTable):
    """Rows: mark and age, workspace, run, step, tool, the inputs' gist (wide: the goal too).
    `marks` says what was done about a row meanwhile (`approve…`, `queued: deny`)."""

    def show(self, items: Sequence[WaitingStep], marks: dict[str, str], t: float) -> None:
        width = self.size.width or 80
        wide = width >= WIDE
        where_w, run_w, tool_w = (18, 20, 12) if wide else (12, 11, 9)
        goal_w = 28 if wide else 0
        fixed = 7 + where_w + run_w + 3 + tool_w + goal_w
        ncols = 7 if wide else 6
        gist_w = max(width - fixed - 2 * ncols - 1, 12)
        columns: list[Column] = [("age", "waits", 7), ("where", "workspace", where_w), ("run", "run", run_w)]
        if wide:
            columns.append(("goal", "goal", goal_w))
        columns += [("n", "#", 3), ("tool", "tool", tool_w), ("gist", "inputs", gist_w)]
        rows = []
        for item in items:
            key = item_key(item)
            mark = marks.get(key) or (f"queued: {item.queued}" if item.queued else "")
            age = Text(f"{STATUS_MARK.get(item.status, ' ')} {short_age(seconds_since(item.since, t))}")
            if item.status == "uncertain":
                age.stylize("bold")
            gist = short_inputs(item.tool, item.inputs)
            cells: list[Cell] = [age, cut(item.where, where_w), short_run(item.run_id, run_w)]
            if wide:
                cells.append(cut(item.goal, goal_w))
            cells += [str(item.n), cut(item.tool, tool_w)]
            cells.append(Text(cut(f"[{mark}] {gist}", gist_w), style="italic") if mark else cut(gist, gist_w))
            rows.append((key, tuple(cells)))
        self.show_rows(columns, rows)
