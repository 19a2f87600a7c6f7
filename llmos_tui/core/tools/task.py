"""Task: Claude Code's sub-agent tool. The runner supplies the sub-agent (a child run)."""

from __future__ import annotations

from typing import Any

from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput


class TaskTool:
    name = "Task"
    description = (
        "Launch a sub-agent to carry out a large, self-contained task on its own: it plans and runs "
        "it with the same tools (its steps go through the same approvals) and returns only its final "
        "report. `description` is a short (3–5 word) title; `prompt` is the full task, with every "
        "detail the sub-agent needs, since it does not see this conversation. Costly: use sparingly."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "description": {"type": "string", "minLength": 1, "description": "A short (3-5 word) title of the task"},
            "prompt": {"type": "string", "minLength": 1, "description": "The task for the sub-agent to perform"},
            "subagent_type": {"type": "string", "description": "The kind of agent (only general-purpose here)"},
        },
        "required": ["description", "prompt"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        run_task = ctx.extra.get("run_task")
        if run_task is None:
            raise ToolError("Task is not available here: no runner to start a sub-agent")
        kind = inputs.get("subagent_type")
        if kind not in (None, "", "general-purpose"):
            raise ToolError(f"unknown subagent_type {kind!r}; only general-purpose is available")
        out: ToolOutput = await run_task(inputs)
        return out
