"""ClaudeCodeToolMap.md: one fenced yaml block per tool, declaring what the tool costs and risks."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos_tui.core import frontmatter, toolmap_llmunix
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.inputs import SYSTEM_FILE_MAX, read_text

SIDE_EFFECTS = ("none", "filesystem", "network", "process", "agent")
APPROVALS = ("auto", "ask", "deny")
_REQUIRED = (
    "framework_tool",
    "claude_tool",
    "description",
    "cost",
    "latency",
    "side_effects",
    "error_modes",
    "approval",
)
_FENCE = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class ToolSpec:
    framework_tool: str
    claude_tool: str
    description: str
    cost: str
    latency: str
    side_effects: str
    error_modes: tuple[str, ...]
    approval: str
    sandbox: bool = True  # Bash only, optional `sandbox: on|off`: off runs it unconfined
    network: bool = False  # Bash only, optional `network: allow|deny`: the network inside its sandbox

    def metadata_line(self) -> str:
        """What the model is told about the tool beside its own description."""
        return (
            f"[cost: {self.cost}; latency: {self.latency}; side effects: {self.side_effects}; "
            f"may fail with: {', '.join(self.error_modes) or 'n/a'}]"
        )


def parse_toolmap(text: str, path: str = "ClaudeCodeToolMap.md", notes: list[str] | None = None) -> dict[str, ToolSpec]:
    """The tools of a ToolMap; LLMunix's own layout is read too (core/toolmap_llmunix.py), with a
    note appended to `notes` saying how."""
    llmunix = _read_llmunix(text, path)
    if llmunix is not None:
        specs_read, note = llmunix
        if notes is not None:
            notes.append(note)
        return specs_read
    specs: dict[str, ToolSpec] = {}
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start(1)) + 1
        d = frontmatter.load_yaml(m.group(1), path, line_offset=line - 1)
        if not isinstance(d, dict):
            raise FileFormatError(path, line, "a tool block must be a YAML mapping")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise FileFormatError(path, line, f"tool block lacks {', '.join(missing)}")
        name = d["claude_tool"]
        if not isinstance(name, str) or not name:
            raise FileFormatError(path, line, "claude_tool must be a tool name")
        if d["side_effects"] not in SIDE_EFFECTS:
            raise FileFormatError(
                path, line, f"{name}: side_effects must be one of {', '.join(SIDE_EFFECTS)}, not {d['side_effects']!r}"
            )
        if d["approval"] not in APPROVALS:
            raise FileFormatError(
                path, line, f"{name}: approval must be one of {', '.join(APPROVALS)}, not {d['approval']!r}"
            )
        if not isinstance(d["error_modes"], list):
            raise FileFormatError(path, line, f"{name}: error_modes must be a list")
        if name in specs:
            raise FileFormatError(path, line, f"{name} is declared twice")
        sandbox, network = _bash_settings(d, name, path, line)
        specs[name] = ToolSpec(
            framework_tool=str(d["framework_tool"]),
            claude_tool=name,
            description=str(d["description"]).strip(),
            cost=str(d["cost"]),
            latency=str(d["latency"]),
            side_effects=d["side_effects"],
            error_modes=tuple(str(e) for e in d["error_modes"]),
            approval=d["approval"],
            sandbox=sandbox,
            network=network,
        )
    if not specs:
        raise FileFormatError(path, None, f"no ```yaml tool blocks found; {toolmap_llmunix.HOW_TO}")
    return specs


def _read_llmunix(text: str, path: str) -> tuple[dict[str, ToolSpec], str] | None:
    """An LLMunix tool map (yaml blocks none of which has `approval`, or `### X → Y` headings
    and no yaml at all) as ToolSpecs and a note; None when the file is in llmos-tui's layout."""
    blocks = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start(1)) + 1
        d = frontmatter.load_yaml(m.group(1), path, line_offset=line - 1)
        if isinstance(d, dict) and "claude_tool" in d:
            blocks.append((line, d))
    if any("approval" in d for _, d in blocks):
        return None
    known = _known_tools()
    if blocks:
        entries, skipped = toolmap_llmunix.from_yaml_blocks(blocks, path, known)
    elif _FENCE.search(text) is None:
        entries, skipped = toolmap_llmunix.from_headings(text, path, known)
    else:
        return None
    specs: dict[str, ToolSpec] = {}
    for entry in entries:
        if entry["claude_tool"] not in specs:
            specs[entry["claude_tool"]] = ToolSpec(**{**entry, "error_modes": tuple(entry["error_modes"])})
    return specs, toolmap_llmunix.note(path, entries, skipped, known)


@functools.lru_cache(maxsize=1)
def _known_tools() -> dict[str, dict[str, Any]]:
    """llmos-tui's own default ToolMap, as the fields an LLMunix tool map does not give."""
    from llmos_tui.core.scaffold import defaults_dir

    try:
        specs = parse_toolmap(read_text(defaults_dir() / "ClaudeCodeToolMap.md", limit=SYSTEM_FILE_MAX))
    except (OSError, FileFormatError):  # pragma: no cover - a broken install: unknown tools wait for a person
        return {}
    return {name: dataclasses.asdict(spec) for name, spec in specs.items()}


def _bash_settings(d: dict[str, object], name: str, path: str, line: int) -> tuple[bool, bool]:
    """A block's optional `sandbox: on|off` and `network: allow|deny` (YAML may read on/off and
    yes/no as booleans); they apply to Bash only."""
    sandbox, network = d.get("sandbox", True), d.get("network", False)
    if ("sandbox" in d or "network" in d) and name != "Bash":
        raise FileFormatError(path, line, f"{name}: sandbox and network apply to Bash only")
    if sandbox in ("on", "off"):
        sandbox = sandbox == "on"
    if not isinstance(sandbox, bool):
        raise FileFormatError(path, line, f"{name}: sandbox must be on or off, not {sandbox!r}")
    if network in ("allow", "deny"):
        network = network == "allow"
    if not isinstance(network, bool):
        raise FileFormatError(path, line, f"{name}: network must be allow or deny, not {network!r}")
    return sandbox, network


def load_toolmap(path: Path, notes: list[str] | None = None) -> dict[str, ToolSpec]:
    """Read a ToolMap (an untrusted input: a regular file of at most SYSTEM_FILE_MAX, UTF-8)."""
    try:
        text = read_text(path, limit=SYSTEM_FILE_MAX)
    except FileNotFoundError:
        raise FileFormatError(str(path), None, "is missing; `llmos-tui init` writes the default") from None
    return parse_toolmap(text, str(path), notes)
