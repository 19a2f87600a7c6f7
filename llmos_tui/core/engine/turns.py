"""Between two model turns: what the last reply asks for, whether a limit stops the run, and the
system prompt every turn is sent with — the same rules for the loop and the Claude Code driver."""

from __future__ import annotations

from typing import Literal

from llmos_tui.core.engine.recorder import RunRecorder
from llmos_tui.core.statuses import RUN_TERMINAL

Outcome = Literal["ended", "nudge", "continue"]


def reply_outcome(rec: RunRecorder) -> Outcome:
    """What the model's last reply asks for: 'ended' (the run was completed or failed here),
    'nudge' (cut off at max_tokens: ask it to go on) or 'continue'."""
    led = rec.ledger
    if led.messages[-1]["role"] != "assistant":
        return "continue"
    reason = led.last_stop_reason
    if reason == "refusal":
        rec.set_status("failed", error={"type": "refusal", "message": "the model declined to continue"})
        return "ended"
    if reason == "max_tokens":
        return "nudge"
    if reason == "pause_turn":
        return "continue"
    rec.set_status("completed", error=None)
    return "ended"


def stop_at_limits(rec: RunRecorder) -> bool:
    """Before the model works again: max_turns fails the run, max_cost_usd pauses it. True when a
    limit was reached (or the run has ended)."""
    led, config = rec.ledger, rec.config
    if led.status in RUN_TERMINAL:
        return True
    if led.turns >= config.max_turns:
        rec.set_status(
            "failed", error={"type": "max_turns", "message": f"stopped after {led.turns} model turns (max_turns)"}
        )
        return True
    budget = config.max_cost_usd
    if budget is not None and led.usage.cost_usd >= budget:
        if led.status != "paused":
            message = f"cost ${led.usage.cost_usd:.4f} reached max_cost_usd ${budget:.2f}"
            rec.set_status("paused", error={"type": "budget", "message": message})
        return True
    return False


def system_prompt(rec: RunRecorder) -> str:
    """SystemAgent.md's body, the ToolMap, the run's SmartMemory and where it runs."""
    led, config, registry = rec.ledger, rec.config, rec.registry
    parts = [config.system_prompt.rstrip(), "", registry.toolmap_summary()]
    if led.memory:
        parts += ["", led.memory]
    if led.parent:
        parts += [
            "",
            f"You are a sub-agent started by the Task tool (depth {led.parent.get('depth', 1)}) "
            f"for: {led.goal}. Do the task, then end with a final message that "
            f"reports the result: the parent agent receives only that message.",
        ]
    parts += ["", f"Workspace: {rec.ws.root}", f"Mode: {led.mode}"]
    if led.mode == "simulate":
        parts.append("Tool results in this run are simulated: nothing is really read, written, run or fetched.")
    if registry.unavailable:
        parts.append(f"Declared but not available in this runtime: {', '.join(registry.unavailable)}.")
    return "\n".join(parts) + "\n"
