"""A run as a face sees it, wherever it is driven: by this process (`DrivenRun`, over an in-process
Runner) or by another one (`FollowedRun`, read from its journal as it grows).

Both answer the same questions — which run do people decide now (the deepest running Task
sub-agent), is anyone driving it, what changed since the last look — and take decisions the same
way: a command on the run's command path (`Runner.submit`, or the run's control.jsonl). The TUI
wraps a source in a worker and only listens; `llmos-tui watch` and any other face can do the same
without the UI library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from llmos_tui.core.control import Command, ControlChannel, new_command
from llmos_tui.core.errors import LlmosError
from llmos_tui.core.follow import JournalFollower
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.lock import driver_of
from llmos_tui.core.records import JournalRecord
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.workspace import Workspace

if TYPE_CHECKING:
    from llmos_tui.core.runner import Runner

RecordListener = Callable[[JournalRecord, Ledger], None]
Validator = Callable[[str, Any], str | None]


class RunSource(ABC):
    """One run and its running sub-agents, as seen from here."""

    here: ClassVar[bool] = False  # this process drives the run

    def __init__(self) -> None:
        self._listeners: list[RecordListener] = []

    @property
    @abstractmethod
    def top(self) -> Ledger:
        """The run itself."""

    @property
    @abstractmethod
    def ledger(self) -> Ledger:
        """The run whose steps people decide now: its deepest running Task sub-agent, or the run."""

    @property
    @abstractmethod
    def has_driver(self) -> bool:
        """A process drives the run (this one, or another as last seen), ended or not."""

    @property
    def run_id(self) -> str:
        return self.top.run_id

    @property
    def driven(self) -> bool:
        """Someone drives the run and it has not ended: a command sent now will be applied."""
        return self.has_driver and self.top.status not in RUN_TERMINAL

    def poll(self) -> list[tuple[JournalRecord, Ledger]]:
        """The records written since the last poll, each with the run it belongs to. A run driven
        here hands its records to listeners as they are written, so it has none to poll."""
        return []

    def add_listener(self, listener: RecordListener) -> None:
        """Call `listener(record, ledger)` for each new record of the run and its sub-agents."""
        self._listeners.append(listener)

    def add_text_listener(self, listener: Callable[[str], None]) -> bool:
        """Call `listener(text)` with the model's words as they stream in; False when they do not
        reach this process (a followed run, or a runtime that does not stream)."""
        return False

    def check_driver(self) -> bool:
        """Look again who drives the run; True when the answer changed (always on the first look)."""
        return False

    def describe_driver(self) -> str:
        """Who drives the run, in a line for a header ("" when there is nothing to say)."""
        return ""

    @abstractmethod
    def send(self, action: str, **kw: Any) -> Command | None:
        """Send the run a command (new_command's keywords); None when no one would apply it."""

    @abstractmethod
    def validate(self, tool: str, inputs: Any) -> str | None:
        """Why `inputs` do not fit `tool` (a person's edit is checked with this), or None."""


class DrivenRun(RunSource):
    """A run this process drives: an in-process Runner, through its public members only."""

    here = True

    def __init__(self, runner: Runner) -> None:
        super().__init__()
        self.runner = runner

    @property
    def top(self) -> Ledger:
        return self.runner.ledger

    @property
    def ledger(self) -> Ledger:
        return self.runner.active.ledger

    @property
    def has_driver(self) -> bool:
        return True

    def add_listener(self, listener: RecordListener) -> None:
        self.runner.add_listener(listener)

    def add_text_listener(self, listener: Callable[[str], None]) -> bool:
        return self.runner.add_text_listener(listener)

    def send(self, action: str, **kw: Any) -> Command | None:
        return self.runner.submit(new_command(action, **kw))

    def validate(self, tool: str, inputs: Any) -> str | None:
        return self.runner.validate(tool, inputs)

    async def drive(self) -> str:
        """Drive the run until it ends (or pauses, when the runner is told to return then)."""
        return await self.runner.drive()


class FollowedRun(RunSource):
    """A run another process drives (or nobody does), followed through its journal and those of
    its running Task sub-agents (`<run_id>/task-<n>`), as the driver shows them.

    `open` folds the journal so far; it may take seconds for a long run, so a face calls it off
    its event loop. Afterwards `poll` reads only what was appended.
    """

    def __init__(self, ws: Workspace, run_id: str) -> None:
        super().__init__()
        self.ws = ws
        self.follower = JournalFollower(ws.journal_path(run_id))
        self.chain: list[JournalFollower] = []  # the running sub-agents, outermost first
        self.checked = False  # check_driver has looked at least once
        self._alive = False
        self._hooked = False
        self._holder: dict[str, Any] = {}
        self._broken = False
        self._validate: Validator | None = None

    @classmethod
    def open(cls, ws: Workspace, run_id: str) -> FollowedRun:
        """The run folded from its journal, its running sub-agents found and its driver looked
        up; LlmosError when the journal cannot be read."""
        source = cls(ws, run_id)
        source.follower.read_new(collect=False)
        source._follow_chain()
        source.check_driver()
        return source

    @property
    def top(self) -> Ledger:
        return self.follower.ledger

    @property
    def ledger(self) -> Ledger:
        return self.chain[-1].ledger if self.chain else self.follower.ledger

    @property
    def has_driver(self) -> bool:
        return self._alive

    # ------------------------------------------------------------ following

    def poll(self) -> list[tuple[JournalRecord, Ledger]]:
        """New records of the run, then of the sub-agents followed; the chain of running
        sub-agents is brought up to date (compare `ledger` before and after to see it change).

        Raises LlmosError once when the run's own journal is damaged; the source then stays
        as it was and polls nothing more. A damaged sub-agent journal is dropped from the chain.
        """
        if self._broken:
            return []
        try:
            out = [(rec, self.top) for rec in self.follower.read_new()]
        except LlmosError:
            self._broken = True
            raise
        for i, f in enumerate(self.chain):
            try:
                out.extend((rec, f.ledger) for rec in f.read_new())
            except LlmosError:
                del self.chain[i:]
                break
        self._follow_chain()
        for rec, led in out:
            for listener in self._listeners:
                listener(rec, led)
        return out

    def _follow_chain(self) -> bool:
        """Drop the sub-agents that ended, follow the ones started since; True when it changed."""
        changed = False
        links = [self.follower, *self.chain]
        alive = 0
        while alive < len(links) - 1 and links[alive].ledger.active_child == links[alive + 1].ledger.run_id:
            alive += 1
        if alive < len(links) - 1:
            del self.chain[alive:]
            changed = True
        while True:
            child = (self.chain[-1] if self.chain else self.follower).ledger.active_child
            if child is None:
                break
            f = JournalFollower(self.ws.journal_path(child))
            try:
                f.read_new(collect=False)
            except LlmosError:
                break
            if not f.ledger.run_id:
                break  # its journal is not there yet
            self.chain.append(f)
            changed = True
        return changed

    # ------------------------------------------------------------ the driver

    def check_driver(self) -> bool:
        led = self.top
        holder = driver_of(self.ws.root, led.run_id) or {}
        alive = bool(holder)
        # a run recorded from a Claude Code session's hooks: its driver is that session, which
        # holds the lock only while a hook runs; commands wait in control.jsonl for its next event
        hooked = led.runtime == "external" and led.status not in RUN_TERMINAL
        alive = alive or hooked
        changed = alive != self._alive or not self.checked
        self.checked = True
        self._alive, self._hooked, self._holder = alive, hooked, holder
        return changed

    def describe_driver(self) -> str:
        led = self.top
        if led.status in RUN_TERMINAL:
            return ""
        if self._hooked:
            return f"watching run {led.run_id}, recorded from a Claude Code session through its hooks"
        if self._alive:
            return f"watching run {led.run_id}, driven by pid {self._holder.get('pid', '?')}"
        return f"run {led.run_id} is {led.status} with no driver — p takes it over here"

    # ------------------------------------------------------------ decisions

    def send(self, action: str, **kw: Any) -> Command | None:
        if not self._alive:
            return None
        return ControlChannel(self.ws.control_path(self.run_id)).append(new_command(action, **kw))

    def validate(self, tool: str, inputs: Any) -> str | None:
        """Checked against this workspace's tools (the driver's own, as far as can be told here)."""
        if self._validate is None:
            from llmos_tui.core.session import load_parts

            try:
                self._validate = load_parts(self.ws)[1].validate
            except LlmosError as exc:
                message = str(exc)
                self._validate = lambda tool, inputs: message
        return self._validate(tool, inputs)
