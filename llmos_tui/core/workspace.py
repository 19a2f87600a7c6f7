"""Where things live: a project folder holds system/ and workspace/; runs live under workspace/runs/."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from llmos_tui.core.errors import BadInput
from llmos_tui.core.lock import LOCK_NAME

# every on-disk name of a workspace, defined here once
STATE_NAME = "execution_state.md"  # the live state (workspace/) and a run's final copy (runs/<id>/)
RUNS_NAME = "runs"
JOURNAL_NAME = "journal.jsonl"
CONTROL_NAME = "control.jsonl"
TRACE_NAME = "trace.json"
SCRIPT_NAME = "script.yaml"  # the script a scripted run replays (copied in at start)
TASK_PREFIX = "task-"
CHECKPOINTS_NAME = ".checkpoints"  # in runs/: the workspace's checkpoint store (a shadow git repository)
SYSTEM_AGENT_NAME = "SystemAgent.md"  # in system/: the run configuration and the system prompt
TOOLMAP_NAME = "ClaudeCodeToolMap.md"  # in system/: the tools
LLMUNIX_PLACES = {SYSTEM_AGENT_NAME: "agents", TOOLMAP_NAME: "tools"}  # where LLMunix keeps them


def task_run_id(parent_run_id: str, step: int) -> str:
    """A Task sub-agent's run id: a folder inside its parent's run folder."""
    return f"{parent_run_id}/{TASK_PREFIX}{step}"


@dataclass(frozen=True)
class Workspace:
    root: Path  # the workspace folder (tools work here)
    system: Path  # the system/ folder beside it

    @classmethod
    def locate(cls, given: str | Path | None = None) -> "Workspace":
        """Accept a project folder (holding workspace/) or a workspace folder; default: ./workspace."""
        base = (Path(given) if given else Path.cwd()).expanduser().resolve()
        if (base / "workspace").is_dir() and (base / "system").is_dir() and not (base / STATE_NAME).exists():
            ws = base / "workspace"  # a project folder (whatever else it holds, e.g. a runs/ of its own)
        elif (base / STATE_NAME).exists() or (base / RUNS_NAME).is_dir():
            ws = base  # already a workspace
        elif (base / "workspace").is_dir():
            ws = base / "workspace"  # a project folder
        elif given is not None and base.is_dir():
            ws = base
        else:
            raise BadInput(f"no workspace in {base}; create one with `llmos-tui init`")
        return cls(root=ws, system=ws.parent / "system")

    @property
    def state_path(self) -> Path:
        return self.root / STATE_NAME

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_NAME

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def journal_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / JOURNAL_NAME

    def control_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / CONTROL_NAME

    def trace_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / TRACE_NAME

    def system_file(self, name: str) -> Path:
        """system/<name>; for SystemAgent.md and the ToolMap, where LLMunix keeps them
        (system/agents/, system/tools/) when system/ itself has none."""
        here = self.system / name
        sub = LLMUNIX_PLACES.get(name)
        if sub is not None and not here.exists() and (self.system / sub / name).exists():
            return self.system / sub / name
        return here

    def require_system(self) -> None:
        missing = [n for n in (SYSTEM_AGENT_NAME, TOOLMAP_NAME) if not self.system_file(n).exists()]
        if missing:
            raise BadInput(
                f"{self.system} lacks {', '.join(missing)}; run `llmos-tui init {self.root.parent}` to add the defaults"
            )

    def new_run_id(self) -> str:
        now = dt.datetime.now(dt.UTC)
        # Four hex digits: the millisecond (3, so ids started in one second still sort in
        # order) and one random digit.
        return f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03x}{secrets.randbelow(16):x}"

    def run_ids(self) -> list[str]:
        """Runs oldest first (run ids start with their UTC start time)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir() and (p / JOURNAL_NAME).exists())

    def latest_run_id(self) -> str | None:
        ids = self.run_ids()
        return ids[-1] if ids else None

    def resolve_run_id(self, run_id: str | None) -> str:
        if run_id is None:
            latest = self.latest_run_id()
            if latest is None:
                raise BadInput(f"no runs in {self.root}; start one with `llmos-tui run GOAL`")
            return latest
        if self.journal_path(run_id).exists():
            return run_id
        matches = [r for r in self.run_ids() if r.startswith(run_id) or r.endswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise BadInput(f"run id {run_id!r} is ambiguous: {', '.join(matches[:5])}")
        raise BadInput(f"no run {run_id!r} in {self.root}")


def write_json_atomic(path: Path, obj: object) -> None:
    from llmos_tui.core.fsutil import atomic_write

    # Compact: json's C encoder only runs without indent (5× faster on a 10k-step trace).
    atomic_write(path, json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
