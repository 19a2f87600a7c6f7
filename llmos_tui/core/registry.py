"""The tool registry: implementations joined with their ToolMap entries.

The ToolMap decides which tools the model is offered and what it is told about each (cost,
latency, side effects, error modes); the implementation supplies the schema and the behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmos_tui.core.toolmap import ToolSpec
from llmos_tui.core.tools.base import Tool


@dataclass(frozen=True)
class RegisteredTool:
    tool: Tool
    spec: ToolSpec

    @property
    def name(self) -> str:
        return self.spec.claude_tool

    def api_definition(self) -> dict[str, Any]:
        """The tool as the Messages API takes it."""
        return {
            "name": self.name,
            "description": f"{self.tool.description}\n{self.spec.metadata_line()}",
            "input_schema": self.tool.input_schema,
        }


def builtin_tools() -> dict[str, Tool]:
    """The tools this engine implements, by Claude Code name."""
    from llmos_tui.core.tools.bash import BashTool
    from llmos_tui.core.tools.files import EditTool, ReadTool, WriteTool
    from llmos_tui.core.tools.plan import UpdatePlanTool
    from llmos_tui.core.tools.search import GlobTool, GrepTool
    from llmos_tui.core.tools.task import TaskTool
    from llmos_tui.core.tools.web import WebFetchTool

    tools: list[Tool] = [
        ReadTool(),
        WriteTool(),
        EditTool(),
        BashTool(),
        GrepTool(),
        GlobTool(),
        UpdatePlanTool(),
        WebFetchTool(),
        TaskTool(),
    ]
    return {t.name: t for t in tools}


class ToolRegistry:
    def __init__(self, specs: dict[str, ToolSpec], implementations: dict[str, Tool] | None = None):
        impls = builtin_tools() if implementations is None else implementations
        self.specs = specs
        self.tools: dict[str, RegisteredTool] = {
            name: RegisteredTool(impls[name], spec) for name, spec in specs.items() if name in impls
        }
        # Declared in the ToolMap but not implemented by this runtime: shown, never offered.
        self.unavailable = tuple(sorted(n for n in specs if n not in impls))
        self._validators: dict[str, Any] = {}

    def get(self, name: str) -> RegisteredTool | None:
        return self.tools.get(name)

    def api_definitions(self) -> list[dict[str, Any]]:
        return [t.api_definition() for t in self.tools.values()]

    def toolmap_summary(self) -> str:
        """The ToolMap as the system prompt shows it: what each offered tool costs and risks."""
        lines = ["Tools (from ClaudeCodeToolMap.md): name — cost, latency, side effects, approval"]
        for name, reg in self.tools.items():
            s = reg.spec
            lines.append(
                f"- {name} — {s.cost}, {s.latency}, {s.side_effects}, approval {s.approval}"
                f"{'; may fail with: ' + ', '.join(s.error_modes) if s.error_modes else ''}"
            )
        return "\n".join(lines)

    def side_effects(self, name: str) -> str:
        spec = self.specs.get(name)
        return spec.side_effects if spec else "none"

    def validate(self, name: str, inputs: Any) -> str | None:
        """None when `inputs` fit the tool's schema, else a one-line reason."""
        reg = self.tools.get(name)
        if reg is None:
            return f"unknown tool {name!r}; available: {', '.join(self.tools) or 'none'}"
        if not isinstance(inputs, dict):
            return "inputs must be a mapping of parameter names to values"
        return self._check(name, reg.tool.input_schema, inputs)

    def _check(self, name: str, schema: dict[str, Any], inputs: dict[str, Any]) -> str | None:
        validator = self._validators.get(name)
        if validator is None:
            import jsonschema  # deferred: ~90 ms to import, needed only once a step is checked

            validator = jsonschema.Draft202012Validator(schema)
            self._validators[name] = validator
        errors = sorted(validator.iter_errors(inputs), key=lambda e: list(e.absolute_path))
        if not errors:
            return None
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path)
        return f"{where + ': ' if where else ''}{e.message}"
