"""What a headless run prints: a line per step and decision as it goes, the model's words as they
stream in, and the line that says how it ended."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmos_tui.core.text import plural

if TYPE_CHECKING:
    from llmos_tui.core.ledger import Ledger
    from llmos_tui.core.records import JournalRecord
    from llmos_tui.core.runner import Runner

ProgressListener = Callable[["JournalRecord", "Ledger"], None]

# the step statuses that get a progress line, and the run statuses that need none of their own
# (the step lines and the final line say them)
STEP_LINES = ("awaiting_approval", "uncertain", "done", "failed", "denied", "skipped")
RUN_QUIET = ("awaiting_approval", "running", "completed")


def decide_verbs(status: str) -> str:
    """The commands that answer a step in `status`, as `llmos-tui --help` lists them."""
    return "retry|skip" if status == "uncertain" else "approve|deny|skip"


def breakpoint_name(spec: object) -> str:
    """A breakpoint as the terminal names it: `"Write"`, `"bash:rm -rf"` (a spec is one line)."""
    return f'"{spec}"'


def progress_line(rec: JournalRecord, led: Ledger) -> str | None:
    """The line a record is worth on the terminal, or None."""
    from llmos_tui.core.text import inputs_gist

    kind, data = rec["kind"], rec["data"]
    line = None
    if kind == "run_status":
        err = (data.get("error") or {}).get("message") if data.get("error") else None
        why = err or data.get("reason")
        line = f"run {rec.get('to')}" + (f": {why}" if why else "")
        if rec.get("to") in RUN_QUIET or led.refusal:  # (a refusal: the end line says it, once)
            line = None
    elif kind == "step_status" and rec.get("to") in STEP_LINES:
        to = str(rec.get("to"))
        step = led.steps[rec["step"] - 1]
        line = f"step {step.n} {step.tool}({inputs_gist(step.inputs, items=2, width=40)}): {to.replace('_', ' ')}"
        if to == "awaiting_approval" and data.get("breakpoint"):
            line = (
                f"step {step.n} {step.tool}({inputs_gist(step.inputs, items=2, width=40)}) waits: breakpoint "
                f"{breakpoint_name(data['breakpoint'])} hit — approve with `llmos-tui approve --step {step.n}`, "
                f"or deny|skip"
            )
        elif to in ("awaiting_approval", "uncertain"):
            verbs = decide_verbs(to)
            line += f" — decide with `llmos-tui {verbs.split('|')[0]} --step {step.n}` ({verbs})"
        elif preview := step.result_preview():
            line += f" — {preview[:80]}"
    elif kind == "command" and data.get("applied") is False and data.get("reason"):
        line = f"command {data.get('action', '?')} rejected: {data['reason']}"
    if kind == "task":
        line = (
            f"sub-agent {data['child']} started"
            if data.get("event") == "started"
            else f"sub-agent {data['child']} {data.get('status', 'ended')}"
        )
    if line and led.parent:  # a Task sub-agent's progress, indented under its parent's step
        line = "  " * int(led.parent.get("depth", 1)) + "↳ " + line
    return line


SLOW_STEP_S = 1.0  # a step still running after this long gets a line of its own ("running…")


def progress_printer(quiet: bool) -> ProgressListener:
    def show(rec: JournalRecord, led: Ledger) -> None:
        if quiet:
            return
        line = progress_line(rec, led)
        if line:
            print(line, flush=True)
        if rec["kind"] == "step_status" and rec.get("to") == "running":
            _say_if_still_running(led, rec["step"])

    return show


def _say_if_still_running(led: Ledger, n: int) -> None:
    """A step that takes a while (a long Bash, a slow fetch) is said when it has run a second,
    so a headless run never looks stuck; a quick one only gets its result line."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    step = led.steps[n - 1]
    started = step.started_at

    def check() -> None:
        if step.status == "running" and step.started_at == started:
            from llmos_tui.core.text import inputs_gist

            indent = "  " * int(led.parent.get("depth", 1)) + "↳ " if led.parent else ""
            print(f"{indent}step {n} {step.tool}({inputs_gist(step.inputs, items=2, width=40)}): running…", flush=True)

    loop.call_later(SLOW_STEP_S, check)


def attach_text_printer(runner: Runner) -> None:
    """The model's words on stdout as they stream in (when the runtime streams them), a line
    break after each turn."""
    open_line = False

    def on_text(chunk: str) -> None:
        nonlocal open_line
        sys.stdout.write(chunk)
        sys.stdout.flush()
        open_line = bool(chunk) and not chunk.endswith("\n") or (open_line and not chunk)

    def on_record(rec: JournalRecord, led: Ledger) -> None:
        nonlocal open_line
        if rec["kind"] == "model_turn" and open_line:
            print(flush=True)
            open_line = False

    if runner.add_text_listener(on_text):
        runner.add_listener(on_record, first=True)  # before the progress line the turn may bring


def report_end(runner: Runner, result: str) -> None:
    """The last line of a headless run: how it ended, or where it stopped and what to do next.
    A run the model server refused for good (a context overflow, an unknown model: waiting could
    never help) ends the command with the one line that says what to change: BadInput, exit 2."""
    from llmos_tui.core.state import cost_text

    st = runner.ledger.snapshot()
    if result == "paused" and (refused := refusal(runner)) is not None:
        from llmos_tui.core.errors import BadInput

        raise BadInput(f"run {st.run_id} stopped: {refused}; then `llmos-tui resume {st.run_id}`")
    if result == "waiting":
        inner = runner
        while inner.stopped_in is not None:
            inner = inner.stopped_in
        where = f" of its sub-agent {inner.run_id}" if inner is not runner else ""
        cur = inner.ledger.current_step
        what = f"step {cur.n} ({cur.tool}, {cur.status.replace('_', ' ')})" if cur else "a step"
        if cur is not None and cur.breakpoint and cur.status == "awaiting_approval":
            what += f" at breakpoint {breakpoint_name(cur.breakpoint)}"
        verbs = decide_verbs(cur.status if cur is not None else "awaiting_approval")
        print(
            f"run {st.run_id} stopped at {what}{where}, which needs a decision (--no-wait); "
            f"decide with `llmos-tui {verbs}`, then `llmos-tui resume`"
        )
    elif result == "paused":
        reason = st.error["message"] if st.error else runner.ledger.status_reason
        why = f" ({reason})" if reason else ""
        print(f"run {st.run_id} paused{why}; continue with `llmos-tui resume {st.run_id}`")
    else:
        print(
            f"run {st.run_id} {result}: {plural(st.steps_total, 'call')}, {plural(st.turns, 'model turn')}, "
            f"{cost_text(st.usage)}"
        )


def refusal(runner: Runner) -> str | None:
    """Why the model server refused the run's request for good, in the run or the sub-agent it
    stopped in; None when it did not."""
    inner: Runner | None = runner
    while inner is not None:
        if inner.ledger.refusal is not None:
            return inner.ledger.refusal
        inner = inner.stopped_in
    return None
