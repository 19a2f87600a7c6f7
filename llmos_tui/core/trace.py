"""trace.json: a run as a training example (the seed's format, extended; see DESIGN.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from llmos_tui.core.ledger import Ledger


def _seconds_between(a: str, b: str) -> float | None:
    try:
        t0 = dt.datetime.fromisoformat(a.replace("Z", "+00:00"))
        t1 = dt.datetime.fromisoformat(b.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((t1 - t0).total_seconds(), 3)


def build_trace(led: Ledger, initial_state: dict[str, Any], system: str,
                tools: list[dict[str, Any]]) -> dict[str, Any]:
    transitions = []
    plan_done = 0
    for s in led.steps:
        human = {k: v for k, v in s.human.items() if k in ("decision", "edited_inputs", "feedback")}
        if s.proposed_inputs is not None:
            human["proposed_inputs"] = s.proposed_inputs
        if s.tool == "UpdatePlan" and s.status == "done":
            plan_done = sum(1 for p in s.inputs.get("steps", []) if p.get("status") == "completed")
        transitions.append({
            "step": s.n, "tool": s.tool, "inputs": s.inputs, "outputs": s.content,
            "is_error": s.is_error, "status": s.status,
            "state_after": {"step_status": s.status, "plan_completed": plan_done},
            "started_at": s.started_at, "duration_s": s.duration_s,
            "cost_usd": round(led.step_cost(s), 8), "simulated": s.simulated,
            "human": human or {"decision": None},
        })
    return {
        "execution_id": led.run_id,
        "goal": led.goal,
        "mode": led.mode,
        "runtime": led.runtime,
        "model": led.model,
        "initial_state": initial_state,
        "transitions": transitions,
        "final_outcome": led.status,
        "error": led.error,
        "total_cost": round(led.usage.cost_usd, 8),
        "usage": led.usage.__dict__,
        "execution_time": _seconds_between(led.started_at, led.updated_at),
        "system": system,
        "tools": tools,
        "messages": led.messages,
    }
