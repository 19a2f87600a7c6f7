"""The contract between the drivers and whatever produces the model's turns.

Every runtime is a `Runtime`. What only some runtimes can do is declared as a capability
protocol below, and the drivers ask `isinstance(runtime, Capability)` — never probe attributes —
so a runtime that gains or loses a capability is checked by mypy and by one test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from llmos_tui.core.state import Usage
from llmos_tui.core.tools.base import ToolOutput

TextListener = Callable[[str], None]


@dataclass(frozen=True)
class TurnRequest:
    system: str
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    model: str
    max_tokens: int
    turn_index: int  # how many assistant turns the conversation already has


@dataclass(frozen=True)
class ModelTurn:
    """One assistant reply in Messages-API shape."""

    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"  # end_turn | tool_use | max_tokens | pause_turn | refusal
    usage: Usage = field(default_factory=Usage)
    model: str = ""


class RuntimeUnavailable(Exception):
    """The model could not be reached (retries exhausted): the run pauses, resumable."""


class ModelRefused(RuntimeUnavailable):
    """The model server refused the request for a reason that asking again cannot mend (400: an
    invalid request or a context overflow; 404: no such model; 401/403: the credentials). Its
    message is one line that says what to change. The run pauses (error type MODEL_REFUSED) and
    its driver returns at once instead of waiting: once the change is made, `resume` goes on.
    (A RuntimeUnavailable, so a driver that knows only that pauses as before.)"""


MODEL_REFUSED = "model_refused"  # the run's error type when a ModelRefused stopped it


class ScriptExhausted(Exception):
    """A scripted run asked for a turn its script does not have."""


@runtime_checkable
class Runtime(Protocol):
    name: str

    async def next_turn(self, request: TurnRequest) -> ModelTurn: ...

    async def simulate(
        self, tool: str, inputs: dict[str, Any], spec_line: str, turn_index: int, position: int
    ) -> ToolOutput:
        """A simulated result for a tool call (simulate mode): nothing is touched."""
        ...


# ---------------------------------------------------------------- optional capabilities


@runtime_checkable
class StreamsText(Protocol):
    """The model's words reach these listeners as they stream in (for the faces)."""

    text_listeners: list[TextListener]


@runtime_checkable
class AnswersWebFetch(Protocol):
    """WebFetch's `prompt` answered over the fetched page by a small model."""

    async def webfetch_answer(self, prompt: str, markdown: str, url: str) -> str: ...


@runtime_checkable
class WritesLearnings(Protocol):
    """SmartMemory's "key learnings" written by a model (`small_model`, named in the experience)
    from the run's derived summary."""

    small_model: str

    async def learnings(self, goal: str, run_summary: str) -> str: ...


@runtime_checkable
class ReportsSideUsage(Protocol):
    """Model calls made outside the conversation (simulation, WebFetch, learnings) since the last
    call, to be charged to the step or run that caused them."""

    def take_side_usage(self) -> Usage: ...


@runtime_checkable
class SpawnsSubAgents(Protocol):
    """A runtime for the `index`-th Task sub-agent of this run (LookupError: none for it)."""

    def spawn(self, index: int) -> Runtime: ...


@runtime_checkable
class Closable(Protocol):
    """Holds resources (an HTTP client) the top run's driver releases when it is done."""

    async def aclose(self) -> None: ...
