"""Small text helpers every face shares, each defined once: ISO times, markup escaping, and the
one-line summaries of a tool call's inputs."""

from __future__ import annotations

import datetime as dt
from typing import Any


def parse_iso(at: str | None) -> dt.datetime | None:
    """An ISO-8601 time as the journal writes it ("…Z"), timezone-aware; None when it is not one."""
    if not isinstance(at, str) or not at:
        return None
    try:
        t = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def seconds_between(a: str | None, b: str | None) -> float | None:
    t0, t1 = parse_iso(a), parse_iso(b)
    if t0 is None or t1 is None:
        return None
    return (t1 - t0).total_seconds()


def age(started_at: str) -> str:
    """'3m ago', '2h ago', '4d ago' — for run lists."""
    t0 = parse_iso(started_at)
    if t0 is None:
        return "?"
    secs = max(0, int((dt.datetime.now(dt.UTC) - t0).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit} ago"
    return f"{secs}s ago"


def plural(n: int, word: str) -> str:
    """`1 call`, `2 calls`, `1,000 steps`."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def escape_markup(s: str) -> str:
    """Text shown inside Rich/Textual markup: an opening bracket is never read as a tag."""
    return s.replace("[", r"\[")


def short_inputs(tool: str, inputs: dict[str, Any]) -> str:
    """The gist of a call's inputs in one line: the main argument first (a path, a command, a
    pattern, a URL), then the others as key=value."""
    if tool == "UpdatePlan":
        steps = inputs.get("steps") or []
        done = sum(1 for s in steps if isinstance(s, dict) and s.get("status") == "completed")
        return f"{plural(len(steps), 'step')}, {done} completed"
    key = next((k for k in ("file_path", "command", "pattern", "url", "description") if k in inputs), None)
    parts = []
    if key:
        parts.append(str(inputs[key]))
    for k, v in inputs.items():
        if k != key:
            parts.append(f"{k}={str(v)!r}")
    return " ".join(parts).replace("\n", "⏎")[:300]


def inputs_gist(inputs: dict[str, Any], *, items: int = 3, width: int = 60) -> str:
    """The first few inputs as `key='value'`, each value cut to `width` characters (for prompts
    and memory entries, where the whole call would be noise)."""
    return ", ".join(f"{k}={str(v)[:width]!r}" for k, v in list(inputs.items())[:items])
