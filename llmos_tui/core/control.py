"""control.jsonl: commands from people and other processes to the process driving a run.

Anyone may append (one O_APPEND write per line, so writers never interleave); only the driver
reads, applies each command once, and journals it with its id and the file offset it reached.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_tui.core.fsutil import append_line
from llmos_tui.core.state import utcnow

ACTIONS = ("approve", "deny", "edit", "retry", "skip", "pause", "resume", "cancel", "breakpoints")


@dataclass(frozen=True)
class Command:
    id: str
    action: str
    step: int | None = None
    inputs: dict[str, Any] | None = None
    feedback: str | None = None
    scope: str | None = None  # "rest" on approve: approve this step and every later one
    breakpoints: tuple[str, ...] | None = None  # "breakpoints": the run's breakpoints from now on (all of them)
    at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "at": self.at or utcnow(), "action": self.action}
        if self.step is not None:
            d["step"] = self.step
        if self.inputs is not None:
            d["inputs"] = self.inputs
        if self.feedback:
            d["feedback"] = self.feedback
        if self.scope:
            d["scope"] = self.scope
        if self.breakpoints is not None:
            d["breakpoints"] = list(self.breakpoints)
        return d


@dataclass(frozen=True)
class BadCommand:
    """A control line that could not be used; reported once and skipped."""

    line: int
    reason: str


def new_command(
    action: str,
    *,
    step: int | None = None,
    inputs: dict[str, Any] | None = None,
    feedback: str | None = None,
    scope: str | None = None,
    breakpoints: tuple[str, ...] | list[str] | None = None,
) -> Command:
    return Command(
        id="c-" + secrets.token_hex(6),
        action=action,
        step=step,
        inputs=inputs,
        feedback=feedback,
        scope=scope,
        breakpoints=tuple(breakpoints) if breakpoints is not None else None,
        at=utcnow(),
    )


def parse_command(raw: bytes) -> Command:
    """One control line → Command; ValueError with a one-line reason when it is malformed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start + 1})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError("not JSON (nested too deeply)") from None
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    action = d.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    cid = d.get("id")
    if not isinstance(cid, str) or not cid:
        raise ValueError("missing id")
    step = d.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        raise ValueError("step must be a number")
    inputs = d.get("inputs")
    if inputs is not None and not isinstance(inputs, dict):
        raise ValueError("inputs must be an object")
    if action == "edit" and inputs is None:
        raise ValueError("edit needs inputs")
    feedback = d.get("feedback")
    if feedback is not None and not isinstance(feedback, str):
        raise ValueError("feedback must be text")
    scope = d.get("scope")
    if scope not in (None, "rest"):
        raise ValueError("scope must be 'rest' or absent")
    breakpoints = d.get("breakpoints")
    if breakpoints is not None and (
        not isinstance(breakpoints, list) or not all(isinstance(b, str) for b in breakpoints)
    ):
        raise ValueError("breakpoints must be a list of texts")
    if action == "breakpoints" and breakpoints is None:
        raise ValueError("breakpoints needs breakpoints (the run's whole list from now on)")
    return Command(
        id=cid,
        action=action,
        step=step,
        inputs=inputs,
        feedback=feedback,
        scope=scope,
        breakpoints=tuple(breakpoints) if breakpoints is not None else None,
        at=str(d.get("at") or ""),
    )


class ControlChannel:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, cmd: Command) -> Command:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_line(self.path, json.dumps(cmd.to_json(), ensure_ascii=False))
        return cmd

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def read_from(self, offset: int) -> list[tuple[Command | BadCommand, int]]:
        """Complete lines after `offset`, each with the offset just past it.

        A line still being written (no newline yet) is left for the next read.
        """
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        out: list[tuple[Command | BadCommand, int]] = []
        pos = offset
        line_no = None
        while True:
            nl = data.find(b"\n", pos - offset)
            if nl < 0:
                break
            raw = data[pos - offset : nl]
            end = offset + nl + 1
            if raw.strip():
                try:
                    out.append((parse_command(raw), end))
                except ValueError as exc:
                    if line_no is None:
                        with open(self.path, "rb") as fh:
                            line_no = fh.read(pos).count(b"\n") + 1
                    out.append((BadCommand(line_no, str(exc)), end))
            if line_no is not None:
                line_no += 1
            pos = end
        return out
