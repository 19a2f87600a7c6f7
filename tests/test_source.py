"""core/source.py: a run as a face sees it — followed from its journal (another process drives it,
or nobody does) or driven here — without the UI library."""

from __future__ import annotations

import asyncio

from test_task import CHILD, TASK, with_subagents

from llmos_tui.core.control import ControlChannel, new_command
from llmos_tui.core.source import DrivenRun, FollowedRun

from conftest import start_runner, text
from test_runner import WRITE_THEN_DONE, awaiting, until


async def test_a_followed_run_follows_its_running_sub_agent_and_decides_its_step(ws):
    runner = start_runner(ws, with_subagents([[TASK], [text("done")]], CHILD), approval="side-effects")
    drive = asyncio.create_task(runner.drive())
    child_id = f"{runner.run_id}/task-1"
    await until(awaiting(runner, 1))  # the Task itself waits first (it starts an agent)
    runner.submit(new_command("approve", step=1))
    await until(lambda: runner.active is not runner and runner.active.ledger.status == "awaiting_approval")

    source = await asyncio.to_thread(FollowedRun.open, ws, runner.run_id)
    # the decision is the sub-agent's: it is what a person sees
    assert source.top.run_id == runner.run_id
    assert source.ledger.run_id == child_id and source.ledger.current_step.tool == "Write"
    # this process holds the lock for the run: it is driven, and says by whom
    assert source.driven and "driven by pid" in source.describe_driver()
    assert source.validate("Write", {"file_path": "x"}) == "'content' is a required property"

    seen = []
    source.add_listener(lambda rec, led: seen.append((led.run_id, rec["kind"])))
    cmd = source.send("approve", step=1)
    assert cmd is not None
    assert [c.id for c, _ in ControlChannel(ws.control_path(runner.run_id)).read_from(0)][-1] == cmd.id
    assert await asyncio.wait_for(drive, 10) == "completed"
    source.poll()
    # the sub-agent's records came through with its own ledger, then the chain dropped it
    assert (child_id, "command") in seen and (runner.run_id, "run_status") in seen
    assert source.ledger.run_id == runner.run_id and source.chain == []
    assert (ws.root / "notes.txt").read_text() == "n"


async def test_a_run_no_one_drives_takes_no_command(ws):
    runner = start_runner(ws, WRITE_THEN_DONE, approval="side-effects", no_wait=True)
    assert await runner.drive() == "waiting"  # the driver stopped at the decision and let go
    source = FollowedRun.open(ws, runner.run_id)
    assert not source.has_driver and not source.driven
    assert "with no driver — p takes it over here" in source.describe_driver()
    assert source.send("approve") is None
    assert not ws.control_path(runner.run_id).exists()
    assert source.check_driver() is False  # asked again: the answer has not changed


async def test_a_driven_run_and_a_followed_one_answer_alike(ws):
    runner = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    here = DrivenRun(runner)
    drive = asyncio.create_task(here.drive())
    await until(awaiting(runner, 2))
    there = FollowedRun.open(ws, runner.run_id)
    for source in (here, there):
        assert source.driven and source.run_id == runner.run_id
        assert source.ledger.current_step.n == 2 and source.ledger.status == "awaiting_approval"
    assert here.poll() == []  # records reach a driven run's listeners as they are written
    here.send("approve", step=2)
    assert await asyncio.wait_for(drive, 10) == "completed"
    there.poll()
    assert there.top.status == "completed" and not there.driven


async def test_opening_a_followed_run_folds_its_journal_without_holding_its_records(ws, monkeypatch):
    """Opening a long run folded it from a list of every record it had: a 100,000-call run held
    ~600 MB more than its ledger, which the process never gave back (benchmarks/tui.py: 1,024 MB
    peak, now 245 MB). The fold is the same; nothing else is kept; later polls give what is new."""
    from llmos_tui.core.follow import JournalFollower
    from llmos_tui.core.session import read_ledger

    runner = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    drive = asyncio.create_task(runner.drive())
    await until(awaiting(runner, 2))
    kept: list[int] = []
    real = JournalFollower.read_new

    def spy(self, *, collect: bool = True):
        out = real(self, collect=collect)
        kept.append(len(out))
        return out

    monkeypatch.setattr(JournalFollower, "read_new", spy)
    source = await asyncio.to_thread(FollowedRun.open, ws, runner.run_id)
    assert kept == [0]  # folded, none of it kept
    assert source.top.seq == read_ledger(ws, runner.run_id).seq and source.top.current_step.tool == "Write"
    runner.submit(new_command("approve", step=2))
    assert await asyncio.wait_for(drive, 10) == "completed"
    new = source.poll()
    assert new and new[-1][0]["seq"] == source.top.seq and source.top.status == "completed"
    assert new[0][0]["seq"] > 1  # only what came after the open
