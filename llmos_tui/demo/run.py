"""`llmos-tui demo`: set up a workspace, serve the demo page, and open a scenario."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from llmos_tui.core.errors import BadInput
from llmos_tui.core.scaffold import init_project

SCENARIOS = ("weather", "notes")


@dataclass(frozen=True)
class PreparedDemo:
    project: Path
    goal: str
    script: Path


def prepare(scenario: str, base_url: str, project: Path | None = None) -> PreparedDemo:
    """Lay out the project (kept if given), seed its files, and write the scenario's script."""
    if scenario not in SCENARIOS:
        raise BadInput(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    project = Path(project) if project else Path(tempfile.mkdtemp(prefix="llmos-demo-"))
    init_project(project)
    raw = resources.files("llmos_tui.demo").joinpath("scenarios", f"{scenario}.yaml").read_text("utf-8")
    doc = yaml.safe_load(raw.replace("{base_url}", base_url))
    for rel, content in (doc.pop("files", None) or {}).items():
        dest = project / "workspace" / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(content, encoding="utf-8")
    goal = doc.pop("goal")
    script = project / f"demo-{scenario}.yaml"
    script.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return PreparedDemo(project=project, goal=goal, script=script)
