"""The words a person's decision reaches the model in, defined once — and read back.

The driver writes them as the result of a call a person denied or skipped (core/engine/commands.py);
the scripted runtime reads them back from the conversation to follow the branch a script wrote for
that decision (core/runtime/scripted.py). An edited call's note is core/editnote.py's.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from llmos_tui.core.editnote import NOTE_START

Outcome = Literal["denied", "skipped", "edited", "error"]

DENIED_START = "A person denied this "
REASON_MARK = " call. Their reason: "
SKIPPED = "A person skipped this call; it was not run."
SKIPPED_UNCERTAIN = (
    "This call was interrupted and its outcome is unknown; a person chose not to run it again. "
    "Check its effect before relying on it."
)
NO_REASON = "no reason given"


def denied_text(tool: str, why: str | None) -> str:
    return f"{DENIED_START}{tool}{REASON_MARK}{(why or '').strip() or NO_REASON}"


def skipped_text(*, uncertain: bool) -> str:
    return SKIPPED_UNCERTAIN if uncertain else SKIPPED


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def outcome_of(result: dict[str, Any]) -> tuple[Outcome | None, str]:
    """What a tool_result block says happened: (outcome, the person's reason for a denial)."""
    text = _text(result.get("content"))
    if text.startswith(DENIED_START) and REASON_MARK in text:
        why = text.split(REASON_MARK, 1)[1].strip()
        return "denied", "" if why == NO_REASON else why
    if text.startswith((SKIPPED, SKIPPED_UNCERTAIN)):
        return "skipped", ""
    if text.startswith(NOTE_START):
        return "edited", ""
    if result.get("is_error"):
        return "error", ""
    return None, ""


# a turn's calls may end differently: the branch follows the one that matters most to a person
PRECEDENCE: tuple[Outcome, ...] = ("denied", "skipped", "edited", "error")


def turn_outcome(results: list[dict[str, Any]]) -> tuple[Outcome | None, str]:
    """The outcome of one turn's calls (from the tool_result blocks answering it), by PRECEDENCE."""
    seen: dict[Outcome, str] = {}
    for block in results:
        outcome, why = outcome_of(block)
        if outcome is not None and outcome not in seen:
            seen[outcome] = why
    for outcome in PRECEDENCE:
        if outcome in seen:
            return outcome, seen[outcome]
    return None, ""


_FILE = re.compile(r"[\w./-]*\w\.\w{1,8}\b")


def file_named_in(text: str) -> str | None:
    """The first file name in a person's words ('write it to notes/weather.md instead' → notes/weather.md)."""
    m = _FILE.search(text)
    return m[0] if m else None
