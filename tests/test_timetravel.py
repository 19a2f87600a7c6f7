"""Time travel: checkpoints before side effects, rewind (and its undo), fork, diff and replay."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmos_tui.cli import main
from llmos_tui.core import timetravel
from llmos_tui.core.control import new_command
from llmos_tui.core.errors import BadInput
from llmos_tui.core.journal import iter_effective, read_records
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.replay import areplay
from llmos_tui.core.session import read_ledger
from llmos_tui.core.workspace import Workspace

from conftest import script_yaml, start_runner, text, tool
from fakeapi import FakeAnthropic, message, tool_use
from fakeapi import text as api_text

RESERVED = {"runs", "execution_state.md", ".llmos-driver.lock"}


def tree(root: Path) -> dict[str, tuple]:
    """Every path under root (bookkeeping left out): its type, permission bits and content."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in RESERVED]
            filenames = [f for f in filenames if f not in RESERVED]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode)
            else:
                out[rel] = ("file", mode, Path(p).read_bytes())
    return out


BASH_WORK = (
    "mkdir -p d/sub && printf 'x' > d/sub/f && chmod 600 d/sub/f && chmod 700 d && mv b.txt c.txt && "
    "rm gone.txt && ln -s a.txt link && ln -s nowhere dangling && mkdir empty && chmod +x run.sh"
)


def seeded(ws: Workspace) -> None:
    (ws.root / "b.txt").write_text("bee\n")
    (ws.root / "gone.txt").write_text("to be deleted\n")
    (ws.root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ws.root / "bin.dat").write_bytes(bytes(range(256)) * 4)
    os.chmod(ws.root / "run.sh", 0o644)


SCRIPT = script_yaml(
    [text("write"), tool("Write", file_path="a.txt", content="one\ntwo\n")],
    [tool("Edit", file_path="a.txt", old_string="two", new_string="TWO")],
    [tool("Read", file_path="a.txt")],
    [tool("Bash", command=BASH_WORK)],
    [tool("Write", file_path="d/sub/g.txt", content="late\n")],
    [text("done")],
)


def scripted(ws: Workspace, script: str, approval: str = "ask"):
    """A scripted run as the command line starts one (its script copied in: it can be resumed)."""
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import RunRequest, start_run

    path = ws.root.parent / f"script-{len(ws.run_ids())}.yaml"
    path.write_text(script)
    req = RunRequest(goal="test goal", runtime="scripted", script=path, approval=approval)
    return start_run(ws, req, RunOptions(poll_interval=0.01))


async def run_and_capture(ws: Workspace, script: str = SCRIPT) -> tuple[str, dict[int, dict]]:
    """Run the script, approving each step, with the tree captured just before each step runs."""
    runner = scripted(ws, script)
    before: dict[int, dict] = {}

    def on_record(rec, led) -> None:
        if rec["kind"] == "step_status" and rec.get("to") == "awaiting_approval":
            before[rec["step"]] = tree(ws.root)
            runner.submit(new_command("approve", step=rec["step"]))

    runner.add_listener(on_record)
    assert await runner.drive() == "completed"
    return runner.run_id, before


def test_side_effecting_steps_are_checkpointed_and_read_only_ones_are_not(ws):
    import asyncio

    seeded(ws)
    run_id, _ = asyncio.run(run_and_capture(ws))
    led = read_ledger(ws, run_id)
    assert [s.checkpoint is not None for s in led.steps] == [True, True, False, True, True]
    assert led.start_checkpoint and led.end_checkpoint


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
async def test_rewind_restores_the_tree_byte_for_byte_and_waits_at_the_step(ws, n):
    seeded(ws)
    run_id, before = await run_and_capture(ws)
    end = tree(ws.root)
    moved = timetravel.rewind(ws, run_id, to_step=n)
    assert moved.step == n and moved.status_before == "completed"
    assert tree(ws.root) == before[n]
    led = read_ledger(ws, run_id, keep_messages=True)
    assert led.status == "paused" and len(led.steps) == n
    assert led.steps[n - 1].status == "awaiting_approval"
    # the model sees nothing after step n: its conversation ends with the turn proposing it
    assert led.messages[-1]["role"] == "assistant"
    assert any(
        b.get("type") == "tool_use" and b["id"] == led.steps[n - 1].tool_use_id for b in led.messages[-1]["content"]
    )
    # nothing lost: the journal keeps every record, and the rewind can be undone
    assert any(r["kind"] == "model_turn" for r in read_records(ws.journal_path(run_id))[-40:])
    timetravel.rewind(ws, run_id, undo=True)
    assert tree(ws.root) == end
    assert read_ledger(ws, run_id).status == "completed"


async def test_resume_after_a_rewind_goes_on_from_the_step(ws):
    seeded(ws)
    run_id, _ = await run_and_capture(ws)
    timetravel.rewind(ws, run_id, to_step=2)
    assert (ws.root / "a.txt").read_text() == "one\ntwo\n"
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import resume_run

    runner = resume_run(ws, run_id, approval="never", options=RunOptions(poll_interval=0.01))
    led = runner.ledger
    assert led.decision_step is not None and led.decision_step.n == 2
    runner.submit(new_command("approve", step=2))
    assert await runner.drive() == "completed"
    assert (ws.root / "a.txt").read_text() == "one\nTWO\n"
    assert (ws.root / "d" / "sub" / "g.txt").read_text() == "late\n"
    final = read_ledger(ws, run_id)
    assert [s.tool for s in final.steps] == ["Write", "Edit", "Read", "Bash", "Write"]
    assert final.rewinds == 1


async def test_undo_walks_back_through_rewinds_one_at_a_time(ws):
    seeded(ws)
    run_id, before = await run_and_capture(ws)
    end = tree(ws.root)
    timetravel.rewind(ws, run_id, to_step=4)
    timetravel.rewind(ws, run_id, to_step=1)
    assert tree(ws.root) == before[1]
    timetravel.rewind(ws, run_id, undo=True)
    assert tree(ws.root) == before[4]
    assert read_ledger(ws, run_id).decision_step.n == 4
    timetravel.rewind(ws, run_id, undo=True)
    assert tree(ws.root) == end and read_ledger(ws, run_id).status == "completed"
    with pytest.raises(BadInput, match="no rewind to undo"):
        timetravel.rewind(ws, run_id, undo=True)
    # and forward again
    timetravel.rewind(ws, run_id, to_step=2)
    assert tree(ws.root) == before[2]


async def test_rewind_refuses_bad_steps_and_a_driven_run(ws):
    seeded(ws)
    run_id, _ = await run_and_capture(ws)
    with pytest.raises(BadInput, match="no step 9"):
        timetravel.rewind(ws, run_id, to_step=9)
    with pytest.raises(BadInput, match="no rewind to undo"):
        timetravel.rewind(ws, run_id, undo=True)
    runner = start_runner(ws, script_yaml([tool("Write", file_path="x", content="1")]), approval="ask", no_wait=True)
    try:
        from llmos_tui.core.errors import WorkspaceLocked

        with pytest.raises(WorkspaceLocked):
            timetravel.rewind(ws, run_id, to_step=1)
    finally:
        runner.close()


async def test_a_rewind_keeps_commands_applied_and_cost_spent(ws):
    seeded(ws)
    run_id, _ = await run_and_capture(ws)
    full = read_ledger(ws, run_id)
    timetravel.rewind(ws, run_id, to_step=2)
    led = read_ledger(ws, run_id)
    assert full.commands_seen <= led.commands_seen
    assert led.control_offset == full.control_offset


REWIND_CHILD = textwrap.dedent(
    """
    import sys
    from llmos_tui.core import timetravel
    from llmos_tui.core.workspace import Workspace
    timetravel.rewind(Workspace.locate(sys.argv[1]), sys.argv[2], to_step=int(sys.argv[3]))
    """
)


async def test_rewind_is_atomic_under_kill_9(ws):
    """Killed at random points, a rewind leaves the old tree (no rewind recorded yet), or a recorded
    one that a second `rewind` finishes: the tree ends exactly old or exactly new, never mixed."""
    seeded(ws)
    for i in range(1500):  # a bigger tree, so a restore takes long enough to be cut midway
        d = ws.root / "many" / f"d{i % 30}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.txt").write_text(f"{i}\n" * 50)
    script = SCRIPT.replace("rm gone.txt", "rm gone.txt && rm -r many")  # step 4 deletes them all
    run_id, before = await run_and_capture(ws, script)
    rng = random.Random(11)
    t0 = time.monotonic()  # how long a whole rewind takes here (its process included): kills land within it
    subprocess.run([sys.executable, "-c", REWIND_CHILD, str(ws.root), run_id, "1"], check=True)
    whole = time.monotonic() - t0
    timetravel.rewind(ws, run_id, undo=True)
    outcomes = {"not started": 0, "finished by the second rewind": 0, "complete": 0}
    for _ in range(12):
        old = tree(ws.root)
        target = rng.choice([1, 2, 4])
        n_rewound = sum(r["kind"] == "rewound" for r in read_records(ws.journal_path(run_id)))
        proc = subprocess.Popen([sys.executable, "-c", REWIND_CHILD, str(ws.root), run_id, str(target)])
        time.sleep(rng.uniform(0.3, 1.0) * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        recorded = sum(r["kind"] == "rewound" for r in read_records(ws.journal_path(run_id))) > n_rewound
        if not recorded:
            assert tree(ws.root) == old  # nothing changes before the rewind is journaled
            outcomes["not started"] += 1
            continue
        if read_ledger(ws, run_id).pending_restore is not None:
            assert timetravel.rewind(ws, run_id).finished  # `rewind` again finishes the job
            outcomes["finished by the second rewind"] += 1
        else:
            outcomes["complete"] += 1
        assert tree(ws.root) == before[target]
        timetravel.rewind(ws, run_id, undo=True)
        assert tree(ws.root) == old
    print(f"kill -9 during rewind: {outcomes}")


# ------------------------------------------------------------------ fork


@pytest.fixture
def api():
    with FakeAnthropic(default=lambda req: message(api_text("Learned."))) as server:
        yield server


def native(ws: Workspace, api: FakeAnthropic, run_id: str | None = None):
    from llmos_tui.core.config import load_agent_config
    from llmos_tui.core.registry import ToolRegistry
    from llmos_tui.core.runner import Runner, RunOptions
    from llmos_tui.core.runtime.native import NativeRuntime
    from llmos_tui.core.toolmap import load_toolmap

    config = load_agent_config(ws.system / "SystemAgent.md").with_(model="claude-sonnet-4-6", approval="never")
    registry = ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
    rt = NativeRuntime(api_key="test-key", base_url=api.base_url, model="claude-sonnet-4-6", max_retries=0)
    opts = RunOptions(poll_interval=0.01)
    if run_id:
        return Runner.resume(ws, run_id, config=config, registry=registry, runtime=rt, options=opts)
    return Runner.start(
        ws, "write files", config=config, registry=registry, runtime=rt, runtime_name="native", options=opts
    )


def conversation(api: FakeAnthropic) -> list:
    return [r for r in api.message_requests if "tools" in r.body and not r.body.get("tool_choice")]


async def test_fork_reuses_the_prefix_without_a_model_call_and_goes_its_own_way(ws, api):
    api.add(
        message(tool_use("Write", {"file_path": "a.txt", "content": "A"})),
        message(tool_use("Write", {"file_path": "b.txt", "content": "B"})),
        message(tool_use("Write", {"file_path": "c.txt", "content": "C"})),
        message(api_text("done")),
    )
    runner = native(ws, api)
    assert await runner.drive() == "completed"
    parent = runner.run_id
    parent_led = read_ledger(ws, parent)
    seen = len(conversation(api))
    assert seen == 4
    # fork at step 2, denying it with a reason: the model is asked only from there on
    moved = timetravel.fork(ws, parent, at_step=2, feedback="call it beta.txt")
    assert moved.parent == parent and moved.step == 2
    assert sorted(p.name for p in ws.root.iterdir() if p.suffix == ".txt") == ["a.txt"]  # the files before step 2
    assert len(conversation(api)) == seen  # no request for the prefix
    api.add(
        message(tool_use("Write", {"file_path": "beta.txt", "content": "B"})),
        message(api_text("done, as beta")),
    )
    fork_runner = native(ws, api, moved.run_id)
    assert await fork_runner.drive() == "completed"
    reqs = conversation(api)[seen:]
    assert len(reqs) == 2
    first = reqs[0].body["messages"]
    # the first request carries the reused prefix and the denial's reason
    assert "call it beta.txt" in json.dumps(first[-1])
    fork_led = read_ledger(ws, moved.run_id)
    assert fork_led.forked_from == {"run": parent, "step": 2}
    assert [s.status for s in fork_led.steps] == ["done", "denied", "done"]
    assert fork_led.steps[0].inputs == parent_led.steps[0].inputs
    # both runs stay complete and exportable
    assert read_ledger(ws, parent).status == "completed"
    out = ws.root.parent / "both.jsonl"
    assert (
        main(["export", parent, moved.run_id, "--format", "anthropic", "-o", str(out), "--workspace", str(ws.root)])
        == 0
    )
    assert len(out.read_text().splitlines()) == 2


async def test_fork_with_inputs_runs_the_step_with_them(ws):
    seeded(ws)
    run_id, before = await run_and_capture(ws)
    moved = timetravel.fork(ws, run_id, at_step=1, inputs={"file_path": "a.txt", "content": "other\n"})
    assert tree(ws.root) == before[1]
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import resume_run

    runner = resume_run(ws, moved.run_id, approval="never", options=RunOptions(poll_interval=0.01))
    status = await runner.drive()
    # the script's next turn edits "two", which the new content lacks: the run goes its own way
    led = read_ledger(ws, moved.run_id)
    assert led.steps[0].human.get("decision") == "edited" and led.steps[0].status == "done"
    assert led.steps[1].status == "failed"
    assert status == "completed"


def test_fork_refuses_bad_inputs_before_making_anything(ws):
    import asyncio

    seeded(ws)
    run_id, _ = asyncio.run(run_and_capture(ws))
    runs = ws.run_ids()
    with pytest.raises(BadInput, match="do not fit"):
        timetravel.fork(ws, run_id, at_step=1, inputs={"nope": 1})
    assert ws.run_ids() == runs


# ------------------------------------------------------------------ diff


async def test_diff_of_a_run_and_its_fork(ws, capsys):
    seeded(ws)
    run_id, _ = await run_and_capture(ws)
    moved = timetravel.fork(ws, run_id, at_step=5, feedback="no")
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import resume_run

    runner = resume_run(ws, moved.run_id, approval="never", options=RunOptions(poll_interval=0.01))
    assert await runner.drive() == "completed"
    result = timetravel.compare(ws, run_id, moved.run_id)
    assert result["diverges_at"]["step"] == 5
    assert [c["path"] for c in result["files"]] == ["d/sub/g.txt"]
    assert result["files"][0]["change"] == "deleted"
    # RUN@N: the files before step N
    at = timetravel.compare(ws, f"{run_id}@1", f"{run_id}@2")
    assert [c["path"] for c in at["files"]] == ["a.txt"] and "+one" in at["files"][0]["diff"]
    assert at["diverges_at"]["step"] == 1
    binary = timetravel.compare(ws, f"{run_id}@1", run_id)
    assert {c["path"]: c["change"] for c in binary["files"]}["run.sh"] == "mode"
    assert main(["diff", run_id, moved.run_id, "--workspace", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "diverge at step 5" in out and "d/sub/g.txt" in out
    assert main(["diff", f"{run_id}@1", f"{run_id}@2", "--json", "--workspace", str(ws.root)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"][0]["path"] == "a.txt"


def test_diff_refers_to_steps_that_exist(ws):
    import asyncio

    seeded(ws)
    run_id, _ = asyncio.run(run_and_capture(ws))
    with pytest.raises(BadInput, match="no step 42"):
        timetravel.compare(ws, f"{run_id}@42", run_id)
    with pytest.raises(BadInput, match="step number"):
        timetravel.compare(ws, f"{run_id}@x", run_id)


# ------------------------------------------------------------------ replay


async def test_replay_of_an_unchanged_run_reports_no_drift(ws):
    seeded(ws)
    run_id, _ = await run_and_capture(ws)
    (ws.root / "a.txt").write_text("changed after the run: replay starts from the run's own start\n")
    report = await areplay(ws, run_id)
    assert report.steps == 5 and report.drifts == [], report.drifts
    assert report.status == "completed"


async def test_replay_reports_the_first_step_whose_result_differs(ws):
    (ws.system / "facts.txt").write_text("the sky is blue\n")
    script = script_yaml(
        [tool("Write", file_path="a.txt", content="x")],
        [tool("Read", file_path="../system/facts.txt")],
        [tool("Bash", command="cat ../system/facts.txt | wc -c")],
        [text("done")],
    )
    run_id, _ = await run_and_capture(ws, script)
    (ws.system / "facts.txt").write_text("the sky is green today\n")  # the environment changed
    report = await areplay(ws, run_id)
    assert [d.step for d in report.drifts] == ["2", "3"]
    assert "blue" in report.drifts[0].recorded and "green" in report.drifts[0].replayed


async def test_replay_makes_the_same_decisions(ws):
    script = script_yaml(
        [tool("Write", file_path="a.txt", content="x")],
        [tool("Write", file_path="b.txt", content="y")],
        [tool("Bash", command="ls")],
        [text("done")],
    )
    runner = scripted(ws, script)
    decisions = {
        1: new_command("approve", step=1, inputs={"file_path": "a.txt", "content": "edited"}),
        2: new_command("deny", step=2, feedback="not b"),
        3: new_command("skip", step=3),
    }

    def on_record(rec, led) -> None:
        if rec["kind"] == "step_status" and rec.get("to") == "awaiting_approval":
            runner.submit(decisions[rec["step"]])

    runner.add_listener(on_record)
    assert await runner.drive() == "completed"
    report = await areplay(ws, runner.run_id)
    assert report.drifts == [] and report.steps == 3


def test_effective_history_leaves_out_what_a_rewind_took(ws):
    import asyncio

    seeded(ws)
    run_id, _ = asyncio.run(run_and_capture(ws))
    n_all = len(read_records(ws.journal_path(run_id)))
    timetravel.rewind(ws, run_id, to_step=3)
    eff = list(iter_effective(ws.journal_path(run_id)))
    assert len(read_records(ws.journal_path(run_id))) > n_all  # appended, never cut
    led = Ledger.from_records(eff)
    assert len(led.steps) == 3 and led.status == "paused"


# ------------------------------------------------------------------ configuration and the command line


def _agent(ws: Workspace, key: str, value: str) -> None:
    path = ws.system / "SystemAgent.md"
    lines = [line for line in path.read_text().splitlines(keepends=True) if not line.startswith(f"{key}:")]
    at = next(i for i, line in enumerate(lines) if line.startswith("approval:")) + 1
    lines.insert(at, f"{key}: {value}\n")
    path.write_text("".join(lines))


async def test_checkpoints_false_records_none_and_rewind_says_the_files_stay(ws, capsys):
    _agent(ws, "checkpoints", "false")
    seeded(ws)
    run_id, _ = await run_and_capture(ws)
    led = read_ledger(ws, run_id)
    assert not any(s.checkpoint for s in led.steps) and led.start_checkpoint is None
    assert main(["rewind", run_id, "--to-step", "2", "--workspace", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "files left as they are" in out and "awaits a decision" in out
    assert (ws.root / "a.txt").read_text() == "one\nTWO\n"  # untouched


async def test_ignored_and_oversized_files_are_listed_and_left_as_they_are(ws):
    _agent(ws, "checkpoint_ignore", "[data/]")
    _agent(ws, "checkpoint_max_file_mb", "0.0005")  # ~500 bytes
    seeded(ws)  # bin.dat is 1 KB: over the cap
    (ws.root / "data").mkdir()
    (ws.root / "data" / "big.csv").write_text("a,b\n")
    (ws.root / "node_modules").mkdir()
    (ws.root / "node_modules" / "x.js").write_text("x")
    run_id, before = await run_and_capture(ws)
    records = read_records(ws.journal_path(run_id))
    notes = [r["data"]["message"] for r in records if r["kind"] == "note"]
    assert any("bin.dat" in n and "not checkpointed" in n for n in notes), notes
    skipped = [r["data"].get("skipped") for r in records if r["kind"] == "checkpoint"]
    assert all(any(s["path"] == "bin.dat" for s in sk) for sk in skipped)
    (ws.root / "data" / "big.csv").write_text("changed\n")
    (ws.root / "bin.dat").write_bytes(b"new")
    moved = timetravel.rewind(ws, run_id, to_step=1)
    assert (ws.root / "data" / "big.csv").read_text() == "changed\n"  # ignored: left alone
    assert (ws.root / "bin.dat").read_bytes() == b"new"  # over the cap: left alone, and said so
    assert any(s.path == "bin.dat" for s in moved.skipped)
    assert (ws.root / "node_modules" / "x.js").read_text() == "x"
    assert not (ws.root / "a.txt").exists()


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("checkpoints", "maybe", "true or false"),
        ("checkpoint_ignore", "data/", "list of gitignore patterns"),
        ("checkpoint_max_file_mb", "0", "number > 0"),
    ],
)
def test_bad_checkpoint_settings_are_reported_with_their_line(ws, key, value, words):
    from llmos_tui.core.config import load_agent_config
    from llmos_tui.core.errors import FileFormatError

    _agent(ws, key, value)
    with pytest.raises(FileFormatError) as info:
        load_agent_config(ws.system / "SystemAgent.md")
    assert words in info.value.problem and info.value.line


def test_the_command_line_rewinds_undoes_forks_diffs_and_replays(ws, capsys):
    import asyncio

    seeded(ws)
    run_id, before = asyncio.run(run_and_capture(ws))
    w = ["--workspace", str(ws.root)]
    assert main(["rewind", "--to-step", "3", *w]) == 0  # the latest run by default
    out = capsys.readouterr().out
    assert f"run {run_id} rewound to step 3 (Read)" in out and f"llmos-tui rewind {run_id} --undo" in out
    assert f"llmos-tui resume {run_id}" in out
    assert main(["rewind", run_id, "--undo", *w]) == 0
    assert "rewind undone" in capsys.readouterr().out
    assert main(["rewind", run_id, *w]) == 2  # no step given, nothing pending
    assert "--to-step N" in capsys.readouterr().err
    assert main(["fork", run_id, "--at-step", "5", "--feedback", "not there", "--no-run", *w]) == 0
    out = capsys.readouterr().out
    fork_id = out.split()[1]
    assert f"forked from {run_id} at step 5 (Write, denied with your reason)" in out
    assert tree(ws.root) == before[5]
    assert main(["resume", fork_id, "--headless", "--approve", "never", "-q", *w]) == 0
    capsys.readouterr()
    assert main(["diff", run_id, fork_id, "--stat", *w]) == 0
    out = capsys.readouterr().out
    assert "diverge at step 5" in out and "deleted  d/sub/g.txt" in out and "@@" not in out
    assert main(["replay", run_id, *w]) == 0
    assert "every result as recorded" in capsys.readouterr().out
    (ws.root / "a.txt").write_text("not the run's\n")
    assert main(["replay", fork_id, "--json", *w]) == 0  # the fork replays from its parent's start
    assert json.loads(capsys.readouterr().out)["drifts"] == []
    assert main(["fork", run_id, "--at-step", "1", "--inputs", "{bad", "--no-run", *w]) == 2
    assert "--inputs is not JSON" in capsys.readouterr().err


def test_a_fork_with_a_reason_gives_a_preference_pair_and_its_exports_name_the_parent(ws, capsys):
    import asyncio

    seeded(ws)
    run_id, _ = asyncio.run(run_and_capture(ws))
    w = ["--workspace", str(ws.root)]
    assert (
        main(
            [
                "fork",
                run_id,
                "--at-step",
                "4",
                "--feedback",
                "no shell, please",
                "-q",
                "--headless",
                "--approve",
                "never",
                *w,
            ]
        )
        == 0
    )
    fork_id = [r for r in ws.run_ids() if r != run_id][0]
    out = ws.root.parent / "pairs.jsonl"
    assert main(["export", fork_id, "--format", "preference", "-o", str(out), *w]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["metadata"]["forked_from"] == {"run": run_id, "step": 4}
    assert row["rejected"][0]["content"][0]["name"] == "Bash"
    assert "no shell, please" in json.dumps(row["prompt"]["messages"][-1])
    assert row["chosen"][0]["content"] != row["rejected"][0]["content"]


def test_recorded_playback_writes_the_run_record_by_record_into_a_scratch_workspace(ws):
    import asyncio

    from llmos_tui.core.replay import Playback
    from llmos_tui.core.state import StateFile

    seeded(ws)
    run_id, _ = asyncio.run(run_and_capture(ws))
    timetravel.rewind(ws, run_id, to_step=2)  # the playback shows the rewind too
    before = tree(ws.root)
    pb = Playback(ws, run_id, speed=1000)
    try:
        pb.play()
        assert pb.done
        copied = pb.workspace.journal_path(run_id)
        assert copied.read_text() == ws.journal_path(run_id).read_text()
        led = read_ledger(pb.workspace, run_id)
        assert len(led.steps) == 2 and led.status == "paused"
        assert StateFile(pb.workspace.state_path).load().run_id == run_id
        assert tree(ws.root) == before  # nothing of the original touched
        assert not (pb.workspace.root / "a.txt").exists()  # nothing executed
    finally:
        pb.cleanup()
    assert not pb.tmp.exists()
    with pytest.raises(BadInput, match="speed"):
        Playback(ws, run_id, speed=0)
