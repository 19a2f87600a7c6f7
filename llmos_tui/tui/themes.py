"""Themes are data: themes/*.yaml become textual Themes; the chosen one is remembered."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.frontmatter import key_line as frontmatter_key_line
from llmos_tui.core.frontmatter import load_yaml
from llmos_tui.core.inputs import THEME_MAX, read_text

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


_COLOURS = tuple(f for f in _FIELDS if f not in ("name", "dark", "variables"))


def load_theme(path: Path) -> Theme:
    """A theme file, checked before Textual sees it (a bad colour would crash the app inside
    Textual): FileFormatError naming the file and the problem."""
    p = str(path)
    data = load_yaml(read_text(path, limit=THEME_MAX), p)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or "primary" not in data:
        raise FileFormatError(p, 1, "a theme needs at least `name` and `primary`")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise FileFormatError(p, None, f"unknown theme keys: {', '.join(unknown)}")
    for key in _COLOURS:
        value = data.get(key)
        if value is None:
            continue
        try:
            Color.parse(value)
        except (ColorParseError, TypeError, ValueError):
            raise FileFormatError(
                p, key_line(p, key), f"{key}: {value!r} is not a colour (#rrggbb, rgb(…), a name)"
            ) from None
    if not isinstance(data.get("dark", True), bool):
        raise FileFormatError(p, key_line(p, "dark"), f"dark must be true or false, not {data['dark']!r}")
    variables = data.get("variables") or {}
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise FileFormatError(p, key_line(p, "variables"), "variables must map names to text values")
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()
    except Exception as exc:  # noqa: BLE001 - whatever Textual makes of it, it is this file's problem
        raise FileFormatError(p, None, f"not a usable theme: {exc}") from None
    return theme


def key_line(path: str, key: str) -> int | None:
    try:
        return frontmatter_key_line(read_text(path, limit=THEME_MAX), key)
    except (OSError, FileFormatError):
        return None


def load_themes(folder: Path | None = None, problems: list[str] | None = None) -> list[Theme]:
    """The themes of `folder` (default: the packaged themes); a theme that does not load is
    skipped, and why goes into `problems` (one line naming the file)."""
    folder = folder or themes_dir()
    themes = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            themes.append(load_theme(path))
        except (FileFormatError, OSError) as exc:
            if problems is not None:
                problems.append(f"{exc} (theme skipped)")
    return themes


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "llmos-tui" / "settings.json"


def _settings() -> object:
    """settings.json (an input like any other: a regular file, small, UTF-8), or None."""
    try:
        return json.loads(read_text(settings_path(), limit=THEME_MAX))
    except (OSError, ValueError, RecursionError, FileFormatError):
        return None


def remembered_theme() -> str | None:
    data = _settings()
    theme = data.get("theme") if isinstance(data, dict) else None
    return theme if isinstance(theme, str) else None


def remember_theme(name: str) -> None:
    path = settings_path()
    data = _settings()
    if not isinstance(data, dict):
        data = {}
    data["theme"] = name
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return  # a fifo or a device in its place: writing could block the app; leave it alone
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n")
    except OSError:
        pass  # a read-only home must not stop the app
