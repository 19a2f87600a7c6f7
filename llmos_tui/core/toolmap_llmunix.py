"""LLMunix's ClaudeCodeToolMap.md, read as it is (docs/design.md §1.2).

LLMunix (github.com/EvolvingAgentsLabs/llmunix) writes its tool map in two shapes, neither with
llmos-tui's `description` and `approval` keys:

- one ```yaml block per tool with `framework_tool`, `claude_tool`, `parameters`, `cost`
  ("low ($0.001-0.01 per call)"), `latency` ("medium (2-10 seconds)"), `side_effects` in words
  ("Network request, may be rate limited"), `error_modes`, `capabilities`, `limitations`;
- no yaml at all: a `### WebFetcherTool → WebFetch` heading per tool, with bullets ("Low cost
  ($0.001-0.01 per call)", "Potential error modes like timeout and rate limiting").

Both are read into llmos-tui's fields. What llmos-tui already knows about a tool (its side
effects and approval, for the tools it implements) comes from its own default tool map, since
LLMunix's files do not say who must approve what; a tool llmos-tui does not know waits for a
person (`approval: ask`). Each function returns plain dicts (the fields of a ToolSpec) and notes
for a person, and never imports toolmap.py (which calls it).
"""

from __future__ import annotations

import re
from typing import Any

from llmos_tui.core.errors import FileFormatError

HOW_TO = (
    "give each tool a ```yaml block with framework_tool, claude_tool, description, cost, latency, "
    "side_effects, error_modes and approval (`llmos-tui init` in an empty folder writes an example)"
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_HEADING = re.compile(r"^#{2,6}\s+(?P<framework>[^\n]*?)\s*(?:→|->)\s*(?P<tools>[^\n]+?)\s*#*\s*$", re.M)
_COSTS = {"none": "free", "no": "free", "free": "free", "low": "low", "medium": "medium", "high": "high"}
_LATENCIES = {
    "instant": "instant",
    "immediate": "instant",
    "fast": "fast",
    "low": "fast",
    "medium": "slow",
    "slow": "slow",
    "high": "slow",
    "very_high": "slow",
    "very": "slow",
    "variable": "variable",
}


def _first_word(text: str) -> str:
    words = re.findall(r"[a-z_]+", text.lower())
    return words[0] if words else ""


def _cost(text: Any) -> str:
    t = str(text)
    return _COSTS.get(_first_word(t), "variable" if "variable" in t.lower() else t.strip() or "variable")


def _latency(text: Any) -> str:
    t = str(text)
    return _LATENCIES.get(_first_word(t), "variable")


def _side_effects(text: Any) -> str:
    t = str(text).lower().strip()
    if t in ("", "no", "null") or t.startswith("none"):
        return "none"
    if "network" in t or "http" in t or "request" in t:
        return "network"
    if "agent" in t or "parallel" in t or "execution context" in t or "spawn" in t:
        return "agent"
    if "file" in t or "write" in t or "workspace" in t or "disk" in t:
        return "filesystem"
    return "process"  # anything else it may do: counted as a side effect, so it waits under `side-effects`


def _words(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value or "")
    text = re.sub(r"^.*?\blike\b", "", text, flags=re.I)  # "Potential errors like timeout and …"
    return [w.strip(" .") for w in re.split(r",|\band\b|\bor\b", text) if w.strip(" .")]


def _entry(
    name: str, framework: str, known: dict[str, dict[str, Any]], *, description: str, cost: Any, latency: Any
) -> dict[str, Any]:
    base = known.get(name)
    return {
        "framework_tool": framework or name,
        "claude_tool": name,
        "description": (base or {}).get("description") or description or f"{framework or name} (from LLMunix)",
        "cost": _cost(cost) if cost else (base or {}).get("cost", "variable"),
        "latency": _latency(latency) if latency else (base or {}).get("latency", "variable"),
        "side_effects": (base or {}).get("side_effects", "process"),
        "error_modes": [],
        "approval": (base or {}).get("approval", "ask"),
    }


def from_yaml_blocks(
    blocks: list[tuple[int, dict[str, Any]]], path: str, known: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """LLMunix's yaml blocks (no `approval`): (line, block) pairs → ToolSpec fields, skipped names."""
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    for line, d in blocks:
        name = d.get("claude_tool")
        if not isinstance(name, str) or not _NAME.match(name):
            skipped.append(f"{name!r} (line {line}: not a tool name)")
            continue
        caps = d.get("capabilities")
        entry = _entry(
            name,
            str(d.get("framework_tool") or ""),
            known,
            description=str(d.get("description") or (", ".join(map(str, caps)) if isinstance(caps, list) else "")),
            cost=d.get("cost"),
            latency=d.get("latency"),
        )
        if name not in known:
            entry["side_effects"] = _side_effects(d.get("side_effects", ""))
        entry["error_modes"] = _words(d.get("error_modes"))
        out.append(entry)
    return out, skipped


def from_headings(text: str, path: str, known: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """LLMunix's `### FrameworkTool → ClaudeTool` sections with bullets → ToolSpec fields."""
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    seen: set[str] = set()
    matches = list(_HEADING.finditer(text))
    for i, m in enumerate(matches):
        body = text[m.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        body = re.split(r"^#{1,6}\s", body, maxsplit=1, flags=re.M)[0]
        bullets = [b.strip() for b in re.findall(r"^\s*[-*]\s+(.+)$", body, flags=re.M)]
        cost = next((b for b in bullets if "cost" in b.lower()), "")
        latency = next((b for b in bullets if "latency" in b.lower()), "")
        errors = next((b for b in bullets if "error" in b.lower()), "")
        line = text.count("\n", 0, m.start()) + 1
        names = [n.strip() for n in re.split(r"[/+,]", m.group("tools")) if n.strip()]
        for name in names:
            if not _NAME.match(name):
                skipped.append(f"{name!r} (line {line}: not a tool name)")
                continue
            if name in seen:
                continue  # a framework tool mapped onto tools already declared (e.g. Bash + Write + Read)
            seen.add(name)
            entry = _entry(
                name,
                m.group("framework").strip(" #*"),
                known,
                description=bullets[0] if bullets else "",
                cost=cost if cost and "no direct cost" not in cost.lower() else ("none" if cost else ""),
                latency=latency,
            )
            entry["error_modes"] = _words(errors)
            out.append(entry)
    if not out:
        raise FileFormatError(path, None, f"no tool found; {HOW_TO}")
    return out, skipped


def note(path: str, entries: list[dict[str, Any]], skipped: list[str], known: dict[str, dict[str, Any]]) -> str:
    """What a person should know about an LLMunix tool map that was read."""
    names = [e["claude_tool"] for e in entries]
    unknown = [n for n in names if n not in known]
    text = (
        f"{path} is in LLMunix's layout: read {len(names)} tools ({', '.join(names)}) with the side "
        f"effects and approval llmos-tui gives them by default"
    )
    if unknown:
        text += f" ({', '.join(unknown)}: unknown to llmos-tui, so {'they wait' if len(unknown) > 1 else 'it waits'} for a person)"
    if skipped:
        text += f"; skipped {', '.join(skipped)}"
    return text + f"; to set them yourself, {HOW_TO}"
