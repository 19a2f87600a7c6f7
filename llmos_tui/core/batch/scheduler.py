"""The batch's coordinator: which goal runs where, when, and what became of it.

One coordinator per batch folder (an flock on `.batch/lock`). It writes the batch journal
(every goal's start before any worker touches it, every goal's end), hands goals to the workers
(at most `parallel` runs at once, spread evenly), adds up the cost as the runs report it, and
stops starting goals once `max_cost` is reached (the runs going on are paused after their
current step: resumable). Goals that wait for a person free their place at once; the
coordinator watches their control.jsonl and journal, and a decision (or a person driving the run
elsewhere and letting go of it) puts the goal back in the queue. A worker that dies has its
goals handed to another (a goal whose worker died twice under it fails).

Running the batch again on the same folder carries on: done and failed goals are never run
again; a goal whose run was interrupted resumes it (the run's own rules: a side-effecting step
that was running waits for a person, read-only ones run again); paused ones are resumed;
waiting ones go on once decided.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_tui.core.batch import folders
from llmos_tui.core.batch.folders import BATCH_JOURNAL, GOALS_NAME
from llmos_tui.core.batch.goals import Goal, load_goals
from llmos_tui.core.batch.journal import FINAL, BatchJournal, GoalState
from llmos_tui.core.errors import BadInput
from llmos_tui.core.workspace import Workspace

FIXED = ("mode", "runtime", "model")  # settings a batch keeps for good (its goals were run with them)
CHANGEABLE = ("approve", "max_cost", "max_calls", "parallel")
MAX_STARTS_AFTER_DEATH = 2  # a goal whose worker died this many times under it fails
DEFAULT_PARALLEL = 4


@dataclass(frozen=True)
class BatchOptions:
    goals_file: Path | None = None  # None: go on with the goals the batch folder holds
    out: Path | None = None  # None: <project>/batches/<goals file's name>
    workspace: str | Path | None = None  # the project (as --workspace takes it)
    parallel: int | None = None  # runs at once, across every worker (default 4; kept by the batch)
    workers: int | None = None  # default: one per core, at most `parallel`
    mode: str | None = None
    runtime: str | None = None
    model: str | None = None
    approve: str | None = None
    max_cost: float | None = None  # USD for the whole batch
    max_calls: int | None = None  # model calls in flight at once, across every worker (default: parallel)
    no_wait: bool = False  # return (exit 3) when only goals waiting for a person are left
    ray: str | None = None  # None: local processes; "auto", "local" or a cluster address
    ray_shared_fs: bool | None = None  # None: find out (a marker file the actors look for)
    api_key: str | None = None  # (never written down)
    base_url: str | None = None
    waiting_poll: float = 0.5  # how often goals that wait are looked at
    retries: int = 8  # per model call, through the gate


@dataclass
class Progress:
    total: int
    counts: dict[str, int]
    cost: float
    max_cost: float | None
    elapsed: float
    settled_here: int  # goals that ended (done or failed) since this coordinator started
    throttled: int = 0
    budget_hit: bool = False
    stopping: bool = False

    @property
    def runs_per_min(self) -> float:
        return self.settled_here / self.elapsed * 60 if self.elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        left = self.counts.get("queued", 0) + self.counts.get("running", 0)
        if not left:
            return 0.0
        rate = self.settled_here / self.elapsed if self.elapsed > 0 else 0.0
        return left / rate if rate > 0 else None


@dataclass
class BatchResult:
    out: Path
    counts: dict[str, int]
    cost: float
    elapsed: float
    reason: str  # finished | waiting | budget | interrupted | paused | broken
    exit_code: int
    goals: dict[int, GoalState] = field(default_factory=dict)
    total: int = 0
    settled_here: int = 0
    max_cost: float | None = None
    problem: str | None = None  # with reason "broken": why

    def dirs(self, status: str) -> list[tuple[int, str, GoalState]]:
        return [(i, str(self.out / (g.dir or "")), g) for i, g in sorted(self.goals.items()) if g.status == status]


class BatchLock:
    def __init__(self, out: Path) -> None:
        self.path = folders.meta(out) / "lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise BadInput(f"the batch in {self.path.parent.parent} is already running (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def default_out(goals_file: Path, project: Workspace) -> Path:
    """<project>/batches/<goals file's name>: running the same command again finds the batch."""
    return project.root.parent / "batches" / folders.slug(Path(goals_file).stem, 60)


def new_run_id(taken: set[str]) -> str:
    ws = Workspace(root=Path("."), system=Path("."))
    while True:
        run_id = ws.new_run_id()
        if run_id not in taken:
            taken.add(run_id)
            return run_id


class Coordinator:
    def __init__(self, options: BatchOptions, on_progress: Callable[[Progress], None] | None = None) -> None:
        self.options = options
        self.on_progress = on_progress
        self.goals: list[Goal] = []
        self.journal: BatchJournal | None = None
        self.out = Path(".")
        self.settings: dict[str, Any] = {}
        self.lock: BatchLock | None = None
        self.live_cost: dict[int, float] = {}
        self.in_flight: dict[int, int] = {}  # goal → worker
        self.deaths: collections.Counter[int] = collections.Counter()
        self.queue: collections.deque[int] = collections.deque()
        self.watching: dict[int, dict[str, Any]] = {}  # waiting/paused goals: what news would look like
        self.taken_ids: set[str] = set()
        self.settled_here = 0
        self.throttled = 0
        self.budget_hit = False
        self.stopping = False  # a first Ctrl-C: start nothing, pause the runs
        self.hard_stop = False  # a second: stop the workers now
        self.started = time.monotonic()
        self.pool: Any = None
        self._wake = asyncio.Event()
        self._pause_sent = False
        self.broken: str | None = None  # why the batch cannot go on (its workers keep dying)

    # ------------------------------------------------------------------ opening

    def open(self) -> None:
        """Find or make the batch folder, take its lock, check the goals against what it ran."""
        o = self.options
        project = Workspace.locate(o.workspace)
        if o.goals_file is None and o.out is None:
            raise BadInput("give a goals file (YAML list or JSON Lines), or --out DIR of a batch to go on with")
        self.out = Path(o.out).expanduser().resolve() if o.out else default_out(Path(o.goals_file or ""), project)
        exists = (self.out / BATCH_JOURNAL).exists()
        if not exists and self.out.exists() and any(self.out.iterdir()) and not folders.meta(self.out).exists():
            raise BadInput(f"{self.out} is not a batch folder and not empty; give another --out")
        if not exists and o.goals_file is None:
            raise BadInput(f"{self.out} holds no batch; give the goals file to start one")
        goals = load_goals(Path(o.goals_file)) if o.goals_file is not None else None
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock = BatchLock(self.out)
        self.lock.acquire()
        try:
            if exists:
                self._reopen(goals)
            else:
                assert goals is not None
                self._create(goals, project)
        except BaseException:
            self.lock.release()
            raise

    def _given(self) -> dict[str, Any]:
        o = self.options
        given = {
            "mode": o.mode,
            "runtime": o.runtime,
            "model": o.model,
            "approve": o.approve,
            "max_cost": o.max_cost,
            "max_calls": o.max_calls,
            "parallel": o.parallel,
        }
        return {k: v for k, v in given.items() if v is not None}

    def _create(self, goals: list[Goal], project: Workspace) -> None:
        o = self.options
        runtime = o.runtime
        with_script = sum(1 for g in goals if g.script is not None)
        if runtime is None:
            if with_script == len(goals):
                runtime = "scripted"
            elif with_script == 0:
                runtime = "native"
            else:
                first = next(g for g in goals if g.script is None)
                raise BadInput(
                    f"{o.goals_file}:{first.line}: goal {first.index} has no script while others have one; "
                    "give --runtime scripted (a script for every goal) or --runtime native"
                )
        if runtime == "scripted":
            missing = next((g for g in goals if g.script is None), None)
            if missing is not None:
                raise BadInput(
                    f"{o.goals_file}:{missing.line}: goal {missing.index} has no script "
                    "(--runtime scripted replays each goal's `script`)"
                )
        if runtime not in ("native", "scripted", "claude-code"):
            raise BadInput(f"unknown runtime {runtime!r}; use native, scripted or claude-code")
        if runtime == "claude-code" and o.mode == "simulate":
            raise BadInput(
                "--mode simulate is not available with --runtime claude-code (Claude Code runs the tools itself)"
            )
        self._preflight(project, runtime)
        folders.sweep_tmp(self.out)
        folders.make_template(self.out, project)
        folders.write_goals(self.out, goals)
        self.settings = {
            "mode": o.mode or "execute",
            "runtime": runtime,
            "model": o.model,
            "approve": o.approve,
            "max_cost": o.max_cost,
            "max_calls": o.max_calls,
            "parallel": o.parallel or DEFAULT_PARALLEL,
        }
        self.goals = goals
        self.journal = BatchJournal(self.out / BATCH_JOURNAL)
        self.journal.record(
            "batch_started",
            version=1,
            goals=len(goals),
            goals_file=str(Path(o.goals_file or "").resolve()),
            project=str(project.root.parent),
            settings=self.settings,
            pid=os.getpid(),
        )

    def _preflight(self, project: Workspace, runtime: str) -> None:
        from llmos_tui.core.session import load_parts

        load_parts(project, model=self.options.model, approval=self.options.approve)
        if runtime == "native" and not (
            self.options.api_key or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
        ):
            raise BadInput(
                "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=sk-ant-… (ANTHROPIC_BASE_URL for a "
                "compatible server), or replay scripts with --runtime scripted"
            )

    def _reopen(self, goals: list[Goal] | None) -> None:
        self.journal = BatchJournal(self.out / BATCH_JOURNAL)
        state = self.journal.state
        kept = folders.read_goals(self.out) if (self.out / GOALS_NAME).exists() else []
        if goals is None:
            goals = kept
        else:
            where = self.options.goals_file
            if len(goals) < len(kept):
                raise BadInput(
                    f"{where} has {len(goals)} goals, the batch in {self.out} ran {len(kept)}: give the same "
                    "goals (more may follow them), or another --out"
                )
            for old, new in zip(kept, goals):
                if old.digest != new.digest:
                    raise BadInput(
                        f"{where}:{new.line}: goal {new.index} is not the one the batch in {self.out} ran "
                        f"({old.goal[:60]!r}); undo the change, or give another --out"
                    )
            if len(goals) > len(kept):
                folders.write_goals(self.out, goals)
        self.goals = goals
        given = self._given()
        for key in FIXED:
            if key in given and given[key] != state.settings.get(key):
                raise BadInput(
                    f"the batch in {self.out} runs with {key} {state.settings.get(key)!r}, not {given[key]!r}; "
                    "leave it out to go on, or give another --out"
                )
        changed = {k: given[k] for k in CHANGEABLE if k in given and given[k] != state.settings.get(k)}
        folders.sweep_tmp(self.out)
        self.journal.record("batch_resumed", pid=os.getpid(), settings=changed)
        if len(goals) > state.count:
            self.journal.record("goals_added", goals=len(goals), added=len(goals) - state.count)
        self.settings = dict(state.settings)
        if self.options.api_key is None and self.settings.get("runtime") == "native":
            self._preflight_key()

    def _preflight_key(self) -> None:
        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise BadInput("ANTHROPIC_API_KEY is not set: this batch runs on Claude (--runtime native)")

    # ------------------------------------------------------------------ the loop

    @property
    def state(self) -> Any:
        assert self.journal is not None
        return self.journal.state

    @property
    def parallel(self) -> int:
        return max(1, int(self.settings.get("parallel") or self.options.parallel or DEFAULT_PARALLEL))

    def worker_settings(self) -> dict[str, Any]:
        o = self.options
        limit = self.settings.get("max_calls") or None
        return {
            "out": str(self.out),
            "mode": self.settings.get("mode") or "execute",
            "runtime": self.settings.get("runtime"),
            "model": self.settings.get("model"),
            "approve": self.settings.get("approve"),
            "api_key": o.api_key,
            "base_url": o.base_url,
            "retries": o.retries,
            "gate": {"kind": "file", "folder": str(folders.meta(self.out) / "gate"), "limit": limit},
            "prepare": True,
        }

    def cost(self) -> float:
        st = self.state
        return float(sum(self.live_cost.get(i, g.cost) for i, g in st.goals.items()))

    def progress(self) -> Progress:
        counts = self.state.counts()
        return Progress(
            total=self.state.count,
            counts=counts,
            cost=self.cost(),
            max_cost=self.settings.get("max_cost"),
            elapsed=time.monotonic() - self.started,
            settled_here=self.settled_here,
            throttled=self.throttled,
            budget_hit=self.budget_hit,
            stopping=self.stopping,
        )

    def request_stop(self) -> None:
        """First call: start nothing more, pause the runs after their step. Second: stop now."""
        if self.stopping:
            self.hard_stop = True
        self.stopping = True
        self._wake.set()

    def _plan(self) -> None:
        """The queue at start: interrupted runs first, then paused ones, then the rest in order;
        waiting goals are watched for a decision."""
        st = self.state
        running, paused, queued = [], [], []
        for g in self.goals:
            gs = st.goals.get(g.index)
            status = gs.status if gs is not None else "queued"
            if status in FINAL:
                continue
            if status == "running":
                running.append(g.index)
            elif status == "paused":
                paused.append(g.index)
            elif status == "waiting":
                assert gs is not None
                self.watching[g.index] = dict(gs.waiting or {})
            else:
                queued.append(g.index)
        self.queue.extend(running + paused + queued)
        for gs in st.goals.values():
            if gs.run_id:
                self.taken_ids.add(gs.run_id)

    async def run(self) -> BatchResult:
        """Run the batch until every goal is done or failed, or it cannot go on (waiting for a
        person with no_wait, the budget, a stop). The batch must be open()."""
        assert self.journal is not None
        reason = "interrupted"
        try:
            self._plan()
            self._check_budget()
            reason = await self._loop()
        finally:
            with contextlib.suppress(OSError):
                self.journal.record("batch_stopped", reason=reason, counts=self.state.counts(), cost=self.cost())
            if self.pool is not None:
                if self.hard_stop:
                    self.pool.kill()
                with contextlib.suppress(Exception):
                    await self.pool.close()
            if self.lock is not None:
                self.lock.release()
        counts = self.state.counts()
        code = 0
        if reason in ("waiting", "budget", "interrupted", "paused", "broken") or any(
            counts[s] for s in ("waiting", "paused", "queued", "running")
        ):
            code = 3
        elif counts["failed"]:
            code = 1
        return BatchResult(
            out=self.out,
            counts=counts,
            cost=self.cost(),
            elapsed=time.monotonic() - self.started,
            reason=reason,
            exit_code=code,
            goals={i: self.state.goals.get(i, GoalState()) for i in range(1, self.state.count + 1)},
            total=self.state.count,
            settled_here=self.settled_here,
            max_cost=self.settings.get("max_cost"),
            problem=self.broken,
        )

    async def _start_pool(self) -> None:
        o = self.options
        cores = os.cpu_count() or 1
        size = max(1, min(self.parallel, o.workers or cores))
        if o.ray is not None:
            from llmos_tui.core.batch.ray_glue import RayPool

            self.pool = RayPool(size, self.worker_settings(), self.out, address=o.ray, shared_fs=o.ray_shared_fs)
        else:
            from llmos_tui.core.batch.pool import LocalPool

            self.pool = LocalPool(size, self.worker_settings(), folders.meta(self.out))
        await self.pool.start()

    async def _loop(self) -> str:
        last_poll = 0.0
        last_progress = 0.0
        while True:
            if self.hard_stop:
                return "interrupted"
            if self.broken is not None:
                self.hard_stop = True
                return "broken"
            if self.stopping and not self._pause_sent and self.pool is not None:
                self._pause_sent = True
                self.pool.pause_all("the batch was stopped (it goes on when run again)")
            if not self.stopping and not self.budget_hit:
                await self._dispatch()
            now = time.monotonic()
            if now - last_poll >= self.options.waiting_poll:
                last_poll = now
                self._look_at_waiting()
                if self.queue and not self.in_flight and not self.stopping and not self.budget_hit:
                    continue
            if self.on_progress is not None and now - last_progress >= 0.1:
                last_progress = now
                self.on_progress(self.progress())
            if not self.in_flight:
                if self.stopping:
                    return "interrupted"
                if self.budget_hit:
                    return "budget"
                if not self.queue:
                    if not self.watching:
                        return "finished"
                    persons = [i for i, w in self.watching.items() if self.state.goal(i).status == "waiting"]
                    if not persons:
                        return "paused"
                    if self.options.no_wait:
                        return "waiting"
            await self._next_events(timeout=min(0.1, self.options.waiting_poll))

    async def _next_events(self, timeout: float) -> None:
        if self.pool is None:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            return
        try:
            w, event = await asyncio.wait_for(self.pool.events.get(), timeout)
        except TimeoutError:
            return
        self._handle(w, event)
        while not self.pool.events.empty():
            w, event = self.pool.events.get_nowait()
            self._handle(w, event)

    async def _dispatch(self) -> None:
        while self.queue and len(self.in_flight) < self.parallel and not self.budget_hit and not self.stopping:
            if self.pool is None:
                await self._start_pool()
            index = self.queue.popleft()
            if index in self.in_flight:
                continue
            goal = self.goals[index - 1]
            gs = self.state.goal(index)
            run_id = gs.run_id or new_run_id(self.taken_ids)
            dir_name = gs.dir or folders.goal_dir_name(goal)
            self.watching.pop(index, None)
            assert self.journal is not None
            self.journal.record("goal_started", goal=index, run_id=run_id, dir=dir_name)
            w = self._least_busy()
            self.in_flight[index] = w
            spec = {"goal": {**goal.to_json(), "index": index}, "run_id": run_id, "dir": dir_name}
            self.pool.submit(w, spec)

    def _least_busy(self) -> int:
        load = collections.Counter(self.in_flight.values())
        return min(range(self.pool.size), key=lambda w: (load[w], w))

    def _handle(self, w: int, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "cost":
            if int(event["goal"]) not in self.in_flight:
                return  # (late news of a goal that has ended: its end has the final figure)
            self.live_cost[int(event["goal"])] = float(event["cost"])
            self._check_budget()
        elif kind == "throttled":
            self.throttled += 1
        elif kind == "ended":
            self._ended(event)
        elif kind == "died":
            lost = [i for i, ww in self.in_flight.items() if ww == w]
            for index in lost:
                del self.in_flight[index]
                self.deaths[index] += 1
                if self.deaths[index] >= MAX_STARTS_AFTER_DEATH:
                    self._record_end(
                        index,
                        {
                            "status": "failed",
                            "error": {
                                "type": "worker",
                                "message": f"its worker died {self.deaths[index]} times under it",
                            },
                        },
                    )
                else:
                    self.queue.appendleft(index)
            if not self.hard_stop and not self.pool.respawn(w):
                self.broken = f"the batch's workers keep dying; see {folders.meta(self.out)}/worker-*.log"

    def _ended(self, result: dict[str, Any]) -> None:
        index = int(result["goal"])
        self.in_flight.pop(index, None)
        if result.get("status") == "locked":  # a person (or a dying worker) drives it: look again later
            result = {**result, "status": "waiting", "waiting": {"locked": True}}
        self._record_end(index, result)

    def _record_end(self, index: int, result: dict[str, Any]) -> None:
        assert self.journal is not None
        fields = {k: result.get(k) for k in ("status", "run_status", "cost", "steps", "error", "waiting")}
        if fields["cost"] is None:
            fields["cost"] = self.live_cost.get(index, self.state.goal(index).cost)
        self.journal.record("goal_ended", goal=index, **fields)
        self.live_cost.pop(index, None)
        status = fields["status"]
        if status in FINAL:
            self.settled_here += 1
        elif status in ("waiting", "paused"):
            self.watching[index] = dict(fields.get("waiting") or {})
        self._check_budget()

    def _check_budget(self) -> None:
        limit = self.settings.get("max_cost")
        if limit is None or self.budget_hit:
            return
        if self.cost() >= float(limit):
            self.budget_hit = True
            if self.pool is not None and self.in_flight:
                self.pool.pause_all(f"the batch's budget (${float(limit):.2f}) is spent")

    def _look_at_waiting(self) -> None:
        """Goals that wait: back in the queue once there is news for their run (a decision in its
        control.jsonl, its journal moved by someone else) and no one else drives it."""
        from llmos_tui.core.lock import holder_info

        for index, info in list(self.watching.items()):
            gs = self.state.goal(index)
            if not gs.dir or not gs.run_id:
                continue
            ws = folders.goal_workspace(self.out / gs.dir)
            if holder_info(ws.root) is not None:
                continue  # someone drives it now
            news = bool(info.get("locked"))
            if not news:
                control, journal = ws.control_path(gs.run_id), ws.journal_path(gs.run_id)
                news = _size(control) > int(info.get("control_offset") or 0) or _size(journal) != int(
                    info.get("journal_size") or 0
                )
            if news and (gs.status == "waiting" or not self.budget_hit):
                del self.watching[index]
                self.queue.appendleft(index)

    async def stop_workers_now(self) -> None:
        if self.pool is not None:
            self.pool.kill()


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


async def run_batch(options: BatchOptions, on_progress: Callable[[Progress], None] | None = None) -> BatchResult:
    """Open (or reopen) the batch and run it; see the module's doc."""
    co = Coordinator(options, on_progress)
    co.open()
    return await co.run()
