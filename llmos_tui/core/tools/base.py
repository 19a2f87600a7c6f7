"""What every tool shares: its output shape, its error, and the context it runs in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from llmos_tui.core.tools.errors import ToolError

if TYPE_CHECKING:
    from llmos_tui.core.tools.sandbox import Sandbox

__all__ = ["Tool", "ToolContext", "ToolError", "ToolOutput"]


@dataclass(frozen=True)
class ToolOutput:
    """A tool's answer. `images` are Messages-API image blocks (Read of an image file)."""

    text: str
    is_error: bool = False
    images: tuple[dict[str, Any], ...] = ()

    def to_content(self) -> str | list[dict[str, Any]]:
        """The tool_result `content`: plain text, or blocks when there are images."""
        if not self.images:
            return self.text
        return [*self.images, {"type": "text", "text": self.text}]


@dataclass(frozen=True)
class ToolContext:
    """Where a tool runs. `sandbox` decides which paths it may read and write."""

    sandbox: Sandbox
    output_cap: int = 30_000  # characters of output kept for the model
    env: dict[str, str] | None = None  # environment for Bash (None: inherit)
    extra: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    """A tool: a name the model calls, a JSON schema for its inputs, and an async `run`.

    `run` raises ToolError for any failure the model should hear about; inputs have already
    been checked against `input_schema` by the registry.
    """

    name: str
    description: str
    input_schema: dict[str, Any]

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput: ...


def cap_text(text: str, limit: int) -> str:
    """Keep the head and the tail of a long text, saying how much was cut from the middle."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n… [{cut} characters cut] …\n{text[-tail:]}"
