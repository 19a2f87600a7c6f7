"""A batch's goals file: a YAML list or a JSON Lines file, one mapping per goal.

    - goal: Summarise notes.md into summary.md        # required: the run's goal
      files: {notes.md: "…", data/in.csv: {from: in.csv}}  # seed the goal's workspace (text, or a
                                                      #   file copied, relative to the goals file)
      variables: {audience: engineers}                # the run's variables
      script: scripts/summarise.yaml                  # the scripted runtime's script: a path
                                                      #   (relative to the goals file) or inline
      tags: [notes, short]                            # kept with the goal (batch.jsonl, goals.jsonl)

A JSON Lines file has one such object per line (blank lines are skipped). Anything wrong is one
line naming the file and the line: `goals.yaml:12: goal 3: files: "../x" leaves the workspace`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.frontmatter import load_yaml
from llmos_tui.core.inputs import read_text

GOALS_MAX = 256 * 1_048_576  # a goals file is read whole: 256 MB at most
KEYS = ("goal", "files", "variables", "script", "tags")
# names at a workspace's top that a run owns: a goal's files may not seed them
RESERVED = ("runs", "execution_state.md", ".llmos-driver.lock")


@dataclass(frozen=True)
class Goal:
    """One goal of a batch, checked. `files` maps a workspace-relative path to its text, or to
    `{"from": absolute path}` (a file copied when the goal's folder is made); `script` is an
    inline script (a mapping) or an absolute path, or None."""

    index: int  # 1-based, the goal's place in the file
    goal: str
    files: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    script: Any = None
    tags: tuple[str, ...] = ()
    line: int = 0  # where it starts in the goals file (not part of its identity)

    def to_json(self) -> dict[str, Any]:
        """The goal as the batch keeps it (goals.jsonl); two goals are the same goal when these are equal."""
        out: dict[str, Any] = {"goal": self.goal}
        if self.files:
            out["files"] = self.files
        if self.variables:
            out["variables"] = self.variables
        if self.script is not None:
            out["script"] = self.script
        if self.tags:
            out["tags"] = list(self.tags)
        return out

    @property
    def digest(self) -> str:
        return hashlib.sha256(_canonical(self.to_json()).encode("utf-8")).hexdigest()[:16]

    @classmethod
    def from_json(cls, index: int, data: dict[str, Any]) -> "Goal":
        """A goal as goals.jsonl keeps it (already checked when the batch took it)."""
        return cls(
            index=index,
            goal=str(data["goal"]),
            files=dict(data.get("files") or {}),
            variables=dict(data.get("variables") or {}),
            script=data.get("script"),
            tags=tuple(data.get("tags") or ()),
        )


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def load_goals(path: Path) -> list[Goal]:
    """Every goal of a goals file, checked; FileFormatError (`path:line: problem`) on the first bad one."""
    path = Path(path)
    text = read_text(path, limit=GOALS_MAX)  # an untrusted input: a regular file, bounded, UTF-8
    base = path.resolve().parent
    if _is_jsonl(path, text):
        return _from_jsonl(text, str(path), base)
    return _from_yaml(text, str(path), base)


def _is_jsonl(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return True
    if suffix in (".yaml", ".yml"):
        return False
    return text.lstrip().startswith("{")


def _from_jsonl(text: str, where: str, base: Path) -> list[Goal]:
    goals: list[Goal] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise FileFormatError(where, n, f"not JSON: {exc}") from None
        goals.append(_check(data, len(goals) + 1, where, n, {}, base))
    if not goals:
        raise FileFormatError(where, None, 'no goals: one JSON object per line, e.g. {"goal": "…"}')
    return goals


def _from_yaml(text: str, where: str, base: Path) -> list[Goal]:
    data = load_yaml(text, where)  # bounded: depth, alias expansion
    if not isinstance(data, list) or not data:
        raise FileFormatError(where, 1, "a goals file is a YAML list of goals: `- goal: …` (one mapping per goal)")
    lines = _item_lines(text, len(data))
    return [_check(item, i, where, *lines[i - 1], base) for i, item in enumerate(data, start=1)]


def _item_lines(text: str, count: int) -> list[tuple[int, dict[str, int]]]:
    """Where each list item starts, and where each of its keys stands (for messages)."""
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        node = None
    out: list[tuple[int, dict[str, int]]] = []
    items = node.value if isinstance(node, yaml.SequenceNode) else []
    for item in items:
        keys: dict[str, int] = {}
        if isinstance(item, yaml.MappingNode):
            for k, _v in item.value:
                if isinstance(k, yaml.ScalarNode):
                    keys[str(k.value)] = k.start_mark.line + 1
        out.append((item.start_mark.line + 1, keys))
    while len(out) < count:
        out.append((0, {}))
    return out


def _check(data: Any, index: int, where: str, line: int, keys: dict[str, int], base: Path) -> Goal:
    def fail(problem: str, key: str | None = None) -> FileFormatError:
        at = keys.get(key, line) if key else line
        return FileFormatError(where, at or None, f"goal {index}: {problem}")

    if not isinstance(data, dict):
        raise fail(f"a goal is a mapping with `goal: TEXT`, not {type(data).__name__}")
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}; a goal takes {', '.join(KEYS)}", str(unknown[0]))
    goal = data.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        raise fail("`goal` must be non-empty text", "goal")
    files = _files(data.get("files"), base, lambda p: fail(p, "files"))
    variables = data.get("variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise fail("`variables` must be a mapping with text keys", "variables")
    try:
        json.dumps(variables, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise fail(f"`variables` must hold values JSON can hold ({exc})", "variables") from None
    script = data.get("script")
    if script is not None:
        if isinstance(script, str) and script.strip():
            p = Path(os.path.expanduser(script))
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                raise fail(f"script not found: {p}", "script")
            script = str(p)
        elif isinstance(script, list | dict):
            script = _check_script(script if isinstance(script, dict) else {"turns": script}, fail)
        else:
            raise fail("`script` is a path to a YAML script, or the script itself (a mapping with turns)", "script")
    tags = data.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str | int | float) and str(t).strip() for t in tags):
        raise fail("`tags` must be a list of words", "tags")
    return Goal(
        index=index,
        goal=goal.strip(),
        files=files,
        variables=variables,
        script=script,
        tags=tuple(str(t) for t in tags),
        line=line,
    )


def _check_script(script: dict[str, Any], fail: Any) -> dict[str, Any]:
    from llmos_tui.core.frontmatter import dump_yaml
    from llmos_tui.core.runtime.scripted import ScriptedRuntime

    try:
        ScriptedRuntime.parse(dump_yaml(script), "script")
    except FileFormatError as exc:
        raise fail(f"script: {exc.problem}", "script") from None
    out: dict[str, Any] = json.loads(json.dumps(script, default=str))
    return out  # (dates and the like as text, as a journal holds them)


def _files(value: Any, base: Path, fail: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail("`files` is a mapping: workspace path → its text, or {from: a file to copy}")
    out: dict[str, Any] = {}
    for name, content in value.items():
        rel = safe_relative(name)
        if rel is None:
            raise fail(f"{name!r} is not a path inside the workspace (relative, no '..')")
        if rel.split("/", 1)[0] in RESERVED:
            raise fail(f"{name!r}: runs/, execution_state.md and the driver lock are the run's own")
        if isinstance(content, str):
            out[rel] = content
        elif isinstance(content, dict) and set(content) == {"from"} and isinstance(content["from"], str):
            src = Path(os.path.expanduser(content["from"]))
            src = src if src.is_absolute() else base / src
            if not src.is_file():
                raise fail(f"{name!r}: {src} is not a file")
            out[rel] = {"from": str(src)}
        else:
            raise fail(f"{name!r}: give its text, or {{from: PATH}} to copy a file")
    return out


def safe_relative(name: Any) -> str | None:
    """`name` as a normalised relative POSIX path inside a folder, or None when it is not one."""
    if not isinstance(name, str) or not name.strip() or "\x00" in name or "\\" in name:
        return None
    p = PurePosixPath(name)
    if p.is_absolute():
        return None
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or any(x == ".." for x in parts):
        return None
    return "/".join(parts)
