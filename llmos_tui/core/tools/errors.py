"""The error every tool raises for a failure the model should see (never a crash of the run)."""

from __future__ import annotations


class ToolError(Exception):
    """A failure the model should see as an error tool_result (never a crash of the run)."""
