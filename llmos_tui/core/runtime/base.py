"""The contract between the runner and whatever produces the model's turns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from llmos_tui.core.state import Usage
from llmos_tui.core.tools.base import ToolOutput


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
    stop_reason: str = "end_turn"   # end_turn | tool_use | max_tokens | pause_turn | refusal
    usage: Usage = field(default_factory=Usage)
    model: str = ""


class RuntimeUnavailable(Exception):
    """The model could not be reached (retries exhausted): the run pauses, resumable."""


class ScriptExhausted(Exception):
    """A scripted run asked for a turn its script does not have."""


class Runtime(Protocol):
    name: str

    async def next_turn(self, request: TurnRequest) -> ModelTurn: ...

    async def simulate(self, tool: str, inputs: dict[str, Any], spec_line: str,
                       turn_index: int, position: int) -> ToolOutput:
        """A simulated result for a tool call (simulate mode): nothing is touched."""
        ...
