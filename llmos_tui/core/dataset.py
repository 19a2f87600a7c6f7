"""`llmos-tui export --dataset DIR`: a dataset folder, not just a file.

One pass over the runs (one trace in memory at a time) writes every asked format at once:

    DIR/README.md                the dataset card (its front matter names the Hub configs)
    DIR/stats.json               the card's figures, for machines
    DIR/<format>/train.jsonl     rows of the runs in the train split
    DIR/<format>/validation.jsonl
    DIR/dataset_info.json        LLaMA-Factory's entries <name>_train and <name>_validation
                                 (with the llamafactory format)

Split by run: a top-level run and its sub-agent runs go to one split, so no conversation is in
both. The top-level run ids are shuffled with the seed (`--seed`, default 0) and the first
round(val × runs) go to validation (`--val`, default 0.1; at least one when there are two runs
or more and val > 0). Exact duplicates (the same row but for its metadata) are written once, the
first time they come, across both splits. Token counts are estimates: 4 characters a token over
the row's JSON without its metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from llmos_tui.core.errors import BadInput
from llmos_tui.core.export import ExportStats, Filters, export_traces, iter_run_ids
from llmos_tui.core.formats import CONVERTERS, RowTally, is_person_denial
from llmos_tui.core.formats.sharegpt import dataset_info_entry, dataset_name, write_dataset_info
from llmos_tui.core.fsutil import atomic_write
from llmos_tui.core.training import ALWAYS_ENV, ALWAYS_PATTERNS, CollectorSettings, Redactor

SPLITS = ("train", "validation")
CHARS_PER_TOKEN = 4
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


@dataclass
class FormatCounts:
    rows: int = 0  # written, both splits
    train: int = 0
    validation: int = 0
    duplicates: int = 0
    tally: RowTally = field(default_factory=RowTally)
    tokens: array[int] = field(default_factory=lambda: array("I"))  # 4 bytes a row

    def token_summary(self) -> dict[str, int]:
        t = sorted(self.tokens)
        if not t:
            return {"mean": 0, "median": 0, "p95": 0, "max": 0, "total": 0}
        return {
            "mean": round(statistics.fmean(t)),
            "median": round(statistics.median(t)),
            "p95": t[min(len(t) - 1, int(0.95 * len(t)))],
            "max": t[-1],
            "total": sum(t),
        }


@dataclass
class DatasetReport:
    folder: Path
    name: str
    formats: tuple[str, ...]
    val: float
    seed: int
    single_call: bool
    counts: dict[str, FormatCounts]
    runs: dict[str, int] = field(default_factory=lambda: {"train": 0, "validation": 0})
    tools: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0  # of the runs whose cost is known
    cost_unknown_runs: int = 0  # runs on a model without a price (a local model): never counted as $0
    redaction: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # written, relative to the folder

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "formats": {
                f: {
                    "rows": c.rows,
                    "train": c.train,
                    "validation": c.validation,
                    "duplicates_removed": c.duplicates,
                    "trimmed": c.tally.trimmed,
                    "skipped": c.tally.skipped,
                    "tokens_per_row_estimate": c.token_summary(),
                }
                for f, c in self.counts.items()
            },
            "split": {"val": self.val, "seed": self.seed, "runs": self.runs},
            "single_call": self.single_call,
            "runs": sum(self.runs.values()),
            "outcomes": dict(self.outcomes),
            "tools_used": dict(self.tools.most_common()),
            "human_decisions": dict(self.decisions.most_common()),
            "models": dict(self.models.most_common()),
            "cost_usd": round(self.cost_usd, 6),
            "cost_unknown_runs": self.cost_unknown_runs,
            "redaction": self.redaction,
            "files": self.files,
        }


def split_of(run_ids: Iterable[str], val: float, seed: int) -> set[str]:
    """The top-level run ids that go to validation (see the module's doc)."""
    groups = list(dict.fromkeys(r.split("/", 1)[0] for r in run_ids))
    if not 0 <= val < 1:
        raise BadInput(f"--val must be at least 0 and below 1, not {val}")
    shuffled = sorted(groups)
    random.Random(seed).shuffle(shuffled)
    n = round(val * len(shuffled))
    if val > 0 and n == 0 and len(shuffled) >= 2:
        n = 1
    return set(shuffled[:n])


def _row_key(row: dict[str, Any]) -> int:
    """64 bits of the row's hash without its metadata (a small int: the set of them stays small)."""
    body = {k: v for k, v in row.items() if k != "metadata"}
    return int.from_bytes(hashlib.blake2b(_DUMPS(body).encode("utf-8"), digest_size=8).digest(), "big")


def write_dataset(
    ws: Any,
    folder: Path,
    formats: Iterable[str],
    *,
    settings: CollectorSettings,
    run_ids: list[str] | None = None,
    filters: Filters = Filters(),
    redactor: Redactor | None = None,
    subagents: bool = True,
    stats: ExportStats | None = None,
    strict: bool = False,
    val: float = 0.1,
    seed: int = 0,
    single_call: bool = False,
) -> DatasetReport:
    """Write the dataset folder (see the module's doc); returns what it holds."""
    formats = tuple(dict.fromkeys(formats))
    for f in formats:
        if f not in CONVERTERS:
            raise BadInput(f"unknown export format {f!r}; use one of {', '.join(CONVERTERS)}")
    stats = stats if stats is not None else ExportStats()
    ids = list(run_ids) if run_ids is not None else list(iter_run_ids(ws, subagents=subagents))
    validation = split_of(ids, val, seed)
    folder = Path(folder)
    name = dataset_name(folder.resolve().name)
    report = DatasetReport(folder, name, formats, val, seed, single_call, {f: FormatCounts() for f in formats})
    report.redaction = {
        "env_vars": sorted({*ALWAYS_ENV, *settings.env_vars}),
        "patterns": list(dict.fromkeys((*ALWAYS_PATTERNS, *settings.patterns))),
    }
    seen: dict[str, set[int]] = {f: set() for f in formats}
    handles: dict[tuple[str, str], IO[str]] = {}
    tmp_paths: dict[tuple[str, str], Path] = {}
    try:
        for f in formats:
            (folder / f).mkdir(parents=True, exist_ok=True)
            for split in SPLITS:
                tmp = folder / f / f".{split}.jsonl.{os.getpid()}.tmp"
                tmp_paths[(f, split)] = tmp
                handles[(f, split)] = open(tmp, "w", encoding="utf-8", newline="\n")
        for trace in export_traces(
            ws, run_ids=ids, filters=filters, redactor=redactor, subagents=subagents, stats=stats, strict=strict
        ):
            run_id = str(trace.get("execution_id") or "")
            split = "validation" if run_id.split("/", 1)[0] in validation else "train"
            produced = 0
            for f in formats:
                counts = report.counts[f]
                for row in CONVERTERS[f](trace, counts.tally, single_call):
                    produced += 1
                    key = _row_key(row)
                    if key in seen[f]:
                        counts.duplicates += 1
                        continue
                    seen[f].add(key)
                    line = _DUMPS(row)
                    handles[(f, split)].write(line)
                    handles[(f, split)].write("\n")
                    counts.rows += 1
                    setattr(counts, split, getattr(counts, split) + 1)
                    md_len = len(_DUMPS(row["metadata"])) if isinstance(row.get("metadata"), dict) else 0
                    counts.tokens.append(max(1, (len(line) - md_len) // CHARS_PER_TOKEN))
            stats.rows += produced
            if not produced:
                stats.empty += 1
                continue
            stats.runs_exported += 1
            report.runs[split] += 1
            _count_trace(report, trace)
        for h in handles.values():
            h.flush()
            os.fsync(h.fileno())
            h.close()
        for (f, split), tmp in tmp_paths.items():
            final = folder / f / f"{split}.jsonl"
            if getattr(report.counts[f], split):
                os.replace(tmp, final)
                report.files.append(f"{f}/{split}.jsonl")
            else:
                tmp.unlink()
                final.unlink(missing_ok=True)  # an empty split is no file (loaders refuse empty ones)
    except BaseException:
        for h in handles.values():
            h.close()
        for tmp in tmp_paths.values():
            tmp.unlink(missing_ok=True)
        raise
    for f in formats:
        if not any(getattr(report.counts[f], split) for split in SPLITS):
            try:
                (folder / f).rmdir()  # no rows in this format: no empty folder
            except OSError:
                pass
        stats.trimmed += report.counts[f].tally.trimmed
        stats.skipped += report.counts[f].tally.skipped
    if "llamafactory" in formats:
        write_dataset_info(
            folder,
            {
                f"{name}_{split}": dataset_info_entry(f"llamafactory/{split}.jsonl")
                for split in SPLITS
                if getattr(report.counts["llamafactory"], split)
            },
        )
        report.files.append("dataset_info.json")
    atomic_write(folder / "stats.json", json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
    atomic_write(folder / "README.md", dataset_card(report))
    report.files += ["stats.json", "README.md"]
    return report


def _count_trace(report: DatasetReport, trace: dict[str, Any]) -> None:
    cost = trace.get("total_cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        report.cost_usd += float(cost)
    else:
        report.cost_unknown_runs += 1
    report.models[str(trace.get("model") or "unknown")] += 1
    report.outcomes[str(trace.get("final_outcome"))] += 1
    for t in trace.get("transitions") or ():
        report.tools[str(t.get("tool"))] += 1
        human = t.get("human") or {}
        decision = human.get("decision")
        if decision == "denied" and not is_person_denial(human):
            decision = "refused by the ToolMap" if human.get("by") == "toolmap" else decision
        if decision and decision != "auto":
            report.decisions[str(decision)] += 1


# ====================================================================== the card

LOADERS = {
    "hf": "rows = [json.loads(line) for line in open('{path}')]  # then tokenizer.apply_chat_template(row['messages'], tools=row['tools'])",
    "openai": "client.files.create(file=open('{path}', 'rb'), purpose='fine-tune')",
    "anthropic": "rows = [json.loads(line) for line in open('{path}')]  # {{system, tools, messages}}",
    "llamafactory": "dataset: {name}_train  (with dataset_dir: this folder)",
    "sharegpt": "load_dataset('json', data_files='{path}')",
    "preference": "rows = [json.loads(line) for line in open('{path}')]  # {{prompt, chosen, rejected}}",
    "seed": "rows = [json.loads(line) for line in open('{path}')]  # the traces",
}


def dataset_card(report: DatasetReport) -> str:
    data = report.to_json()
    lines = ["---", "configs:"]
    for f in report.formats:
        files = [s for s in SPLITS if getattr(report.counts[f], s)]
        if not files:
            continue
        lines += [f"- config_name: {f}", "  data_files:"]
        for s in files:
            lines += [f"  - split: {s}", f"    path: {f}/{s}.jsonl"]
    lines += ["tags:", "- llmos-tui", "- agent-traces", "- tool-use", "---", ""]
    lines += [
        f"# {report.name}",
        "",
        "Agent runs recorded by llmos-tui (every tool call, its result and every decision a person made), "
        "exported as training data by `llmos-tui export --dataset`. Every string was redacted before export.",
        "",
        "## Formats and counts",
        "",
        "| format | rows | train | validation | duplicates removed | trimmed | skipped runs | tokens/row (mean, median, p95, max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f, c in data["formats"].items():
        t = c["tokens_per_row_estimate"]
        lines.append(
            f"| {f} | {c['rows']} | {c['train']} | {c['validation']} | {c['duplicates_removed']} | {c['trimmed']} | "
            f"{c['skipped']} | {t['mean']}, {t['median']}, {t['p95']}, {t['max']} |"
        )
    lines += [
        "",
        f"Runs: {data['runs']} ({report.runs['train']} train, {report.runs['validation']} validation; split by run, "
        f"sub-agent runs with their parent, val {report.val}, seed {report.seed}). "
        f"Outcomes: {_counts(data['outcomes'])}.",
        "Trimmed rows ended on work nobody answered (a killed run, a max_turns failure) and were cut back to the "
        "last assistant turn (`metadata.truncated`); skipped runs had no assistant turn left. "
        "Tokens are estimates (4 characters a token)."
        + (" Parallel calls are split into one call a turn." if report.single_call else ""),
        "",
        "## What the runs did",
        "",
        f"- Generating model: {_counts(data['models'])}",
        f"- Tools used (calls): {_counts(data['tools_used'])}",
        f"- Human decisions: {_counts(data['human_decisions']) or 'none'}",
        f"- Cost of the runs: {_cost_line(data)}",
        "",
        "An edited call shows the inputs it ran with (metadata.edited_steps); `preference` rows pair the model's "
        "original call (rejected) with the person's edit, or with the model's next turn after a denial whose "
        "reason ends the prompt (chosen).",
        "",
        "## Redaction rules applied",
        "",
        "Values of these environment variables (where set when exported): "
        + ", ".join(f"`{v}`" for v in report.redaction.get("env_vars", [])),
        "",
        "Patterns (Python regexes), each match replaced by `[REDACTED]`:",
        "",
        *[f"- `{p}`" for p in report.redaction.get("patterns", [])],
        "",
        "## Loading",
        "",
    ]
    for f in report.formats:
        if report.counts[f].train:
            lines.append(f"- {f}: `{LOADERS[f].format(path=f'{f}/train.jsonl', name=report.name)}`")
    lines.append("")
    return "\n".join(lines)


def _cost_line(data: dict[str, Any]) -> str:
    unknown, runs = data["cost_unknown_runs"], data["runs"]
    if unknown and unknown >= runs:
        return "unknown (no price for the model)"
    known = f"${data['cost_usd']:.4f}"
    return f"{known}, and {unknown} run{'s' if unknown != 1 else ''} of unknown cost" if unknown else known


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.items())


def push_to_hub(folder: Path, repo: str, *, private: bool = True) -> str:
    """Upload the folder as a Hugging Face dataset repository; its URL. Untested against the
    network (the tests cover the missing-package and offline answers)."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise BadInput("--push-to-hub needs huggingface_hub: pip install huggingface_hub") from None
    api = HfApi()
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset")
    except Exception as exc:  # noqa: BLE001 - any failure of the Hub is one line for the person
        raise BadInput(
            f"--push-to-hub {repo}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/datasets/{repo}")
