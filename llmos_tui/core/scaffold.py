"""`llmos-tui init`: lay out system/ and workspace/ with the default agent documents.

Safe to run again: it adds what is missing and never touches a file a person changed. Each file
is written atomically (a kill leaves the old state or the whole file), and what init wrote is
recorded in system/.llmos-init.json (each file's SHA-256). A second init repairs a default left
empty or cut by an older init that was killed mid-write (no record of it, and its bytes a prefix
of the default); a file whose record shows a person changed it is kept as it is.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from llmos_tui.core.errors import LlmosError
from llmos_tui.core.fsutil import atomic_write, remove_stale_temp_files
from llmos_tui.core.inputs import SYSTEM_FILE_MAX, read_bytes

MANIFEST = ".llmos-init.json"
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


def _manifest(system: Path) -> dict[str, str]:
    try:
        data = json.loads(read_bytes(system / MANIFEST, limit=SYSTEM_FILE_MAX))
        files = data.get("files") if isinstance(data, dict) else None
        return {k: v for k, v in files.items() if isinstance(v, str)} if isinstance(files, dict) else {}
    except (OSError, ValueError, LlmosError):
        return {}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _state_of(dest: Path, default: bytes, recorded: str | None) -> str:
    """'missing', 'kept' (a whole default, or a person's file) or 'cut' (to repair)."""
    if not dest.exists() and not dest.is_symlink():
        return "missing"
    if recorded is not None or dest.is_symlink() or not dest.is_file():
        return "kept"  # init wrote it whole (a change since is a person's), or not ours to judge
    try:
        have = read_bytes(dest, limit=SYSTEM_FILE_MAX)
    except (OSError, LlmosError):
        return "kept"
    return "cut" if len(have) < len(default) and default.startswith(have) else "kept"


def init_project(target: Path) -> list[tuple[str, str]]:
    """Create what is missing under `target`, repair a default a killed init left cut; returns
    (path, 'created'|'repaired'|'kept') for each file."""
    target = Path(target)
    src = defaults_dir()
    report: list[tuple[str, str]] = []
    system = target / "system"
    system.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(system)
    for name in SYSTEM_FILES:
        remove_stale_temp_files(system, name)  # a killed init's half-written temp files
        dest = system / name
        rel = f"system/{name}"
        default = (src / name).read_bytes()
        state = _state_of(dest, default, manifest.get(name))
        if state == "kept":
            if (
                name not in manifest
                and dest.is_file()
                and _sha(read_bytes(dest, limit=SYSTEM_FILE_MAX)) == _sha(default)
            ):
                manifest[name] = _sha(default)  # a whole default an older init wrote: recorded now
                _save_manifest(system, manifest)
            report.append((rel, "kept"))
            continue
        atomic_write(dest, default)
        manifest[name] = _sha(default)
        _save_manifest(system, manifest)
        report.append((rel, "created" if state == "missing" else "repaired"))
    ws = target / "workspace"
    if ws.is_dir():
        report.append(("workspace/", "kept"))
    else:
        ws.mkdir(parents=True)
        report.append(("workspace/", "created"))
    return report


def _save_manifest(system: Path, files: dict[str, str]) -> None:
    atomic_write(system / MANIFEST, json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True) + "\n")
