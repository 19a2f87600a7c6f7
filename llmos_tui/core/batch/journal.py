"""batch.jsonl: what a batch did, one record per line, appended and fsync'd before it counts.

    {"seq": 1, "at": "…Z", "kind": "batch_started", "data": {...}}
    {"seq": 7, "at": "…Z", "kind": "goal_started", "goal": 3, "data": {"run_id": …, "dir": …}}
    {"seq": 9, "at": "…Z", "kind": "goal_ended", "goal": 3, "data": {"status": "done", …}}

Kinds: `batch_started` (the first: settings, the goals' count), `batch_resumed` (a later
`llmos-tui batch` on the same folder: its pid and the settings it changed), `goals_added` (goals
appended to the goals file since), `goal_started` (a goal handed to a worker: its run id is
fixed from here on), `goal_ended` (the run stopped: `status` done | failed | waiting | paused,
and the run's own status, cost, steps, error), `batch_stopped` (why the batch returned).

A goal's batch status is its last `goal_ended` status, or `running` after a `goal_started` with
no end since (the batch was killed: the run resumes under the run's own rules), or `queued`.
Folding is the only reading; a torn last line (a kill mid-write) is ignored and cut off by the
next writer, any other damage is reported with its line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.state import utcnow

KINDS = ("batch_started", "batch_resumed", "goals_added", "goal_started", "goal_ended", "batch_stopped")
GOAL_STATUSES = ("queued", "running", "done", "failed", "waiting", "paused")
FINAL = frozenset({"done", "failed"})  # a goal that is never run again


@dataclass
class GoalState:
    status: str = "queued"
    run_id: str | None = None
    dir: str | None = None
    cost: float = 0.0
    steps: int = 0
    run_status: str | None = None
    error: dict[str, Any] | None = None
    waiting: dict[str, Any] | None = None  # what the run waits for (a step, a pause) and how to decide it
    starts: int = 0  # goal_started records (a goal started again after a kill or a decision)


@dataclass
class BatchState:
    settings: dict[str, Any] = field(default_factory=dict)
    goals: dict[int, GoalState] = field(default_factory=dict)
    count: int = 0  # goals the batch has taken
    seq: int = 0
    stopped: dict[str, Any] | None = None

    def goal(self, index: int) -> GoalState:
        return self.goals.setdefault(index, GoalState())

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(GOAL_STATUSES, 0)
        for i in range(1, self.count + 1):
            out[self.goals[i].status if i in self.goals else "queued"] += 1
        return out

    @property
    def cost(self) -> float:
        return sum(g.cost for g in self.goals.values())


class BatchJournal:
    """The batch's journal: the coordinator is its only writer (it holds the batch lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.state = BatchState()
        if self.path.exists():
            for rec in read_batch_records(self.path):
                apply(self.state, rec)
            _cut_torn_tail(self.path)

    def record(self, kind: str, goal: int | None = None, **data: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {"seq": self.state.seq + 1, "at": utcnow(), "kind": kind}
        if goal is not None:
            rec["goal"] = goal
        rec["data"] = data
        line = (json.dumps(rec, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)  # a goal's start and end are few and must survive a kill: each is durable
        finally:
            os.close(fd)
        apply(self.state, rec)
        return rec


def read_batch_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a batch journal, checked; a torn last line is left out."""
    with open(path, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    complete = lines[:-1]  # (the piece after the last newline is torn, or empty)
    expect = 1
    for n, raw in enumerate(complete, start=1):
        try:
            rec = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise FileFormatError(str(path), n, f"not a batch record: {exc}") from None
        if (
            not isinstance(rec, dict)
            or rec.get("kind") not in KINDS
            or rec.get("seq") != expect
            or not isinstance(rec.get("data"), dict)
        ):
            raise FileFormatError(str(path), n, f"not a batch record (seq {expect} expected, a known kind, data)")
        if n == 1 and rec["kind"] != "batch_started":
            raise FileFormatError(str(path), n, "a batch journal starts with batch_started")
        expect += 1
        yield rec


def _cut_torn_tail(path: Path) -> None:
    with open(path, "rb+") as fh:
        data = fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            fh.truncate(end)
            os.fsync(fh.fileno())


def apply(state: BatchState, rec: dict[str, Any]) -> None:
    kind, data = rec["kind"], rec["data"]
    state.seq = rec["seq"]
    if kind == "batch_started":
        state.settings = dict(data.get("settings") or {})
        state.count = int(data.get("goals") or 0)
    elif kind == "batch_resumed":
        state.settings.update(data.get("settings") or {})
        state.stopped = None
    elif kind == "goals_added":
        state.count = int(data.get("goals") or state.count)
    elif kind == "goal_started":
        g = state.goal(int(rec["goal"]))
        g.status, g.run_id, g.dir = "running", data.get("run_id"), data.get("dir")
        g.waiting, g.starts = None, g.starts + 1
    elif kind == "goal_ended":
        g = state.goal(int(rec["goal"]))
        g.status = str(data.get("status"))
        g.run_id = data.get("run_id", g.run_id)
        g.dir = data.get("dir", g.dir)
        g.cost = float(data.get("cost") or 0.0)
        g.steps = int(data.get("steps") or 0)
        g.run_status = data.get("run_status")
        g.error = data.get("error")
        g.waiting = data.get("waiting")
    elif kind == "batch_stopped":
        state.stopped = data
