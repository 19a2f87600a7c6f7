"""The approval gate: which tool calls run at once, which wait for a person, which are refused."""

from __future__ import annotations

from typing import Literal

from llmos_tui.core.toolmap import ToolSpec

Decision = Literal["run", "ask", "deny"]


def gate(policy: str, spec: ToolSpec | None) -> Decision:
    """`deny` in the ToolMap always refuses; otherwise the run's policy decides.

    ask: every call waits; side-effects: calls whose tool touches anything (or whose ToolMap entry
    says `ask`) wait; never: nothing waits.
    """
    if spec is None:
        return "run"  # an unknown tool fails validation before it gets here
    if spec.approval == "deny":
        return "deny"
    if policy == "never":
        return "run"
    if policy == "ask":
        return "ask"
    if spec.side_effects != "none" or spec.approval == "ask":
        return "ask"
    return "run"
