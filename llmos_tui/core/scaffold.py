"""`llmos-tui init`: lay out system/ and workspace/ with the default agent documents.

Safe to run again: it adds what is missing and never overwrites a file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SYSTEM_FILES = ("SystemAgent.md", "ClaudeCodeToolMap.md", "TrainingDataCollector.md", "memory_log.md")


def defaults_dir() -> Path:
    """The default system/ documents: packaged in the wheel, or the repository's own system/."""
    packaged = Path(str(resources.files("llmos_tui"))) / "_defaults" / "system"
    if packaged.is_dir():
        return packaged
    repo = Path(__file__).resolve().parents[2] / "system"
    if repo.is_dir():
        return repo
    raise FileNotFoundError("llmos-tui's default system/ documents are missing from this install")


def init_project(target: Path) -> list[tuple[str, str]]:
    """Create what is missing under `target`; returns (path, 'created'|'kept') for each file."""
    target = Path(target)
    src = defaults_dir()
    report: list[tuple[str, str]] = []
    (target / "system").mkdir(parents=True, exist_ok=True)
    for name in SYSTEM_FILES:
        dest = target / "system" / name
        rel = f"system/{name}"
        if dest.exists():
            report.append((rel, "kept"))
            continue
        dest.write_bytes((src / name).read_bytes())
        report.append((rel, "created"))
    ws = target / "workspace"
    if ws.is_dir():
        report.append(("workspace/", "kept"))
    else:
        ws.mkdir(parents=True)
        report.append(("workspace/", "created"))
    return report
