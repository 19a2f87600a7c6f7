"""A batch's progress in a line: a bar (done, failed, waiting), the counts, runs per minute, the
cost so far and an estimate to finish — what `llmos-tui batch` prints on stderr, for the TUI."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import Static

from llmos_tui.core.inbox import BatchView, short_age
from llmos_tui.core.text import escape_markup
from llmos_tui.tui.widgets.keyed_table import cut


def bar(counts: dict[str, int], total: int, width: int) -> str:
    """Done, failed and waiting goals as coloured blocks out of `width`, the rest dim."""
    if total <= 0 or width <= 0:
        return f"[dim]{'░' * max(width, 0)}[/]"
    parts, used = [], 0
    for status, colour in (("done", "$success"), ("failed", "$error"), ("waiting", "$warning")):
        cells = round(counts.get(status, 0) * width / total)
        cells = min(cells, width - used)
        if cells:
            parts.append(f"[{colour}]{'█' * cells}[/]")
            used += cells
    return "".join(parts) + f"[dim]{'░' * (width - used)}[/]"


def batch_line(b: BatchView, width: int) -> str:
    p = b.progress
    c = p.counts
    label = escape_markup(cut(b.label, 24 if width >= 120 else 14))
    if b.problem:
        return f"[b]{label}[/] [$error]{escape_markup(b.problem)}[/]"
    facts = [f"{c.get('done', 0)}/{p.total} done"]
    facts += [f"{c[s]} {s}" for s in ("failed", "waiting", "paused", "running") if c.get(s)]
    facts.append(f"{p.runs_per_min:.1f}/min")
    facts.append(f"${p.cost:.2f}" + (f" of ${float(p.max_cost):.2f}" if p.max_cost else ""))
    if b.running:
        eta = p.eta_s
        facts.append("ETA " + ("—" if eta is None else "done" if eta == 0 else short_age(eta)))
    else:
        facts.append(f"[i]stopped: {escape_markup(b.stopped or '?')}[/]")
    text = " · ".join(facts)
    room = width - len(cut(b.label, 24 if width >= 120 else 14)) - len(text) - 3
    bar_w = max(min(room, 40), 8)
    return f"[b]{label}[/] {bar(c, p.total, bar_w)} {text}"


class BatchBar(Static):
    """One line per batch folder the inbox looks at; hidden when there is none."""

    DEFAULT_CSS = "BatchBar { height: auto; padding: 0 1; display: none; }"

    _shown: tuple[str, ...] = ()

    def show(self, batches: Sequence[BatchView]) -> None:
        width = max((self.size.width or 80) - 2, 40)
        lines = tuple(batch_line(b, width) for b in batches)
        self.display = bool(lines)
        if lines != self._shown:
            self._shown = lines
            self.update("\n".join(lines))
