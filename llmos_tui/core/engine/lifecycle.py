"""Opening runs: a new run's first record, and a run reopened from its journal — once each, for
every driver (the loop's start and resume, a sub-agent, a hook event)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llmos_tui.core.config import AgentConfig
from llmos_tui.core.engine.recorder import NoLock, Releasable, RunOptions, RunRecorder
from llmos_tui.core.errors import BadInput, FileFormatError, LlmosError
from llmos_tui.core.fsutil import atomic_write, remove_stale_temp_files
from llmos_tui.core.journal import Journal, iter_effective
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.lock import WorkspaceLock
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.state import StateFile, to_front_matter
from llmos_tui.core.statuses import RUN_TERMINAL
from llmos_tui.core.training import redactor_for
from llmos_tui.core.workspace import JOURNAL_NAME, STATE_NAME, TRACE_NAME, Workspace

D = TypeVar("D")  # the driver a caller builds over a run's recorder


@dataclass(frozen=True)
class ChildLink:
    """How a Task sub-agent's run hangs off its parent's."""

    prompt: str  # the Task's prompt: the sub-agent's first message
    parent: dict[str, Any]  # {run_id, step, depth}
    control_offset: int  # the parent's control.jsonl is read from here on


def sweep(ws: Workspace, run_id: str) -> None:
    """Remove half-written temp files a killed driver left (we hold the lock: no one else writes)."""
    remove_stale_temp_files(ws.root, STATE_NAME)
    for name in (TRACE_NAME, STATE_NAME):
        remove_stale_temp_files(ws.run_dir(run_id), name)


def pick_memory(ws: Workspace, config: AgentConfig, goal: str) -> tuple[str, list[str], str | None]:
    """The SmartMemory experiences most relevant to the goal: (prompt text, their ids, a problem)."""
    from llmos_tui.core.memory import memory_prompt, read_memory, relevant

    if config.memory_top_k <= 0:
        return "", [], None
    try:
        entries = read_memory(ws.system / "memory_log.md")
    except LlmosError as exc:
        return "", [], str(exc)
    chosen = relevant(entries, goal, config.memory_top_k)
    return memory_prompt(chosen), [str(e.get("experience_id", "")) for e in chosen], None


def state_path_of(ws: Workspace, run_id: str, *, child: bool) -> Path:
    """The workspace's execution_state.md shows the top run; a sub-agent's is in its own folder."""
    return ws.run_dir(run_id) / STATE_NAME if child else ws.state_path


def create_run(
    ws: Workspace,
    goal: str,
    *,
    config: AgentConfig,
    registry: ToolRegistry,
    options: RunOptions,
    lock: Releasable,
    run_id: str,
    runtime_name: str,
    mode: str,
    variables: dict[str, Any] | None = None,
    run_files: dict[str, bytes] | None = None,
    child: ChildLink | None = None,
    on_open: Callable[[RunRecorder], None] | None = None,
) -> RunRecorder:
    """A new run folder and its first record. `run_files` (e.g. the script a scripted run
    replays) are written before that record, so a run that exists can always resume. `on_open`
    lets the driver bind itself (its system prompt) before anything is written. The lock is
    released if anything fails."""
    try:
        # the redaction rules first: a TrainingDataCollector.md that does not parse stops the run
        # before anything of it exists (its secrets would otherwise be recorded unredacted)
        redact = redactor_for(ws.system)
        sweep(ws, run_id)
        run_dir = ws.run_dir(run_id)
        run_dir.mkdir(parents=True, exist_ok=False)
        for name, data in (run_files or {}).items():
            atomic_write(run_dir / name, data)
        rec = RunRecorder(
            ws,
            Journal(run_dir / JOURNAL_NAME),
            Ledger(),
            config=config,
            registry=registry,
            options=options,
            lock=lock,
            run_dir=run_dir,
            state_path=state_path_of(ws, run_id, child=child is not None),
            redact=redact,
        )
        if on_open is not None:
            on_open(rec)
        memory_text, memory_used, memory_problem = pick_memory(ws, config, goal)
        extra: dict[str, Any] = {}
        if child is not None:
            extra = {"prompt": child.prompt, "parent": child.parent, "control_offset": child.control_offset}
        rec.record(
            "run_started",
            data={
                **extra,
                "run_id": run_id,
                "goal": goal.strip(),
                "mode": mode,
                "runtime": runtime_name,
                "model": config.model if runtime_name != "scripted" else "scripted",
                "variables": variables or {},
                "approval": config.approval,
                "breakpoints": list(config.breakpoints),  # SystemAgent.md's, then --break's
                "pid": os.getpid(),
                "config": {
                    "max_turns": config.max_turns,
                    "max_cost_usd": config.max_cost_usd,
                    "max_tokens": config.max_tokens,
                    "system_agent": config.path,
                    "memory_used": memory_used,
                },
                # recorded, so that a resumed run sends the very same system prompt (and its cached
                # prefix still matches) whatever the memory log says by then
                "memory": memory_text,
            },
        )
        if memory_problem:
            rec.note(f"SmartMemory not used: {memory_problem}")
        if child is None:
            rec.checkpoints.take(rec, at="start")  # the files as the run found them (replay starts here)
        rec.initial_state = to_front_matter(rec.snapshot())
        return rec
    except BaseException:
        lock.release()
        raise


def read_run(ws: Workspace, run_id: str) -> tuple[Path, list[Any], Ledger, Ledger]:
    """A run's journal, folded to reopen it: (its path, its records, the ledger, the ledger of its
    first record alone — the run as it started). Stale temp files a killed driver left are swept
    first."""
    sweep(ws, run_id)
    path = ws.journal_path(run_id)
    records = list(iter_effective(path))  # (less what rewinds took out)
    if not records or records[0]["kind"] != "run_started":
        raise FileFormatError(str(path), 1, "journal does not start with run_started")
    return path, records, Ledger.from_records(records, str(path)), Ledger.from_records(records[:1])


def reopen_run(
    ws: Workspace,
    run_id: str,
    *,
    config: AgentConfig,
    registry: ToolRegistry,
    options: RunOptions,
    lock: Releasable,
    child: bool = False,
) -> tuple[RunRecorder, list[Any]]:
    """A recorder over a run that already has a journal, and the journal's records. The lock is
    released if the journal cannot be read."""
    try:
        redact = redactor_for(ws.system)
        path, records, ledger, first = read_run(ws, run_id)
        rec = RunRecorder(
            ws,
            Journal(path),
            ledger,
            config=config,
            registry=registry,
            options=options,
            lock=lock,
            run_dir=ws.run_dir(run_id),
            state_path=state_path_of(ws, run_id, child=child),
            initial_state=to_front_matter(first.snapshot(config.recent_steps)),
            redact=redact,
        )
        return rec, records
    except BaseException:
        lock.release()
        raise


def open_new(
    ws: Workspace,
    goal: str,
    *,
    config: AgentConfig,
    registry: ToolRegistry,
    options: RunOptions,
    run_id: str | None,
    runtime_name: str,
    mode: str,
    variables: dict[str, Any] | None,
    run_files: dict[str, bytes] | None,
    make: Callable[[RunRecorder], D],
) -> D:
    """A new run under the workspace's lock, driven by what `make` builds over its recorder.
    A state file that does not parse is reported, never overwritten."""
    if not goal.strip():
        raise BadInput("the goal is empty; say what the agent should do")
    run_id = run_id or ws.new_run_id()
    if ws.state_path.exists():
        StateFile(ws.state_path).load()
    lock = WorkspaceLock(ws.root)
    lock.acquire(run_id)
    made: list[D] = []
    rec = create_run(
        ws,
        goal,
        config=config,
        registry=registry,
        options=options,
        lock=lock,
        run_id=run_id,
        runtime_name=runtime_name,
        mode=mode,
        variables=variables,
        run_files=run_files,
        on_open=lambda r: made.append(make(r)),
    )
    rec.flush(force=True)
    return made[0]


def reopen_for_driving(
    ws: Workspace,
    run_id: str,
    *,
    config: AgentConfig,
    registry: ToolRegistry,
    options: RunOptions,
    make: Callable[[RunRecorder], D],
    then: Callable[[D], None],
) -> D:
    """A run with a journal, under the workspace's lock, driven by what `make` builds; `then`
    records how it goes on. The lock is released if anything fails."""
    lock = WorkspaceLock(ws.root)
    lock.acquire(run_id)
    rec, _ = reopen_run(ws, run_id, config=config, registry=registry, options=options, lock=lock)
    try:
        if rec.ledger.status in RUN_TERMINAL:
            raise BadInput(f"run {run_id} is {rec.ledger.status}; there is nothing to resume")
        driver = make(rec)
        then(driver)
        return driver
    except BaseException:
        lock.release()
        raise


def open_child_run(
    parent: RunRecorder,
    run_id: str,
    goal: str,
    config: AgentConfig,
    link: ChildLink,
    *,
    make: Callable[[RunRecorder], D],
) -> D:
    """A Task sub-agent's new run under its parent's lock (the parent holds it), driven by what
    `make` builds; it tells the parent's listeners about its records from then on."""
    made: list[D] = []
    led = parent.ledger
    rec = create_run(
        parent.ws,
        goal,
        config=config,
        registry=parent.registry,
        options=parent.options,
        lock=NoLock(),
        run_id=run_id,
        runtime_name=led.runtime,
        mode=led.mode,
        variables=led.variables,
        child=link,
        on_open=lambda r: made.append(make(r)),
    )
    rec.listeners.extend(parent.listeners)
    rec.flush(force=True)
    return made[0]


def reopen_child_run(parent: RunRecorder, run_id: str, *, make: Callable[[RunRecorder], D]) -> D:
    """A sub-agent's run that already has a journal (its parent was resumed), driven by what
    `make` builds."""
    rec, _ = reopen_run(
        parent.ws,
        run_id,
        config=parent.config,
        registry=parent.registry,
        options=parent.options,
        lock=NoLock(),
        child=True,
    )
    rec.listeners.extend(parent.listeners)
    return make(rec)
