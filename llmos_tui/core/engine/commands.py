"""People's commands to a run: control.jsonl lines and edits of execution_state.md.

Both are inputs from outside the driver. A command is applied once (its id is journaled with the
control.jsonl offset reached); a state-file edit is taken up only when the file shows the run as
the journal has it (same run, same journal_seq), so a file that merely lags is never read as an
edit; a file that does not parse pauses the run and is never overwritten.
"""

from __future__ import annotations

from llmos_tui.core.control import BadCommand, Command, ControlChannel
from llmos_tui.core.engine.breakpoints import check_all
from llmos_tui.core.engine.recorder import RunRecorder
from llmos_tui.core.errors import BadInput, FileFormatError
from llmos_tui.core.journal import tail_records
from llmos_tui.core.outcomes import NO_REASON, denied_text, skipped_text
from llmos_tui.core.state import as_json, shown_inputs
from llmos_tui.core.statuses import RUN_TERMINAL

ALLOWED = {
    "approve": ("awaiting_approval",),
    "deny": ("awaiting_approval",),
    "edit": ("awaiting_approval", "uncertain"),
    "skip": ("awaiting_approval", "uncertain"),
    "retry": ("uncertain",),
}
# journal records that change nothing a person may edit in execution_state.md: a file written
# before them is still an edit of the run as it is
EDIT_NEUTRAL = frozenset(
    {"run_status", "note", "command", "resumed", "policy_changed", "breakpoints_changed", "usage", "memory_saved"}
)


class Commands:
    def __init__(self, rec: RunRecorder, control: ControlChannel) -> None:
        self.rec = rec
        self.control = control
        self._control_problem: str | None = None  # why control.jsonl cannot be read, once said
        rec.on_foreign_edit = self.take_up_state_file

    def active_status(self) -> str:
        """The status of a run that goes on: waiting for a person, or running."""
        cur = self.rec.ledger.current_step
        return "awaiting_approval" if cur and cur.status in ("awaiting_approval", "uncertain") else "running"

    # ------------------------------------------------------------ control.jsonl

    def poll(self) -> None:
        """Apply the commands appended since the last poll, each once."""
        led = self.rec.ledger
        size = self.control.size()
        if size < led.control_offset and self._control_problem is None:
            # cut or replaced: what is appended now stays unread until the file grows past the
            # point already read (commands are applied once, by offset) — said, not silent
            self._control_problem = (
                f"control.jsonl is shorter ({size} bytes) than what was already read from it "
                f"({led.control_offset} bytes): it was cut or replaced; commands appended to it "
                f"are read once it grows past that point (send them with llmos-tui, or resume)"
            )
            self.rec.note(self._control_problem)
        if size <= led.control_offset:
            return
        # A state-file edit made before these commands is taken up first: once a command is
        # applied the journal moves on, and the edit could no longer be told from lag.
        self.take_up_state_file()
        try:
            items = self.control.read_from(led.control_offset)
        except OSError as exc:  # a folder in its place, no permission: said once, the run goes on
            problem = f"control.jsonl cannot be read ({exc.strerror or exc}); commands wait until it can"
            if problem != self._control_problem:
                self._control_problem = problem
                self.rec.note(problem)
            return
        self._control_problem = None
        for item, end in items:
            if isinstance(item, BadCommand):
                self.rec.record(
                    "command",
                    data={
                        "applied": False,
                        "offset": end,
                        "line": item.line,
                        "reason": f"control.jsonl line {item.line}: {item.reason}",
                    },
                )
                continue
            if item.id in led.commands_seen:
                self.rec.record("command", data={"offset": end, "applied": False, "duplicate_of": item.id})
                continue
            reason = self.apply(item)
            self.rec.record(
                "command", data={**item.to_json(), "applied": reason is None, "reason": reason, "offset": end}
            )

    def apply(self, cmd: Command) -> str | None:
        """Carry out one command; returns why it was rejected, or None when applied."""
        rec, led = self.rec, self.rec.ledger
        status = led.status
        if status in RUN_TERMINAL:
            return f"the run is {status}"
        if cmd.action == "pause":
            if status == "paused":
                return "the run is already paused"
            rec.set_status("paused", reason=cmd.feedback or "paused by a person", command=cmd.id)
            return None
        if cmd.action == "cancel":
            rec.set_status("cancelled", reason=cmd.feedback or "cancelled by a person", command=cmd.id)
            return None
        if cmd.action == "breakpoints":
            return self.set_breakpoints(cmd)
        if cmd.action == "resume" or (cmd.action == "retry" and status == "paused" and cmd.step is None):
            if status != "paused":
                return "the run is not paused"
            if rec.blocked:
                return rec.blocked
            rec.set_status(self.active_status(), error=None, command=cmd.id)
            return None
        if cmd.step is not None and not 1 <= cmd.step <= len(led.steps):
            return f"there is no step {cmd.step}"
        step = led.steps[cmd.step - 1] if cmd.step is not None else (led.decision_step or led.current_step)
        if step is None:
            return "no step is waiting for a decision"
        allowed = ALLOWED[cmd.action]
        if step.status not in allowed:
            hint = " (the agent already has its result)" if step.settled else ""
            return f"step {step.n} is {step.status}{hint}; {cmd.action} needs it {' or '.join(allowed)}"
        if cmd.inputs is not None and cmd.action in ("edit", "approve", "retry"):
            problem = rec.registry.validate(step.tool, cmd.inputs)
            if problem:
                return f"edited inputs do not fit {step.tool}: {problem}"
            if cmd.inputs != step.inputs:
                rec.record(
                    "step_edited", step=step.n, data={"before": step.inputs, "after": cmd.inputs, "command": cmd.id}
                )
        if cmd.action == "approve":
            rec.move(
                step, "running", human={"decision": "edited" if step.human.get("edited") else "approved", "by": cmd.id}
            )
            if cmd.scope == "rest":
                rec.record("policy_changed", data={"approval": "never", "command": cmd.id})
        elif cmd.action == "deny":
            why = (cmd.feedback or "").strip() or NO_REASON
            rec.move(
                step,
                "denied",
                is_error=True,
                human={"decision": "denied", "feedback": why, "by": cmd.id},
                content=denied_text(step.tool, why),
            )
        elif cmd.action == "skip":
            text = skipped_text(uncertain=step.status != "awaiting_approval")
            rec.move(
                step,
                "skipped",
                is_error=True,
                content=text,
                human={"decision": "skipped", "feedback": cmd.feedback, "by": cmd.id},
            )
        elif cmd.action == "retry":
            rec.move(step, "running", human={"decision": "retried", "by": cmd.id})
        if status == "awaiting_approval" and step.status != "awaiting_approval":
            rec.set_status("running")
        return None

    def set_breakpoints(self, cmd: Command) -> str | None:
        """The run's breakpoints from now on (the command carries the whole list): each checked
        against the run's tools first; the steps already waiting keep waiting."""
        rec = self.rec
        try:
            specs = check_all(cmd.breakpoints or (), rec.registry)
        except BadInput as exc:
            return str(exc)
        if specs != rec.ledger.breakpoints:
            rec.record("breakpoints_changed", data={"breakpoints": list(specs), "by": cmd.id})
        return None

    # ------------------------------------------------------------ execution_state.md as an input

    def take_up_state_file(self, *, on_resume: bool = False) -> None:
        """Take up a person's edit of execution_state.md.

        An edit that does not parse (bad YAML, a wrong type, not UTF-8, a folder in the file's
        place), or that gives the waiting step inputs its tool refuses, is refused as a whole:
        the run pauses with a `state_file` error saying why, a note says it in the journal, and
        the file is left exactly as the person wrote it until it parses. The driver goes on.
        On resume a file that does not parse raises (the run does not start over it)."""
        rec = self.rec
        sf = rec.state_file
        if not on_resume and not sf.changed_by_others():
            return
        if not sf.exists():
            rec.blocked = None
            return
        try:
            edited = sf.load()
        except FileFormatError as exc:
            if on_resume:
                raise
            self._refuse(
                f"execution_state.md was edited and does not parse ({exc}); fix it, then `llmos-tui resume {self.rec.run_id}`"
            )
            return
        led = rec.ledger
        if edited.run_id != led.run_id:
            rec.blocked = None
            if not on_resume:  # on resume the file shows another run: ours is rebuilt from its journal
                rec.note(f"execution_state.md now shows run {edited.run_id}; rewriting it with this run")
            return
        status_then = self._status_when_written(edited.journal_seq)
        if status_then is None:
            # The file lags the journal (a crash, or a busy run): its differences are not edits,
            # but a person's request to stop is honoured.
            rec.blocked = None
            self._take_up_status(edited.status, "", on_resume=on_resume)
            return
        cur = led.current_step
        pending = edited.pending_step
        step_edit = None
        if (
            cur is not None
            and pending is not None
            and pending.n == cur.n
            and cur.status in ("awaiting_approval", "uncertain")
            and as_json(pending.inputs) != as_json(shown_inputs(cur.view()))
        ):
            step_edit = as_json(pending.inputs)
            problem = rec.registry.validate(cur.tool, step_edit)
            if problem:
                self._refuse(
                    f"the edit of step {cur.n} in execution_state.md is refused: its inputs do not fit "
                    f"{cur.tool}: {problem}; fix or undo it, then `llmos-tui resume {self.rec.run_id}`",
                    step=cur.n,
                )
                return
        rec.blocked = None
        variables = as_json(edited.variables)
        if variables != led.variables:
            rec.record("variables_updated", data={"variables": variables, "by": "state_file"})
        plan = [{"title": p.title, "status": p.status} for p in edited.plan]
        if plan != [{"title": p.title, "status": p.status} for p in led.plan]:
            rec.record("plan_updated", data={"plan": plan, "by": "state_file"})
        if cur is not None and step_edit is not None:
            rec.record("step_edited", step=cur.n, data={"before": cur.inputs, "after": step_edit, "by": "state_file"})
        self._take_up_status(edited.status, status_then, on_resume=on_resume)

    def _take_up_status(self, wanted: str, written: str, *, on_resume: bool) -> None:
        """A status a person wrote into the file (`written`: the status the file had when the
        driver wrote it; "" when the file lags). On resume only `cancelled` counts: resuming is
        the request to go on."""
        rec, led = self.rec, self.rec.ledger
        if wanted == written or led.status in RUN_TERMINAL:
            return
        if wanted == "cancelled":
            rec.set_status("cancelled", reason="cancelled through execution_state.md")
        elif on_resume:
            return
        elif wanted == "paused" and led.status != "paused":
            rec.set_status("paused", reason="paused through execution_state.md")
        elif written and led.status == "paused" and wanted in ("running", "awaiting_approval"):
            rec.set_status(self.active_status(), error=None, reason="resumed through execution_state.md")

    def _refuse(self, message: str, *, step: int | None = None) -> None:
        """A broken edit: said once (a note, and the run paused with the reason as its error);
        the file is left as it is (`blocked`) until it parses."""
        rec = self.rec
        if rec.blocked == message:
            return
        rec.blocked = message  # first: the records below flush, and must not overwrite the file
        rec.note(message, step=step)
        if rec.ledger.status not in RUN_TERMINAL and rec.ledger.status != "paused":
            rec.set_status("paused", error={"type": "state_file", "message": message})

    def _status_when_written(self, file_seq: int) -> str | None:
        """The run's status when the driver wrote the file a person edited, if the journal has
        moved on since only in ways the file does not show (a status, a note, a command record):
        then the file is still the person's to edit. None when the file merely lags."""
        led = self.rec.ledger
        if file_seq == led.seq:
            return led.status
        if not 0 < file_seq < led.seq or led.seq - file_seq > 500:
            return None
        later = tail_records(self.rec.journal.path, after_seq=file_seq)
        if later is None or any(r["kind"] not in EDIT_NEUTRAL for r in later):
            return None
        first = next((r for r in later if r["kind"] == "run_status"), None)
        return first.get("from") or led.status if first is not None else led.status
