"""The scripted runtime: replays assistant turns from a YAML script, in order — and listens.

Its turns go through exactly the runner path Claude's replies take. A turn may say what the agent
does when a person decides otherwise: `on_deny`, `on_skip`, `on_edit`, `on_error` each hold the
turns played instead (a list), or `{turns: [...], then: continue}` to go on with the main script
afterwards. In a branch, `{reason}` stands for the person's reason and `{reason_file}` (or
`{reason_file|default.txt}`) for the first file their words name; a block with `when: reason_file`
(or `when: no_reason_file`) is played only if they named one (or did not).

The turn to play is found from the conversation itself (how each earlier turn's calls ended, as
the results the model read say: core/outcomes.py), so a resumed run continues the script where it
stopped, branches included. It serves the tests, the offline demo and deterministic replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmos_tui.core import frontmatter
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.inputs import SCRIPT_MAX, read_text
from llmos_tui.core.outcomes import file_named_in, turn_outcome
from llmos_tui.core.runtime.base import ModelTurn, ScriptExhausted, TurnRequest
from llmos_tui.core.state import Usage
from llmos_tui.core.text import plural
from llmos_tui.core.tools.base import ToolOutput

OUTCOME_KEYS = {"on_deny": "denied", "on_skip": "skipped", "on_edit": "edited", "on_error": "error"}
WHEN = ("reason_file", "no_reason_file")
_PLACEHOLDER = re.compile(r"\{(reason_file|reason)(?:\|([^}]*))?\}")


@dataclass(frozen=True)
class Branch:
    turns: tuple[Turn, ...]
    rejoin: bool = False  # then: continue — the main script goes on after the branching turn


@dataclass(frozen=True)
class Turn:
    """One scripted assistant turn, and what to play instead when a person decides otherwise."""

    turn: ModelTurn
    branches: dict[str, Branch] = field(default_factory=dict)


@dataclass
class _Walk:
    """Where the walk down a script stands after the conversation's first `done` messages."""

    messages: list[dict[str, Any]]
    seq: tuple[Turn, ...]
    pos: int = 0
    reason: str = ""
    rejoin: list[tuple[tuple[Turn, ...], int]] = field(default_factory=list)
    played: int = 0
    done: int = 0

    def step(self, k: int) -> None:
        """Take message k into account: an assistant turn moves the walk on (into a branch when
        its calls ended the way one is written for)."""
        messages = self.messages
        if messages[k].get("role") != "assistant" or self.pos >= len(self.seq):
            return
        current = self.seq[self.pos]
        nxt = messages[k + 1] if k + 1 < len(messages) else None
        results = (
            [b for b in nxt["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
            if nxt is not None and nxt.get("role") == "user" and isinstance(nxt.get("content"), list)
            else []
        )
        outcome, why = turn_outcome(results)
        branch = current.branches.get(outcome) if outcome else None
        self.played += 1
        if branch is not None:
            if branch.rejoin:
                self.rejoin.append((self.seq, self.pos + 1))
            self.seq, self.pos, self.reason = branch.turns, 0, why
        else:
            self.pos += 1
        while self.pos >= len(self.seq) and self.rejoin:
            self.seq, self.pos = self.rejoin.pop()


class ScriptedRuntime:
    name = "scripted"

    def __init__(
        self,
        turns: list[ModelTurn] | list[Turn],
        simulated_results: dict[int, list[Any]] | None = None,
        source: str = "script",
        subagents: list[ScriptedRuntime] | None = None,
    ) -> None:
        self.script = tuple(t if isinstance(t, Turn) else Turn(t) for t in turns)
        self._linear = not any(t.branches for t in self.script)
        self._walk: _Walk | None = None
        self.simulated_results = simulated_results or {}
        self.source = source
        self.subagents = subagents or []

    @property
    def turns(self) -> list[ModelTurn]:
        """The main script's turns (without branches)."""
        return [t.turn for t in self.script]

    def spawn(self, index: int) -> ScriptedRuntime:
        """The runtime of this run's `index`-th Task sub-agent: the script's subagents[index]."""
        if index >= len(self.subagents):
            raise LookupError(
                f"the script has {len(self.subagents)} subagents and this is Task call "
                f"{index + 1}: add one under `subagents:`"
            )
        return self.subagents[index]

    @classmethod
    def load(cls, path: Path) -> ScriptedRuntime:
        text = read_text(path, limit=SCRIPT_MAX)  # an untrusted input: bounded, regular file, UTF-8
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, path: str = "script.yaml") -> ScriptedRuntime:
        data = frontmatter.load_yaml(text, path)
        return cls.from_data(data, path, _turn_lines(text), text)

    @classmethod
    def from_data(cls, data: Any, path: str, lines: list[int], text: str = "", where: str = "") -> ScriptedRuntime:
        if not isinstance(data, dict) or not isinstance(data.get("turns"), list) or not data["turns"]:
            raise FileFormatError(path, 1, f"{where}a script needs `turns:`, a non-empty list of assistant turns")
        turns = _parse_turns(data["turns"], path, lines, where)
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
        turn, reason = self._turn_for(request.messages, request.turn_index)
        return _render(turn.turn, reason, request.turn_index)

    def _turn_for(self, messages: list[dict[str, Any]], turn_index: int) -> tuple[Turn, str]:
        """Walk the conversation: each assistant turn played one turn of the script; where a
        person decided otherwise and that turn has a branch for it, the branch goes on. A script
        without branches plays its turns by index; with branches the walk goes on from where the
        last request left it (the conversation only grows), so each turn costs what it adds."""
        if self._linear:
            if turn_index >= len(self.script):
                raise self._exhausted(turn_index, turn_index)
            return self.script[turn_index], ""
        walk = self._walk
        if walk is None or walk.messages is not messages or walk.done > len(messages):
            walk = self._walk = _Walk(messages, self.script)
        while walk.done < len(messages) - 1:  # an assistant turn is settled once a message follows it
            walk.step(walk.done)
            walk.done += 1
        last = _Walk(messages, walk.seq, walk.pos, walk.reason, list(walk.rejoin), walk.played)
        if messages and walk.done == len(messages) - 1:
            last.step(walk.done)  # the trailing message, played but not kept (more may follow it)
        if last.pos >= len(last.seq):
            raise self._exhausted(turn_index, last.played)
        return last.seq[last.pos], last.reason

    def _exhausted(self, turn_index: int, played: int) -> ScriptExhausted:
        return ScriptExhausted(
            f"the script has no turn {turn_index + 1} on the path this run took ({plural(played, 'turn')} played): "
            f"a script (and each branch that does not continue) should end with a text-only turn"
        )

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


def _parse_turns(raw_turns: list[Any], path: str, lines: list[int], where: str) -> list[Turn]:
    turns = []
    for i, raw in enumerate(raw_turns):
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
            when = b.get("when")
            if when is not None and when not in WHEN:
                raise bad(f"block {j}: when must be one of {', '.join(WHEN)}, not {when!r}")
            extra = {"when": when} if when else {}
            if b["type"] == "text":
                if not isinstance(b.get("text"), str):
                    raise bad(f"block {j}: text must be a string")
                blocks.append({"type": "text", "text": b["text"], **extra})
            else:
                if not isinstance(b.get("name"), str) or not b["name"]:
                    raise bad(f"block {j}: tool_use needs a name")
                inp = b.get("input", {})
                if not isinstance(inp, dict):
                    raise bad(f"block {j}: input must be a mapping")
                block = {"type": "tool_use", "name": b["name"], "input": inp, **extra}
                if b.get("id"):
                    block["id"] = str(b["id"])
                blocks.append(block)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else raw.get("stop_reason", "end_turn")
        branches = {}
        for key, outcome in OUTCOME_KEYS.items():
            spec = raw.get(key)
            if spec is None:
                continue
            rejoin = False
            if isinstance(spec, dict):
                then = spec.get("then", "end")
                if then not in ("end", "continue"):
                    raise bad(f"{key}.then must be end or continue, not {then!r}")
                rejoin, spec = then == "continue", spec.get("turns")
            if not isinstance(spec, list) or not spec:
                raise bad(f"{key} needs a non-empty list of turns (or {{turns: [...], then: continue}})")
            branches[outcome] = Branch(tuple(_parse_turns(spec, path, [], f"{where}turn {i} {key}: ")), rejoin)
        turn = ModelTurn(content=blocks, stop_reason=stop, usage=Usage.from_dict(raw.get("usage")), model="scripted")
        turns.append(Turn(turn, branches))
    return turns


def _render(turn: ModelTurn, reason: str, turn_index: int) -> ModelTurn:
    """The turn as played: `when` blocks kept or dropped, placeholders filled, tool_use ids given."""
    named = file_named_in(reason)

    def fill(value: Any) -> Any:
        if isinstance(value, str) and "{reason" in value:
            return _PLACEHOLDER.sub(lambda m: (named or m[2] or "") if m[1] == "reason_file" else reason, value)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    blocks = []
    for j, b in enumerate(turn.content):
        when = b.get("when")
        if (when == "reason_file" and not named) or (when == "no_reason_file" and named):
            continue
        if b["type"] == "text":
            blocks.append({"type": "text", "text": fill(b["text"])})
        else:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": b.get("id") or f"toolu_s{turn_index:04d}_{j}",
                    "name": b["name"],
                    "input": fill(b["input"]),
                }
            )
    if not blocks:
        blocks = [{"type": "text", "text": "(nothing more to do)"}]
    stop = turn.stop_reason
    if stop == "tool_use" and not any(b["type"] == "tool_use" for b in blocks):
        stop = "end_turn"  # its calls were all for the other case: a text-only turn ends the run
    return ModelTurn(content=blocks, stop_reason=stop, usage=turn.usage, model=turn.model)


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
