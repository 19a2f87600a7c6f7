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

The formats and their rules: core/formats/ (one module per pipeline; the checks in formats/checks.py).
A folder with train/validation splits, a card and stats: core/dataset.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from llmos_tui.core.errors import BadInput, LlmosError
from llmos_tui.core.formats import CONVERTERS, person_decided
from llmos_tui.core.text import parse_iso
from llmos_tui.core.trace import load_trace
from llmos_tui.core.training import FORMATS, CollectorSettings, Redactor

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
    def for_all(
        cls,
        settings: CollectorSettings,
        *,
        status: Iterable[str] | None = None,
        mode: Iterable[str] | None = None,
        human_reviewed: bool | None = None,
        since: dt.date | None = None,
        include_simulated: bool | None = None,
    ) -> "Filters":
        """`--all`: TrainingDataCollector.md's filters, each overridden by a flag that was given."""
        return cls(
            status=tuple(status) if status else settings.status,
            mode=tuple(mode) if mode else settings.mode,
            human_reviewed=settings.human_reviewed if human_reviewed is None else human_reviewed,
            since=since if since is not None else settings.since,
            include_simulated=settings.include_simulated if include_simulated is None else include_simulated,
        )

    @classmethod
    def for_named(
        cls,
        *,
        status: Iterable[str] | None = None,
        mode: Iterable[str] | None = None,
        human_reviewed: bool | None = None,
        since: dt.date | None = None,
        include_simulated: bool | None = None,
    ) -> "Filters":
        """Named runs: only the flags given on the command line."""
        return cls(
            status=tuple(status) if status else None,
            mode=tuple(mode) if mode else None,
            human_reviewed=bool(human_reviewed),
            since=since,
            include_simulated=True if include_simulated is None else include_simulated,
        )

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
        if not self.include_simulated and (
            trace.get("mode") == "simulate" or any(t.get("simulated") for t in trace.get("transitions") or ())
        ):
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


def iter_run_ids(ws: Any, *, subagents: bool = True) -> Iterator[str]:
    """Every run of the workspace, oldest first, each followed by its sub-agent runs (depth first)."""
    for run_id in ws.run_ids():
        yield run_id
        if subagents:
            yield from _sub_runs(ws, run_id)


def _sub_runs(ws: Any, run_id: str) -> Iterator[str]:
    try:
        entries = [
            (int(m[1]), e.name) for e in os.scandir(ws.run_dir(run_id)) if (m := _TASK_DIR.match(e.name)) and e.is_dir()
        ]
    except OSError:
        return
    for _, name in sorted(entries):
        child = f"{run_id}/{name}"
        if (ws.journal_path(child)).exists():
            yield child
            yield from _sub_runs(ws, child)


@dataclass
class ExportStats:
    runs_seen: int = 0  # runs considered
    runs_exported: int = 0  # runs that gave at least one row
    rows: int = 0
    filtered: int = 0  # runs the filters left out
    empty: int = 0  # runs that passed but gave no row (nothing to learn from)
    trimmed: int = 0  # rows whose trailing unanswered work was cut (metadata.truncated)
    skipped: int = 0  # runs with no assistant turn left once trimmed (conversation formats)
    unreadable: list[str] = field(default_factory=list)  # "run_id: why"


# ====================================================================== the pipeline


def export_rows(
    ws: Any,
    fmt: str,
    *,
    run_ids: Iterable[str] | None = None,
    filters: Filters = Filters(),
    redactor: Redactor | None = None,
    subagents: bool = True,
    stats: ExportStats | None = None,
    strict: bool = False,
    single_call: bool = False,
) -> Iterator[dict[str, Any]]:
    """Rows of `fmt` for the named runs (run_ids, already resolved) or, when None, for every run
    of the workspace — one run in memory at a time. An unreadable run raises with `strict` (a
    named run), else it is counted in stats.unreadable and passed over. `single_call`: one call
    per assistant turn (formats/shape.py)."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    stats = stats if stats is not None else ExportStats()
    convert = CONVERTERS[fmt]
    for trace in export_traces(
        ws, run_ids=run_ids, filters=filters, redactor=redactor, subagents=subagents, stats=stats, strict=strict
    ):
        produced = 0
        for row in convert(trace, stats, single_call):
            produced += 1
            yield row
        stats.rows += produced
        if produced:
            stats.runs_exported += 1
        else:
            stats.empty += 1


def export_traces(
    ws: Any,
    *,
    run_ids: Iterable[str] | None = None,
    filters: Filters = Filters(),
    redactor: Redactor | None = None,
    subagents: bool = True,
    stats: ExportStats | None = None,
    strict: bool = False,
) -> Iterator[dict[str, Any]]:
    """The traces to export, loaded, filtered and redacted, one at a time (see export_rows)."""
    redactor = redactor if redactor is not None else Redactor()
    stats = stats if stats is not None else ExportStats()
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
            trace["tools"] = fallback.get()  # a run killed before its first trace.json
        yield redactor(trace)


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


# ====================================================================== --check


@dataclass
class CheckResult:
    """What `export --check` found in one format's output."""

    fmt: str
    rows: int = 0
    valid: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, "line N: why"

    def add(self, row: Any, where: str) -> None:
        from llmos_tui.core.formats.checks import RowInvalid, check_row

        self.rows += 1
        try:
            check_row(self.fmt, row)
        except (RowInvalid, KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            if len(self.problems) < 5:
                self.problems.append(f"{where}: {type(exc).__name__ if not str(exc) else exc}")
            return
        self.valid += 1


def check_jsonl(path: Path, fmt: str, result: CheckResult | None = None) -> CheckResult:
    """Read a written file back and check every row with formats/checks.py's rules."""
    result = result if result is not None else CheckResult(fmt)
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            try:
                row = json.loads(line)
            except ValueError as exc:
                result.rows += 1
                if len(result.problems) < 5:
                    result.problems.append(f"{path.name} line {n}: not JSON ({exc})")
                continue
            result.add(row, f"{path.name} line {n}")
    return result


def checked(rows: Iterable[dict[str, Any]], result: CheckResult) -> Iterator[dict[str, Any]]:
    """Rows as they go (to stdout), each checked on the way."""
    for n, row in enumerate(rows, start=1):
        result.add(json.loads(json.dumps(row, default=str)), f"row {n}")
        yield row
