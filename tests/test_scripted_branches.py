"""The scripted runtime listens: a turn's on_deny / on_skip / on_edit / on_error branches, the
person's reason in them, `then: continue`, and resuming in the middle of a branch — and the demo,
which uses them, never claims what did not happen (issue 15, point 3)."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from llmos_tui.core.control import new_command
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.runtime.scripted import ScriptedRuntime
from llmos_tui.demo.run import prepare

from conftest import resume_runner, start_runner
from test_runner import awaiting, until

WRITE = {"type": "tool_use", "name": "Write", "input": {"file_path": "hello.txt", "content": "hi\n"}}
BRANCHY = yaml.safe_dump(
    {
        "turns": [
            {
                "content": [WRITE],
                "on_deny": [
                    {
                        "content": [
                            {"type": "text", "text": "OK: {reason}.", "when": "no_reason_file"},
                            {"type": "text", "text": "Writing {reason_file} instead.", "when": "reason_file"},
                            {
                                "type": "tool_use",
                                "when": "reason_file",
                                "name": "Write",
                                "input": {"file_path": "{reason_file}", "content": "hi\n"},
                            },
                        ]
                    },
                    {"content": [{"type": "text", "text": "Saved to {reason_file}, as you asked."}]},
                ],
                "on_skip": [{"content": [{"type": "text", "text": "Skipped: nothing written."}]}],
                "on_edit": {
                    "then": "continue",
                    "turns": [
                        {
                            "content": [
                                {"type": "text", "text": "You edited it."},
                                {"type": "tool_use", "name": "Glob", "input": {"pattern": "*"}},
                            ]
                        }
                    ],
                },
            },
            {"content": [{"type": "text", "text": "Done: hello.txt holds the greeting."}]},
        ]
    },
    sort_keys=False,
)


async def decide(ws, action: str, script: str = BRANCHY, **kw):
    """Run the script, decide step 1 with `action`, then approve whatever else waits."""
    r = start_runner(ws, script, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 1))
    r.submit(new_command(action, step=1, **kw))
    while not task.done():
        await asyncio.sleep(0.01)
        cur = r.ledger.decision_step
        if cur is not None and cur.n > 1 and r.ledger.status == "awaiting_approval":
            r.submit(new_command("approve", step=cur.n))
            await until(lambda n=cur.n: r.ledger.steps[n - 1].status != "awaiting_approval")
    assert task.result() == "completed"
    return r


async def test_a_denial_with_a_reason_changes_what_the_agent_does_next(ws):
    r = await decide(ws, "deny", feedback="please write notes/greeting.md instead")
    assert [s.tool for s in r.ledger.steps] == ["Write", "Write"]
    assert r.ledger.steps[1].inputs["file_path"] == "notes/greeting.md"
    assert (ws.root / "notes" / "greeting.md").read_text() == "hi\n"
    assert not (ws.root / "hello.txt").exists()
    assert r.ledger.last_text == "Saved to notes/greeting.md, as you asked."


async def test_a_denial_without_a_file_is_acknowledged_and_nothing_is_claimed(ws):
    r = await decide(ws, "deny", feedback="no writing today")
    assert [s.tool for s in r.ledger.steps] == ["Write"]
    assert r.ledger.last_text == "OK: no writing today."
    assert not (ws.root / "hello.txt").exists()


async def test_a_skip_is_acknowledged(ws):
    r = await decide(ws, "skip")
    assert r.ledger.last_text == "Skipped: nothing written."
    assert not (ws.root / "hello.txt").exists()


async def test_an_edit_takes_its_branch_then_the_script_goes_on(ws):
    r = await decide(ws, "approve", inputs={"file_path": "hi.txt", "content": "hi\n"})
    assert [s.tool for s in r.ledger.steps] == ["Write", "Glob"]
    assert (ws.root / "hi.txt").exists() and not (ws.root / "hello.txt").exists()
    assert r.ledger.last_text == "Done: hello.txt holds the greeting."  # then: continue rejoined the script


async def test_a_run_resumed_inside_a_branch_carries_on_in_it(ws):
    r = start_runner(ws, BRANCHY, approval="side-effects", no_wait=True)
    assert await r.drive() == "waiting"
    r2 = resume_runner(ws, r.run_id, BRANCHY, no_wait=True)
    r2.submit(new_command("deny", step=1, feedback="use b.txt"))
    assert await r2.drive() == "waiting"  # the branch's Write of b.txt waits for a person
    r3 = resume_runner(ws, r.run_id, BRANCHY)
    r3.submit(new_command("approve", step=2))
    assert await asyncio.wait_for(r3.drive(), 10) == "completed"
    assert (ws.root / "b.txt").exists() and r3.ledger.last_text == "Saved to b.txt, as you asked."


@pytest.mark.parametrize(
    ("turn", "problem"),
    [
        ({"content": [WRITE], "on_deny": "nope"}, "on_deny needs a non-empty list of turns"),
        ({"content": [WRITE], "on_skip": {"turns": [], "then": "continue"}}, "on_skip needs a non-empty list"),
        ({"content": [WRITE], "on_edit": {"turns": [{"content": "x"}], "then": "later"}}, "then must be end or"),
        ({"content": [{**WRITE, "when": "sometimes"}]}, "when must be one of"),
    ],
)
def test_a_malformed_branch_is_one_line_with_where(turn, problem):
    with pytest.raises(FileFormatError, match=problem) as err:
        ScriptedRuntime.parse(yaml.safe_dump({"turns": [turn]}), "s.yaml")
    assert "\n" not in str(err.value) and "s.yaml" in str(err.value)


# ---------------------------------------------------------------- the demo listens


def demo_runner(ws, tmp_path, scenario: str = "weather"):
    demo = prepare(scenario, "http://127.0.0.1:9", project=tmp_path / "demo")
    return demo, demo.script.read_text()


@pytest.mark.parametrize(
    ("feedback", "saved", "words"),
    [
        ("save it to weather/london.md instead", "weather/london.md", "is in weather/london.md, as you asked"),
        ("I only wanted to read it", None, "I won't save a file"),
    ],
)
async def test_the_weather_demo_follows_a_denial_of_its_write(ws, tmp_path, feedback, saved, words):
    _, script = demo_runner(ws, tmp_path)
    # the WebFetch (turn 1) reads a page this test does not serve: skip it would end the demo, so
    # approve everything up to the Write, and deny the Write with the reason
    r = start_runner(ws, script, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    r.submit(new_command("approve", step=2))
    await until(lambda: any(s.tool == "Write" and s.status == "awaiting_approval" for s in r.ledger.steps))
    write = next(s for s in r.ledger.steps if s.tool == "Write")
    r.submit(new_command("deny", step=write.n, feedback=feedback))
    if saved:
        await until(lambda: len([s for s in r.ledger.steps if s.tool == "Write"]) == 2 and r.ledger.status != "running")
        second = [s for s in r.ledger.steps if s.tool == "Write"][1]
        assert second.inputs["file_path"] == saved
        r.submit(new_command("approve", step=second.n))
    assert await asyncio.wait_for(task, 10) == "completed"
    assert words in r.ledger.last_text
    assert not (ws.root / "london_weather.txt").exists()
    assert "london_weather.txt" not in r.ledger.last_text or "was not written" in r.ledger.last_text
    if saved:
        assert (ws.root / saved).exists()


async def test_the_weather_demo_acknowledges_a_skip(ws, tmp_path):
    _, script = demo_runner(ws, tmp_path)
    r = start_runner(ws, script, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(awaiting(r, 2))
    r.submit(new_command("approve", step=2))
    await until(lambda: any(s.tool == "Write" and s.status == "awaiting_approval" for s in r.ledger.steps))
    write = next(s for s in r.ledger.steps if s.tool == "Write")
    r.submit(new_command("skip", step=write.n))
    assert await asyncio.wait_for(task, 10) == "completed"
    assert "You skipped saving the file, so nothing was written" in r.ledger.last_text
    assert not (ws.root / "london_weather.txt").exists()


async def test_the_notes_demo_goes_on_after_a_denied_fix(ws, tmp_path):
    demo, script = demo_runner(ws, tmp_path, "notes")
    for rel in ("notes/2026-11-23-planning.md", "notes/2026-11-24-review.md"):
        dest = ws.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text((demo.project / "workspace" / rel).read_text())
    r = start_runner(ws, script, approval="side-effects")
    task = asyncio.create_task(r.drive())
    await until(lambda: any(s.tool == "Edit" and s.status == "awaiting_approval" for s in r.ledger.steps))
    edit = next(s for s in r.ledger.steps if s.tool == "Edit")
    r.submit(new_command("deny", step=edit.n, feedback="the typo is a quote, keep it"))
    for tool in ("Bash", "Write"):
        await until(lambda tool=tool: any(s.tool == tool and s.status == "awaiting_approval" for s in r.ledger.steps))
        r.submit(new_command("approve", step=next(s for s in r.ledger.steps if s.tool == tool).n))
    assert await asyncio.wait_for(task, 10) == "completed"
    assert "wether" in (ws.root / "notes/2026-11-23-planning.md").read_text()  # left as the person said
    assert (ws.root / "summary.md").exists()
    assert any(p.title == "Fix the typo (left as it is at your word)" for p in r.ledger.plan)
    assert "fixed" not in r.ledger.last_text.lower()
