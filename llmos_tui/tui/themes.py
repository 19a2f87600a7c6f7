"""Themes are data: themes/*.yaml become textual Themes; the chosen one is remembered."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from textual.theme import Theme

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.frontmatter import load_yaml

DEFAULT_THEME = "llmos-dark"
_FIELDS = (
    "name",
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
    "boost",
    "dark",
    "variables",
)


def themes_dir() -> Path:
    packaged = Path(str(resources.files("llmos_tui"))) / "_defaults" / "themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"


def load_theme(path: Path) -> Theme:
    data = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or "primary" not in data:
        raise FileFormatError(str(path), 1, "a theme needs at least `name` and `primary`")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise FileFormatError(str(path), None, f"unknown theme keys: {', '.join(unknown)}")
    return Theme(**data)


def load_themes(folder: Path | None = None) -> list[Theme]:
    folder = folder or themes_dir()
    return [load_theme(p) for p in sorted(folder.glob("*.yaml"))]


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "llmos-tui" / "settings.json"


def remembered_theme() -> str | None:
    try:
        theme = json.loads(settings_path().read_text()).get("theme")
    except (OSError, ValueError, AttributeError):
        return None
    return theme if isinstance(theme, str) else None


def remember_theme(name: str) -> None:
    path = settings_path()
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data["theme"] = name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n")
    except OSError:
        pass  # a read-only home must not stop the app
