"""A run's checkpoints: the workspace's files recorded before each step with side effects runs,
and at the run's start and end, so a person can rewind, fork and diff a run files included.

The store is the workspace's shadow git repository (core/checkpoints.py, under runs/), shared by
every run of the workspace. A checkpoint is a `checkpoint` journal record naming the store's id;
a run whose files could not be recorded says so once (a note) and goes on without checkpoints —
recording is never a reason to stop a run. A simulated run touches nothing and records none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from llmos_tui.core.checkpoints import DEFAULT_IGNORE, CheckpointError, CheckpointStore, Skipped
from llmos_tui.core.config import AgentConfig
from llmos_tui.core.journal import Journal
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.records import JournalRecord, Kind
from llmos_tui.core.workspace import CHECKPOINTS_NAME, Workspace


class RunRecorder(Protocol):
    """What of the recorder (engine/recorder.py, which holds a RunCheckpoints) is used here."""

    ledger: Ledger
    journal: Journal
    run_dir: Path

    @property
    def run_id(self) -> str: ...

    def record(self, kind: Kind, *, step: int | None = ..., data: dict[str, Any] | None = ...) -> JournalRecord: ...

    def note(self, message: str, *, step: int | None = None) -> None: ...


SKIPPED_LISTED = 50  # a checkpoint record lists at most this many skipped files (and counts the rest)


def store_for(ws: Workspace, config: AgentConfig) -> CheckpointStore:
    """The workspace's checkpoint store, with the run configuration's ignore rules (SystemAgent.md's
    `checkpoint_ignore`, after the defaults: a `!pattern` takes a default back) and size cap."""
    extra = tuple(config.checkpoint_ignore or ())
    return CheckpointStore(
        ws.root,
        store=ws.runs_dir / CHECKPOINTS_NAME,
        ignore=[*DEFAULT_IGNORE, *extra],
        max_file_bytes=int(config.checkpoint_max_file_mb * 1_048_576),
    )


def skipped_data(skipped: tuple[Skipped, ...] | list[Skipped]) -> dict[str, Any]:
    if not skipped:
        return {}
    listed = [{"path": s.path, "size": s.size, "why": s.why} for s in skipped[:SKIPPED_LISTED]]
    return {"skipped": listed, "skipped_count": len(skipped)}


class RunCheckpoints:
    """What a recorder knows about its run's checkpoints (one per recorder, made lazily)."""

    def __init__(self, ws: Workspace, config: AgentConfig) -> None:
        self.ws = ws
        self.config = config
        self._store: CheckpointStore | None = None
        self.off: str | None = None if config.checkpoints else "checkpoints: false"
        self._told: set[str] = set()  # skipped files already noted (a big file is said once)

    def store(self) -> CheckpointStore:
        if self._store is None:
            self._store = store_for(self.ws, self.config)
        return self._store

    def take(self, rec: RunRecorder, *, step: int | None = None, at: str | None = None) -> str | None:
        """Record the workspace's files now; returns the checkpoint id (None when off)."""
        if self.off is not None or rec.ledger.mode != "execute":
            return None
        if os.environ.get("LLMOS_NO_CHECKPOINTS"):  # (the engine benchmark's baseline)
            self.off = "LLMOS_NO_CHECKPOINTS"
            return None
        try:
            cp = self.store().snapshot(label=f"{rec.run_id} {f'step {step}' if step else at or ''}".strip())
        except CheckpointError as exc:
            self.off = str(exc)
            rec.note(f"checkpoints off for this run (rewind, fork and diff cannot restore its files): {exc}")
            return None
        data: dict[str, Any] = {"id": cp.id, "files": cp.files, **skipped_data(cp.skipped)}
        if at:
            data["at"] = at
        rec.record("checkpoint", step=step, data=data)
        new = [s for s in cp.skipped if s.path not in self._told]
        if new:
            self._told.update(s.path for s in new)
            names = ", ".join(f"{s.path} ({s.why})" for s in new[:5]) + (
                f" and {len(new) - 5} more" if len(new) > 5 else ""
            )
            rec.note(f"not checkpointed, so a rewind leaves them as they are: {names}", step=step)
        return cp.id

    def finish_restore(self, rec: RunRecorder) -> list[Skipped]:
        """Carry out a rewind's or fork's pending file restore (idempotent: after a crash midway,
        doing it again finishes the job), then record that the files are back."""
        pending = rec.ledger.pending_restore
        if pending is None:
            return []
        skipped: list[Skipped] = []
        target = pending.get("checkpoint")
        if target:
            skipped = self.store().restore(target)  # CheckpointError: the intent stays pending
        for src, dst in pending.get("children") or ():
            s, d = rec.run_dir / src, rec.run_dir / dst
            if s.exists() and not d.exists():
                os.replace(s, d)  # a sub-agent's run the rewind took out: kept, under another name
        rec.record("files_restored", data={"checkpoint": target, **skipped_data(skipped)})
        rec.journal.sync()
        return skipped


def child_folders_after(run_dir: Path, steps: list[int], seq: int) -> list[list[str]]:
    """The sub-agent folders of Task steps a rewind takes out, each with the name it is kept under."""
    from llmos_tui.core.workspace import TASK_PREFIX

    out = []
    for n in steps:
        name = f"{TASK_PREFIX}{n}"
        if (run_dir / name).is_dir():
            out.append([name, f"{name}.rewound-{seq}"])
    return out
