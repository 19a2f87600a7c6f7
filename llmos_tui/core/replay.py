"""Replay: re-run a recorded run's model turns on a copy of its starting files, re-executing the
tools, and report the first step whose result differs from the recording — a regression check
for tools and environments.

The copy is made from the run's start checkpoint (core/checkpoints.py) in a temporary project
(system/ copied beside it); the recorded turns become a script for the scripted runtime (Task
sub-agents get their own recorded turns), and every decision a person made — an approval, an
edit, a denial with its reason, a skip — is made again, through the same control path, for the
same step. Nothing of the original workspace is touched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_tui.core.errors import BadInput
from llmos_tui.core.journal import iter_effective
from llmos_tui.core.ledger import Ledger, StepRecord
from llmos_tui.core.records import JournalRecord
from llmos_tui.core.text import short_inputs
from llmos_tui.core.workspace import JOURNAL_NAME, TASK_PREFIX, Workspace

PREVIEW = 160


@dataclass(frozen=True)
class Drift:
    step: str  # "4", or "4/task-2:1" for a sub-agent's step
    tool: str
    inputs: str
    recorded: str
    replayed: str


@dataclass
class ReplayReport:
    run_id: str
    steps: int = 0  # steps compared
    drifts: list[Drift] = field(default_factory=list)
    status: str = ""  # the replay run's end
    recorded_status: str = ""
    notes: list[str] = field(default_factory=list)
    kept: Path | None = None  # the replay's project folder, when kept

    @property
    def first(self) -> Drift | None:
        return self.drifts[0] if self.drifts else None


def _script(run_dir: Path, records: list[JournalRecord], led: Ledger) -> dict[str, Any]:
    """The recorded model turns as a script for the scripted runtime, sub-agents included."""
    turns = [
        {"content": r["data"]["content"], "stop_reason": r["data"].get("stop_reason")}
        for r in records
        if r["kind"] == "model_turn"
    ]
    subagents = []
    for s in led.steps:
        if s.tool != "Task":
            continue
        child = run_dir / f"{TASK_PREFIX}{s.n}"
        if (child / JOURNAL_NAME).exists():
            crec = list(iter_effective(child / JOURNAL_NAME))
            subagents.append(_script(child, crec, Ledger.from_records(crec)))
        else:
            subagents.append({"turns": [{"content": [{"type": "text", "text": "(no recorded sub-agent)"}]}]})
    out: dict[str, Any] = {"turns": [{"content": t["content"]} for t in turns] or [{"content": []}]}
    if subagents:
        out["subagents"] = subagents
    return out


def _decisions(run_dir: Path, prefix: str, led: Ledger, out: dict[tuple[str, int], StepRecord]) -> None:
    """Every recorded step, by (sub-agent path, step number), to make its decision again."""
    for s in led.steps:
        out[(prefix, s.n)] = s
        if s.tool == "Task":
            child = run_dir / f"{TASK_PREFIX}{s.n}"
            if (child / JOURNAL_NAME).exists():
                cled = Ledger.from_records(iter_effective(child / JOURNAL_NAME))
                _decisions(child, f"{prefix}/{TASK_PREFIX}{s.n}" if prefix else f"{TASK_PREFIX}{s.n}", cled, out)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", json.dumps(b, sort_keys=True)) if isinstance(b, dict) else str(b) for b in content)


def _preview(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= PREVIEW else one[: PREVIEW - 1] + "…"


def replay(ws: Workspace, run_id: str, *, keep: bool = False) -> ReplayReport:
    """Replay run `run_id` on a copy of its starting files; the report lists every step whose
    result (or outcome) differs from the recording, first one first."""
    return asyncio.run(areplay(ws, run_id, keep=keep))


async def areplay(ws: Workspace, run_id: str, *, keep: bool = False) -> ReplayReport:
    """`replay`, on the caller's event loop."""
    from llmos_tui.core.checkpoints import CheckpointError
    from llmos_tui.core.control import new_command
    from llmos_tui.core.engine.checkpointing import store_for
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import RunRequest, load_parts, start_run

    path = ws.journal_path(run_id)
    records = list(iter_effective(path))
    led = Ledger.from_records(records, str(path))
    if led.runtime in ("claude-code", "external"):
        raise BadInput(f"run {run_id} ran in Claude Code: its turns cannot be replayed through the scripted path")
    if led.mode != "execute":
        raise BadInput(
            f"run {run_id} was simulated: nothing was executed to compare (`replay --recorded` plays it back)"
        )
    if not led.steps:
        raise BadInput(f"run {run_id} has no steps to replay")
    if led.start_checkpoint is None:
        raise BadInput(f"run {run_id} has no checkpoint of its starting files (it was recorded with checkpoints off)")
    config, _ = load_parts(ws)
    report = ReplayReport(run_id, recorded_status=led.status)
    tmp = Path(tempfile.mkdtemp(prefix="llmos-replay-"))
    project = tmp / "project"
    root = project / "workspace"
    try:
        try:
            store_for(ws, config).materialize(led.start_checkpoint, root)
        except CheckpointError as exc:
            raise BadInput(f"the starting files of run {run_id} could not be copied: {exc}") from None
        shutil.copytree(ws.system, project / "system", symlinks=True)
        script = tmp / "script.json"  # (JSON is YAML: the scripted runtime reads it as a script)
        script.write_text(json.dumps(_script(ws.run_dir(run_id), records, led), ensure_ascii=False), encoding="utf-8")
        recorded: dict[tuple[str, int], StepRecord] = {}
        _decisions(ws.run_dir(run_id), "", led, recorded)
        first = records[0]["data"]
        replay_ws = Workspace(root=root, system=project / "system")
        runner = start_run(
            replay_ws,
            RunRequest(
                goal=led.goal,
                runtime="scripted",
                script=script,
                mode="execute",
                approval="ask",
                max_cost_usd=None,
                variables=first.get("variables") or {},
            ),
            RunOptions(poll_interval=0.01),
        )
        top = runner.run_id
        replayed: dict[tuple[str, int], StepRecord] = {}

        def decide(rec: JournalRecord, ledger: Ledger) -> None:
            if rec["kind"] != "step_status" or rec.get("to") not in ("awaiting_approval", "uncertain"):
                return
            prefix = ledger.run_id[len(top) + 1 :] if ledger.run_id != top else ""
            n = rec["step"]
            orig = recorded.get((prefix, n))
            now = ledger.steps[n - 1]
            if orig is None or not orig.settled:  # the recording ends here
                runner.submit(new_command("cancel", feedback="the recording ends before this step settled"))
                return
            decision = orig.human.get("decision")
            if orig.status == "denied":
                runner.submit(new_command("deny", step=n, feedback=orig.human.get("feedback") or ""))
            elif orig.status == "skipped":
                runner.submit(new_command("skip", step=n, feedback=orig.human.get("feedback")))
            else:
                inputs = orig.inputs if orig.inputs != now.inputs else None
                runner.submit(new_command("approve", step=n, inputs=inputs))
            del decision

        def collect(rec: JournalRecord, ledger: Ledger) -> None:
            if rec["kind"] == "step_status" and rec.get("step"):
                prefix = ledger.run_id[len(top) + 1 :] if ledger.run_id != top else ""
                replayed[(prefix, rec["step"])] = ledger.steps[rec["step"] - 1]

        runner.add_listener(decide)
        runner.add_listener(collect)
        report.status = await runner.drive()
        src, dst = str(ws.root), str(root)
        for key in sorted(recorded, key=lambda k: (k[0].count("/"), k[0], k[1])):
            orig = recorded[key]
            if not orig.settled or orig.status == "awaiting_approval":
                continue
            report.steps += 1
            now = replayed.get(key)
            label = f"{key[0]}:{key[1]}" if key[0] else str(key[1])
            if now is None:
                report.drifts.append(
                    Drift(
                        label,
                        orig.tool,
                        short_inputs(orig.tool, orig.inputs),
                        _preview(_text(orig.content)),
                        "(never reached)",
                    )
                )
                continue
            a, b = _text(orig.content), _text(now.content).replace(dst, src)
            if orig.status != now.status or a != b:
                report.drifts.append(
                    Drift(
                        label,
                        orig.tool,
                        short_inputs(orig.tool, orig.inputs),
                        f"{orig.status}: {_preview(a)}",
                        f"{now.status}: {_preview(b)}",
                    )
                )
        report.drifts.sort(key=lambda d: _order(d.step))
        if any(s.tool == "WebFetch" for s in led.steps):
            report.notes.append("WebFetch results depend on the network and a model: a drift there may be the web's")
        if keep:
            report.kept = project
        return report
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _order(label: str) -> tuple[int, ...]:
    """Steps in the order they ran: a sub-agent's steps just after the Task step that ran them."""
    out: list[int] = []
    for part in label.split("/"):
        if part.startswith(TASK_PREFIX):
            out.append(int(part[len(TASK_PREFIX) :].split(":")[0]))
        if ":" in part:
            out.append(int(part.split(":")[1]))
        elif part.isdigit():
            out.append(int(part))
    return tuple(out)


# ---------------------------------------------------------------- playback (--recorded)


class Playback:
    """A recorded run played back into a scratch workspace at a chosen speed, record by record,
    as its driver wrote them — rewinds included — for a TUI watching that workspace. Touches
    nothing of the original: its journal is read, its system/ copied."""

    MAX_GAP = 2.0  # seconds of screen time a long wait in the recording (a person thinking) takes at most

    def __init__(self, ws: Workspace, run_id: str, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise BadInput("--speed must be above 0")
        self.source = ws.journal_path(run_id)
        self.records = list(_raw_records(self.source))
        self.run_id = run_id.replace("/", "-")
        self.speed = speed
        self.tmp = Path(tempfile.mkdtemp(prefix="llmos-playback-"))
        self.project = self.tmp / "project"
        (self.project / "workspace" / "runs" / self.run_id).mkdir(parents=True)
        shutil.copytree(ws.system, self.project / "system", symlinks=True)
        self.workspace = Workspace(root=self.project / "workspace", system=self.project / "system")
        self.done = False
        self.stop = False

    def play(self) -> None:
        """Write the records out with the recording's pace (run it on a thread)."""
        import time

        from llmos_tui.core.lock import WorkspaceLock
        from llmos_tui.core.state import StateFile
        from llmos_tui.core.text import parse_iso

        journal = self.workspace.journal_path(self.run_id)
        state = StateFile(self.workspace.state_path)
        led = Ledger()
        lock = WorkspaceLock(self.workspace.root)
        lock.acquire(self.run_id)  # a watcher sees the run as driven (by the playback)
        last_at = None
        try:
            with open(journal, "a", encoding="utf-8") as fh:
                for rec in self.records:
                    if self.stop:
                        return
                    at = parse_iso(rec.get("at", ""))
                    if at is not None and last_at is not None:
                        gap = max(0.0, (at - last_at).total_seconds()) / self.speed
                        time.sleep(min(gap, self.MAX_GAP))
                    last_at = at or last_at
                    rec = (
                        {**rec, "data": {**rec["data"], "run_id": self.run_id}} if rec["kind"] == "run_started" else rec
                    )
                    fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                    fh.flush()
                    if rec["kind"] == "rewound":
                        led = Ledger.from_records(iter_effective(journal))
                    else:
                        led.apply(rec)
                    state.save(led.snapshot())
        finally:
            lock.release()
            self.done = True

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _raw_records(path: Path) -> list[JournalRecord]:
    from llmos_tui.core.journal import iter_records

    return list(iter_records(path))
