"""A batch folder's goal workspaces, for faces that look at many runs at once (`llmos-tui inbox`).

A goal's folder (`<out>/NNNN-<slug>/`, docs/design.md §14.2) is renamed into place whole, with
its `goal.json`, so a folder holding `goal.json` is a goal's and its `workspace/` is where the
goal's run lives. Listing the folder is all it takes: goals not handed out yet have no folder,
and their runs no journal.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmos_tui.core.batch.folders import BATCH_JOURNAL, GOAL_META, META, goal_workspace
from llmos_tui.core.workspace import Workspace


def is_batch_folder(path: str | Path) -> bool:
    """A folder `llmos-tui batch` made (it holds the batch journal)."""
    return (Path(path) / BATCH_JOURNAL).is_file()


def batch_workspaces(out: str | Path) -> list[tuple[str, Workspace]]:
    """Every goal folder in place, in goal order: its name (`0003-write-hello`) and its workspace
    (with the goal's own system/ beside it)."""
    out = Path(out)
    try:
        entries = sorted(e.name for e in os.scandir(out) if e.is_dir() and e.name != META)
    except FileNotFoundError:
        return []
    return [(name, goal_workspace(out / name)) for name in entries if (out / name / GOAL_META).is_file()]
