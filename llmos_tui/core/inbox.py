"""Every step waiting for a person across many workspaces, and every run of them (`llmos-tui inbox`).

`Inbox.scan()` looks at the places it was given — workspaces, and batch folders whose goal
workspaces it lists as they appear — and answers with an `InboxView`: the steps waiting (awaiting
approval or uncertain), oldest first; every run with its status, step, cost and driver; each
batch's progress from its journal. A face calls it off its event loop, again and again, and each
call costs little:

- a runs/ folder is listed again only when its mtime moved (a run folder appeared);
- a run still going is a `core.source.FollowedRun`: its journal is folded once, then only what
  was appended is read, and only when the file's size moved;
- an ended run is a line of summary (its final state copy, when that copy is as far as the
  journal goes), its journal looked at again only every few scans (a rewind wakes it up);
- the driver lock is tested once per workspace with a run going, the batch journal re-read only
  when it grew.

`decide()` sends a person's decision the way `llmos-tui approve` does (core.decisions: the top
run's control.jsonl) after checking that the step still waits, and says what the driver made
of it — or that no process drives the run and the decision is queued for the next one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_tui.core.batch.journal import FINAL, BatchState, apply, read_batch_records
from llmos_tui.core.batch.scheduler import Progress
from llmos_tui.core.batch.workspaces import batch_workspaces, is_batch_folder
from llmos_tui.core.control import Command, ControlChannel
from llmos_tui.core.decisions import await_outcome, decision_target, running_subagents, send_decision
from llmos_tui.core.errors import LlmosError
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.lock import holder_info
from llmos_tui.core.records import JournalRecord
from llmos_tui.core.source import FollowedRun, Validator
from llmos_tui.core.state import RunState, StateFile
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.text import parse_iso
from llmos_tui.core.workspace import STATE_NAME, Workspace

WAITING = ("awaiting_approval", "uncertain")
ENDED_EVERY = 10  # scans between two looks at an ended run's journal (a rewind may wake it)
RELIST_EVERY = 20  # scans between two listings of a runs/ or batch folder whose mtime did not move
TAIL = 65536  # bytes read from a journal's end to learn its last seq


def now() -> float:
    """The time ages are measured against (tests pin it)."""
    return time.time()


def short_age(seconds: float | None) -> str:
    """`12s`, `3m`, `2h`, `4d`: how long ago, in the few characters a column has."""
    if seconds is None:
        return "?"
    secs = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def seconds_since(at: str | None, t: float) -> float | None:
    when = parse_iso(at)
    return None if when is None else t - when.timestamp()


# ---------------------------------------------------------------------------- places


@dataclass(frozen=True)
class Place:
    """A folder given to the inbox: a workspace (or the project holding it), or a batch folder."""

    path: Path
    label: str
    ws: Workspace | None = None  # None for a batch folder

    @property
    def batch(self) -> bool:
        return self.ws is None


def places_from(dirs: Sequence[str | Path]) -> list[Place]:
    """The places DIR arguments name: a batch folder as it is, anything else as `Workspace.locate`
    reads it (BadInput when there is none); no DIR: the current workspace. The same folder named
    twice counts once. Each gets the shortest label that tells it from the others."""
    found: list[tuple[Path, Workspace | None]] = []
    if not dirs:
        here = Workspace.locate(None)
        found.append((_project_of(here), here))
    for d in dirs:
        path = Path(d).expanduser().resolve()
        if is_batch_folder(path):
            found.append((path, None))
        else:
            ws = Workspace.locate(path)
            found.append((_project_of(ws), ws))
    unique: dict[Path, Workspace | None] = {}
    for path, where in found:
        unique.setdefault(path, where)
    labels = short_labels(list(unique))
    return [Place(path, labels[path], where) for path, where in unique.items()]


def _project_of(ws: Workspace) -> Path:
    """The folder a person knows a workspace by: its project folder, or itself."""
    return ws.root.parent if ws.root.name == "workspace" else ws.root


def short_labels(paths: Sequence[Path]) -> dict[Path, str]:
    """For each path, its shortest trailing part that no other path of the list ends with."""
    out: dict[Path, str] = {}
    for p in paths:
        parts = p.parts
        for k in range(1, len(parts) + 1):
            tail = parts[-k:]
            if not any(q != p and q.parts[-k:] == tail for q in paths):
                out[p] = "/".join(tail)
                break
        else:
            out[p] = str(p)
    return out


# ---------------------------------------------------------------------------- what a scan sees


@dataclass(frozen=True)
class WaitingStep:
    """A step waiting for a person, with what it takes to decide it."""

    ws: Workspace
    where: str  # the workspace's label (a batch goal: its folder's name)
    top_id: str  # the run whose control.jsonl carries decisions
    run_id: str  # the run deciding: top_id, or a Task sub-agent of it
    goal: str
    n: int
    tool: str
    inputs: dict[str, Any]
    status: str  # awaiting_approval | uncertain
    side_effects: str
    since: str  # when it began waiting (ISO)
    driver: str  # `pid 123`, `hooks` (a Claude Code session between its hook calls) or `` (none)
    breakpoint: str | None = None
    queued: str | None = None  # a decision for it waits in control.jsonl for the next driver
    batch: Path | None = None  # the batch folder a goal's workspace belongs to

    @property
    def key(self) -> tuple[str, str, int, str]:
        """Which wait this is: a step waiting again later (after a rewind) is a new one."""
        return (str(self.ws.root), self.run_id, self.n, self.since)

    @property
    def driven(self) -> bool:
        """A live process would apply a decision now."""
        return self.driver.startswith("pid")


@dataclass(frozen=True)
class RunRow:
    ws: Workspace
    where: str
    run_id: str
    goal: str
    status: str
    step: int | None  # the current (first unsettled) step
    steps: int
    cost: float
    started_at: str
    updated_at: str
    driver: str  # as WaitingStep.driver; `` for an ended run
    waiting: int = 0  # steps of it waiting for a person
    problem: str | None = None  # the run could not be read

    @property
    def no_driver(self) -> bool:
        """A run still going that no process drives (its commands wait for `resume`)."""
        return self.status not in RUN_TERMINAL and not self.driver and self.problem is None


@dataclass(frozen=True)
class BatchView:
    path: Path
    label: str
    progress: Progress
    running: bool  # the batch's coordinator is at work
    stopped: str | None = None  # why the batch last returned, when it is not running
    problem: str | None = None


@dataclass(frozen=True)
class Answer:
    """What a driver made of a decision sent earlier that was queued (it applied it later)."""

    cmd_id: str
    run_id: str
    where: str
    action: str
    step: int | None
    applied: bool
    reason: str | None


@dataclass(frozen=True)
class InboxView:
    waiting: tuple[WaitingStep, ...] = ()
    runs: tuple[RunRow, ...] = ()
    batches: tuple[BatchView, ...] = ()
    answers: tuple[Answer, ...] = ()
    workspaces: int = 0
    problems: tuple[str, ...] = ()


STATUS_ORDER = {"awaiting_approval": 0, "running": 1, "planning": 1, "paused": 2}


def board_order(row: RunRow) -> tuple[int, int, str]:
    """Runs waiting for a person first, then those going, paused, with no driver, ended; newest
    first within each."""
    if row.problem is not None:
        rank = 5
    elif row.waiting:
        rank = 0
    elif row.status in RUN_TERMINAL:
        rank = 4
    elif row.no_driver:
        rank = 3
    else:
        rank = 1 + STATUS_ORDER.get(row.status, 1)
    started = parse_iso(row.started_at)
    return (rank, -int(started.timestamp()) if started else 0, row.run_id)


# ---------------------------------------------------------------------------- the scanner


@dataclass
class _Run:
    run_id: str
    size: int = -1  # the journal's size when last read
    source: FollowedRun | None = None  # a run still going (or not yet known to have ended)
    ended: RunState | Ledger | None = None  # an ended run: what its row shows
    since: dict[tuple[str, int], str] = field(default_factory=dict)  # (run id, step) → began waiting
    deciding: Ledger | None = None  # a sub-agent stopped for a person with no driver (see _deciding)
    deciding_at: int = -1  # the journal's size when `deciding` was looked up
    control_size: int = -1
    queued: dict[int, str] = field(default_factory=dict)  # step → the action queued for it
    problem: str | None = None


@dataclass
class _Space:
    ws: Workspace
    where: str
    batch: Path | None = None
    mtime: int = -1
    runs: dict[str, _Run] = field(default_factory=dict)
    validator: Validator | None = None


@dataclass
class _Batch:
    place: Place
    mtime: int = -1
    size: int = -1
    state: BatchState | None = None
    started: str | None = None  # the last batch_started / batch_resumed
    stopped_at: str | None = None
    stopped: dict[str, Any] | None = None
    settled: int = 0  # goals ended done or failed since `started`
    problem: str | None = None


class Inbox:
    """Looks at many workspaces, cheaply and again and again (see the module's doc). `scan` is
    called from one thread at a time; `expect` may be called from any thread."""

    def __init__(self, places: Iterable[Place]) -> None:
        self.places = list(places)
        self._spaces: dict[Path, _Space] = {}
        self._batches = [_Batch(p) for p in self.places if p.batch]
        self._ticks = 0
        self._expected: dict[str, tuple[str, str]] = {}  # command id → (run id, label)
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        several = sum(1 for p in self.places if p.batch) > 1  # goal folders are told apart by their batch
        for p in self.places:
            if p.ws is not None:
                self._spaces[p.ws.root] = _Space(p.ws, p.label)
        self._batch_prefix = {p.path: (f"{p.label}/" if several else "") for p in self.places if p.batch}

    # ------------------------------------------------------------ public

    def expect(self, ws: Workspace, run_id: str, cmd_id: str, where: str) -> None:
        """Report, in a later scan's `answers`, the record the driver journals for this command."""
        with self._lock:
            self._expected[cmd_id] = (run_id, where)

    def validator(self, ws: Workspace) -> Validator:
        """Checks a person's edit against the workspace's tools (loaded once, off the UI's loop
        when a scan found a step waiting there)."""
        space = self._spaces.get(ws.root)
        if space is not None and space.validator is not None:
            return space.validator
        check = _load_validator(ws)
        if space is not None:
            space.validator = check
        return check

    def scan(self) -> InboxView:
        self._ticks += 1
        problems: list[str] = []
        for b in self._batches:
            self._look_at_batch(b)
        waiting: list[WaitingStep] = []
        rows: list[RunRow] = []
        for space in list(self._spaces.values()):
            try:
                self._look_at_space(space, waiting, rows)
            except OSError as exc:
                problems.append(f"{space.ws.root}: {exc}")
        waiting.sort(key=lambda w: (w.since, w.where, w.run_id, w.n))
        rows.sort(key=board_order)
        with self._lock:
            answers, self._answers = tuple(self._answers), []
        costs = {(str(r.ws.root), r.run_id): r.cost for r in rows}
        batches = tuple(self._batch_view(b, costs) for b in self._batches)
        problems.extend(f"{b.place.path}: {b.problem}" for b in self._batches if b.problem)
        return InboxView(tuple(waiting), tuple(rows), batches, answers, len(self._spaces), tuple(problems))

    # ------------------------------------------------------------ batches

    def _look_at_batch(self, b: _Batch) -> None:
        out = b.place.path
        try:
            mtime = os.stat(out).st_mtime_ns
        except OSError as exc:
            b.problem = str(exc)
            return
        if mtime != b.mtime or self._ticks % RELIST_EVERY == 0:
            b.mtime = mtime
            prefix = self._batch_prefix[out]
            for name, ws in batch_workspaces(out):
                if ws.root not in self._spaces:
                    self._spaces[ws.root] = _Space(ws, prefix + name, batch=out)
        journal = out / "batch.jsonl"
        try:
            size = os.stat(journal).st_size
        except OSError as exc:
            b.problem = str(exc)
            return
        if size == b.size:
            return
        b.size = size
        state = BatchState()
        b.started = b.stopped_at = None
        b.stopped = None
        ended: dict[int, str] = {}
        try:
            for rec in read_batch_records(journal):
                apply(state, rec)
                kind = rec["kind"]
                if kind in ("batch_started", "batch_resumed"):
                    b.started, b.stopped_at, b.stopped, ended = rec["at"], None, None, {}
                elif kind == "batch_stopped":
                    b.stopped_at, b.stopped = rec["at"], rec["data"]
                elif kind == "goal_ended" and rec["data"].get("status") in FINAL:
                    ended[int(rec["goal"])] = rec["at"]
        except LlmosError as exc:
            b.problem = str(exc)
            return
        b.state, b.settled, b.problem = state, len(ended), None

    def _batch_view(self, b: _Batch, costs: dict[tuple[str, str], float]) -> BatchView:
        state = b.state or BatchState()
        cost = 0.0
        for g in state.goals.values():  # a run still going: its cost as its journal has it now
            live = costs.get((str(b.place.path / (g.dir or "") / "workspace"), g.run_id or ""))
            cost += g.cost if live is None else max(live, g.cost)
        t = now()
        start = parse_iso(b.started)
        end = parse_iso(b.stopped_at)
        elapsed = ((end.timestamp() if end else t) - start.timestamp()) if start else 0.0
        settings = state.settings
        progress = Progress(
            total=state.count,
            counts=state.counts(),
            cost=cost,
            max_cost=settings.get("max_cost"),
            elapsed=max(elapsed, 0.0),
            settled_here=b.settled,
        )
        running = b.stopped is None and b.started is not None and _coordinator_alive(b.place.path)
        stopped = None
        if not running and b.state is not None:
            stopped = str((b.stopped or {}).get("reason") or "not running")
        return BatchView(b.place.path, b.place.label, progress, running, stopped, b.problem)

    # ------------------------------------------------------------ workspaces

    def _look_at_space(self, space: _Space, waiting: list[WaitingStep], rows: list[RunRow]) -> None:
        runs_dir = space.ws.runs_dir
        try:
            mtime = os.stat(runs_dir).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime != space.mtime or self._ticks % RELIST_EVERY == 0:
            space.mtime = mtime
            names = {e.name for e in os.scandir(runs_dir) if e.is_dir() and not e.name.startswith(".")}
            for gone in set(space.runs) - names:
                del space.runs[gone]
            for name in sorted(names - set(space.runs)):
                space.runs[name] = _Run(name)
        holder: dict[str, Any] | None = None
        if any(r.ended is None for r in space.runs.values()):
            holder = holder_info(space.ws.root)
        for run in space.runs.values():
            self._look_at_run(space, run, holder)
            row = self._row(space, run, holder)
            if row is None:
                continue
            items = self._waiting(space, run, row) if run.source is not None else []
            rows.append(row if not items else _with_waiting(row, len(items)))
            waiting.extend(items)
            if items and space.validator is None:
                space.validator = _load_validator(space.ws)  # (here, off the UI's loop: `e` needs it)

    def _look_at_run(self, space: _Space, run: _Run, holder: dict[str, Any] | None) -> None:
        if run.ended is not None and self._ticks % ENDED_EVERY and run.size >= 0:
            return
        journal = space.ws.journal_path(run.run_id)
        try:
            size = os.stat(journal).st_size
        except FileNotFoundError:
            return  # (a run folder whose journal is not written yet)
        if size == run.size:
            return
        run.size = size
        try:
            if run.source is None:
                if run.ended is None and self._ended_from_copy(space.ws, run, journal, size):
                    return
                self._open(space, run)
            else:
                run.source.poll()
        except LlmosError as exc:
            run.problem, run.source, run.ended = str(exc), None, None
            return
        run.problem = None
        assert run.source is not None
        if run.source.top.status in RUN_TERMINAL and not run.source.chain:
            run.ended, run.source, run.since, run.deciding = run.source.top, None, {}, None

    def _ended_from_copy(self, ws: Workspace, run: _Run, journal: Path, size: int) -> bool:
        """An ended run whose final state copy is as far as its journal: its row, without folding."""
        final = ws.run_dir(run.run_id) / STATE_NAME
        try:
            state = StateFile(final).load()
        except (LlmosError, OSError):
            return False
        if state.status not in RUN_TERMINAL or state.journal_seq != _last_seq(journal, size):
            return False
        run.ended = state
        return True

    def _open(self, space: _Space, run: _Run) -> None:
        source = FollowedRun(space.ws, run.run_id)

        def heard(rec: JournalRecord, led: Ledger) -> None:
            kind = rec["kind"]
            if kind == "step_status" and rec.get("to") in WAITING:
                run.since[(led.run_id, rec["step"])] = rec["at"]
            elif kind in ("rewound", "forked"):  # the step waits again from now (not since its old record)
                back = rec.get("step") or 0
                for key in [k for k in run.since if k[0] == led.run_id and k[1] >= back]:
                    del run.since[key]
                if back:
                    run.since[(led.run_id, back)] = rec["at"]
            elif kind == "command" and self._expected:
                self._heard_command(rec["data"], led.run_id)

        source.add_listener(heard)
        source.poll()
        run.source, run.ended = source, None

    def _heard_command(self, data: dict[str, Any], run_id: str) -> None:
        with self._lock:
            wanted = self._expected.pop(str(data.get("id")), None)
            if wanted is None:
                return
            step = data.get("step")
            self._answers.append(
                Answer(
                    str(data.get("id")),
                    run_id,
                    wanted[1],
                    str(data.get("action")),
                    step if isinstance(step, int) else None,
                    bool(data.get("applied")),
                    data.get("reason"),
                )
            )

    def _driver(self, run_id: str, led: Ledger, holder: dict[str, Any] | None) -> str:
        if led.status in RUN_TERMINAL:
            return ""
        if holder is not None and holder.get("run_id") == run_id:
            return f"pid {holder.get('pid', '?')}"
        if led.runtime == "external":
            return "hooks"  # a Claude Code session: commands wait for its next hook call
        return ""

    def _row(self, space: _Space, run: _Run, holder: dict[str, Any] | None) -> RunRow | None:
        ws, where = space.ws, space.where
        if run.problem is not None:
            return RunRow(ws, where, run.run_id, "", "unreadable", None, 0, 0.0, "", "", "", problem=run.problem)
        if run.ended is not None:
            e = run.ended
            if isinstance(e, Ledger):
                cur = e.current_step
                step, steps, cost = (cur.n if cur else None), len(e.steps), e.usage.cost_usd
            else:
                step, steps, cost = e.current_step, e.steps_total, e.usage.cost_usd
            return RunRow(ws, where, run.run_id, e.goal, e.status, step, steps, cost, e.started_at, e.updated_at, "")
        if run.source is None:
            return None
        led = run.source.top
        if not led.run_id:
            return None  # (its first record is not written yet)
        cur = led.current_step
        return RunRow(
            ws,
            where,
            run.run_id,
            led.goal,
            led.status,
            cur.n if cur else None,
            len(led.steps),
            led.usage.cost_usd,
            led.started_at,
            led.updated_at,
            self._driver(run.run_id, led, holder),
        )

    def _waiting(self, space: _Space, run: _Run, row: RunRow) -> list[WaitingStep]:
        source = run.source
        assert source is not None
        led = self._deciding(space, run, row)
        steps = [s for s in led.steps[led.first_unsettled :] if s.status in WAITING]
        if not steps:
            return []
        if not row.driver.startswith("pid"):
            self._read_queued(space, run, source.top)
        out = []
        for s in steps:
            since = run.since.get((led.run_id, s.n)) or led.updated_at
            out.append(
                WaitingStep(
                    space.ws,
                    space.where,
                    run.run_id,
                    led.run_id,
                    source.top.goal,
                    s.n,
                    s.tool,
                    s.inputs,
                    s.status,
                    s.side_effects,
                    since,
                    row.driver,
                    s.breakpoint,
                    None if row.driver.startswith("pid") else run.queued.get(s.n),
                    space.batch,
                )
            )
        return out

    def _deciding(self, space: _Space, run: _Run, row: RunRow) -> Ledger:
        """The run people decide now: the deepest running sub-agent FollowedRun follows — or, for
        a run stopped for a person inside a sub-agent with no driver (no active child any more),
        the sub-agent core.decisions would address (looked up again when the journal moved)."""
        source = run.source
        assert source is not None
        led = source.ledger
        if led.decision_step is not None or row.driver:
            run.deciding = None
            return led
        cur = led.current_step
        if cur is None or cur.tool != "Task" or cur.status != "running":
            return led
        if run.deciding_at != run.size:
            run.deciding_at, run.deciding = run.size, None
            try:
                for _, child in running_subagents(space.ws, run.run_id, source.top):
                    run.deciding = child
            except (LlmosError, OSError):
                run.deciding = None
        return run.deciding or led

    def _read_queued(self, space: _Space, run: _Run, top: Ledger) -> None:
        """Step decisions sent to a run no process drives, waiting for the next driver."""
        channel = ControlChannel(space.ws.control_path(run.run_id))
        size = channel.size()
        if size == run.control_size:
            return
        run.control_size = size
        run.queued = {}
        if size <= top.control_offset:
            return
        for cmd, _end in channel.read_from(top.control_offset):
            if isinstance(cmd, Command) and cmd.id not in top.commands_seen and cmd.step is not None:
                run.queued[cmd.step] = cmd.action


def _with_waiting(row: RunRow, n: int) -> RunRow:
    from dataclasses import replace

    return replace(row, waiting=n)


def _load_validator(ws: Workspace) -> Validator:
    from llmos_tui.core.session import load_parts

    try:
        return load_parts(ws)[1].validate
    except LlmosError as exc:
        message = str(exc)
        return lambda tool, inputs: message


def _last_seq(journal: Path, size: int) -> int | None:
    """The seq of the journal's last complete record, read from its tail."""
    try:
        with open(journal, "rb") as fh:
            fh.seek(max(0, size - TAIL))
            tail = fh.read(TAIL)
    except OSError:
        return None
    lines = tail.split(b"\n")[:-1]  # (the piece after the last newline is torn, or empty)
    if not lines or (len(lines) == 1 and size > TAIL):
        return None
    try:
        rec = json.loads(lines[-1])
    except ValueError:
        return None
    seq = rec.get("seq") if isinstance(rec, dict) else None
    return seq if isinstance(seq, int) else None


def _coordinator_alive(out: Path) -> bool:
    """The pid the batch lock names is alive (read, never locked: testing the lock could make a
    coordinator starting that moment fail to take it)."""
    try:
        pid = int((out / ".batch" / "lock").read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------- deciding


@dataclass(frozen=True)
class Decided:
    """What became of a decision: `applied`, `rejected` (reason), `pending` (the driver has not
    answered in time), `queued` (no process drives the run) or `stale` (the step no longer waits)."""

    outcome: str
    message: str
    cmd_id: str | None = None


ACTION_WORDS = {"approve": "approved", "deny": "denied", "edit": "edited", "skip": "skipped", "retry": "retried"}
NEEDS = {
    "approve": ("awaiting_approval",),
    "deny": ("awaiting_approval",),
    "edit": WAITING,
    "skip": WAITING,
    "retry": ("uncertain",),
}


def decide(
    item: WaitingStep,
    action: str,
    *,
    feedback: str | None = None,
    inputs: dict[str, Any] | None = None,
    scope: str | None = None,
    timeout: float = 10.0,
) -> Decided:
    """Send `action` for the waiting step, as `llmos-tui approve` would (`scope="rest"`: approve
    it and every later step of its run, as `approve --rest`), and wait up to `timeout` for the
    driver's answer. Blocks: call it off a UI's event loop."""
    rest = action == "approve" and scope == "rest"
    what = f"{action}{' the rest from' if rest else ''} step {item.n} ({item.tool}) of {item.where} · {item.run_id}"
    try:
        target = decision_target(item.ws, item.top_id)
    except (LlmosError, OSError) as exc:
        return Decided("stale", f"{what}: the run cannot be read ({exc})")
    steps = target.ledger.steps
    step = steps[item.n - 1] if target.run_id == item.run_id and 0 < item.n <= len(steps) else None
    if step is None or step.status not in NEEDS[action] or target.ledger.status in RUN_TERMINAL:
        now_ = step.status.replace("_", " ") if step is not None else "gone"
        return Decided("stale", f"{what}: not sent — the step is {now_} now (decided elsewhere?)")
    try:
        sent = send_decision(item.ws, target, action, step=item.n, feedback=feedback, inputs=inputs, scope=scope)
    except (LlmosError, OSError) as exc:
        return Decided("rejected", f"{what}: could not be sent ({exc})")
    cmd_id = sent.command.id
    if not sent.driven:
        return Decided("queued", f"{what}: queued — {queued_hint(item)}", cmd_id)
    answer = await_outcome(item.ws, target.run_id, cmd_id, sent.journal_offset, timeout)
    if answer is None:
        return Decided("pending", f"{what}: sent; the driver has not applied it yet", cmd_id)
    if answer.get("applied"):
        done = ACTION_WORDS[action] + (", and every later step of this run will be" if rest else "")
        return Decided("applied", f"{item.where} · step {item.n} {item.tool} {done}", cmd_id)
    return Decided("rejected", f"{what}: refused by the driver — {answer.get('reason')}", cmd_id)


def queued_hint(item: WaitingStep) -> str:
    """What applies a decision queued for a run no process drives."""
    if item.driver == "hooks":
        return "the Claude Code session takes it up at its next hook call"
    ws_arg = _shown_path(item.ws.root)
    resume = f"`llmos-tui resume {item.top_id} --workspace {ws_arg}`"
    if item.batch is not None:
        return (
            f"no process drives it now; the batch picks it up while it runs "
            f"(`llmos-tui batch --out {_shown_path(item.batch)}`), or {resume} applies it"
        )
    return f"no process drives it now; {resume} applies it"


def _shown_path(path: Path) -> str:
    try:
        rel = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(rel) or "."
