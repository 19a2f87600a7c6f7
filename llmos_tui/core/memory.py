"""SmartMemory's log (system/memory_log.md): experiences as YAML front-matter blocks.

Each experience is a block between two lines of exactly `---`, followed by its "Key learnings"
text up to the next block. Text before the first block is the file's own explanation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmos_tui.core import frontmatter
from llmos_tui.core.errors import FileFormatError


def parse_memory(text: str, path: str = "memory_log.md") -> list[dict[str, Any]]:
    lines = text.splitlines()
    fences = [i for i, line in enumerate(lines) if line.rstrip() == "---"]
    entries: list[dict[str, Any]] = []
    k = 0
    while k + 1 < len(fences):
        start, end = fences[k], fences[k + 1]
        data = frontmatter.load_yaml("\n".join(lines[start + 1:end]), path, line_offset=start + 1)
        if not isinstance(data, dict):
            raise FileFormatError(path, start + 2, "an experience must be a YAML mapping")
        nxt = fences[k + 2] if k + 2 < len(fences) else len(lines)
        entry = dict(data)
        entry["learnings"] = "\n".join(lines[end + 1:nxt]).strip()
        entry["line"] = start + 1
        entries.append(entry)
        k += 2
    return entries


def read_memory(path: Path) -> list[dict[str, Any]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return parse_memory(text, str(path))
