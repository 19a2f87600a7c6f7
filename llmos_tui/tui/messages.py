"""What background work tells the run screen. Workers, runner callbacks and threads post these and
never touch a widget; the screen's handlers own every change on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from llmos_tui.core.ledger import Ledger
    from llmos_tui.core.records import JournalRecord
    from llmos_tui.core.source import FollowedRun


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

    def __init__(self, source: FollowedRun) -> None:
        super().__init__()
        self.source = source


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
