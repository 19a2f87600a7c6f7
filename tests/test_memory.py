"""SmartMemory (append after each run, ranking before planning), observed tool figures, and the
trace written as the run goes."""

from __future__ import annotations

import json
import signal
import time

from llmos_tui.core.control import new_command
from llmos_tui.core.journal import read_records
from llmos_tui.core.memory import memory_prompt, parse_memory, read_memory, relevant

from conftest import cli, runs_in, script_yaml, start_runner, text, tool

GREET = script_yaml(
    [tool("Write", file_path="hello.txt", content="hi\n")],
    [tool("Read", file_path="hello.txt")],
    [text("Wrote and checked hello.txt.")],
)


def entries(ws):
    return read_memory(ws.system / "memory_log.md")


# ---------------------------------------------------------------- appending


async def test_each_run_appends_one_experience_and_keeps_the_file(ws):
    path = ws.system / "memory_log.md"
    before = path.read_bytes()
    runner = start_runner(ws, GREET, goal="Write a greeting to hello.txt")
    assert await runner.drive() == "completed"
    after = path.read_bytes()
    assert after.startswith(before)  # appended, never rewritten
    [e] = entries(ws)
    assert e["goal"] == "Write a greeting to hello.txt" and e["outcome"] == "completed"
    assert e["tools_used"] == ["Write", "Read"] and e["run_id"] == runner.run_id
    assert e["experience_id"].startswith("exp-") and len(e["experience_id"]) == len("exp-20261125-093000-7f3a")
    assert e["timestamp"].endswith("Z") and isinstance(e["duration_s"], float) and e["cost_usd"] == 0
    assert "greeting" in e["tags"] and "files" in e["tags"]
    assert e["learnings"].startswith("Key learnings: Completed after 2 tool calls")
    assert "Final answer: Wrote and checked hello.txt." in e["learnings"]
    recs = read_records(runner.run_dir / "journal.jsonl")
    assert recs[-1]["kind"] == "memory_saved" and recs[-1]["data"]["experience_id"] == e["experience_id"]

    second = start_runner(ws, GREET, goal="Greet again")
    assert await second.drive() == "completed"
    assert [x["goal"] for x in entries(ws)] == ["Write a greeting to hello.txt", "Greet again"]


async def test_people_s_decisions_and_failures_become_learnings(ws):
    script = script_yaml(
        [tool("Write", file_path="a.txt", content="a")],
        [tool("Read", file_path="missing.txt")],
        [tool("Write", file_path="b.txt", content="b")],
        [text("Gave up on b.")],
    )
    runner = start_runner(ws, script, approval="side-effects", goal="write two files")
    decisions = iter([("approve", None), ("deny", "b.txt belongs to someone else")])

    def decide(rec, led):
        if rec["kind"] == "step_status" and rec["to"] == "awaiting_approval":
            action, why = next(decisions)
            runner.submit(new_command(action, feedback=why))

    runner.add_listener(decide)
    assert await runner.drive() == "completed"
    learn = entries(ws)[0]["learnings"]
    assert "Read(file_path='missing.txt') failed:" in learn
    assert "A person denied Write(file_path='b.txt', content='b'): b.txt belongs to someone else" in learn


async def test_a_sub_agent_leaves_no_experience_of_its_own(ws):
    import yaml

    doc = yaml.safe_load(script_yaml([tool("Task", description="sub", prompt="do it")], [text("done")]))
    doc["subagents"] = [{"turns": [{"content": [text("did it")]}]}]
    runner = start_runner(ws, yaml.safe_dump(doc), goal="delegate")
    assert await runner.drive() == "completed"
    assert [e["goal"] for e in entries(ws)] == ["delegate"]


async def test_secrets_never_reach_the_memory_log(ws, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-PLANTEDSECRETVALUE0123456789")
    (ws.root / "key.txt").write_text("sk-ant-api03-PLANTEDSECRETVALUE0123456789\n")
    runner = start_runner(
        ws,
        script_yaml(
            [tool("Bash", command="cat key.txt; exit 3")],  # (Bash's environment holds no API key)
            [text("The key is sk-ant-api03-PLANTEDSECRETVALUE0123456789")],
        ),
        goal="print the key sk-ant-api03-PLANTEDSECRETVALUE0123456789",
    )
    assert await runner.drive() == "completed"
    log = (ws.system / "memory_log.md").read_text()
    assert "PLANTEDSECRET" not in log and "[REDACTED]" in log
    trace = (runner.run_dir / "trace.json").read_text()
    assert "PLANTEDSECRET" not in trace and "[REDACTED]" in trace
    # the run itself saw the real value (redaction is for records, not for the tools or the model)
    assert "PLANTEDSECRET" not in runner.ledger.steps[0].content
    assert runner.rec.raw_ledger is not None and "PLANTEDSECRET" in runner.rec.raw_ledger.steps[0].content


async def test_a_broken_memory_log_is_reported_and_never_rewritten(ws):
    path = ws.system / "memory_log.md"
    path.write_text("# log\n\n---\ngoal: [unclosed\n---\ntext\n")
    before = path.read_bytes()
    runner = start_runner(ws, GREET, goal="greet")
    assert await runner.drive() == "completed"
    notes = [r["data"]["message"] for r in read_records(runner.run_dir / "journal.jsonl") if r["kind"] == "note"]
    assert any(n.startswith("SmartMemory not used:") and "memory_log.md" in n for n in notes)
    assert path.read_bytes().startswith(before)  # appended after, the person's text untouched


def test_memory_summary_by_the_model_when_there_is_one(project):
    from fakeapi import FakeAnthropic, message
    from fakeapi import text as api_text

    with FakeAnthropic() as api:
        api.add(
            message(api_text("Nothing to do.")), message(api_text("Check the workspace first; it was empty."))
        )  # the summary call
        r = cli(
            "run",
            "--headless",
            "look around",
            cwd=project,
            env={"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.base_url},
        )
        assert r.returncode == 0, r.stderr
        summary = api.message_requests[1]
        assert summary.model == "claude-haiku-4-5" and "look around" in summary.body["messages"][0]["content"]
    [e] = read_memory(project / "system" / "memory_log.md")
    assert e["learnings"] == "Key learnings: Check the workspace first; it was empty."
    assert e["cost_usd"] > 0


# ---------------------------------------------------------------- ranking


def mem(*items):
    text = "# SmartMemory Log\n"
    for i, (goal, tags, learn) in enumerate(items):
        text += (
            f"\n---\nexperience_id: exp-2026110{i}-000000-000{i}\ngoal: {goal}\noutcome: completed\n"
            f"tags: {json.dumps(tags)}\ntools_used: [Write]\n---\nKey learnings: {learn}\n"
        )
    return text


def test_ranking_puts_the_most_relevant_first_and_leaves_the_unrelated_out():
    es = parse_memory(
        mem(
            ("Get weather for London and save to file", ["weather", "web"], "The page has a table."),
            ("Tidy meeting notes", ["notes"], "Sort by date."),
            ("Summarise weather in Paris", ["weather"], "Use the metric page."),
            ("Rename photos by date", ["photos"], "EXIF first."),
            ("Back up photos", ["backup"], "Copy first."),
            ("Back up photos", ["backup"], "Copy first."),
        )
    )
    top = relevant(es, "weather report for London", 3)
    assert [e["goal"] for e in top] == ["Get weather for London and save to file", "Summarise weather in Paris"]
    assert relevant(es, "completely different topic", 3) == []
    assert relevant(es, "back up the photos", 2) == [es[5], es[4]]  # equals: the newer wins
    assert {e["goal"] for e in relevant(es, "photos", 5)} == {"Rename photos by date", "Back up photos"}
    assert relevant(es, "weather", 0) == []


async def test_relevant_experiences_go_into_the_prompt_and_are_marked(ws):
    (ws.system / "memory_log.md").write_text(
        mem(
            ("Write a greeting file", ["greeting"], "Say hello in plain ASCII."),
            ("Tidy meeting notes", ["notes"], "Sort by date."),
        )
    )
    runner = start_runner(ws, GREET, goal="write a greeting")
    used = runner.ledger.config["memory_used"]
    assert used == ["exp-20261100-000000-0000"]
    prompt = runner.system_prompt()
    assert "Relevant experiences from earlier runs" in prompt and "Say hello in plain ASCII." in prompt
    assert "Sort by date." not in prompt
    assert await runner.drive() == "completed"
    trace = json.loads((runner.run_dir / "trace.json").read_text())
    assert "Say hello in plain ASCII." in trace["system"]
    assert memory_prompt([]) == ""


async def test_the_memory_pane_marks_the_experiences_in_the_prompt(project):
    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.app import AppSettings, LlmosApp
    from llmos_tui.tui.widgets.panes import MemoryPane

    (project / "system" / "memory_log.md").write_text(
        mem(("Write a greeting file", ["greeting"], "Say hello."), ("Tidy meeting notes", ["notes"], "Sort."))
    )
    (project / "s.yaml").write_text(GREET)
    app = LlmosApp(
        AppSettings(
            workspace=project,
            clock=False,
            watch_files=False,
            request=RunRequest(goal="write a greeting", script=project / "s.yaml", approval="ask"),
        )
    )
    async with app.run_test(size=(160, 45)) as pilot:
        for _ in range(100):
            if app.ledger is not None and app.ledger.status == "awaiting_approval":
                break
            await pilot.pause(0.02)
        shown = str(app.query_one(MemoryPane).render())
        assert "★ Write a greeting file" in shown and "★ Tidy" not in shown and "Tidy meeting notes" in shown


# ---------------------------------------------------------------- observed tool figures


async def test_observed_tool_figures_beside_the_declared_ones(project, ws):
    script = script_yaml(
        [tool("Write", file_path="a.txt", content="a")],
        [tool("Read", file_path="nope.txt")],
        [tool("Read", file_path="a.txt")],
        [text("ok")],
    )
    for _ in range(2):
        runner = start_runner(ws, script)
        assert await runner.drive() == "completed"
    stats = json.loads((ws.system / "tool_stats.json").read_text())
    assert len(stats["runs"]) == 2
    assert stats["tools"]["Read"]["calls"] == 4 and stats["tools"]["Read"]["errors"] == 2
    assert stats["tools"]["Write"]["calls"] == 2 and len(stats["tools"]["Write"]["durations"]) == 2
    r = cli("tools", cwd=project)
    assert r.returncode == 0, r.stderr
    read = next(line for line in r.stdout.splitlines() if line.startswith("Read "))
    assert "fast" in read and "none" in read and "50%" in read and " 4 " in read
    assert "observed over 2 runs" in r.stdout
    rows = json.loads(cli("tools", "--json", cwd=project).stdout)
    assert {row["tool"] for row in rows} >= {"Read", "Write", "Bash", "Task", "UpdatePlan"}
    (ws.system / "tool_stats.json").write_text("{broken")
    r = cli("tools", cwd=project)
    assert r.returncode == 2 and "tool_stats.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1


async def test_simulated_results_are_counted_but_not_timed(ws):
    runner = start_runner(ws, script_yaml([tool("Bash", command="ls")], [text("ok")]), mode="simulate")
    assert await runner.drive() == "completed"
    bash = json.loads((ws.system / "tool_stats.json").read_text())["tools"]["Bash"]
    assert bash["simulated"] == 1 and bash["durations"] == []


# ---------------------------------------------------------------- the trace as the run goes


def test_a_killed_run_has_its_trace_up_to_its_last_transition(project):
    from test_watch import headless, wait_status

    (project / "s.yaml").write_text(
        script_yaml([tool("Read", file_path="x.txt")], [tool("Write", file_path="a.txt", content="a")], [text("done")])
    )
    (project / "workspace" / "x.txt").write_text("x\n")
    driver = headless(project, "--script", "s.yaml", "--approve", "side-effects", "trace me")
    try:
        wait_status(project, "awaiting_approval")
        time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:
        if driver.poll() is None:
            driver.kill()
    [run] = [p for p in runs_in(project) if p.is_dir()]
    trace = json.loads((run / "trace.json").read_text())
    assert [t["tool"] for t in trace["transitions"]] == ["Read", "Write"]
    assert trace["transitions"][0]["status"] == "done" and trace["transitions"][1]["status"] == "awaiting_approval"
    assert trace["journal_seq"] == read_records(run / "journal.jsonl")[-1]["seq"]
