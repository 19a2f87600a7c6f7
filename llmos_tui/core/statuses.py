"""Run and step statuses, and the one table of legal transitions for each.

Every status change in the engine goes through `check_run` / `check_step`, so an illegal
transition raises instead of silently corrupting a run.
"""

from __future__ import annotations

from llmos_tui.core.errors import IllegalTransition

RUN_STATUSES = (
    "planning",
    "awaiting_approval",
    "running",
    "paused",
    "completed",
    "failed",
    "cancelled",
)
# runtimes whose conversation lives in Claude Code, not in the journal: such a run cannot be
# rewound or forked (core/timetravel.py); the TUI asks this before it offers the keys
NOT_REWINDABLE = {"claude-code": "a Claude Code session", "external": "a Claude Code session (hooks)"}

STEP_STATUSES = (
    "proposed",
    "awaiting_approval",
    "running",
    "done",
    "failed",
    "denied",
    "skipped",
    "uncertain",
)

RUN_TERMINAL = frozenset({"completed", "failed", "cancelled"})
STEP_SETTLED = frozenset({"done", "failed", "denied", "skipped"})

RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    "planning": frozenset({"running", "awaiting_approval", "paused", "completed", "failed", "cancelled"}),
    "running": frozenset({"awaiting_approval", "paused", "completed", "failed", "cancelled"}),
    "awaiting_approval": frozenset({"running", "paused", "failed", "cancelled"}),
    "paused": frozenset({"running", "awaiting_approval", "failed", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}

STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    # A new step enters as `proposed`; the gate then asks, runs, or refuses it.
    # `failed` straight away: an unknown tool or inputs that do not fit its schema.
    "proposed": frozenset({"awaiting_approval", "running", "denied", "skipped", "failed"}),
    "awaiting_approval": frozenset({"running", "denied", "skipped"}),
    # A read-only step cut off by a crash stays `running` and simply runs again on resume.
    "running": frozenset({"done", "failed", "uncertain"}),
    # A side-effecting step cut off mid-run waits for a person: retry or skip.
    "uncertain": frozenset({"running", "skipped"}),
    "done": frozenset(),
    "failed": frozenset(),
    "denied": frozenset(),
    "skipped": frozenset(),
}


def check_run(current: str, new: str) -> None:
    """Raise IllegalTransition unless a run may go from `current` to `new`."""
    if new not in RUN_TRANSITIONS:
        raise IllegalTransition(f"unknown run status {new!r}")
    if new not in RUN_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"a run cannot go from {current} to {new}")


def check_step(n: int, current: str, new: str) -> None:
    """Raise IllegalTransition unless step `n` may go from `current` to `new`."""
    if new not in STEP_TRANSITIONS:
        raise IllegalTransition(f"unknown step status {new!r}")
    if new not in STEP_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"step {n} cannot go from {current} to {new}")


# what a driver returns when it stopped at a decision because of --no-wait (not a run status)
WAITING = "waiting"
