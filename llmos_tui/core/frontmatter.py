"""YAML front matter (`---` … `---` at the top of a markdown file), with errors that name a line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from llmos_tui.core.errors import FileFormatError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line strings as literal `|` blocks: readable, and editable by hand."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


@dataclass(frozen=True)
class FrontMatter:
    data: dict[str, Any]
    body: str
    first_line: int  # line number (1-based) of the first YAML line in the file


def split(text: str, path: str) -> FrontMatter:
    """Split `text` into its front matter mapping and body; raise FileFormatError naming a line."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise FileFormatError(path, 1, "expected YAML front matter starting with '---'")
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") in ("---", "..."):
            end = i
            break
    else:
        raise FileFormatError(path, len(lines), "front matter has no closing '---'")
    yaml_text = "".join(lines[1:end])
    data = load_yaml(yaml_text, path, line_offset=1)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FileFormatError(path, 2, "front matter must be a YAML mapping (key: value lines)")
    return FrontMatter(data=data, body="".join(lines[end + 1 :]), first_line=2)


def load_yaml(text: str, path: str, *, line_offset: int = 0) -> Any:
    """yaml.safe_load with the error turned into one line: `path:line: problem`."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 + line_offset if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        cmark = getattr(exc, "context_mark", None)
        opened = ""
        if cmark is not None and cmark.line + 1 + line_offset != line:
            opened = f" (it starts on line {cmark.line + 1 + line_offset})"
        msg = f"invalid YAML: {context + ', ' if context else ''}{problem}{opened}"
        raise FileFormatError(path, line, msg) from None


def dump_yaml(data: Any) -> str:
    """Block-style YAML in key order, Unicode kept readable."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def key_line(text: str, key: str, *, default: int | None = None) -> int | None:
    """The 1-based line where a top-level `key:` stands in a front-matter file (for messages)."""
    prefix = f"{key}:"
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith(prefix):
            return i
    return default
