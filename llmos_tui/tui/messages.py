"""What background work tells the run screen. Workers, runner callbacks and threads post these and
never touch a widget; the screen's handlers own every change on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from llmos_tui.core.ledger import Ledger
    from llmos_tui.core.records import JournalRecord
    from llmos_tui.core.source import FollowedRun
    from llmos_tui.core.timetravel import Moved
    from llmos_tui.tui.widgets.changes import Shown


class RunRecord(Message):
    """A journal record just written (driven here) or read (followed)."""

    def __init__(self, rec: JournalRecord, ledger: Ledger | None = None) -> None:
        super().__init__()
        self.rec = rec
        self.ledger = ledger  # the run it belongs to (a Task sub-agent's records come through too)


class RunEnded(Message):
    """The run on screen ended (completed, failed, cancelled) or, driven here, stopped driving."""

    def __init__(self, result: str) -> None:
        super().__init__()
        self.result = result


class RunOpened(Message):
    """A run's journal was folded off the event loop: show it and follow it."""

    def __init__(self, source: FollowedRun, previous: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.previous = previous  # the run shown before, when watching switched to a newer one by itself


class RunUnreadable(Message):
    """A journal could not be read (opening a run, or following it)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class ActiveRunChanged(Message):
    """A followed run's Task sub-agent started or ended: another run is the one decided now."""


class DriverChanged(Message):
    """The followed run's driver came or went (the header says who drives it)."""


class TextStreamed(Message):
    """Words of the model's reply as they stream in."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class StateFileChanged(Message):
    """execution_state.md as it is now on disk."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class StepRead(Message):
    """The time-travel view's step, read off the event loop: the run as it was once step `n` had
    settled, and the files that step changed (or a line saying why none are shown)."""

    def __init__(self, run_id: str, n: int, at: Ledger | None, changes: Shown) -> None:
        super().__init__()
        self.run_id = run_id
        self.n = n
        self.at = at  # None: the journal could not be read (changes says why)
        self.changes = changes


class MovedInTime(Message):
    """A rewind or a fork made from this screen is done (or failed: `problem`)."""

    def __init__(self, what: str, run_id: str, moved: Moved | None, problem: str = "") -> None:
        super().__init__()
        self.what = what  # rewind | fork
        self.run_id = run_id
        self.moved = moved
        self.problem = problem
