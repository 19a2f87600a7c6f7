"""Issue 11, findings 7, 8 and 9: every input file is untrusted. Each finding is reproduced as
the issue reports it, then the fixed behaviour is asserted: one line naming the file (exit 2 on
the command line), never a traceback, never a dead driver, never a silent drop."""

from __future__ import annotations

import asyncio
import json
import subprocess
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
