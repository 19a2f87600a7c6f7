"""The runner in-process: gate policies, every decision, errors that must not crash, state edits."""

from __future__ import annotations

import asyncio
import json

import pytest

from llmos_tui.core.control import new_command
from llmos_tui.core.errors import WorkspaceLocked
from llmos_tui.core.journal import read_records
from llmos_tui.core.state import StateFile

from conftest import resume_runner, script_yaml, start_runner, text, tool


async def until(pred, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def awaiting(runner, n: int):
    return lambda: (
        runner.ledger.status == "awaiting_approval" and runner.ledger.current_step and runner.ledger.current_step.n == n
    )


def tool_results(runner) -> list[dict]:
    return [
        b
        for m in runner.ledger.messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
    ]


WRITE_THEN_DONE = script_yaml(
    [text("plan"), tool("UpdatePlan", steps=[{"title": "Write hello", "status": "in_progress"}])],
    [tool("Write", file_path="hello.txt", content="hi\n")],
    [text("Done.")],
)


async def test_never_policy_runs_to_completion_with_real_files(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="never")
    assert await r.drive() == "completed"
    assert (ws.root / "hello.txt").read_text() == "hi\n"
    st = StateFile(ws.state_path).load()
    assert st.status == "completed" and st.plan[0].title == "Write hello"
    assert (r.run_dir / "trace.json").exists() and (r.run_dir / "execution_state.md").exists()
    trace = json.loads((r.run_dir / "trace.json").read_text())
    assert trace["final_outcome"] == "completed"
    assert [t["tool"] for t in trace["transitions"]] == ["UpdatePlan", "Write"]
    assert trace["messages"][-1]["content"] == [{"type": "text", "text": "Done."}]


@pytest.mark.parametrize("policy,asks", [("ask", [1, 2]), ("side-effects", [2]), ("never", [])])
async def test_policy_decides_which_steps_wait(ws, policy, asks):
    r = start_runner(ws, WRITE_THEN_DONE, approval=policy, no_wait=True)
    seen = []
    while True:
        result = await _drive_again(r, ws, WRITE_THEN_DONE) if seen else await r.drive()
        if result != "waiting":
            break
        cur = r.ledger.current_step
        seen.append(cur.n)
        from llmos_tui.core.control import ControlChannel

        ControlChannel(r.run_dir / "control.jsonl").append(new_command("approve", step=cur.n))
        r = resume_runner(ws, r.run_id, WRITE_THEN_DONE, no_wait=True)
    assert seen == asks
    assert result == "completed"


async def _drive_again(r, ws, script):
    return await r.drive()


async def test_toolmap_deny_always_refuses(ws):
    tm = ws.system / "ClaudeCodeToolMap.md"
    text_ = tm.read_text()
    start = text_.index("claude_tool: Write")
    end = text_.index("approval: ask", start)
    tm.write_text(text_[:end] + "approval: deny" + text_[end + len("approval: ask") :])
    r = start_runner(ws, WRITE_THEN_DONE, approval="never")
    assert await r.drive() == "completed"
    assert not (ws.root / "hello.txt").exists()
    assert r.ledger.steps[1].status == "denied"
    res = tool_results(r)[1]
    assert res["is_error"] and "approval: deny" in res["content"]


async def test_deny_reason_reaches_the_model_as_error_result(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    r.submit(new_command("deny", step=2, feedback="use greeting.txt instead"))
    assert await task == "completed"
    assert not (ws.root / "hello.txt").exists()
    res = tool_results(r)[1]
    assert res["is_error"] is True
    assert "use greeting.txt instead" in res["content"]
    assert r.ledger.steps[1].human["decision"] == "denied"
    trace = json.loads((r.run_dir / "trace.json").read_text())
    assert trace["transitions"][1]["human"] == {"decision": "denied", "feedback": "use greeting.txt instead"}


async def test_skip_does_not_run_the_tool(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    r.submit(new_command("skip"))
    assert await task == "completed"
    assert not (ws.root / "hello.txt").exists()
    assert r.ledger.steps[1].status == "skipped"
    assert "not run" in tool_results(r)[1]["content"]


async def test_edit_then_approve_runs_the_edited_inputs(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    r.submit(new_command("edit", step=2, inputs={"file_path": "greeting.txt", "content": "hello\n"}))
    await until(lambda: r.ledger.steps[1].inputs["file_path"] == "greeting.txt")
    assert r.ledger.status == "awaiting_approval"
    r.submit(new_command("approve", step=2))
    assert await task == "completed"
    assert (ws.root / "greeting.txt").read_text() == "hello\n" and not (ws.root / "hello.txt").exists()
    step = r.ledger.steps[1]
    assert step.human["decision"] == "edited" and step.proposed_inputs["file_path"] == "hello.txt"


@pytest.mark.parametrize(
    "inputs,reason",
    [
        ({"file_path": "x.txt"}, "'content' is a required property"),
        ({"file_path": 3, "content": "x"}, "file_path: 3 is not of type 'string'"),
        ({"file_path": "x", "content": "y", "mode": "fast"}, "Additional properties"),
    ],
)
async def test_edit_that_does_not_fit_the_schema_is_rejected_and_nothing_lost(ws, inputs, reason):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    cmd = r.submit(new_command("edit", step=2, inputs=inputs))
    await until(lambda: cmd.id in r.ledger.commands_seen)
    rec = [x for x in read_records(r.run_dir / "journal.jsonl") if x["data"].get("id") == cmd.id][0]
    assert rec["data"]["applied"] is False and reason in rec["data"]["reason"]
    assert r.ledger.steps[1].inputs == {"file_path": "hello.txt", "content": "hi\n"}
    assert r.ledger.status == "awaiting_approval"
    r.submit(new_command("approve"))
    assert await task == "completed"
    assert (ws.root / "hello.txt").exists()


async def test_approve_rest_stops_asking(ws):
    script = script_yaml(
        [tool("Write", file_path="a.txt", content="a")],
        [tool("Write", file_path="b.txt", content="b")],
        [tool("Bash", command="echo c > c.txt")],
        [text("done")],
    )
    r = start_runner(ws, script, approval="ask")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 1))
    r.submit(new_command("approve", scope="rest"))
    assert await task == "completed"
    assert all((ws.root / f).exists() for f in ("a.txt", "b.txt", "c.txt"))
    assert r.ledger.approval == "never"


async def test_pause_holds_the_run_and_resume_continues(ws):
    script = script_yaml(*[[tool("Bash", command=f"echo {i} >> n.txt")] for i in range(5)], [text("done")])
    r = start_runner(ws, script, approval="never")
    r.submit(new_command("pause"))
    task = asyncio.create_task(r.drive())
    await until(lambda: r.ledger.status == "paused")
    await asyncio.sleep(0.1)
    assert not (ws.root / "n.txt").exists()
    assert StateFile(ws.state_path).load().status == "paused"
    r.submit(new_command("resume"))
    assert await task == "completed"
    assert (ws.root / "n.txt").read_text().split() == ["0", "1", "2", "3", "4"]


async def test_cancel_ends_the_run(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    r.submit(new_command("cancel", feedback="wrong goal"))
    assert await task == "cancelled"
    assert not (ws.root / "hello.txt").exists()


async def test_commands_that_do_not_apply_are_rejected_with_a_reason(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    bad = [
        r.submit(new_command("retry", step=2)),
        r.submit(new_command("approve", step=1)),
        r.submit(new_command("approve", step=9)),
        r.submit(new_command("resume")),
    ]
    with open(r.run_dir / "control.jsonl", "a") as fh:
        fh.write('{"action": "launch"}\nnot json at all\n')
    await until(lambda: all(c.id in r.ledger.commands_seen for c in bad))
    await asyncio.sleep(0.05)
    r.submit(new_command("approve"))
    assert await task == "completed"
    recs = [x["data"] for x in read_records(r.run_dir / "journal.jsonl") if x["kind"] == "command"]
    reasons = [x.get("reason") for x in recs if not x["applied"]]
    assert any("step 2 is awaiting_approval; retry needs it uncertain" in x for x in reasons)
    assert any("step 1 is done (the agent already has its result)" in x for x in reasons)
    assert any("there is no step 9" in x for x in reasons)
    assert any("not paused" in x for x in reasons)
    assert any("line 5: action must be one of" in x for x in reasons)
    assert any("line 6: not JSON" in x for x in reasons)


async def test_each_command_is_applied_once_even_if_repeated(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="ask")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 1))
    cmd = new_command("approve", step=1)
    r.submit(cmd)
    r.submit(cmd)  # same id twice
    await until(awaiting(r, 2))
    r.submit(new_command("approve"))
    assert await task == "completed"
    recs = [x["data"] for x in read_records(r.run_dir / "journal.jsonl") if x["kind"] == "command"]
    assert sum(1 for x in recs if x.get("id") == cmd.id and x["applied"]) == 1
    assert any(x.get("duplicate_of") == cmd.id for x in recs)


async def test_tool_errors_and_bad_calls_go_back_to_the_model(ws):
    script = script_yaml(
        [tool("Read", file_path="missing.txt")],
        [tool("Teleport", to="mars")],
        [tool("Write", file_path="x.txt")],
        [tool("Read", file_path="../../etc/passwd")],
        [tool("Bash", command="exit 3")],
        [text("I could not do it.")],
    )
    r = start_runner(ws, script, approval="never")
    assert await r.drive() == "completed"
    results = tool_results(r)
    assert all(b["is_error"] for b in results)
    assert "not found" in results[0]["content"].lower()
    assert "unknown tool 'Teleport'" in results[1]["content"]
    assert "'content' is a required property" in results[2]["content"]
    assert "outside the workspace" in results[3]["content"]
    assert "exit code 3" in results[4]["content"]
    assert [s.status for s in r.ledger.steps] == ["failed"] * 5


async def test_a_crashing_tool_is_an_error_result_not_a_crash(ws, monkeypatch):
    from llmos_tui.core.tools.search import GlobTool

    async def boom(self, inputs, ctx):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(GlobTool, "run", boom)
    r = start_runner(ws, script_yaml([tool("Glob", pattern="*")], [text("ok")]))
    assert await r.drive() == "completed"
    assert "disk on fire" in tool_results(r)[0]["content"]


async def test_script_exhausted_fails_the_run_with_a_reason(ws):
    r = start_runner(ws, script_yaml([tool("Glob", pattern="*")]))
    assert await r.drive() == "failed"
    assert r.ledger.error["type"] == "script_exhausted"


async def test_max_turns_stops_the_run(ws):
    r = start_runner(ws, script_yaml(*[[tool("Glob", pattern="*")]] * 10), max_turns=3)
    assert await r.drive() == "failed"
    assert r.ledger.error["type"] == "max_turns" and r.ledger.turns == 3


async def test_second_driver_is_refused(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    with pytest.raises(WorkspaceLocked, match="already driven by another process"):
        start_runner(ws, WRITE_THEN_DONE)
    with pytest.raises(WorkspaceLocked):
        resume_runner(ws, r.run_id, WRITE_THEN_DONE)
    r.submit(new_command("approve"))
    assert await task == "completed"
    r2 = start_runner(ws, WRITE_THEN_DONE)  # free again once the first ended
    assert await r2.drive() == "completed"


async def test_simulate_mode_touches_nothing(ws):
    (ws.root / "keep.txt").write_text("original")
    script = script_yaml(
        [tool("UpdatePlan", steps=[{"title": "t", "status": "pending"}])],
        [tool("Write", file_path="keep.txt", content="changed")],
        [tool("Bash", command="rm keep.txt; touch made.txt")],
        [text("done")],
        simulated_results={1: ["Wrote 7 bytes to keep.txt"]},
    )
    before = sorted((p.name, p.read_bytes()) for p in ws.root.iterdir() if p.is_file() and p.suffix == ".txt")
    r = start_runner(ws, script, mode="simulate")
    assert await r.drive() == "completed"
    after = sorted((p.name, p.read_bytes()) for p in ws.root.iterdir() if p.is_file() and p.suffix == ".txt")
    assert after == before
    steps = r.ledger.steps
    assert steps[0].simulated is False and r.ledger.plan[0].title == "t"  # the plan is real bookkeeping
    assert steps[1].simulated and steps[1].content == "Wrote 7 bytes to keep.txt"
    assert steps[2].simulated and "[simulated]" in steps[2].content


async def test_pause_by_editing_the_state_file(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    await asyncio.sleep(0.05)
    text_ = ws.state_path.read_text()
    ws.state_path.write_text(
        text_.replace("status: awaiting_approval\n", "status: paused\n", 1).replace(
            "content: 'hi\n\n    '", "content: edited by hand", 1
        )
    )
    await until(lambda: r.ledger.status == "paused")
    r.submit(new_command("resume"))
    await until(awaiting(r, 2))
    r.submit(new_command("approve"))
    assert await task == "completed"


async def test_edit_pending_inputs_in_the_state_file_is_taken_up(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    await asyncio.sleep(0.05)
    text_ = ws.state_path.read_text()
    assert "file_path: hello.txt" in text_
    ws.state_path.write_text(text_.replace("file_path: hello.txt", "file_path: edited.txt", 1))
    await until(lambda: r.ledger.steps[1].inputs["file_path"] == "edited.txt")
    r.submit(new_command("approve"))
    assert await task == "completed"
    assert (ws.root / "edited.txt").exists() and not (ws.root / "hello.txt").exists()


async def test_broken_state_edit_pauses_and_is_never_overwritten(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    await asyncio.sleep(0.05)
    broken = ws.state_path.read_text().replace("status: awaiting_approval\n", "status: [oops\n", 1)
    ws.state_path.write_text(broken)
    await until(lambda: r.ledger.status == "paused")
    assert r.ledger.error["type"] == "state_file" and "does not parse" in r.ledger.error["message"]
    r.submit(new_command("resume"))  # refused while the file is broken
    await asyncio.sleep(0.1)
    assert r.ledger.status == "paused"
    assert ws.state_path.read_text() == broken
    r.submit(new_command("cancel"))
    assert await task == "cancelled"
    assert ws.state_path.read_text() == broken  # still never overwritten


async def test_resume_of_a_paused_run_lets_it_go_on(ws):
    r = start_runner(ws, WRITE_THEN_DONE, approval="never", no_wait=True)
    r.submit(new_command("pause"))
    assert await r.drive() == "paused"
    again = resume_runner(ws, r.run_id, WRITE_THEN_DONE, no_wait=True)
    assert again.ledger.status == "running"
    assert await again.drive() == "completed"
    assert (ws.root / "hello.txt").exists()


async def test_a_turns_cost_is_shared_by_the_calls_it_proposed(ws):
    script = (
        "turns:\n"
        "  - usage: {input_tokens: 100, output_tokens: 10, cost_usd: 0.003}\n"
        "    content:\n"
        "      - {type: tool_use, name: Glob, input: {pattern: '*'}}\n"
        "      - {type: tool_use, name: Glob, input: {pattern: '*.md'}}\n"
        "  - usage: {input_tokens: 50, output_tokens: 5, cost_usd: 0.001}\n"
        "    content: [{type: text, text: done}]\n"
    )
    r = start_runner(ws, script)
    assert await r.drive() == "completed"
    assert r.ledger.usage.cost_usd == pytest.approx(0.004)
    assert [r.ledger.step_cost(s) for s in r.ledger.steps] == [pytest.approx(0.0015)] * 2
    trace = json.loads((r.run_dir / "trace.json").read_text())
    assert [t["cost_usd"] for t in trace["transitions"]] == [0.0015, 0.0015]
    assert trace["total_cost"] == pytest.approx(0.004)


def test_the_step_to_decide_is_the_first_awaiting_one_even_behind_a_running_call():
    """Parallel calls (the claude-code runtime): a call may still run while the next one waits."""
    from llmos_tui.core.ledger import Ledger

    led = Ledger()
    seq = iter(range(1, 100))

    def rec(kind, step=None, frm=None, to=None, **data):
        led.apply(
            {
                "seq": next(seq),
                "at": "2026-11-25T09:30:00Z",
                "kind": kind,
                "step": step,
                "from": frm,
                "to": to,
                "data": data,
            }
        )

    rec("run_started", run_id="r", goal="g", mode="execute", runtime="claude-code")
    rec(
        "model_turn",
        content=[
            {"type": "tool_use", "id": "a", "name": "Bash", "input": {"command": "sleep 9"}},
            {"type": "tool_use", "id": "b", "name": "Write", "input": {"file_path": "x", "content": "x"}},
        ],
        stop_reason="tool_use",
        usage={},
    )
    for n, tid, tool_name in ((1, "a", "Bash"), (2, "b", "Write")):
        rec(
            "step_status",
            step=n,
            to="proposed",
            tool=tool_name,
            inputs={},
            tool_use_id=tid,
            side_effects="process",
            turn=0,
        )
    rec("step_status", step=1, frm="proposed", to="running")
    assert led.decision_step is None and led.current_step.n == 1
    rec("step_status", step=2, frm="proposed", to="awaiting_approval")
    assert led.current_step.n == 1 and led.decision_step.n == 2
