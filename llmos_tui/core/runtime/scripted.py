"""The scripted runtime: replays assistant turns from a YAML script, in order.

Its turns go through exactly the runner path Claude's replies take; the turn to play is chosen by
how many assistant turns the conversation already holds, so a resumed run continues the script
where it stopped. It serves the tests, the offline demo and deterministic replay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmos_tui.core import frontmatter
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.runtime.base import ModelTurn, ScriptExhausted, TurnRequest
from llmos_tui.core.state import Usage
from llmos_tui.core.tools.base import ToolOutput


class ScriptedRuntime:
    name = "scripted"

    def __init__(
        self,
        turns: list[ModelTurn],
        simulated_results: dict[int, list[Any]] | None = None,
        source: str = "script",
        subagents: list["ScriptedRuntime"] | None = None,
    ) -> None:
        self.turns = turns
        self.simulated_results = simulated_results or {}
        self.source = source
        self.subagents = subagents or []

    def spawn(self, index: int) -> "ScriptedRuntime":
        """The runtime of this run's `index`-th Task sub-agent: the script's subagents[index]."""
        if index >= len(self.subagents):
            raise LookupError(
                f"the script has {len(self.subagents)} subagents and this is Task call "
                f"{index + 1}: add one under `subagents:`"
            )
        return self.subagents[index]

    @classmethod
    def load(cls, path: Path) -> "ScriptedRuntime":
        text = Path(path).read_text(encoding="utf-8")
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, path: str = "script.yaml") -> "ScriptedRuntime":
        data = frontmatter.load_yaml(text, path)
        return cls.from_data(data, path, _turn_lines(text), text)

    @classmethod
    def from_data(cls, data: Any, path: str, lines: list[int], text: str = "", where: str = "") -> "ScriptedRuntime":
        if not isinstance(data, dict) or not isinstance(data.get("turns"), list) or not data["turns"]:
            raise FileFormatError(path, 1, f"{where}a script needs `turns:`, a non-empty list of assistant turns")
        turns = []
        for i, raw in enumerate(data["turns"]):
            line = lines[i] if i < len(lines) else None

            def bad(problem: str, line: int | None = line, i: int = i) -> FileFormatError:
                return FileFormatError(path, line, f"{where}turn {i}: {problem}")

            content = raw.get("content") if isinstance(raw, dict) else None
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            if not isinstance(content, list) or not content:
                raise bad("needs `content:`, a list of text and tool_use blocks")
            blocks = []
            for j, b in enumerate(content):
                if not isinstance(b, dict) or b.get("type") not in ("text", "tool_use"):
                    raise bad(f"block {j} must be {{type: text, text}} or {{type: tool_use, name, input}}")
                if b["type"] == "text":
                    if not isinstance(b.get("text"), str):
                        raise bad(f"block {j}: text must be a string")
                    blocks.append({"type": "text", "text": b["text"]})
                else:
                    if not isinstance(b.get("name"), str) or not b["name"]:
                        raise bad(f"block {j}: tool_use needs a name")
                    inp = b.get("input", {})
                    if not isinstance(inp, dict):
                        raise bad(f"block {j}: input must be a mapping")
                    blocks.append(
                        {
                            "type": "tool_use",
                            "id": str(b.get("id") or f"toolu_s{i:04d}_{j}"),
                            "name": b["name"],
                            "input": inp,
                        }
                    )
            stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else raw.get("stop_reason", "end_turn")
            turns.append(
                ModelTurn(content=blocks, stop_reason=stop, usage=Usage.from_dict(raw.get("usage")), model="scripted")
            )
        sim = data.get("simulated_results") or {}
        if not isinstance(sim, dict):
            raise FileFormatError(
                path,
                frontmatter.key_line(text, "simulated_results"),
                "simulated_results must map turn index to results",
            )
        simulated = {int(k): (v if isinstance(v, list) else [v]) for k, v in sim.items()}
        subs = data.get("subagents") or []
        if not isinstance(subs, list):
            raise FileFormatError(
                path,
                frontmatter.key_line(text, "subagents") if text else None,
                f"{where}subagents must be a list of scripts (each with turns:)",
            )
        subagents = [cls.from_data(sub, path, [], where=f"{where}subagents[{k}]: ") for k, sub in enumerate(subs)]
        return cls(turns, simulated, source=path, subagents=subagents)

    async def next_turn(self, request: TurnRequest) -> ModelTurn:
        i = request.turn_index
        if i >= len(self.turns):
            raise ScriptExhausted(
                f"the script has {len(self.turns)} turns and the run asked for turn "
                f"{i + 1}: a script should end with a text-only turn"
            )
        return self.turns[i]

    async def simulate(
        self, tool: str, inputs: dict[str, Any], spec_line: str, turn_index: int, position: int
    ) -> ToolOutput:
        results = self.simulated_results.get(turn_index, [])
        if position < len(results):
            r = results[position]
            if isinstance(r, dict):
                return ToolOutput(str(r.get("content", "")), is_error=bool(r.get("is_error")))
            return ToolOutput(str(r))
        shown = ", ".join(f"{k}={str(v)[:40]!r}" for k, v in inputs.items())
        return ToolOutput(
            f"[simulated] {tool}({shown}) would run here; the script gives no "
            f"simulated result for turn {turn_index}, call {position}."
        )


def _turn_lines(text: str) -> list[int]:
    """Line numbers (1-based) of each item under `turns:`, for error messages."""
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for k, v in node.value:
        if getattr(k, "value", None) == "turns" and isinstance(v, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in v.value]
    return []
