"""Journal records, typed: what a line of journal.jsonl holds, and the one function that reads one.

A record stays a plain dict at run time (it is written and read as JSON, and folded by the
ledger), but its shape is declared here and checked once, where a line is read
(`parse_record`): every reader — resume, `status`, a watcher, the TUI, exports — gets records
whose `seq`, `at`, `kind`, `step`, `from`, `to` and `data` have the types below. The record kinds
and the fields of their `data` are listed in docs/design.md ("journal.jsonl").
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict, cast, get_args

Kind = Literal[
    "run_started",  # data: run_id, goal, mode, runtime, model, variables, approval, pid, config, memory
    "run_status",  # from/to: run statuses; data: error?, reason?, command?
    "model_turn",  # data: content, stop_reason, usage, model
    "user_message",  # data: content (a nudge or a prompt the driver added)
    "tool_results",  # data: tool_use_ids (their results go back to the model as one message)
    "step_status",  # step, from/to: step statuses (from null: proposed; data: tool, inputs, …)
    "step_exec",  # step: its tool starts now (the write-ahead point of a side effect)
    "step_process",  # step; data: pgid, start, boot, mark (the process group a Bash call started)
    "step_edited",  # step; data: before, after, by|command
    "plan_updated",  # data: plan [{title, status}], by?
    "variables_updated",  # data: variables, by
    "policy_changed",  # data: approval, command?
    "command",  # data: the control command, applied, reason?, offset
    "usage",  # step?; data: usage, for (model calls outside the conversation)
    "task",  # step; data: child, event (started|ended), status?, offset?
    "resumed",  # data: pid
    "note",  # step?; data: message (for people; changes nothing)
    "memory_saved",  # data: experience_id, learnings (model|derived)
    "claude_session",  # data: session_id, … (the Claude Code session a run continues)
    "checkpoint",  # step?; data: id, files, skipped, at (the workspace's files before step n, or at: start|end)
    "rewound",  # step; data: at_seq, checkpoint, undo, … (history after at_seq no longer counts; see journal.iter_effective)
    "files_restored",  # step; data: checkpoint (a rewind's files are back: the intent of `rewound` is done)
    "forked",  # step; data: parent, parent_step, at_seq, … (a fork's history up to here is its parent's)
    "breakpoints_changed",  # data: breakpoints, by (the run's breakpoints from now on)
]
KINDS: Final[frozenset[str]] = frozenset(get_args(Kind))


# (the functional form: `from` is a Python keyword)
JournalRecord = TypedDict(
    "JournalRecord",
    {
        "seq": int,
        "at": str,
        "kind": Kind,
        "step": NotRequired[int],
        "from": NotRequired["str | None"],
        "to": NotRequired["str | None"],
        "data": dict[str, Any],
    },
)


class RecordError(ValueError):
    """A line that is not a journal record; its message says why in a few words."""


def parse_record(obj: Any) -> JournalRecord:
    """`obj` (a decoded JSON line) as a record, or RecordError. Unknown kinds are kept (a newer
    llmos-tui may write kinds this one does not fold) but every field's type is checked."""
    if not isinstance(obj, dict):
        raise RecordError("not a JSON object")
    seq, kind = obj.get("seq"), obj.get("kind")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise RecordError("seq must be an integer")
    if not isinstance(kind, str) or not kind:
        raise RecordError("kind must be a string")
    if not isinstance(obj.get("at", ""), str):
        raise RecordError("at must be a string")
    step = obj.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 1):
        raise RecordError("step must be a positive integer")
    for key in ("from", "to"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise RecordError(f"{key} must be a string or null")
    data = obj.get("data")
    if data is None:
        obj["data"] = {}
    elif not isinstance(data, dict):
        raise RecordError("data must be an object")
    obj.setdefault("at", "")
    return cast(JournalRecord, obj)


def make_record(
    seq: int,
    at: str,
    kind: Kind,
    *,
    step: int | None = None,
    frm: str | None = None,
    to: str | None = None,
    data: dict[str, Any] | None = None,
) -> JournalRecord:
    """A new record in the key order journal.jsonl has always used."""
    rec: dict[str, Any] = {"seq": seq, "at": at, "kind": kind}
    if step is not None:
        rec["step"] = step
    if frm is not None or to is not None:
        rec["from"] = frm
        rec["to"] = to
    rec["data"] = data or {}
    return cast(JournalRecord, rec)
