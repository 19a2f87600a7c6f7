"""Benchmark `llmos-tui export --all`: time and peak memory for 10,000 runs, in every format.

Ten thousand real runs one by one would take minutes, so the workspace is made the way a long-
lived one looks from the exporter's side, cheaply: six real, varied runs are driven with the
scripted runtime in a temporary project (a multi-step run with a max_tokens nudge; a reviewed
run where a person edits one Write and denies another, then approves and skips; a Read of a
PNG; a simulate-mode run; a run delegating to a Task sub-agent; a run that fails), then their
run folders are cloned under new run ids (journal.jsonl, trace.json, execution_state.md with the
id rewritten inside, the sub-agent's folder with them) until the workspace holds N top-level
runs. A clone is byte-for-byte its template but for the id, so every export reads, parses,
filters, redacts and converts a real trace. Each workspace therefore also holds N/6 sub-agent
runs (exported as their own rows with --all) and N/6 failed runs (left out by the default
status filter, completed): "runs seen" counts them all.

Every format (seed, anthropic, openai, sharegpt, preference, hf, llamafactory) and `dataset`: one
`export --all --dataset DIR` writing hf, llamafactory, openai, anthropic and preference at once
(both splits, the card, stats.json, dataset_info.json); its time aim is 20 s per format it writes.
Each clone's goal is numbered, so no two rows are duplicates and --dataset drops none.

Measured: the real command, `python -m llmos_tui export --all --format F -o FILE`, in a child
process per format, for N = 1,000 and N = 10,000 runs: wall time from spawn to exit, rows
written, output size, and the child's peak RSS from /usr/bin/time (%M). Without /usr/bin/time,
getrusage(RUSAGE_CHILDREN) after the child's wait is used instead — the max over all children so
far, and it counts this process's memory at fork, so it is only an upper bound (flagged "≤").
Memory is flat when the 10,000-run peak is within 1.2× of the 1,000-run one: the exporter holds
one run at a time.

Aims: peak RSS ≤ 50 MB and flat (10k/1k ≤ 1.2×); 10,000 runs exported in ≤ 20 s per format
(2 ms a run; --quick scales the time aim to its size).

    /work/venv/bin/python benchmarks/export.py            # 1,000 and 10,000 runs
    /work/venv/bin/python benchmarks/export.py --quick    # 100 and 1,000 runs

Everything lives in temporary folders (removed at the end); no network.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from llmos_tui.core.config import load_agent_config
from llmos_tui.core.control import new_command
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import Runner, RunOptions
from llmos_tui.core.runtime.scripted import ScriptedRuntime
from llmos_tui.core.scaffold import init_project
from llmos_tui.core.toolmap import load_toolmap
from llmos_tui.core.training import FORMATS
from llmos_tui.core.workspace import Workspace

RSS_AIM_MB = 50
FLAT_AIM = 1.2
TIME_AIM_S = 20.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
TIME = shutil.which("time", path="/usr/bin:/bin")


# ====================================================================== the template runs


def _tool(name: str, **inputs: Any) -> dict[str, Any]:
    return {"type": "tool_use", "name": name, "input": inputs}


def _text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def _script(*turns: list[dict[str, Any]], **extra: Any) -> str:
    return yaml.safe_dump({"turns": [{"content": list(t)} for t in turns], **extra}, sort_keys=False)


TEMPLATES: list[dict[str, Any]] = [
    {
        "goal": "write and check a.txt",
        "script": yaml.safe_dump(
            {
                "turns": [
                    {
                        "content": [
                            _text("I'll plan first."),
                            _tool(
                                "UpdatePlan",
                                steps=[
                                    {"title": "Write a.txt", "status": "in_progress"},
                                    {"title": "Check it", "status": "pending"},
                                ],
                            ),
                        ]
                    },
                    {
                        "content": [
                            _tool("Write", file_path="a.txt", content="alpha\n" * 20),
                            _tool("Bash", command="wc -l a.txt"),
                        ]
                    },
                    {"content": [_text("Reading it back."), _tool("Read", file_path="a.txt")]},
                    {
                        "content": [
                            _tool("Glob", pattern="*.txt"),
                            _tool("Grep", pattern="alpha", path=".", output_mode="count"),
                        ]
                    },
                    {"content": [_text("A long answer that was cut")], "stop_reason": "max_tokens"},
                    {"content": [_text("…off. a.txt holds 20 lines of alpha.")]},
                ]
            },
            sort_keys=False,
        ),
    },
    {
        "goal": "greet",
        "approval": "side-effects",
        "script": _script(
            [_text("Plan."), _tool("UpdatePlan", steps=[{"title": "Greet", "status": "in_progress"}])],
            [_tool("Write", file_path="hello.txt", content="hi\n")],
            [_text("Saving the key too."), _tool("Write", file_path="key.txt", content="k")],
            [_text("Understood, no key file."), _tool("Write", file_path="notes.txt", content="n\n")],
            [_tool("Bash", command="rm -f notes.txt")],
            [_text("Done.")],
        ),
        "decisions": {
            2: [("edit", {"inputs": {"file_path": "greeting.txt", "content": "hello\n"}}), ("approve", {})],
            3: [("deny", {"feedback": "never write keys to disk"})],
            5: [("skip", {"feedback": "keep it"})],
        },
    },
    {"goal": "look at pic.png", "script": _script([_tool("Read", file_path="pic.png")], [_text("A tiny picture.")])},
    {
        "goal": "simulate a cleanup",
        "mode": "simulate",
        "script": _script(
            [_tool("Write", file_path="keep.txt", content="changed")],
            [_tool("Bash", command="rm -rf build")],
            [_text("done")],
            simulated_results={0: ["Wrote 7 bytes to keep.txt"]},
        ),
    },
    {
        "goal": "delegate the notes",
        "script": _script(
            [_tool("Task", description="Write the notes", prompt="Write sub.txt holding 'n'.")],
            [_text("The sub-agent wrote the notes.")],
            subagents=[
                {
                    "turns": [
                        {"content": [_tool("Write", file_path="sub.txt", content="n")]},
                        {"content": [_text("Wrote sub.txt.")]},
                    ]
                }
            ],
        ),
    },
    {"goal": "a run that fails", "script": _script([_tool("Write", file_path="f.txt", content="f")])},
]


async def _drive(ws: Workspace, t: dict[str, Any]) -> str:
    config = load_agent_config(ws.system / "SystemAgent.md").with_(approval=t.get("approval", "never"))
    registry = ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
    runner = Runner.start(
        ws,
        t["goal"],
        config=config,
        registry=registry,
        runtime=ScriptedRuntime.parse(t["script"]),
        runtime_name="scripted",
        mode=t.get("mode", "execute"),
        options=RunOptions(poll_interval=0.01),
    )
    decisions = t.get("decisions", {})

    def person(rec: dict, led: Any) -> None:
        if rec["kind"] == "step_status" and rec["to"] == "awaiting_approval" and led is runner.ledger:
            for action, kw in decisions.get(rec["step"], [("approve", {})]):
                runner.submit(new_command(action, step=rec["step"], **kw))

    runner.add_listener(person)
    await runner.drive()
    return runner.run_id


def make_templates(root: Path) -> tuple[Workspace, list[str]]:
    init_project(root)
    ws = Workspace.locate(root)
    (ws.root / "pic.png").write_bytes(PNG)
    return ws, [asyncio.run(_drive(ws, t)) for t in TEMPLATES]


def _template_files(ws: Workspace, run_id: str) -> list[tuple[str, bytes]]:
    """(relative path, bytes) of a run folder, its sub-agent folders included."""
    base = ws.run_dir(run_id)
    return [(str(p.relative_to(base)), p.read_bytes()) for p in sorted(base.rglob("*")) if p.is_file()]


def fill(dest: Path, templates: list[tuple[str, list[tuple[str, bytes]]]], n: int) -> None:
    """A project at dest holding n top-level runs cloned round-robin from the templates."""
    init_project(dest)
    runs = Workspace.locate(dest).runs_dir
    t0 = 1_767_225_600  # 2026-01-01T00:00:00Z; one run a minute
    for k in range(n):
        old, files = templates[k % len(templates)]
        new = time.strftime("%Y%m%d-%H%M%S", time.gmtime(t0 + 60 * k)) + f"-{k % 65536:04x}"
        goal = TEMPLATES[k % len(TEMPLATES)]["goal"].encode()
        for rel, data in files:
            p = runs / new / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            # the goal numbered too: every clone's rows differ, so --dataset drops no duplicate
            p.write_bytes(data.replace(old.encode(), new.encode()).replace(goal, goal + f" #{k}".encode()))


# ====================================================================== measuring


DATASET_FORMATS = ("hf", "llamafactory", "openai", "anthropic", "preference")


def spawn_export(project: Path, fmt: str, out: Path) -> dict[str, Any]:
    if fmt == "dataset":  # one pass writing a folder: five formats, two splits, card, stats
        formats = [a for f in DATASET_FORMATS for a in ("--format", f)]
        cmd = [sys.executable, "-m", "llmos_tui", "export", "--all", "--dataset", str(out), *formats]
    else:
        cmd = [sys.executable, "-m", "llmos_tui", "export", "--all", "--format", fmt, "-o", str(out)]
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [TIME, "-o", tf.name, "-f", "%M", *cmd] if TIME else cmd
        t0 = time.perf_counter()
        proc = subprocess.run(full, cwd=project, env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"export {fmt} failed ({proc.returncode}): {proc.stderr.strip()}")
        if TIME:
            rss_kb = int((tf.read().strip().splitlines() or ["0"])[-1].split()[0])
        else:
            rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = proc.stdout.strip().splitlines()[-1]
    files = [p for p in out.rglob("*.jsonl")] if out.is_dir() else [out]
    return {
        "wall_s": wall,
        "rss_mb": rss_kb / 1024,
        "summary": summary,
        "rows": sum(1 for f in files for _ in open(f, "rb")),
        "bytes": sum(f.stat().st_size for f in files),
    }


def baseline_rss(project: Path) -> float:
    """The same interpreter importing the CLI (`--version`): what any command costs."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        if not TIME:
            return float("nan")
        subprocess.run(
            [TIME, "-o", tf.name, "-f", "%M", sys.executable, "-m", "llmos_tui", "--version"],
            cwd=project,
            capture_output=True,
            timeout=60,
        )
        return int(tf.read().strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 runs instead of 1,000 and 10,000")
    ap.add_argument(
        "--formats",
        default=",".join((*FORMATS, "dataset")),
        help="comma-separated subset of "
        + ",".join(FORMATS)
        + ",dataset (the folder of "
        + ",".join(DATASET_FORMATS)
        + ")",
    )
    args = ap.parse_args(argv)
    small, big = (100, 1_000) if args.quick else (1_000, 10_000)
    formats = [f for f in args.formats.split(",") if f]
    t_all = time.perf_counter()
    print(
        f"llmos-tui export --all — {small:,} and {big:,} runs cloned from {len(TEMPLATES)} real scripted runs, "
        f"Python {sys.version.split()[0]}, peak RSS from {'/usr/bin/time' if TIME else 'getrusage (≤, an upper bound)'}"
    )
    with tempfile.TemporaryDirectory(prefix="llmos-bench-export-") as tmp:
        tmp_path = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # never the real ~/.config
        t0 = time.perf_counter()
        ws, ids = make_templates(tmp_path / "templates")
        templates = [(rid, _template_files(ws, rid)) for rid in ids]
        sizes = {rid: sum(len(d) for _, d in files) for rid, files in templates}
        print(
            f"  templates: {len(ids)} runs driven in {time.perf_counter() - t0:.1f} s, "
            f"{sum(sizes.values()) / len(sizes) / 1024:.0f} KB of run files each on average"
        )
        projects = {}
        for n in (small, big):
            t0 = time.perf_counter()
            projects[n] = tmp_path / f"p{n}"
            fill(projects[n], templates, n)
            print(f"  {n:>6,} runs cloned in {time.perf_counter() - t0:.1f} s")
        base = baseline_rss(projects[small])
        print(f"  baseline: `llmos-tui --version` peaks at {base:.1f} MB\n")
        print(
            f"  {'format':<11} {'runs':>7} {'rows':>7} {'wall s':>7} {'runs/s':>7} {'ms/run':>7} "
            f"{'peak MB':>8} {'output':>9}"
        )
        missed: list[str] = []
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for fmt in formats:
            for n in (small, big):
                out = tmp_path / (f"{fmt}-{n}" if fmt == "dataset" else f"{fmt}-{n}.jsonl")
                r = spawn_export(projects[n], fmt, out)
                results[(fmt, n)] = r
                mark = "" if TIME else "≤"
                print(
                    f"  {fmt:<11} {n:>7,} {r['rows']:>7,} {r['wall_s']:>7.2f} {n / r['wall_s']:>7.0f} "
                    f"{r['wall_s'] * 1000 / n:>7.2f} {mark}{r['rss_mb']:>7.1f} {r['bytes'] / 1e6:>7.1f} MB"
                )
                shutil.rmtree(out) if out.is_dir() else out.unlink()
            a, b = results[(fmt, small)], results[(fmt, big)]
            ratio = b["rss_mb"] / a["rss_mb"]
            flat = ratio <= FLAT_AIM
            per = len(DATASET_FORMATS) if fmt == "dataset" else 1  # the aim is per format
            fast = b["wall_s"] <= TIME_AIM_S * per * big / 10_000
            lean = b["rss_mb"] <= RSS_AIM_MB
            print(
                f"  {'':<11} memory {big // small}× the runs → {ratio:.2f}× the peak (aim ≤ {FLAT_AIM}×)"
                f"{'' if flat else '  ← MISSED'}; {big:,} runs in {b['wall_s']:.1f} s "
                f"(aim ≤ {TIME_AIM_S * per * big / 10_000:.0f} s){'' if fast else '  ← MISSED'}; "
                f"peak {b['rss_mb']:.0f} MB (aim ≤ {RSS_AIM_MB}){'' if lean else '  ← MISSED'}"
            )
            if not flat:
                missed.append(f"{fmt}: memory {ratio:.2f}×")
            if not fast:
                missed.append(f"{fmt}: {b['wall_s']:.1f} s")
            if not lean:
                missed.append(f"{fmt}: {b['rss_mb']:.0f} MB")
        print(f"\n  what the command said at {big:,} ({formats[-1]}): {results[(formats[-1], big)]['summary']}")
    print(f"  total {time.perf_counter() - t_all:.1f} s")
    print("verdict: all aims met" if not missed else "verdict: missed — " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
