"""`llmos-tui export`: runs' traces as training data, streamed one run at a time.

The exporter is a chain of generators — run ids → one trace (loaded, filtered, redacted) → its
rows → one JSON line each — so memory holds one run at a time however many are exported.

Selection
    Named runs (`export RUN_ID…`) are exported whatever TrainingDataCollector.md's filters say;
    only filter flags given on the command line apply to them. A named run that is still running,
    paused or was killed exports what it has (its trace rebuilt from the journal when trace.json
    lags behind). `--all` takes every run of the workspace, oldest first, each followed by its
    Task sub-agent runs (`<run_id>/task-<n>`, depth first; `--no-subagents` leaves them out), and
    keeps those that pass the filters: TrainingDataCollector.md's `filters` and
    `include_simulated`, each overridden by its command-line flag. A sub-agent run is a run of
    its own here: it passes or fails the filters by itself, and its rows say `parent`.

    status          the run's status (final_outcome) is one of these
    mode            execute | simulate
    human_reviewed  a person decided at least one step: approved, edited, denied, skipped or
                    retried it (`auto` steps and ToolMap refusals are not a person's decision)
    since           the run started on or after this date (UTC, the date in the run id)
    include_simulated  false: runs with simulated tool results (simulate mode) are left out

Redaction: every trace is passed through the workspace's Redactor (TrainingDataCollector.md's
`redaction`, plus the built-in Anthropic key, `sk-ant-` and bearer-token rules) before anything
is made of it — inputs, outputs, messages, the system prompt, the goal, the state snapshots.
Environment-variable values are redacted when the variable is set in the exporting process.

Formats (one JSON object per line)
    seed        the trace as it is (redacted): nothing lost, for re-import and analysis.
    anthropic   {system, tools, messages, metadata}: Messages-API shape. messages start with a
                user turn and strictly alternate user/assistant (adjacent turns of one role are
                merged); every tool_use is answered by a tool_result with its id in the very next
                user turn, tool_results first; no cache_control keys, no empty text blocks; the
                last turn is the assistant's, or the user turn carrying the results of the last
                answered calls (a run that stopped there).
    openai      {messages, tools}: chat fine-tuning shape. [system], user, then assistant turns
                {content (string, or null when it only calls tools), tool_calls: [{id,
                type: "function", function: {name, arguments: JSON string}}]}, each followed at
                once by one `tool` message {tool_call_id, content: string} per call, in order.
                Images become "[image …]" placeholders; an error result's content starts with
                "Error: ". No metadata key: OpenAI's validator refuses unknown keys.
    sharegpt    {conversations: [{from, value}], metadata}: from is system | human | gpt | tool,
                every value a non-empty string. The system value ends with the tools' signatures
                in <tools></tools> (one JSON object a line). A gpt value is the assistant's text
                then one `<tool_call>\\n{"name", "arguments"}\\n</tool_call>` per call; the turn
                after a gpt value with k calls is a tool value holding exactly k
                `<tool_response>\\n{"name", "content"}\\n</tool_response>`, in the calls' order
                and with their names. Order: system, human, then gpt; after a gpt without calls
                comes human; after a tool comes gpt (or human); the last is gpt, or tool for a
                run that stopped after results.
    preference  one row per assistant turn in which a person edited or denied a call (nearly
                always one step): {prompt: {system, tools, messages up to that turn},
                rejected: [the model's original turn], chosen: [for an edit: the same turn with
                the edited inputs; for a denial: the model's next turn, written after it read
                the person's reason], metadata: {…, step, decision, feedback, steps}} in the
                Anthropic message shape. A denial the model never answered (the run ended or was
                killed first) gives no row; nor does a chosen turn identical to the rejected one.

A run killed midway: the trailing assistant turn whose calls have no results is dropped (so the
row stays valid) and metadata says `truncated: true`; seed keeps the trace exactly as rebuilt.
A run whose conversation has no assistant turn left gives no row (counted as skipped).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from llmos_tui.core.errors import BadInput, LlmosError
from llmos_tui.core.text import parse_iso
from llmos_tui.core.trace import load_trace
from llmos_tui.core.training import FORMATS, CollectorSettings, Redactor

PERSON_DECISIONS = frozenset({"approved", "edited", "denied", "skipped", "retried"})
_RUN_ID_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})-\d{6}")
_TASK_DIR = re.compile(r"^task-(\d+)$")


# ====================================================================== selection

@dataclass(frozen=True)
class Filters:
    """Which runs to export; None/False/True = no restriction on that point."""

    status: tuple[str, ...] | None = None
    mode: tuple[str, ...] | None = None
    human_reviewed: bool = False
    since: dt.date | None = None
    include_simulated: bool = True

    @classmethod
    def for_all(cls, settings: CollectorSettings, *, status: Iterable[str] | None = None,
                mode: Iterable[str] | None = None, human_reviewed: bool | None = None,
                since: dt.date | None = None, include_simulated: bool | None = None) -> "Filters":
        """`--all`: TrainingDataCollector.md's filters, each overridden by a flag that was given."""
        return cls(status=tuple(status) if status else settings.status,
                   mode=tuple(mode) if mode else settings.mode,
                   human_reviewed=settings.human_reviewed if human_reviewed is None else human_reviewed,
                   since=since if since is not None else settings.since,
                   include_simulated=settings.include_simulated if include_simulated is None else include_simulated)

    @classmethod
    def for_named(cls, *, status: Iterable[str] | None = None, mode: Iterable[str] | None = None,
                  human_reviewed: bool | None = None, since: dt.date | None = None,
                  include_simulated: bool | None = None) -> "Filters":
        """Named runs: only the flags given on the command line."""
        return cls(status=tuple(status) if status else None, mode=tuple(mode) if mode else None,
                   human_reviewed=bool(human_reviewed), since=since,
                   include_simulated=True if include_simulated is None else include_simulated)

    def describe(self) -> str:
        parts = []
        if self.status is not None:
            parts.append("status " + "|".join(self.status))
        if self.mode is not None:
            parts.append("mode " + "|".join(self.mode))
        if self.human_reviewed:
            parts.append("human-reviewed")
        if self.since is not None:
            parts.append(f"since {self.since.isoformat()}")
        if not self.include_simulated:
            parts.append("no simulated results")
        return ", ".join(parts) or "none"

    def excludes_id(self, run_id: str) -> bool:
        """A cheap test before a trace is read: a top-level run id starts with its UTC start time."""
        if self.since is None or "/" in run_id:
            return False
        m = _RUN_ID_DATE.match(run_id)
        if not m:
            return False
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3])) < self.since
        except ValueError:
            return False

    def why_not(self, trace: dict[str, Any]) -> str | None:
        """None when the trace passes; else the first filter it fails."""
        status = trace.get("final_outcome")
        if self.status is not None and status not in self.status:
            return f"status {status}"
        if self.mode is not None and trace.get("mode") not in self.mode:
            return f"mode {trace.get('mode')}"
        if self.since is not None:
            day = started_on(trace)
            if day is None or day < self.since:
                return f"started {day.isoformat() if day else 'at an unknown date'}"
        if self.human_reviewed and not any(person_decided(t) for t in trace.get("transitions") or ()):
            return "no step decided by a person"
        if not self.include_simulated and (trace.get("mode") == "simulate" or any(
                t.get("simulated") for t in trace.get("transitions") or ())):
            return "simulated results"
        return None


def started_on(trace: dict[str, Any]) -> dt.date | None:
    """The UTC date the run started: its initial state's started_at, else its run id."""
    at = (trace.get("initial_state") or {}).get("started_at")
    if isinstance(at, str) and at:
        t = parse_iso(at)
        if t is not None:
            return t.astimezone(dt.UTC).date()
    m = _RUN_ID_DATE.match(str(trace.get("execution_id") or ""))
    if m:
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return None


def person_decided(t: dict[str, Any]) -> bool:
    """A person (not the policy, not the ToolMap) decided this step."""
    human = t.get("human") or {}
    decision = human.get("decision")
    if decision not in PERSON_DECISIONS:
        return False
    if decision == "denied":
        return is_person_denial(human)
    return True


def is_person_denial(human: dict[str, Any]) -> bool:
    # a ToolMap refusal is recorded `by: toolmap`; a person's denial always carries a reason
    return human.get("decision") == "denied" and human.get("by") != "toolmap" and "feedback" in human


def iter_run_ids(ws: Any, *, subagents: bool = True) -> Iterator[str]:
    """Every run of the workspace, oldest first, each followed by its sub-agent runs (depth first)."""
    for run_id in ws.run_ids():
        yield run_id
        if subagents:
            yield from _sub_runs(ws, run_id)


def _sub_runs(ws: Any, run_id: str) -> Iterator[str]:
    try:
        entries = [(int(m[1]), e.name) for e in os.scandir(ws.run_dir(run_id))
                   if (m := _TASK_DIR.match(e.name)) and e.is_dir()]
    except OSError:
        return
    for _, name in sorted(entries):
        child = f"{run_id}/{name}"
        if (ws.journal_path(child)).exists():
            yield child
            yield from _sub_runs(ws, child)


@dataclass
class ExportStats:
    runs_seen: int = 0          # runs considered
    runs_exported: int = 0      # runs that gave at least one row
    rows: int = 0
    filtered: int = 0           # runs the filters left out
    empty: int = 0              # runs that passed but gave no row (nothing to learn from)
    unreadable: list[str] = field(default_factory=list)   # "run_id: why"


# ====================================================================== the pipeline

def export_rows(ws: Any, fmt: str, *, run_ids: Iterable[str] | None = None,
                filters: Filters = Filters(), redactor: Redactor | None = None,
                subagents: bool = True, stats: ExportStats | None = None,
                strict: bool = False) -> Iterator[dict[str, Any]]:
    """Rows of `fmt` for the named runs (run_ids, already resolved) or, when None, for every run
    of the workspace — one run in memory at a time. An unreadable run raises with `strict` (a
    named run), else it is counted in stats.unreadable and passed over."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    redactor = redactor if redactor is not None else Redactor()
    stats = stats if stats is not None else ExportStats()
    convert = CONVERTERS[fmt]
    ids = iter(run_ids) if run_ids is not None else iter_run_ids(ws, subagents=subagents)
    fallback = _FallbackTools(ws)
    for run_id in ids:
        stats.runs_seen += 1
        if filters.excludes_id(run_id):
            stats.filtered += 1
            continue
        try:
            trace = load_trace(ws, run_id)
        except (LlmosError, OSError, ValueError) as exc:
            if strict:
                raise BadInput(f"run {run_id} cannot be read: {exc}") from None
            stats.unreadable.append(f"{run_id}: {exc}")
            continue
        if filters.why_not(trace) is not None:
            stats.filtered += 1
            continue
        if not trace.get("tools"):
            trace["tools"] = fallback.get()   # a run killed before its first trace.json
        trace = redactor(trace)
        produced = 0
        for row in convert(trace):
            produced += 1
            yield row
        stats.rows += produced
        if produced:
            stats.runs_exported += 1
        else:
            stats.empty += 1


class _FallbackTools:
    """The workspace's current tool definitions, read once and only if a trace lacks its own."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.tools: list[dict[str, Any]] | None = None

    def get(self) -> list[dict[str, Any]]:
        if self.tools is None:
            try:
                from llmos_tui.core.registry import ToolRegistry
                from llmos_tui.core.toolmap import load_toolmap

                self.tools = ToolRegistry(load_toolmap(self.ws.system / "ClaudeCodeToolMap.md")).api_definitions()
            except (LlmosError, OSError):
                self.tools = []
        return copy.deepcopy(self.tools)


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """One compact JSON object per line; returns the number written."""
    n = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    for row in rows:
        out.write(dumps(row))
        out.write("\n")
        n += 1
    return n


def default_output(ws: Any, settings: CollectorSettings, fmt: str) -> Path:
    """<workspace>/<output_dir>/<format>-<UTC timestamp>.jsonl, never an existing file."""
    folder = Path(settings.output_dir).expanduser()
    if not folder.is_absolute():
        folder = ws.root / folder
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{fmt}-{stamp}.jsonl"
    k = 1
    while path.exists():
        k += 1
        path = folder / f"{fmt}-{stamp}-{k}.jsonl"
    return path


def export_to_file(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """Write rows to path through a temporary file beside it, renamed into place at the end (an
    interrupted export leaves no half file under the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            n = write_jsonl(rows, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return n


# ====================================================================== one trace → rows

def metadata(trace: dict[str, Any]) -> dict[str, Any]:
    md = {"execution_id": trace.get("execution_id"), "goal": trace.get("goal"), "mode": trace.get("mode"),
          "model": trace.get("model"), "final_outcome": trace.get("final_outcome"),
          "total_cost": trace.get("total_cost"),
          "started_at": (trace.get("initial_state") or {}).get("started_at")}
    if trace.get("parent"):
        md["parent"] = trace["parent"]
    return md


def to_seed(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield trace


def to_anthropic(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    conv = conversation(trace)
    if conv is None:
        return
    messages, truncated = conv
    md = metadata(trace)
    if truncated:
        md["truncated"] = True
    yield {"system": trace.get("system") or "", "tools": anthropic_tools(trace), "messages": messages,
           "metadata": md}


def to_openai(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True)
    if conv is None:
        return
    messages, _ = conv
    out: list[dict[str, Any]] = []
    if trace.get("system"):
        out.append({"role": "system", "content": trace["system"]})
    for m in messages:
        blocks = _as_blocks(m["content"])
        if m["role"] == "user":
            for b in blocks:
                if b.get("type") == "tool_result":
                    out.append({"role": "tool", "tool_call_id": b["tool_use_id"], "content": result_text(b)})
            rest = [b for b in blocks if b.get("type") != "tool_result"]
            if rest:
                out.append({"role": "user", "content": blocks_text(rest)})
        else:
            text = "\n\n".join(b["text"] for b in blocks if b.get("type") == "text")
            calls = [{"id": b["id"], "type": "function",
                      "function": {"name": b["name"],
                                   "arguments": json.dumps(b.get("input") or {}, ensure_ascii=False)}}
                     for b in blocks if b.get("type") == "tool_use"]
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
    tools = [{"type": "function", "function": {"name": t["name"], "description": t.get("description", ""),
                                               "parameters": t.get("input_schema") or {"type": "object"}}}
             for t in anthropic_tools(trace)]
    yield {"messages": out, "tools": tools}


def to_sharegpt(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    conv = conversation(trace, text_only=True)
    if conv is None:
        return
    messages, truncated = conv
    tools = anthropic_tools(trace)
    system = (trace.get("system") or "").rstrip()
    if tools:
        sigs = "\n".join(json.dumps({"type": "function", "function": {
            "name": t["name"], "description": t.get("description", ""),
            "parameters": t.get("input_schema") or {"type": "object"}}}, ensure_ascii=False) for t in tools)
        system = (system + "\n\n" if system else "") + (
            "# Tools\n\nYou may call one or more functions. Their signatures are within <tools></tools>:\n"
            f"<tools>\n{sigs}\n</tools>\n\nFor each call, write a JSON object with the function's name and "
            "arguments within <tool_call></tool_call> tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n'
            "Results come back within <tool_response></tool_response> tags.")
    conversations: list[dict[str, str]] = []
    if system:
        conversations.append({"from": "system", "value": system})
    names: dict[str, str] = {}
    for m in messages:
        blocks = _as_blocks(m["content"])
        if m["role"] == "user":
            results = [b for b in blocks if b.get("type") == "tool_result"]
            if results:
                conversations.append({"from": "tool", "value": "\n".join(
                    "<tool_response>\n" + json.dumps({"name": names.get(b["tool_use_id"], ""),
                                                      "content": result_text(b)}, ensure_ascii=False)
                    + "\n</tool_response>" for b in results)})
            rest = [b for b in blocks if b.get("type") != "tool_result"]
            if rest:
                conversations.append({"from": "human", "value": blocks_text(rest)})
        else:
            parts = [b["text"] for b in blocks if b.get("type") == "text"]
            text = "\n\n".join(parts)
            calls = []
            for b in blocks:
                if b.get("type") == "tool_use":
                    names[b["id"]] = b["name"]
                    calls.append("<tool_call>\n" + json.dumps({"name": b["name"], "arguments": b.get("input") or {}},
                                                              ensure_ascii=False) + "\n</tool_call>")
            conversations.append({"from": "gpt", "value": "\n".join(([text] if text else []) + calls)})
    md = metadata(trace)
    if truncated:
        md["truncated"] = True
    yield {"conversations": conversations, "metadata": md}


def to_preference(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    transitions = trace.get("transitions") or []
    if not any(_edited(t) or is_person_denial(t.get("human") or {}) for t in transitions):
        return
    messages = clean_messages(trace.get("messages") or [])
    # step n is the n-th tool_use of the conversation (the runner proposes them in order)
    where: dict[int, tuple[int, int]] = {}
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        for j, b in enumerate(m["content"]):
            if b.get("type") == "tool_use":
                where[len(where) + 1] = (i, j)
    by_turn: dict[int, list[dict[str, Any]]] = {}
    for t in transitions:
        if not (_edited(t) or is_person_denial(t.get("human") or {})):
            continue
        pos = where.get(t.get("step"))
        if pos is None or messages[pos[0]]["content"][pos[1]].get("name") != t.get("tool"):
            continue   # the conversation and the steps do not line up: no pair rather than a wrong one
        by_turn.setdefault(pos[0], []).append(t)
    tools = anthropic_tools(trace)
    for i in sorted(by_turn):
        steps = by_turn[i]
        rejected = messages[i]
        if any(is_person_denial(t.get("human") or {}) for t in steps):
            nxt = next((k for k in range(i + 1, len(messages)) if messages[k]["role"] == "assistant"), None)
            if nxt is None:
                continue   # the model never answered the denial
            chosen = messages[nxt]
            source = "next_turn_after_denial"
        else:
            content = copy.deepcopy(rejected["content"])
            for t in steps:
                content[where[t["step"]][1]]["input"] = copy.deepcopy(t.get("inputs") or {})
            chosen = {"role": "assistant", "content": content}
            source = "edited_inputs"
        if chosen["content"] == rejected["content"]:
            continue
        first = steps[0]
        human = first.get("human") or {}
        md = {**metadata(trace), "step": first.get("step"), "tool": first.get("tool"),
              "decision": "denied" if is_person_denial(human) else "edited",
              "feedback": human.get("feedback"), "chosen_from": source,
              "steps": [{"step": t.get("step"), "tool": t.get("tool"),
                         "decision": "denied" if is_person_denial(t.get("human") or {}) else "edited",
                         "feedback": (t.get("human") or {}).get("feedback")} for t in steps]}
        yield {"prompt": {"system": trace.get("system") or "", "tools": tools,
                          "messages": copy.deepcopy(messages[:i])},
               "chosen": [copy.deepcopy(chosen)], "rejected": [copy.deepcopy(rejected)], "metadata": md}


def _edited(t: dict[str, Any]) -> bool:
    human = t.get("human") or {}
    return human.get("proposed_inputs") is not None and human.get("decision") in ("edited", "approved", "retried")


CONVERTERS: dict[str, Callable[[dict[str, Any]], Iterator[dict[str, Any]]]] = {
    "seed": to_seed, "anthropic": to_anthropic, "openai": to_openai, "sharegpt": to_sharegpt,
    "preference": to_preference,
}


# ====================================================================== conversation shaping

def anthropic_tools(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [_strip_cache_control({k: v for k, v in t.items() if k in ("name", "description", "input_schema")})
            for t in trace.get("tools") or [] if isinstance(t, dict) and t.get("name")]


def conversation(trace: dict[str, Any], *, text_only: bool = False) -> tuple[list[dict[str, Any]], bool] | None:
    """The trace's messages made valid (see the module's doc), and whether an unanswered trailing
    turn was dropped; None when no assistant turn is left. text_only drops thinking blocks."""
    messages = clean_messages(trace.get("messages") or [], text_only=text_only)
    messages, truncated = _trim_tail(messages)
    if not any(m["role"] == "assistant" for m in messages):
        return None
    return messages, truncated


def clean_messages(messages: list[dict[str, Any]], *, text_only: bool = False) -> list[dict[str, Any]]:
    """Messages with block lists cleaned (no cache_control, no empty text), empty messages gone,
    adjacent turns of one role merged (tool_results first), starting with a user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            continue
        content = m.get("content")
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}] if content.strip() else []
        elif isinstance(content, list):
            blocks = [b for b in (_clean_block(b, role, text_only) for b in content) if b is not None]
        else:
            blocks = []
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            merged = out[-1]["content"] + blocks
            if role == "user":
                merged = [b for b in merged if b.get("type") == "tool_result"] + \
                         [b for b in merged if b.get("type") != "tool_result"]
            out[-1] = {"role": role, "content": merged}
        else:
            out.append({"role": role, "content": blocks})
    while out and out[0]["role"] != "user":
        out.pop(0)
    # a user turn holding only plain text keeps the plain string form of the conversation
    return [{"role": m["role"], "content": m["content"][0]["text"]}
            if m["role"] == "user" and len(m["content"]) == 1 and m["content"][0].get("type") == "text"
            else m for m in out]


def _clean_block(b: Any, role: str, text_only: bool) -> dict[str, Any] | None:
    if not isinstance(b, dict):
        return None
    kind = b.get("type")
    if kind == "text":
        text = b.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) and text.strip() else None
    if role == "assistant":
        if kind == "tool_use" and b.get("id") and b.get("name"):
            inp = b.get("input")
            return {"type": "tool_use", "id": str(b["id"]), "name": str(b["name"]),
                    "input": inp if isinstance(inp, dict) else {}}
        if kind in ("thinking", "redacted_thinking") and not text_only:
            return _strip_block(b)
        return None
    if kind == "tool_result" and b.get("tool_use_id"):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": str(b["tool_use_id"]),
                                 "content": _clean_result_content(b.get("content"))}
        if b.get("is_error"):
            block["is_error"] = True
        return block
    if kind == "image":
        return _strip_block(b)
    return None


def _clean_result_content(content: Any) -> Any:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        blocks = []
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "text":
                if isinstance(b.get("text"), str) and b["text"].strip():
                    blocks.append({"type": "text", "text": b["text"]})
            elif b.get("type") == "image":
                blocks.append(_strip_cache_control(b))
        return blocks or ""
    return str(content)


def _trim_tail(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """Drop what has no answer at the end: an assistant turn whose calls got no results (a run
    killed or stopped midway), and a trailing user turn that is not tool results."""
    truncated = False
    while messages:
        last = messages[-1]
        blocks = _as_blocks(last["content"])
        if last["role"] == "assistant" and any(b.get("type") == "tool_use" for b in blocks):
            messages = messages[:-1]
            truncated = True
        elif last["role"] == "user" and not any(b.get("type") == "tool_result" for b in blocks) \
                and len(messages) > 1:
            messages = messages[:-1]
            truncated = True
        else:
            break
    return messages, truncated


def _as_blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _strip_block(block: dict[str, Any]) -> dict[str, Any]:
    return {k: _strip_cache_control(v) for k, v in block.items() if k != "cache_control"}


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def image_placeholder(b: dict[str, Any]) -> str:
    src = b.get("source") or {}
    media = src.get("media_type") or "image"
    size = f", {len(src['data']) * 3 // 4} bytes" if isinstance(src.get("data"), str) else ""
    return f"[image {media}{size} not included]"


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    parts = []
    for b in blocks:
        if b.get("type") == "text":
            parts.append(b["text"])
        elif b.get("type") == "image":
            parts.append(image_placeholder(b))
    return "\n".join(parts)


def result_text(b: dict[str, Any]) -> str:
    """A tool_result's content as one string (images as placeholders), errors marked."""
    content = b.get("content")
    text = content if isinstance(content, str) else blocks_text(content or [])
    return ("Error: " + text) if b.get("is_error") else text
