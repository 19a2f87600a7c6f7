"""The words that tell the model a person edited its call before it ran.

The runner puts this note at the start of the result of an edited call, so the model reads what
changed and to what before the result (otherwise it sees "Wrote 5 bytes to hi.txt" answering
its call on hello.txt). The note is part of the step's result: journaled, in trace.json's
`outputs` and `messages`. Exports that show the call as it ran (core/formats) strip it again, so
a call and its result tell one story either way.
"""

from __future__ import annotations

import json
from typing import Any

NOTE_START = "[A person edited this call before it ran: "
NOTE_END = ". The result below is for the call as run.]\n"
VALUE_CHARS = 300  # each value shown up to this many characters


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def edit_note(proposed: dict[str, Any], inputs: dict[str, Any]) -> str:
    """'[A person edited this call before it ran: file_path is now "hi.txt" (you proposed
    "hello.txt"). The result below is for the call as run.]\\n'"""
    changes = []
    for key, value in inputs.items():
        if key not in proposed:
            changes.append(f"{key} is now {_show(value)} (you gave none)")
        elif proposed[key] != value:
            changes.append(f"{key} is now {_show(value)} (you proposed {_show(proposed[key])})")
    changes += [f"{key} was removed" for key in proposed if key not in inputs]
    return NOTE_START + ("; ".join(changes) or "the inputs are unchanged") + NOTE_END


def with_edit_note(proposed: dict[str, Any] | None, inputs: dict[str, Any], content: Any) -> Any:
    """A tool result's content with the note first, when a person edited the call (proposed is
    the model's inputs then); else the content as it is."""
    if proposed is None:
        return content
    note = edit_note(proposed, inputs)
    if isinstance(content, list):
        return [{"type": "text", "text": note.rstrip("\n")}, *content]
    return note + (content if isinstance(content, str) else "")


def strip_edit_note(content: Any) -> Any:
    """The content without a leading edit note (for a row that shows the call as it ran)."""
    if isinstance(content, str):
        if content.startswith(NOTE_START):
            end = content.find(NOTE_END)
            if end >= 0:
                return content[end + len(NOTE_END) :]
        return content
    if isinstance(content, list) and content:
        first = content[0]
        if (
            isinstance(first, dict)
            and first.get("type") == "text"
            and str(first.get("text", "")).startswith(NOTE_START)
        ):
            rest = content[1:]
            return rest or ""
    return content
