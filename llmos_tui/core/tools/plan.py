"""UpdatePlan: how the agent keeps its plan; the runner records the plan in the run's state."""

from __future__ import annotations

from typing import Any

from llmos_tui.core.text import plural
from llmos_tui.core.tools.base import ToolContext, ToolOutput

PLAN_STATUSES = ["pending", "in_progress", "completed", "failed", "skipped"]


class UpdatePlanTool:
    name = "UpdatePlan"
    description = (
        "Replace the whole plan with this list of steps (send every step each time). "
        "Call it first to plan, then to mark steps in_progress/completed/failed/skipped "
        "and to revise the plan when reality differs."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string", "minLength": 1},
                        "status": {"type": "string", "enum": PLAN_STATUSES},
                    },
                    "required": ["title", "status"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["steps"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        steps = inputs["steps"]
        done = sum(1 for s in steps if s["status"] == "completed")
        return ToolOutput(f"Plan updated: {plural(len(steps), 'step')}, {done} completed.")
