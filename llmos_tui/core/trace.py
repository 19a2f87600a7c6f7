"""trace.json: a run as a training example (the seed's format, extended; see docs/design.md §6)."""

from __future__ import annotations

from typing import Any

from llmos_tui.core.ledger import Ledger
from llmos_tui.core.text import seconds_between
from llmos_tui.core.workspace import JOURNAL_NAME, TRACE_NAME


def _seconds_between(a: str, b: str) -> float | None:
    secs = seconds_between(a, b)
    return None if secs is None else round(secs, 3)


def build_trace(led: Ledger, initial_state: dict[str, Any], system: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
    transitions = []
    plan_done = 0
    known = led.usage.cost_known  # (a model without a price: every cost is unknown, null, never $0)
    for s in led.steps:
        human = {k: v for k, v in s.human.items() if k in ("decision", "edited_inputs", "feedback")}
        if s.human.get("by") == "toolmap":
            human["by"] = "toolmap"  # refused by the ToolMap's `approval: deny`, not by a person
        if s.proposed_inputs is not None:
            human["proposed_inputs"] = s.proposed_inputs
        if s.tool == "UpdatePlan" and s.status == "done":
            plan_done = sum(1 for p in s.inputs.get("steps", []) if p.get("status") == "completed")
        transitions.append(
            {
                "step": s.n,
                "tool": s.tool,
                "tool_use_id": s.tool_use_id,  # the call in `messages` this step ran
                "inputs": s.inputs,
                "outputs": s.content,
                "is_error": s.is_error,
                "status": s.status,
                "state_after": {"step_status": s.status, "plan_completed": plan_done},
                "started_at": s.started_at,
                "duration_s": s.duration_s,
                "cost_usd": round(led.step_cost(s), 8) if known else None,
                "simulated": s.simulated,
                "human": human or {"decision": None},
            }
        )
    return {
        "execution_id": led.run_id,
        "goal": led.goal,
        "mode": led.mode,
        "runtime": led.runtime,
        "model": led.model,
        **({"served_model": led.served_model} if led.served_model else {}),  # the name its server answered with
        "initial_state": initial_state,
        "transitions": transitions,
        "final_outcome": led.status,
        "error": led.error,
        "total_cost": round(led.usage.cost_usd, 8) if known else None,
        "cost_known": known,
        "usage": led.usage.__dict__,
        "execution_time": _seconds_between(led.started_at, led.updated_at),
        "system": system,
        "tools": tools,
        "messages": led.messages,
        "journal_seq": led.seq,  # the journal record this trace is up to
        "parent": led.parent,  # a Task sub-agent's parent run and step
        "forked_from": led.forked_from,  # a fork's parent run and step (its history up to there is the parent's)
        "rewinds": led.rewinds,  # how many times the run was rewound (the history here is what counts)
    }


def load_trace(
    ws: Any, run_id: str, *, system: str | None = None, tools: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A run's trace, complete: trace.json when it is up to date with the journal, else rebuilt
    from the journal (a run killed midway, or one whose trace write was throttled), keeping the
    system prompt, tools and initial state its trace.json recorded. Not redacted: callers do."""
    import json

    from llmos_tui.core.errors import FileFormatError
    from llmos_tui.core.journal import _last_seq, iter_effective, iter_records
    from llmos_tui.core.state import to_front_matter

    run_dir = ws.run_dir(run_id)
    journal = run_dir / JOURNAL_NAME
    trace = None
    from llmos_tui.core.inputs import read_bytes

    try:  # an untrusted input: a regular file, bounded; anything else and it is rebuilt
        trace = json.loads(read_bytes(run_dir / TRACE_NAME, limit=1024 * 1_048_576))
    except (OSError, ValueError, RecursionError, FileFormatError):
        trace = None
    try:
        last = _last_seq(journal)
    except FileFormatError:
        last = -1  # a torn last line (a crash mid-write): fold what is there
    if isinstance(trace, dict) and trace.get("journal_seq") == last:
        return trace
    led = Ledger.from_records(iter_effective(journal), str(journal), keep_messages=True)
    if isinstance(trace, dict):
        initial, system, tools = trace.get("initial_state") or {}, trace.get("system", ""), trace.get("tools", [])
    else:
        first_rec = next(iter(iter_records(journal)), None)
        initial = to_front_matter(Ledger.from_records([first_rec] if first_rec else []).snapshot())
        system, tools = system or "", tools or []
    return build_trace(led, initial, system, tools)
