"""The files one step changed, as the time-travel view shows them: unified diffs for text, size and
hash for binary files, mode changes as octal — or why there is nothing to show."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from typing import TypeAlias

    from llmos_tui.core.checkpoints import FileChange

    # what the pane shows: the files a step changed, a line saying why there are none, or a note
    # and the changes it is about
    Shown: TypeAlias = Sequence[FileChange] | str | tuple[str, Sequence[FileChange]]

MAX_LINES = 2000  # a huge diff is cut (the whole one: `llmos-tui diff RUN@N RUN@N+1`)
CHANGE_STYLE = {"added": "$success", "deleted": "$error", "modified": "$warning", "mode": "$accent", "type": "$accent"}


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def _mode(m: int | None) -> str:
    if m is None:
        return "-"
    kind = "folder " if stat.S_ISDIR(m) else "link " if stat.S_ISLNK(m) else ""
    return f"{kind}{stat.S_IMODE(m):o}"


def _line_style(line: str) -> str:
    if line.startswith(("--- ", "+++ ")):
        return "bold"
    if line.startswith("@@"):
        return "$accent"
    if line.startswith("+"):
        return "$success"
    if line.startswith("-"):
        return "$error"
    return ""


def changes_content(changes: Sequence[FileChange], limit: int = MAX_LINES) -> Content:
    """The changes, coloured by the theme: a line per file (what changed, its path, a mode
    change), then its unified diff, or a binary file's sizes and hashes."""
    parts: list[tuple[str, str] | str] = []
    lines = 0
    for c in changes:
        parts += [(f"{c.change:<8} ", f"bold {CHANGE_STYLE.get(c.change, '')}"), (c.path, "bold")]
        if c.old_mode != c.new_mode and c.old_mode is not None and c.new_mode is not None:
            parts.append((f"  mode {_mode(c.old_mode)} → {_mode(c.new_mode)}", "$accent"))
        elif stat.S_ISDIR(c.new_mode or c.old_mode or 0):
            parts.append(("  (folder)", "dim"))
        parts.append("\n")
        lines += 1
        if c.binary:
            sha = f"{(c.old_sha or '-')[:10]} → {(c.new_sha or '-')[:10]}"
            parts.append((f"  binary: {_size(c.old_size)} → {_size(c.new_size)} · sha {sha}\n", "$text-muted"))
            lines += 1
        for line in c.diff.splitlines():
            if lines >= limit:
                break
            parts += [(line, _line_style(line)), "\n"]
            lines += 1
        if lines >= limit:
            parts.append((f"… cut at {limit} lines (llmos-tui diff shows them all)", "italic"))
            break
    return Content.assemble(*parts).rstrip()


class ChangesPane(VerticalScroll, can_focus=True):
    """A step's file changes (or a line saying why there are none), scrollable."""

    DEFAULT_CSS = """
    ChangesPane { padding: 0 1; scrollbar-size-vertical: 1; }
    ChangesPane > Static { width: auto; min-width: 100%; }
    ChangesPane.-note > Static { width: 100%; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: object = None

    def compose(self) -> ComposeResult:
        yield Static("", id="changes-text")

    def show(self, what: Shown) -> None:
        """Changes (under a note, when one is given), or a line of text (italic) saying why there
        are none to show."""
        if what == self._shown:
            return
        self._shown = what
        self.set_class(isinstance(what, str), "-note")  # a line of text wraps; a diff scrolls sideways
        if isinstance(what, str):
            body = Content.styled(what, "italic")
        elif isinstance(what, tuple):
            note, changes = what
            body = Content.assemble((note, "italic $text-muted"), "\n", changes_content(changes))
        else:
            body = changes_content(what)
        self.query_one("#changes-text", Static).update(body)
        self.scroll_home(animate=False)
