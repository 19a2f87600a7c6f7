"""execution_state.md: render the run's state for people and programs, parse it back, strictly.

The YAML front matter is the machine-readable truth; the markdown body is regenerated on every
write and never parsed. Only the most recent steps are kept, so the file stays small however
long the run is (the full history is the journal).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn, TypeGuard

from llmos_tui.core import frontmatter
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.fsutil import atomic_write
from llmos_tui.core.inputs import STATE_FILE_MAX, decode, read_bytes, read_text
from llmos_tui.core.statuses import RUN_STATUSES, STEP_STATUSES

STATE_VERSION = 1
MODES = ("execute", "simulate")
RUNTIMES = ("native", "claude-code", "scripted", "external")
PLAN_STATUSES = ("pending", "in_progress", "completed", "failed", "skipped")
PENDING_STEP_STATUSES = frozenset({"proposed", "awaiting_approval", "uncertain"})
INPUT_PREVIEW_CHARS = 400  # long input strings of settled steps are shortened in the file
RESULT_PREVIEW_CHARS = 240


def _wall_clock() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


clock = _wall_clock  # the one source of timestamps; tests pin it for reproducible files


def utcnow() -> str:
    return clock()


@dataclass(frozen=True)
class PlanItem:
    title: str
    status: str = "pending"


@dataclass(frozen=True)
class StepView:
    """A step as the state file shows it (the journal has the full record)."""

    n: int
    tool: str
    inputs: dict[str, Any]
    status: str
    side_effects: str = "none"
    result: str | None = None
    duration_s: float | None = None
    simulated: bool = False


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0
    # False once any of these tokens came from a model without a price (a local model, an unknown
    # name): cost_usd then counts only the priced ones, and the cost is shown as unknown, never $0
    cost_known: bool = True

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            round(self.cost_usd + other.cost_usd, 8),
            self.cost_known and other.cost_known,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Usage":
        d = d or {}
        known = {k: d[k] for k in cls.__dataclass_fields__ if d.get(k) is not None and k != "cost_known"}
        return cls(**known, cost_known=d.get("cost_known") is not False)  # (older records lack it: known)


def cost_text(u: Usage) -> str:
    """A cost as people read it: `$0.0123`; `cost unknown` when no price covers the tokens (a
    local model); `$0.0123 + unknown` when only some are priced."""
    if u.cost_known:
        return f"${u.cost_usd:.4f}"
    return f"${u.cost_usd:.4f} + unknown" if u.cost_usd else "cost unknown"


@dataclass(frozen=True)
class RunState:
    run_id: str
    goal: str
    mode: str = "execute"
    runtime: str = "scripted"
    status: str = "planning"
    current_step: int | None = None
    model: str = ""
    started_at: str = ""
    updated_at: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    plan: tuple[PlanItem, ...] = ()
    steps: tuple[StepView, ...] = ()
    usage: Usage = Usage()
    error: dict[str, Any] | None = None
    steps_total: int = 0
    turns: int = 0
    last_text: str | None = None
    journal_seq: int = 0  # the journal record this state reflects (edits are told from lag by it)

    @property
    def pending_step(self) -> StepView | None:
        for s in reversed(self.steps):
            if s.n == self.current_step:
                return s
        return None

    def with_(self, **changes: Any) -> "RunState":
        return replace(self, **changes)


# ---------------------------------------------------------------- render


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"…[+{len(value) - limit} chars]"
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def shown_inputs(step: StepView) -> dict[str, Any]:
    """A step's inputs as the state file shows them: a pending step's in full (a person may edit
    them), others' long strings shortened. An edit is told from this, never from the raw inputs."""
    return step.inputs if step.status in PENDING_STEP_STATUSES else _shorten(step.inputs, INPUT_PREVIEW_CHARS)


def to_front_matter(state: RunState) -> dict[str, Any]:
    steps = []
    for s in state.steps:
        inputs = shown_inputs(s)
        d: dict[str, Any] = {
            "n": s.n,
            "tool": s.tool,
            "inputs": inputs,
            "status": s.status,
            "side_effects": s.side_effects,
        }
        if s.result is not None:
            d["result"] = s.result
        if s.duration_s is not None:
            d["duration_s"] = s.duration_s
        if s.simulated:
            d["simulated"] = True
        steps.append(d)
    u = state.usage
    return {
        "llmos_state": STATE_VERSION,
        "run_id": state.run_id,
        "goal": state.goal,
        "mode": state.mode,
        "runtime": state.runtime,
        "status": state.status,
        "current_step": state.current_step,
        "model": state.model,
        "started_at": state.started_at,
        "updated_at": state.updated_at,
        "variables": dict(state.variables),
        "plan": [{"title": p.title, "status": p.status} for p in state.plan],
        "steps": steps,
        "steps_total": state.steps_total,
        "turns": state.turns,
        "journal_seq": state.journal_seq,
        "usage": {
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cache_read_input_tokens": u.cache_read_input_tokens,
            "cache_creation_input_tokens": u.cache_creation_input_tokens,
            "cost_usd": round(u.cost_usd, 6),
            **({} if u.cost_known else {"cost_known": False}),  # (said only when false: older files lack it)
        },
        "error": state.error,
    }


_PLAN_MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]", "failed": "[!]", "skipped": "[-]"}


def render(state: RunState) -> str:
    """The whole file: front matter, then a markdown view for people."""
    fm = frontmatter.dump_yaml(to_front_matter(state))
    out = ["---\n", fm, "---\n", f"# {state.goal}\n\n"]
    where = f" · step {state.current_step}" if state.current_step else ""
    out.append(
        f"**Status:** {state.status}{where} · mode {state.mode} · runtime {state.runtime}"
        f"{' · model ' + state.model if state.model else ''}\n\n"
    )
    u = state.usage
    out.append(
        f"**Usage:** {u.input_tokens} input / {u.output_tokens} output tokens"
        f" ({u.cache_read_input_tokens} cache reads) · {cost_text(u)}"
        f" · {state.steps_total} steps · {state.turns} model turns\n\n"
    )
    if state.error:
        out.append(f"**Error:** {state.error.get('type', 'error')}: {state.error.get('message', '')}\n\n")
    out.append("## Plan\n\n")
    if state.plan:
        out.extend(f"- {_PLAN_MARK.get(p.status, '[?]')} {p.title}\n" for p in state.plan)
    else:
        out.append("_No plan yet._\n")
    pending = state.pending_step
    if pending is not None:
        out.append(
            f"\n## Current step\n\nStep {pending.n} · {pending.tool} · {pending.status.replace('_', ' ')}"
            f" · side effects: {pending.side_effects}\n\n```yaml\n"
            f"{frontmatter.dump_yaml(pending.inputs)}```\n"
        )
    if state.steps:
        out.append("\n## Recent steps\n\n| # | tool | status | result |\n|---|---|---|---|\n")
        for s in state.steps:
            res = (s.result or "").replace("\n", " ").replace("|", "\\|")[:100]
            out.append(f"| {s.n} | {s.tool} | {s.status} | {res} |\n")
    if state.last_text:
        quoted = "\n".join("> " + line for line in state.last_text.strip().splitlines()[:20])
        out.append(f"\n## Last message from the agent\n\n{quoted}\n")
    return "".join(out)


# ---------------------------------------------------------------- parse


def _iso(v: Any) -> str:
    if isinstance(v, dt.datetime):
        t: dt.datetime = v if v.tzinfo is not None else v.replace(tzinfo=dt.UTC)
        return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "" if v is None else str(v)


def _whole(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def json_problem(value: Any, where: str, depth: int = 0) -> str | None:
    """Why `value` cannot go into the journal as it is (JSON: text keys, finite numbers, no sets
    or bytes), or None. Dates and times are fine: they become ISO text (see `as_json`)."""
    if depth > 64:
        return f"{where} is nested too deeply"
    if value is None or isinstance(value, (str, bool, dt.date)):
        return None
    if isinstance(value, (int, float)):
        return None if _number(value) else f"{where}: {value!r} is not a finite number"
    if isinstance(value, list):
        for i, v in enumerate(value):
            problem = json_problem(v, f"{where}[{i}]", depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{where}: the key {k!r} must be text (quote it)"
            problem = json_problem(v, f"{where}.{k}", depth + 1)
            if problem:
                return problem
        return None
    return f"{where}: a value of type {type(value).__name__} is not allowed (use text, numbers, lists or mappings)"


def as_json(value: Any) -> Any:
    """`value` as the journal will hold it (dates and times become ISO text), so what the driver
    folds live equals what a resumed driver reads back."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def parse(text: str, path: str = "execution_state.md") -> RunState:
    """Parse and validate; any problem raises FileFormatError with the line it is on. Every
    value's type is checked (a person may have written anything); anchors and aliases are
    refused (llmos-tui never writes them, and a few lines of them can expand to gigabytes)."""
    fm = frontmatter.split(text, path, aliases=False)
    d = fm.data

    def fail(key: str, problem: str) -> NoReturn:
        raise FileFormatError(path, frontmatter.key_line(text, key, default=2), problem)

    def whole(key: str, default: int, minimum: int = 0) -> int:
        v = d.get(key, default)
        if v is None:
            return default
        if not _whole(v) or v < minimum:
            fail(key, f"{key} must be a whole number ≥ {minimum}, not {v!r}")
        return int(v)

    def timestamp(key: str) -> str:
        v = d.get(key)
        if v is not None and not isinstance(v, (str, dt.datetime)):
            fail(key, f"{key} must be a time (2026-12-07T16:19:12.940Z), not {v!r}")
        return _iso(v)

    if d.get("llmos_state") != STATE_VERSION:
        fail("llmos_state", f"llmos_state must be {STATE_VERSION} (is this an llmos-tui state file?)")
    for key in ("run_id", "goal"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            fail(key, f"{key} must be a non-empty string")
    if d.get("mode", "execute") not in MODES:
        fail("mode", f"mode must be one of {', '.join(MODES)}, not {d.get('mode')!r}")
    if d.get("runtime", "scripted") not in RUNTIMES:
        fail("runtime", f"runtime must be one of {', '.join(RUNTIMES)}, not {d.get('runtime')!r}")
    if d.get("status") not in RUN_STATUSES:
        fail("status", f"status must be one of {', '.join(RUN_STATUSES)}, not {d.get('status')!r}")
    cur = d.get("current_step")
    if cur is not None and (not _whole(cur) or cur < 1):
        fail("current_step", "current_step must be a step number or null")
    model = d.get("model")
    if model is not None and not isinstance(model, str):
        fail("model", f"model must be a name, not {model!r}")
    variables = d.get("variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        fail("variables", "variables must be a mapping")
    problem = json_problem(variables, "variables")
    if problem:
        fail("variables", problem)
    plan_raw = d.get("plan")
    if plan_raw is None:
        plan_raw = []
    if not isinstance(plan_raw, list):
        fail("plan", "plan must be a list of {title, status}")
    plan = []
    for i, p in enumerate(plan_raw, 1):
        if not isinstance(p, dict) or not isinstance(p.get("title"), str):
            fail("plan", f"plan item {i} needs a title")
        st = p.get("status", "pending")
        if st not in PLAN_STATUSES:
            fail("plan", f"plan item {i}: status must be one of {', '.join(PLAN_STATUSES)}, not {st!r}")
        plan.append(PlanItem(p["title"], st))
    steps_raw = d.get("steps")
    if steps_raw is None:
        steps_raw = []
    if not isinstance(steps_raw, list):
        fail("steps", "steps must be a list")
    steps = []
    for i, s in enumerate(steps_raw, 1):
        if not isinstance(s, dict):
            fail("steps", f"step entry {i} must be a mapping")
        n, tool, inputs, st = s.get("n"), s.get("tool"), s.get("inputs", {}), s.get("status")
        if not _whole(n) or n < 1:
            fail("steps", f"step entry {i}: n must be a positive number")
        if not isinstance(tool, str):
            fail("steps", f"step {n}: tool must be a name")
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict):
            fail("steps", f"step {n}: inputs must be a mapping")
        problem = json_problem(inputs, f"step {n}: inputs")
        if problem:
            fail("steps", problem)
        if st not in STEP_STATUSES:
            fail("steps", f"step {n}: status must be one of {', '.join(STEP_STATUSES)}, not {st!r}")
        result, duration = s.get("result"), s.get("duration_s")
        if result is not None and not isinstance(result, str):
            fail("steps", f"step {n}: result must be text")
        if duration is not None and not _number(duration):
            fail("steps", f"step {n}: duration_s must be a number of seconds")
        side_effects = s.get("side_effects", "none")
        if not isinstance(side_effects, str):
            fail("steps", f"step {n}: side_effects must be a word")
        steps.append(
            StepView(
                n=n,
                tool=tool,
                inputs=inputs,
                status=st,
                side_effects=side_effects,
                result=result,
                duration_s=duration,
                simulated=s.get("simulated") is True,
            )
        )
    usage = d.get("usage")
    if usage is None:
        usage = {}
    if not isinstance(usage, dict):
        fail("usage", "usage must be a mapping")
    for key in Usage.__dataclass_fields__:
        v = usage.get(key)
        if key == "cost_known":
            if v is not None and not isinstance(v, bool):
                fail("usage", f"usage.cost_known must be true or false, not {v!r}")
        elif v is not None and (not _number(v) or v < 0 or (key != "cost_usd" and not _whole(v))):
            fail("usage", f"usage.{key} must be a number ≥ 0, not {v!r}")
    u = Usage.from_dict(usage)
    error = d.get("error")
    if error is not None and (
        not isinstance(error, dict) or not all(isinstance(error.get(k, ""), str) for k in ("type", "message"))
    ):
        fail("error", "error must be null or a mapping {type, message} of text")
    return RunState(
        run_id=d["run_id"],
        goal=d["goal"],
        mode=d.get("mode", "execute"),
        runtime=d.get("runtime", "scripted"),
        status=d["status"],
        current_step=cur,
        model=model or "",
        started_at=timestamp("started_at"),
        updated_at=timestamp("updated_at"),
        variables=variables,
        plan=tuple(plan),
        steps=tuple(steps),
        usage=u,
        error=error,
        steps_total=whole("steps_total", len(steps)),
        turns=whole("turns", 0),
        journal_seq=whole("journal_seq", 0),
    )


def text_to_show(path: Path) -> str:
    """execution_state.md as a face shows it: its text, or a line saying why it cannot be shown.
    Never blocks (a fifo) and never reads more than STATE_FILE_MAX (a /dev/zero symlink); text
    that is not UTF-8 is shown with its bad bytes replaced, under a line that says so."""
    try:
        data = read_bytes(path, limit=STATE_FILE_MAX)
    except FileNotFoundError:
        return "(no execution_state.md yet: it appears when a run starts)"
    except FileFormatError as exc:
        return f"(execution_state.md cannot be shown: {exc})"
    try:
        return decode(data, path)
    except FileFormatError as exc:
        return f"({exc}; shown with its bad bytes replaced)\n" + data.decode("utf-8", "replace")


class StateFile:
    """The live state file of a workspace, written atomically.

    It remembers the identity of what it last wrote, so a change made by someone else (a person
    in an editor, another program) is noticed before it would be overwritten. It is read as an
    untrusted input: only a regular file of at most STATE_FILE_MAX bytes, as UTF-8.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._written: tuple[int, int, int] | None = None
        self._text: str | None = None  # what this process last wrote

    def exists(self) -> bool:
        return self.path.exists()

    def read_disk(self) -> str:
        """The file's text as it is on disk; FileFormatError when it cannot be read as one."""
        try:
            return read_text(self.path, limit=STATE_FILE_MAX)
        except FileNotFoundError:
            raise FileFormatError(str(self.path), None, "is missing") from None

    def read_text(self) -> str:
        """The state to keep as a run's final copy: the file on disk when it parses, else (a
        person's broken edit, a folder in its place) the text this process last wrote."""
        try:
            text = self.read_disk()
            parse(text, str(self.path))
            return text
        except FileFormatError:
            if self._text is None:
                raise
            return self._text

    def load(self) -> RunState:
        text = self.read_disk()
        state = parse(text, str(self.path))
        self._remember()
        return state

    def save(self, state: RunState, *, sync: bool = True) -> None:
        text = render(state)
        atomic_write(self.path, text, sync=sync)
        self._text = text
        self._remember()

    def changed_by_others(self) -> bool:
        """True when the file on disk is not the one this process last wrote or loaded."""
        if self._written is None:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return (st.st_ino, st.st_mtime_ns, st.st_size) != self._written

    def _remember(self) -> None:
        st = os.stat(self.path)
        self._written = (st.st_ino, st.st_mtime_ns, st.st_size)
