"""A DataTable shown again and again from fresh data, rows known by a key: unchanged rows are left
alone, changed cells updated in place, and the cursor stays on the same row (or, when its row went
away, on the row that took its place). The inbox redraws its lists every scan this way."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

Cell = str | Text
Column = tuple[str, str, int | None]  # key, label, width (None: what is left)


class KeyedTable(DataTable[Cell]):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._columns_shown: tuple[Column, ...] = ()
        self._keys: list[str] = []
        self._cells: dict[str, tuple[Cell, ...]] = {}

    @property
    def selected_key(self) -> str | None:
        if not self._keys or not 0 <= self.cursor_row < len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def select(self, key: str) -> None:
        if key in self._keys:
            self.move_cursor(row=self._keys.index(key), animate=False)

    def show_rows(self, columns: Sequence[Column], rows: Sequence[tuple[str, tuple[Cell, ...]]]) -> None:
        """Show `rows` (key, cells) under `columns`: rebuilt when the columns or the rows' order
        changed, else only the cells that changed are updated."""
        columns = tuple(columns)
        keys = [k for k, _ in rows]
        was = self.selected_key
        was_index = self.cursor_row
        if columns != self._columns_shown or keys != self._keys:
            if columns != self._columns_shown:
                self.clear(columns=True)
                for key, label, width in columns:
                    self.add_column(label, width=width, key=key)
                self._columns_shown = columns
            else:
                self.clear()
            for key, cells in rows:
                self.add_row(*cells, key=key)
            self._keys = keys
            self._cells = dict(rows)
            if was in self._keys:
                self.move_cursor(row=self._keys.index(was), animate=False)
            elif self._keys:
                self.move_cursor(row=min(max(was_index, 0), len(self._keys) - 1), animate=False)
            return
        names = [c[0] for c in columns]
        for key, cells in rows:
            before = self._cells.get(key)
            if before == cells:
                continue
            for i, cell in enumerate(cells):
                if before is None or before[i] != cell:
                    try:
                        self.update_cell(key, names[i], cell)
                    except (CellDoesNotExist, RowDoesNotExist):
                        pass
            self._cells[key] = cells


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, an ellipsis marking a cut."""
    text = text.replace("\n", "⏎")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
