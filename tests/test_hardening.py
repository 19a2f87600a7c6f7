"""Hostile and careless input, each finding reproduced as reported, then the fixed behaviour asserted."""

from __future__ import annotations

import asyncio

import pytest

from llmos_tui.core.control import ControlChannel, new_command
from llmos_tui.core.journal import read_records

from conftest import cli, resume_runner, start_runner
from test_runner import WRITE_THEN_DONE, awaiting, until

# ---------------------------------------------------------------- finding 1: control.jsonl lines


@pytest.mark.parametrize(
    "bad",
    [
        b'{"id":"c-1","action":"deny","step":2,"feedback":"caf\xe9"}\n',
        b"[" * 100_000 + b"\n",
        b'{"id": 3, "action": "approve"}\n',
        b"\xff\xfe not even text\n",
    ],
    ids=["invalid-utf8", "deep-nesting", "wrong-types", "binary"],
)
async def test_a_malformed_control_line_is_reported_and_the_driver_goes_on(ws, bad):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    control = ws.control_path(r.run_id)
    with open(control, "ab") as fh:
        fh.write(bad)
    r.submit(new_command("approve", step=2))
    assert await asyncio.wait_for(task, 10) == "completed"
    assert (ws.root / "hello.txt").read_text() == "hi\n"
    rejected = [
        rec
        for rec in read_records(ws.journal_path(r.run_id))
        if rec["kind"] == "command" and not rec["data"]["applied"]
    ]
    assert len(rejected) == 1 and rejected[0]["data"]["reason"].startswith("control.jsonl line 1:")


async def test_a_bad_control_line_does_not_kill_every_later_resume(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects", no_wait=True)
    assert await r.drive() == "waiting"
    with open(ws.control_path(r.run_id), "ab") as fh:
        fh.write(b'{"id":"c-x","action":"deny","step":2,"feedback":"caf\xe9"}\n')
    for _ in range(2):
        again = resume_runner(ws, r.run_id, WRITE_THEN_DONE, no_wait=True)
        assert await again.drive() == "waiting"


async def test_a_torn_last_line_does_not_swallow_the_next_command(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    with open(ws.control_path(r.run_id), "ab") as fh:
        fh.write(b'{"id":"c-torn","action":"sk')  # a writer killed mid-line: no newline
    ControlChannel(ws.control_path(r.run_id)).append(new_command("approve", step=2))
    assert await asyncio.wait_for(task, 10) == "completed"
    assert (ws.root / "hello.txt").read_text() == "hi\n"


def test_the_cli_approve_after_a_torn_line_is_applied(project):
    ws_dir = project / "workspace"
    script = project / "s.yaml"
    script.write_text(WRITE_THEN_DONE)
    r = cli(
        "run", "--headless", "--no-wait", "--script", str(script), "--approve", "side-effects", "write", cwd=project
    )
    assert r.returncode == 3, r.stderr
    (control,) = [p for p in ws_dir.glob("runs/*/") if not p.name.startswith(".")]
    with open(control / "control.jsonl", "ab") as fh:
        fh.write(b'{"id":"c-torn","act')
    assert cli("approve", cwd=project).returncode == 0
    r = cli("resume", "--headless", cwd=project)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert (ws_dir / "hello.txt").read_text() == "hi\n"
