"""Issue 11, findings 7, 8 and 9: every input file is untrusted. Each finding is reproduced as
the issue reports it, then the fixed behaviour is asserted: one line naming the file (exit 2 on
the command line), never a traceback, never a dead driver, never a silent drop."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.core.control import new_command
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.journal import read_records
from llmos_tui.core.state import StateFile
from llmos_tui.core.workspace import Workspace

from conftest import cli, resume_runner, start_runner
from test_runner import WRITE_THEN_DONE, awaiting, until

# A 1.9 KB "billion laughs": nine levels of nine aliases, 9^9 strings once expanded.
LAUGHS = (
    'variables:\n  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    + "  pad: '"
    + "x" * 1400
    + "'\n"
)


def journal(ws: Workspace, run_id: str) -> list[dict]:
    return read_records(ws.journal_path(run_id))


def notes(ws: Workspace, run_id: str) -> list[str]:
    return [r["data"]["message"] for r in journal(ws, run_id) if r["kind"] == "note"]


def one_line_error(proc: subprocess.CompletedProcess, *, rc: int = 2) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ---------------------------------------------------------------- finding 7: edits of the state file


def _text_edit(old: bytes, new: bytes):
    def edit(path: Path) -> None:
        data = path.read_bytes()
        assert old in data, (old, data[:400])
        path.write_bytes(data.replace(old, new, 1))

    return edit


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


BAD_EDITS = {
    "turns-x": _text_edit(b"\nturns: ", b"\nturns: x #"),
    "steps_total-list": _text_edit(b"\nsteps_total: ", b"\nsteps_total: [1] #"),
    "invalid-utf8": _text_edit(b"\nmode: execute", b"\nmode: ex\xe9cute"),
    "folder": _folder,
    "dev-zero-symlink": _dev_zero,
    "billion-laughs": _text_edit(b"variables: {}\n", LAUGHS.encode()),
}


def _restore(path: Path, original: bytes) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        path.rmdir()
    path.write_bytes(original)


@pytest.mark.parametrize("edit", list(BAD_EDITS), ids=list(BAD_EDITS))
async def test_a_bad_edit_of_the_state_file_pauses_a_live_driver_and_says_why(ws, edit):
    """Reported: the driver ended with ValueError/TypeError/UnicodeDecodeError (or MemoryError,
    or a 469 MB journal). Now: it pauses, says why (error, note), leaves the file alone, and
    goes on once the file is put right."""
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    original = ws.state_path.read_bytes()
    BAD_EDITS[edit](ws.state_path)
    broken = ws.state_path.read_bytes() if ws.state_path.is_file() and not ws.state_path.is_symlink() else None
    await until(lambda: r.ledger.status == "paused")
    assert not task.done()  # the driver lives
    err = r.ledger.error
    assert err["type"] == "state_file" and "execution_state.md" in err["message"]
    assert "\n" not in err["message"]
    assert any("execution_state.md" in n and "does not parse" in n for n in notes(ws, r.run_id))
    await asyncio.sleep(0.15)  # the driver keeps polling: the file stays as the person left it
    if broken is not None:
        assert ws.state_path.read_bytes() == broken
    assert ws.journal_path(r.run_id).stat().st_size < 200_000
    # the person puts the file right, then resumes and approves: the run completes
    _restore(ws.state_path, original)
    r.submit(new_command("resume"))
    await until(awaiting(r, 2))
    r.submit(new_command("approve", step=2))
    assert await asyncio.wait_for(task, 10) == "completed"
    assert (ws.root / "hello.txt").read_text() == "hi\n"


async def test_a_resume_run_is_refused_while_the_state_file_is_broken(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    BAD_EDITS["turns-x"](ws.state_path)
    await until(lambda: r.ledger.status == "paused")
    r.submit(new_command("resume"))
    await until(lambda: any(rec["kind"] == "command" for rec in journal(ws, r.run_id)))
    (refused,) = [rec for rec in journal(ws, r.run_id) if rec["kind"] == "command"]
    assert refused["data"]["applied"] is False and "turns must be a whole number" in refused["data"]["reason"]
    r.submit(new_command("cancel"))
    assert await asyncio.wait_for(task, 10) == "cancelled"
    # the run's final copy is a state that parses, not the broken edit
    StateFile(r.run_dir / "execution_state.md").load()


def test_the_billion_laughs_is_refused_by_the_parser_itself(tmp_path):
    text = "---\nllmos_state: 1\nrun_id: r\ngoal: g\nstatus: paused\n" + LAUGHS + "---\n"  # 1.9 KB of YAML
    assert 1800 < len(LAUGHS) < 2000
    with pytest.raises(FileFormatError, match="anchors and aliases"):
        from llmos_tui.core.state import parse

        parse(text, "execution_state.md")


@pytest.mark.parametrize("edit", ["turns-x", "steps_total-list", "invalid-utf8", "folder", "dev-zero-symlink"])
def test_run_resume_and_runs_give_one_line_on_a_broken_state_file(project, edit):
    """Reported: `resume`, `run` and `runs` traceback (or reach MemoryError)."""
    (project / "s.yaml").write_text(WRITE_THEN_DONE)
    r = cli("run", "--headless", "--no-wait", "--script", "s.yaml", "--approve", "side-effects", "g", cwd=project)
    assert r.returncode == 3, r.stderr
    state = project / "workspace" / "execution_state.md"
    BAD_EDITS[edit](state)
    before = state.read_bytes() if state.is_file() and not state.is_symlink() else None
    line = one_line_error(cli("resume", "--headless", cwd=project))
    assert "execution_state.md" in line
    line = one_line_error(cli("run", "--headless", "--script", "s.yaml", "--approve", "never", "again", cwd=project))
    assert "execution_state.md" in line
    runs = cli("runs", cwd=project)
    assert runs.returncode == 0 and "Traceback" not in runs.stderr, runs.stderr
    assert "awaiting_approval" in runs.stdout  # from the journal, since the live file is broken
    if before is not None:
        assert state.read_bytes() == before  # never overwritten


async def test_status_cancelled_written_while_paused_cancels_the_run(ws):
    """Reported: ignored without a word (no driver: `resume` went on as if nothing was written)."""
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects", no_wait=True)
    assert await r.drive() == "waiting"
    from llmos_tui.core.control import ControlChannel

    ControlChannel(ws.control_path(r.run_id)).append(new_command("pause"))
    again = resume_runner(ws, r.run_id, WRITE_THEN_DONE, no_wait=True)
    assert await again.drive() == "paused"
    _text_edit(b"\nstatus: paused", b"\nstatus: cancelled")(ws.state_path)
    last = resume_runner(ws, r.run_id, WRITE_THEN_DONE, no_wait=True)
    assert await last.drive() == "cancelled"
    statuses = [rec for rec in journal(ws, r.run_id) if rec["kind"] == "run_status"]
    assert statuses[-1]["to"] == "cancelled"
    assert statuses[-1]["data"]["reason"] == "cancelled through execution_state.md"
    assert not (ws.root / "hello.txt").exists()


async def test_status_cancelled_written_while_a_live_driver_is_paused(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    r.submit(new_command("pause"))
    await until(lambda: r.ledger.status == "paused")
    await asyncio.sleep(0.1)
    _text_edit(b"\nstatus: paused", b"\nstatus: cancelled")(ws.state_path)
    assert await asyncio.wait_for(task, 10) == "cancelled"


async def test_an_invalid_edit_of_the_waiting_step_is_refused_with_a_note_and_an_error(ws):
    """Reported: ignored without a word. Now: a note, the run paused with the reason as its
    error, the file left for the person to fix; fixed, the edit is taken up."""
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    _text_edit(b"    content: |\n      hi\n", b"    contents: oops\n")(ws.state_path)
    broken = ws.state_path.read_bytes()
    await until(lambda: r.ledger.status == "paused")
    assert r.ledger.error["type"] == "state_file"
    assert "step 2" in r.ledger.error["message"] and "content" in r.ledger.error["message"]
    assert any("edit of step 2" in n for n in notes(ws, r.run_id))
    await asyncio.sleep(0.1)
    assert ws.state_path.read_bytes() == broken
    # the person fixes the edit: it is taken up; then resume and approve
    _text_edit(b"    contents: oops\n", b"    content: fixed\n")(ws.state_path)
    await until(lambda: r.ledger.steps[1].inputs.get("content") == "fixed")
    assert r.ledger.status == "paused"  # fixing the file is not a resume
    r.submit(new_command("resume"))
    await until(awaiting(r, 2))
    r.submit(new_command("approve", step=2))
    assert await asyncio.wait_for(task, 10) == "completed"
    assert (ws.root / "hello.txt").read_text() == "fixed"
    edited = [rec for rec in journal(ws, r.run_id) if rec["kind"] == "step_edited"]
    assert edited[0]["data"]["by"] == "state_file"


async def test_dates_in_a_variables_edit_are_journaled_as_text(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    _text_edit(b"variables: {}\n", b"variables:\n  due: 2026-12-24\n")(ws.state_path)
    await until(lambda: r.ledger.variables.get("due") == "2026-12-24")
    r.submit(new_command("approve", step=2))
    assert await asyncio.wait_for(task, 10) == "completed"


# ---------------------------------------------------------------- finding 8: other inputs


def _scripted_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    (project / "s.yaml").write_text(WRITE_THEN_DONE)
    return cli("run", "--headless", "--script", "s.yaml", "--approve", "never", *args, "write hello", cwd=project)


def test_an_empty_journal_is_reported_not_shown_as_planning(project):
    """Reported: `status` printed `run : planning` (exit 0) and `resume` raised IndexError."""
    run_dir = project / "workspace" / "runs" / "20261207-161912-3a70"
    run_dir.mkdir(parents=True)
    (run_dir / "journal.jsonl").write_bytes(b"")
    line = one_line_error(cli("status", cwd=project))
    assert "journal.jsonl" in line and "journal is empty" in line
    line = one_line_error(cli("resume", "--headless", cwd=project))
    assert "journal is empty" in line
    runs = cli("runs", cwd=project)
    assert runs.returncode == 0 and "unreadable" in runs.stdout and "journal is empty" in runs.stdout


def test_a_duplicate_seq_with_other_content_is_journal_damage(project):
    """Reported: accepted. Now: refused, with its line."""
    assert _scripted_run(project).returncode == 0
    (journal_path,) = (project / "workspace" / "runs").glob("*/journal.jsonl")
    lines = journal_path.read_bytes().splitlines(keepends=True)
    dup = json.loads(lines[3])
    dup["data"] = {"message": "a record written twice with other content"}
    dup["kind"] = "note"
    lines.insert(4, (json.dumps(dup) + "\n").encode())
    journal_path.write_bytes(b"".join(lines))
    line = one_line_error(cli("status", cwd=project))
    assert f"journal.jsonl:5: journal damaged: this record repeats seq {dup['seq']}" in line
    # out of order is damage too
    lines.pop(4)
    lines[2], lines[3] = lines[3], lines[2]
    journal_path.write_bytes(b"".join(lines))
    assert "journal.jsonl:3: journal damaged: this record skips from seq 2 to 4" in one_line_error(
        cli("status", cwd=project)
    )


def _damage(path: Path, how: str) -> None:
    if how == "invalid-utf8":
        data = path.read_bytes() if path.exists() else b"# memory\n"
        path.write_bytes(data + b"\nthis line is caf\xe9\n")
    elif how == "folder":
        if path.exists():
            path.unlink()
        path.mkdir()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["invalid-utf8", "folder"])
@pytest.mark.parametrize("name", ["SystemAgent.md", "ClaudeCodeToolMap.md"])
def test_a_bad_system_file_stops_run_with_one_line(project, name, how):
    """Reported: a traceback (UnicodeDecodeError, IsADirectoryError)."""
    _damage(project / "system" / name, how)
    line = one_line_error(_scripted_run(project))
    assert f"system/{name}" in line
    assert ("not UTF-8" in line and ":" in line.split(name)[1][:4]) if how == "invalid-utf8" else "folder" in line
    line = one_line_error(cli("tools", cwd=project)) if name == "ClaudeCodeToolMap.md" else line
    assert name in line


@pytest.mark.parametrize("how", ["invalid-utf8", "folder"])
def test_a_bad_training_data_collector_is_one_line(project, how):
    _damage(project / "system" / "TrainingDataCollector.md", how)
    line = one_line_error(cli("export", "--all", cwd=project))
    assert "TrainingDataCollector.md" in line
    r = _scripted_run(project)  # the run refuses it or goes on; never a traceback
    assert "Traceback" not in r.stderr and r.returncode in (0, 2), r.stderr


@pytest.mark.parametrize("how", ["invalid-utf8", "folder"])
def test_a_bad_memory_log_is_noted_and_the_run_goes_on(project, how):
    _damage(project / "system" / "memory_log.md", how)
    r = _scripted_run(project)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    ws = Workspace.locate(project)
    said = notes(ws, ws.latest_run_id())
    assert any(n.startswith("SmartMemory not used:") and "memory_log.md" in n for n in said), said
    if how == "folder":
        assert any(n.startswith("SmartMemory not updated:") for n in said), said


def _theme(folder: Path, name: str, **changes: object) -> None:
    import yaml

    data = {"name": name, "dark": True, "primary": "#5fafff", "background": "#121212", **changes}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))


def test_bad_themes_are_skipped_with_a_notice_naming_file_and_problem(tmp_path):
    """Reported: `primary: "#zzzzzz"` or `dark: maybe` crashed the TUI inside Textual; invalid
    UTF-8 or a folder as a theme: a traceback."""
    from llmos_tui.tui.themes import load_themes

    _theme(tmp_path, "good")
    _theme(tmp_path, "bad-colour", primary="#zzzzzz")
    _theme(tmp_path, "bad-dark", dark="maybe")
    _theme(tmp_path, "bad-variables", variables={"footer-key-foreground": 3})
    (tmp_path / "bad-bytes.yaml").write_bytes(b"name: x\nprimary: '#fff\xe9'\n")
    (tmp_path / "a-folder.yaml").mkdir()
    problems: list[str] = []
    themes = load_themes(tmp_path, problems)
    assert [t.name for t in themes] == ["good"]
    assert len(problems) == 5, problems
    by_file = {p.split(":")[0].rsplit("/", 1)[-1]: p for p in problems}
    assert "#zzzzzz" in by_file["bad-colour.yaml"] and "primary" in by_file["bad-colour.yaml"]
    assert "dark" in by_file["bad-dark.yaml"] and "maybe" in by_file["bad-dark.yaml"]
    assert "not UTF-8" in by_file["bad-bytes.yaml"] and "folder" in by_file["a-folder.yaml"]


async def test_the_tui_opens_with_a_broken_default_theme_and_says_so(project, tmp_path, monkeypatch):
    from llmos_tui.tui import themes as themes_module
    from llmos_tui.tui.app import AppSettings, LlmosApp

    folder = tmp_path / "themes"
    folder.mkdir()
    _theme(folder, "llmos-dark", primary="#zzzzzz")
    _theme(folder, "llmos-light", dark="maybe")
    monkeypatch.setattr(themes_module, "themes_dir", lambda: folder)
    app = LlmosApp(AppSettings(workspace=project, clock=False, watch_files=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        shown = " | ".join(n.message for n in app._notifications)
        assert "llmos-dark.yaml" in shown and "#zzzzzz" in shown and "llmos-light.yaml" in shown, shown


def test_a_bom_at_the_start_of_a_file_is_accepted(project):
    """Reported: refused as "no front matter"."""
    for name in ("SystemAgent.md", "TrainingDataCollector.md"):
        path = project / "system" / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert _scripted_run(project).returncode == 0
    state = project / "workspace" / "execution_state.md"
    state.write_bytes(b"\xef\xbb\xbf" + state.read_bytes().replace(b"\n", b"\r\n"))
    assert StateFile(state).load().status == "completed"
    assert cli("export", "--all", "-o", "-", cwd=project).returncode == 0


def test_init_into_a_closed_pipe_exits_quietly(tmp_path):
    """Reported: `init | head` ended in BrokenPipeError."""
    r = subprocess.run(
        f"{sys.executable} -m llmos_tui init {tmp_path / 'p'} | true", shell=True, capture_output=True, text=True
    )
    assert r.stderr == "", r.stderr
    assert (tmp_path / "p" / "system" / "SystemAgent.md").exists()
    r = subprocess.run(f"{sys.executable} -m llmos_tui --help | head -1", shell=True, capture_output=True, text=True)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


def _default(name: str) -> bytes:
    from llmos_tui.core.scaffold import defaults_dir

    return (defaults_dir() / name).read_bytes()


@pytest.mark.parametrize("cut", ["empty", "half"])
def test_a_second_init_repairs_a_default_cut_by_a_killed_init(tmp_path, cut):
    """Reported: `init` killed mid-write left an empty or cut SystemAgent.md that a second
    `init` reported as "kept"."""
    project = tmp_path / "p"
    assert cli("init", str(project), cwd=tmp_path).returncode == 0
    target = project / "system" / "SystemAgent.md"
    default = _default("SystemAgent.md")
    # what an init killed mid-write (before it wrote atomically) left: a prefix, and no record
    target.write_bytes(b"" if cut == "empty" else default[: len(default) // 2])
    (project / "system" / ".llmos-init.json").unlink()
    (project / "system" / ".SystemAgent.md.k1ll3d.tmp").write_bytes(default[:100])
    r = cli("init", str(project), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "repaired" in r.stdout and "system/SystemAgent.md" in r.stdout, r.stdout
    assert target.read_bytes() == default
    assert not list((project / "system").glob(".*.tmp"))
    assert _scripted_run(project).returncode == 0


def test_init_never_touches_a_file_a_person_changed(tmp_path):
    project = tmp_path / "p"
    assert cli("init", str(project), cwd=tmp_path).returncode == 0
    target = project / "system" / "SystemAgent.md"
    default = _default("SystemAgent.md")
    mine = default[: len(default) // 2]  # a person's cut, after init recorded what it wrote
    target.write_bytes(mine)
    tool_map = project / "system" / "ClaudeCodeToolMap.md"
    tool_map.write_bytes(b"")
    r = cli("init", str(project), cwd=tmp_path)
    assert r.returncode == 0 and "repaired" not in r.stdout, r.stdout
    assert target.read_bytes() == mine and tool_map.read_bytes() == b""


def test_init_writes_each_file_atomically(tmp_path, monkeypatch):
    """A kill between files leaves whole files (and a manifest of them), never a cut one."""
    from llmos_tui.core import scaffold

    written: list[str] = []
    real = scaffold.atomic_write

    def dying_write(path, data, **kw):
        if len(written) == 2:
            raise KeyboardInterrupt  # the kill
        real(path, data, **kw)
        written.append(Path(path).name)

    monkeypatch.setattr(scaffold, "atomic_write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        scaffold.init_project(tmp_path)
    for path in (tmp_path / "system").iterdir():
        if path.name in ("SystemAgent.md", "ClaudeCodeToolMap.md", "TrainingDataCollector.md", "memory_log.md"):
            assert path.read_bytes() == _default(path.name)
    monkeypatch.undo()
    report = dict(scaffold.init_project(tmp_path))
    assert report["system/SystemAgent.md"] == "kept" and report["system/TrainingDataCollector.md"] == "created"


def test_export_cleans_temp_files_killed_exports_left(project):
    """Reported: killed exports left hidden .tmp files of 3-30 MB in the export folder."""
    assert _scripted_run(project).returncode == 0
    exports = project / "workspace" / "exports"
    exports.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = exports / f".anthropic-20261207-161912.jsonl.{dead.stdout.strip()}.tmp"
    stale.write_bytes(b"x" * 3_000_000)
    live = exports / f".anthropic-20261207-161913.jsonl.{os.getpid()}.tmp"  # an export still going
    live.write_bytes(b"x")
    mine = exports / ".notes.tmp"  # not an export's temp file
    mine.write_bytes(b"x")
    r = cli("export", "--all", cwd=project)
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and live.exists() and mine.exists()


# ---------------------------------------------------------------- finding 9: LLMunix projects as they are
# Shapes taken from LLMunix's own repository (github.com/EvolvingAgentsLabs/llmunix): its
# system/SystemAgent.md (no front matter), its two tool map layouts (system/ClaudeCodeToolMap.md:
# yaml blocks without `description`/`approval`; system/tools/ClaudeCodeToolMap.md: headings and
# bullets only), its current system/memory_log.md (a header and a lone `---`, no newline) and its
# ExecutionStateTemplate.md status words. Trimmed, not rewritten.

LLMUNIX_SYSTEM_AGENT = """\
You are **SystemAgent**, the master orchestrator of LLM-OS (Autonomous Generative Intelligence - Operating System). You operate as a state machine that executes real tasks using Claude Code's native tools while maintaining document-centric agent framework principles. Your goal is to achieve high-level user objectives through intelligent planning and real tool execution.

## Operating Modes

**EXECUTION MODE** (Default): Use real Claude Code tools for actual operations
**SIMULATION MODE**: Generate training data through simulated tool execution
"""

LLMUNIX_TOOLMAP_YAML = """\
# Claude Code Tool Mapping

This file defines how LLM-OS framework components map to Claude Code's native tools and their real-world characteristics.

## Tool Mappings

### FileWriterTool → Write
```yaml
framework_tool: tool_file_writer_v1
claude_tool: Write
parameters:
  file_path: file_path
  content: content
cost: none
latency: low (<100ms)
side_effects: "Creates/overwrites files in workspace"
error_modes: ["permission_denied", "disk_full", "invalid_path"]
capabilities: ["text_files", "json", "csv", "markdown"]
limitations: ["workspace_only", "text_only"]
```

### FileReaderTool → Read
```yaml
framework_tool: tool_file_reader_v1
claude_tool: Read
parameters:
  file_path: file_path
cost: none
latency: low (<100ms)
side_effects: none
error_modes: ["file_not_found", "permission_denied", "too_large"]
capabilities: ["text_files", "images", "structured_data"]
limitations: ["size_limits", "binary_limited"]
```

### HumanInTheLoopTool → Interactive Input
```yaml
framework_tool: tool_human_v1
claude_tool: console_interaction
parameters:
  question: question
  context: context
cost: high (human time)
latency: very_high (minutes-hours)
side_effects: "Pauses execution, requires human presence"
error_modes: ["no_response", "ambiguous_input", "unavailable"]
```
"""

LLMUNIX_TOOLMAP_HEADINGS = """\
---
component_type: tool
tool_name: claude-code-tool-map
version: "1.0"
status: production
category: infrastructure
mode: [EXECUTION]
description: Defines mappings between LLMunix framework components and Claude Code native tools
---

# Claude Code Tool Mapping

## Tool Mappings

### WebFetcherTool → WebFetch
- Framework tool for web fetching
- Low cost ($0.001-0.01 per call)
- Potential error modes like timeout and rate limiting

### FileWriterTool → Write
- Used for writing files in workspace
- No direct cost
- Low latency (under 100ms)
- Potential errors like permission denied or disk full

### SearchTool → Grep/Glob
- Performs regex and content searches
- No direct cost
- Low latency (under 1 second)

### HumanInTheLoopTool → Interactive Input
- Allows human intervention
- High cost (human time)

### QuantumComputingTool → Bash + Write + Read
- Specialized quantum computing environment management

## Cost Model
- Token cost estimates range from 50-50,000 tokens per operation
"""

LLMUNIX_MEMORY_LOG = (
    b"# Smart Memory - Structured Experience Log\n\nThis file is a structured, queryable knowledge base of all "
    b"task executions. Each experience is a discrete, self-contained block with YAML frontmatter for "
    b"structured data and markdown for qualitative insights.\n\n---"
)


def test_an_llmunix_system_agent_without_front_matter_runs_with_defaults_and_says_so(project):
    """Reported: refused ("expected YAML front matter")."""
    (project / "system" / "SystemAgent.md").write_text(LLMUNIX_SYSTEM_AGENT)
    r = _scripted_run(project)
    assert r.returncode == 0, r.stderr
    assert "llmos-tui: note:" in r.stderr and "has no front matter" in r.stderr  # said at the start
    ws = Workspace.locate(project)
    run_id = ws.latest_run_id()
    said = notes(ws, run_id)
    assert any("has no front matter" in n and "default settings" in n for n in said), said
    trace = json.loads((ws.run_dir(run_id) / "trace.json").read_text())
    assert trace["system"].startswith("You are **SystemAgent**, the master orchestrator of LLM-OS")


@pytest.mark.parametrize("layout", ["yaml-blocks", "headings"])
def test_an_llmunix_tool_map_is_read_and_says_how(project, layout):
    """Reported: refused (missing keys; no yaml blocks)."""
    text = LLMUNIX_TOOLMAP_YAML if layout == "yaml-blocks" else LLMUNIX_TOOLMAP_HEADINGS
    (project / "system" / "ClaudeCodeToolMap.md").write_text(text)
    from llmos_tui.core.toolmap import load_toolmap

    said: list[str] = []
    specs = load_toolmap(project / "system" / "ClaudeCodeToolMap.md", said)
    expected = (
        ["Write", "Read", "console_interaction"]
        if layout == "yaml-blocks"
        else ["WebFetch", "Write", "Grep", "Glob", "Bash", "Read"]
    )
    assert list(specs) == expected
    write, read = specs["Write"], specs["Read"]
    assert (write.side_effects, write.approval, read.side_effects, read.approval) == (
        "filesystem",
        "ask",
        "none",
        "auto",
    )
    assert write.cost == "free" and write.latency == "fast"
    if layout == "yaml-blocks":
        assert specs["console_interaction"].approval == "ask" and write.error_modes[0] == "permission_denied"
    else:
        assert specs["WebFetch"].error_modes == ("timeout", "rate limiting") and "'Interactive Input'" in said[0]
    assert "LLMunix's layout" in said[0] and "```yaml block with framework_tool, claude_tool" in said[0]
    r = _scripted_run(project)
    assert r.returncode == 0, r.stderr
    ws = Workspace.locate(project)
    assert (ws.root / "hello.txt").read_text() == "hi\n"
    assert any("LLMunix's layout" in n for n in notes(ws, ws.latest_run_id()))
    tools = cli("tools", cwd=project)
    assert tools.returncode == 0 and "LLMunix's layout" in tools.stderr and "Write" in tools.stdout


def test_a_tool_map_with_no_tool_says_exactly_what_to_change(project):
    (project / "system" / "ClaudeCodeToolMap.md").write_text("# Tools\n\nWe use Read and Write.\n")
    line = one_line_error(_scripted_run(project))
    assert "ClaudeCodeToolMap.md" in line and "```yaml block with framework_tool, claude_tool, description" in line


def test_llmunix_memory_log_with_a_lone_dash_line_takes_every_run(project):
    """Reported: the first run appended after the lone `---`, and from then on every run dropped
    SmartMemory with only a journal note."""
    log = project / "system" / "memory_log.md"
    log.write_bytes(LLMUNIX_MEMORY_LOG)
    for goal in ("write hello", "write hello again", "and once more"):
        (project / "s.yaml").write_text(WRITE_THEN_DONE)
        r = cli("run", "--headless", "--script", "s.yaml", "--approve", "never", goal, cwd=project)
        assert r.returncode == 0, r.stderr
        ws = Workspace.locate(project)
        said = notes(ws, ws.latest_run_id())
        assert not any("SmartMemory not" in n for n in said), said
    from llmos_tui.core.memory import read_memory

    entries = read_memory(log)
    assert [e["goal"] for e in entries] == ["write hello", "write hello again", "and once more"]
    assert log.read_bytes().startswith(LLMUNIX_MEMORY_LOG)  # repaired by appending, never cut


LLMUNIX_STATE = """\
# Execution State: Summarise example.com

## Metadata
- **execution_id**: exec_20250705_1a2b
- **goal**: Fetch and summarise https://example.com
- **status**: {status}
- **current_step**: 2
- **mode**: EXECUTION

## Execution Plan

### Step 1: Fetch the page
- **component**: tool_web_fetcher_v1
- **status**: {step1}

### Step 2: Summarise
- **status**: {step2}
"""


@pytest.mark.parametrize(
    "word,run_status",
    [
        ("PLANNING", "planning"),
        ("IN_PROGRESS", "running"),
        ("COMPLETED_SUCCESS", "completed"),
        ("COMPLETED_FAILURE", "failed"),
        ("PAUSED", "paused"),
    ],
)
def test_llmunix_run_status_words_map_exactly(word, run_status):
    """Reported: `COMPLETED_FAILURE` showed as `completed`."""
    from llmos_tui.core.legacy_state import parse_legacy, to_run_state

    st = parse_legacy(LLMUNIX_STATE.format(status=word, step1="COMPLETED", step2="FAILED"))
    assert st.status == run_status and to_run_state(st).status == run_status


@pytest.mark.parametrize(
    "word,step_status",
    [("PENDING", "pending"), ("RUNNING", "in_progress"), ("COMPLETED", "completed"), ("FAILED", "failed")],
)
def test_llmunix_step_status_words_map_exactly(word, step_status):
    from llmos_tui.core.legacy_state import parse_legacy

    st = parse_legacy(LLMUNIX_STATE.format(status="IN_PROGRESS", step1=word, step2=word))
    assert [s.status for s in st.steps] == [step_status, step_status]


@pytest.mark.parametrize(
    "word,run_status",
    [
        ("completed with errors", "failed"),
        ("Completed (failure)", "failed"),
        ("finished_with_failures", "failed"),
        ("completed successfully", "completed"),
        ("success_with_recovery", "completed"),
        ("Not completed", None),
    ],
)
def test_an_ending_word_qualified_by_a_failure_is_a_failure(word, run_status):
    from llmos_tui.core.legacy_state import normalise_run_status, normalise_step_status

    assert normalise_run_status(word) == run_status
    if run_status is not None:
        assert normalise_step_status(word) == run_status


def test_the_tuis_edit_dialog_refuses_a_yaml_bomb_at_once():
    """The person's YAML in the edit dialog is an input too: a billion laughs would have become a
    gigabyte control line (and a frozen TUI)."""
    import time

    from llmos_tui.tui.screens.edit_step import EditStep

    dialog = EditStep(2, "Write", {"file_path": "a", "content": "b"}, lambda tool, inputs: None)
    bomb = "file_path: x\n" + LAUGHS.replace("variables:\n", "content:\n")
    started = time.monotonic()
    data, problem = dialog.check(bomb)
    assert data is None and "anchors and aliases" in problem and time.monotonic() - started < 1
    data, problem = dialog.check("file_path: x\ncontent: !!set {a}\n")
    assert data is None and "set is not allowed" in problem
    assert dialog.check("file_path: x\ncontent: 2026-12-24\n") == ({"file_path": "x", "content": "2026-12-24"}, None)


def test_approve_inputs_nested_too_deeply_is_one_line(project):
    (project / "s.yaml").write_text(WRITE_THEN_DONE)
    r = cli("run", "--headless", "--no-wait", "--script", "s.yaml", "--approve", "side-effects", "g", cwd=project)
    assert r.returncode == 3, r.stderr
    line = one_line_error(cli("approve", "--inputs", "[" * 100_000, cwd=project))
    assert "--inputs is nested too deeply" in line


def test_a_memory_log_damaged_by_the_old_append_parses_and_stays_parseable(project):
    """What the first run used to leave in LLMunix's log: its entry appended after the lone
    `---`, so every later run dropped SmartMemory. Such a log now reads, and appends keep it so."""
    from llmos_tui.core.memory import append_experience, read_memory

    log = project / "system" / "memory_log.md"
    old_append = b"\n---\nexperience_id: exp-1\ngoal: write hello\noutcome: completed\n---\nKey learnings: it worked\n"
    log.write_bytes(LLMUNIX_MEMORY_LOG + old_append)
    assert [e["experience_id"] for e in read_memory(log)] == ["exp-1"]
    append_experience(log, {"experience_id": "exp-2", "goal": "again", "outcome": "failed"}, "it broke")
    assert [e["experience_id"] for e in read_memory(log)] == ["exp-1", "exp-2"]
    assert log.read_bytes().startswith(LLMUNIX_MEMORY_LOG + old_append)


def test_a_newer_llmunix_layout_is_read_where_llmunix_keeps_its_files(project):
    """Newer LLMunix keeps its SystemAgent.md in system/agents/ (with its own front matter:
    agent_name, tools, mode …) and its tool map in system/tools/."""
    system = project / "system"
    (system / "SystemAgent.md").unlink()
    (system / "ClaudeCodeToolMap.md").unlink()
    (system / "agents").mkdir()
    (system / "tools").mkdir()
    (system / "agents" / "SystemAgent.md").write_text(
        "---\nagent_name: system-agent\ntype: orchestration\ncategory: core_system\n"
        'tools: [Read, Write, Glob, Grep, Bash, WebFetch, Task]\nversion: "2.0"\n'
        "mode: [EXECUTION, SIMULATION]\nstatus: production\n---\n\n# SystemAgent: Core Orchestrator\n\n"
        "You are the SystemAgent, the central orchestration component of LLMunix.\n"
    )
    (system / "tools" / "ClaudeCodeToolMap.md").write_text(LLMUNIX_TOOLMAP_HEADINGS)
    r = _scripted_run(project)
    assert r.returncode == 0, r.stderr
    assert "system/agents/SystemAgent.md is used" in r.stderr and "LLMunix's layout" in r.stderr
    assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
    tools = cli("tools", cwd=project)
    assert tools.returncode == 0 and "WebFetch" in tools.stdout
