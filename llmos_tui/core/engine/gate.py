"""The approval gate: one decision for every driver — which tool calls run at once, which wait for
a person, which are refused and why — and the one place that turns it into a step status.

The rule, in order:
1. A tool missing from the ToolMap (or declared there but not implemented by this runtime) is
   refused as an invalid call under the engine's drivers (native, scripted, the Claude Code SDK
   driver). **The one difference:** under the hook driver — a person's own Claude Code session,
   whose tools (TodoWrite, MCP tools, …) a ToolMap need not list — it is handed back to Claude
   Code's own permission rules, unless the policy is `ask` or the run is paused in llmos-tui,
   when a person decides.
2. Inputs that do not fit the tool's schema are an invalid call (the hook skips this: Claude Code
   checks its own tools' inputs).
3. Under the Claude Code SDK driver, file paths outside the workspace sandbox are refused before
   Claude Code runs the call (under the engine the tools themselves refuse them when they run).
4. `approval: deny` in the ToolMap refuses the call under every driver.
5. The run's policy: `never` runs everything, `ask` asks for everything, `side-effects` asks
   for calls whose tool touches anything or whose ToolMap entry says `ask`.
6. A paused run (the hook driver, where calls keep arriving) asks instead of running.
7. A breakpoint (core/engine/breakpoints.py) that stops the call makes one that would run wait
   for a person; a call that asks anyway records which breakpoint would have stopped it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from llmos_tui.core.engine import breakpoints
from llmos_tui.core.engine.recorder import RunRecorder
from llmos_tui.core.ledger import StepRecord
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.tools.base import ToolError
from llmos_tui.core.tools.sandbox import Sandbox

Driver = Literal["engine", "claude-code", "hook"]
Action = Literal["run", "ask", "deny", "invalid"]

# the file-path parameter of each tool Claude Code runs, checked against the sandbox
WRITE_PATHS = {"Write": "file_path", "Edit": "file_path", "NotebookEdit": "notebook_path"}
READ_PATHS = {"Read": "file_path", "Glob": "path", "Grep": "path"}


@dataclass(frozen=True)
class Verdict:
    action: Action
    message: str = ""  # what the model is told when the call is refused
    by: str = ""  # toolmap | sandbox | schema | policy | claude-code


def decide(
    tool: str,
    inputs: Any,
    *,
    policy: str,
    registry: ToolRegistry,
    driver: Driver = "engine",
    sandbox: Sandbox | None = None,
    paused: bool = False,
) -> Verdict:
    spec = registry.specs.get(tool)
    if spec is None or registry.get(tool) is None:
        if driver == "hook":
            if policy == "ask" or paused:
                return Verdict("ask", by="policy")
            return Verdict("run", by="claude-code")  # Claude Code's own permission rules decide
        return Verdict("invalid", f"Invalid {tool} call: {registry.validate(tool, inputs)}", by="schema")
    if driver != "hook":
        problem = registry.validate(tool, inputs)
        if problem:
            return Verdict("invalid", f"Invalid {tool} call: {problem}", by="schema")
    if driver == "claude-code" and sandbox is not None and isinstance(inputs, dict):
        refusal = _outside_sandbox(sandbox, tool, inputs)
        if refusal:
            return Verdict("deny", f"Refused by llmos-tui: {refusal}", by="sandbox")
    if spec.approval == "deny":
        return Verdict(
            "deny",
            f"{tool} is refused here: the ToolMap sets `approval: deny` for it. Use another tool or ask the person.",
            by="toolmap",
        )
    if policy == "never":
        action: Action = "run"
    elif policy == "ask" or spec.side_effects != "none" or spec.approval == "ask":
        action = "ask"
    else:
        action = "run"
    if action == "run" and paused:
        action = "ask"
    return Verdict(action, by="policy")


def _outside_sandbox(sandbox: Sandbox, tool: str, inputs: dict[str, Any]) -> str | None:
    try:
        key = WRITE_PATHS.get(tool)
        if key and isinstance(inputs.get(key), str):
            sandbox.resolve_write(inputs[key])
        key = READ_PATHS.get(tool)
        if key and isinstance(inputs.get(key), str) and inputs[key]:
            sandbox.resolve_read(inputs[key])
    except ToolError as exc:
        return str(exc)
    return None


def settle(rec: RunRecorder, step: StepRecord, verdict: Verdict) -> None:
    """The gate's answer as the step's next status: refused, waiting for a person, or running.
    A breakpoint of the run that stops the step makes a call that would run wait instead; the
    step's record names it (`breakpoint`), and so does the run's status change."""
    if verdict.action == "invalid":
        rec.move(step, "failed", content=verdict.message, is_error=True)
        return
    if verdict.action == "deny":
        rec.move(step, "denied", is_error=True, content=verdict.message, human={"decision": "denied", "by": verdict.by})
        return
    led = rec.ledger
    spec = breakpoints.hit(led.breakpoints, step, led, root=str(rec.ws.root)) if led.breakpoints else None
    if spec is None:
        if verdict.action == "ask":
            rec.move(step, "awaiting_approval")
        else:
            rec.move(step, "running", human={"decision": "auto"})
        return
    rec.move(step, "awaiting_approval", extra={"breakpoint": spec})
    if led.status == "running":
        rec.set_status(
            "awaiting_approval",
            reason=f'breakpoint "{spec}" hit at step {step.n} ({step.tool})',
        )
