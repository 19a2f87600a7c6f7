"""Where a batch lives, and how each goal's folder is made.

    <out>/batch.jsonl            the batch journal (core/batch/journal.py)
    <out>/goals.jsonl            the goals as the batch runs them, one per line, in order
    <out>/.batch/lock            one coordinator per batch (an flock, dropped when it dies)
    <out>/.batch/template/       the project's system/ and workspace/ as they were when the batch
                                 started (every goal starts from this copy, whatever the project
                                 becomes meanwhile)
    <out>/.batch/gate/           the shared rate gate: the backoff file and the call slots
    <out>/.batch/tmp/            goal folders being made (renamed into place when complete)
    <out>/NNNN-<slug>/           one goal: goal.json, script.yaml (scripted), system/, workspace/

A goal's folder is a project of its own: `llmos-tui status|watch|export|rewind --workspace
<out>/NNNN-<slug>` work on it. Its system/ is a copy of the template's, so what a run writes
there — SmartMemory's experience (memory_log.md), its tool figures (tool_stats.json) — stays the
goal's: the project's system/ is never written by a batch, and no two runs share a file. Runs
read the project's experiences as they were when the batch started, never another goal's, so a
goal's prompt does not depend on which goals finished before it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any

from llmos_tui.core.batch.goals import Goal, safe_relative
from llmos_tui.core.fsutil import atomic_write, fsync_dir
from llmos_tui.core.inputs import SCRIPT_MAX, read_bytes
from llmos_tui.core.lock import LOCK_NAME
from llmos_tui.core.workspace import RUNS_NAME, STATE_NAME, Workspace

BATCH_JOURNAL = "batch.jsonl"
GOALS_NAME = "goals.jsonl"
META = ".batch"
GOAL_META = "goal.json"
SCRIPT = "script.yaml"
COPY_MAX = 64 * 1_048_576  # a goal's `files: {from: …}` copies at most this much per file
# never copied from the project's workspace: the runs and the live state belong to its own runs
WORKSPACE_SKIP = {RUNS_NAME, STATE_NAME, LOCK_NAME}


def meta(out: Path) -> Path:
    return Path(out) / META


def template(out: Path) -> Path:
    return meta(out) / "template"


def goal_dir_name(goal: Goal) -> str:
    return f"{goal.index:04d}-{slug(goal.goal)}"


def slug(text: str, width: int = 40) -> str:
    """A few words of the goal, for its folder's name: lower-case ASCII, dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(s) > width:
        s = s[:width].rsplit("-", 1)[0] if "-" in s[:width] else s[:width]
    return s.strip("-") or "goal"


def _skip_workspace(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in WORKSPACE_SKIP or (n.startswith(".") and n.endswith(".tmp"))}


def make_template(out: Path, project: Workspace) -> None:
    """Copy the project's system/ and workspace/ (less its runs) into the batch, once: made in a
    temporary folder and renamed into place, so a batch killed meanwhile makes it again."""
    final = template(out)
    if final.is_dir():
        return
    project.require_system()
    tmp = meta(out) / "tmp" / "template"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copytree(project.system, tmp / "system", symlinks=True)
    (tmp / "system" / "tool_stats.json").unlink(missing_ok=True)  # (each goal's own figures start at none)
    if project.root.is_dir():
        shutil.copytree(project.root, tmp / "workspace", symlinks=True, ignore=_skip_workspace)
    else:
        (tmp / "workspace").mkdir()
    os.replace(tmp, final)
    fsync_dir(final.parent)


def prepare_goal(out: Path, goal: Goal, run_id: str, dir_name: str) -> Path:
    """The goal's folder, made once: the template's system/ and workspace/, the goal's files, its
    script and goal.json, assembled in .batch/tmp and renamed into place (so it is there whole or
    not at all). An existing folder is left as it is (its run may have begun)."""
    final = Path(out) / dir_name
    if (final / GOAL_META).exists():
        return final
    tmp = meta(out) / "tmp" / dir_name
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    src = template(out)
    shutil.copytree(src / "system", tmp / "system", symlinks=True)
    shutil.copytree(src / "workspace", tmp / "workspace", symlinks=True)
    ws = tmp / "workspace"
    for name, content in goal.files.items():
        rel = safe_relative(name)
        assert rel is not None  # checked when the goals file was read
        target = ws / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_dir():  # the goal's file wins over what the template had there
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
        if isinstance(content, dict):
            target.write_bytes(read_bytes(Path(content["from"]), limit=COPY_MAX))
        else:
            target.write_text(content, encoding="utf-8")
    if goal.script is not None:
        if isinstance(goal.script, str):
            data = read_bytes(Path(goal.script), limit=SCRIPT_MAX)
        else:
            from llmos_tui.core.frontmatter import dump_yaml

            data = dump_yaml(goal.script).encode("utf-8")
        (tmp / SCRIPT).write_bytes(data)
    info = {**goal.to_json(), "index": goal.index, "run_id": run_id, "dir": dir_name}
    (tmp / GOAL_META).write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if final.exists():  # a folder without goal.json: a copy a kill interrupted before its rename (never run)
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return final


def goal_workspace(goal_folder: Path) -> Workspace:
    """The goal's workspace, with its own system/ beside it."""
    return Workspace(root=Path(goal_folder) / "workspace", system=Path(goal_folder) / "system")


def read_goal_meta(goal_folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(goal_folder) / GOAL_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_goals(out: Path, goals: list[Goal]) -> None:
    lines = "".join(json.dumps(g.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n" for g in goals)
    atomic_write(Path(out) / GOALS_NAME, lines)


def read_goals(out: Path) -> list[Goal]:
    path = Path(out) / GOALS_NAME
    goals: list[Goal] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    goals.append(Goal.from_json(len(goals) + 1, json.loads(line)))
                except (ValueError, KeyError, TypeError) as exc:
                    from llmos_tui.core.errors import FileFormatError

                    raise FileFormatError(str(path), n, f"not a goal the batch wrote: {exc}") from None
    return goals


def sweep_tmp(out: Path) -> None:
    """Goal folders a killed batch was making (never run: a run starts only in a folder in place)."""
    shutil.rmtree(meta(out) / "tmp", ignore_errors=True)
