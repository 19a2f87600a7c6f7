"""The `llmos-tui` command line, driven as a user drives it: real subprocesses, real files, exit codes.

Contract: docs/design.md §7 — 0 completed, 1 failed/cancelled, 2 bad usage or input (one line on
stderr), 3 paused or stopped at a decision with --no-wait.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from llmos_tui.core.control import ControlChannel, new_command
from llmos_tui.core.journal import read_records
from llmos_tui.core.lock import LOCK_NAME
from llmos_tui.core.scaffold import SYSTEM_FILES, init_project
from llmos_tui.core.state import StateFile
from llmos_tui.core.workspace import Workspace

from conftest import cli, runs_in, script_yaml, start_runner, text, tool

REPO_SYSTEM = Path(__file__).resolve().parents[1] / "system"

PLAN = [
    {"title": "Plan the greeting", "status": "completed"},
    {"title": "Write hello", "status": "in_progress"},
    {"title": "Check it", "status": "pending"},
]

WRITE_THEN_DONE = script_yaml(
    [text("plan"), tool("UpdatePlan", steps=PLAN)],
    [tool("Write", file_path="hello.txt", content="hi\n")],
    [text("Done.")],
)


def write_script(project: Path, body: str, name: str = "script.yaml") -> Path:
    path = project / name
    path.write_text(body, encoding="utf-8")
    return path


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The run failed with exit 2 and said why in exactly one line on stderr."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def only_run(project: Path) -> Path:
    runs = sorted(runs_in(project))
    assert len(runs) == 1, runs
    return runs[0]


def status_json(project: Path) -> dict | None:
    proc = cli("status", "--json", cwd=project)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def wait_for(project: Path, pred, *, timeout: float = 15.0, driver: subprocess.Popen | None = None) -> dict:
    """Poll `status --json` until pred(state) holds; fail early if the driver died."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = status_json(project)
        if last is not None and pred(last):
            return last
        if driver is not None and driver.poll() is not None:
            out, err = driver.communicate()
            raise AssertionError(f"driver exited {driver.returncode} early: {out}\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"state not reached in {timeout}s; last: {last}")


def snapshot(root: Path, *, skip=lambda rel: False) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip(p.relative_to(root))
    }


@pytest.fixture
def spawn(project):
    """Start `llmos-tui …` as a long-lived driver; every one started is killed at teardown."""
    procs: list[subprocess.Popen] = []
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}

    def start(*args: str) -> subprocess.Popen:
        p = subprocess.Popen(
            [sys.executable, "-m", "llmos_tui", *args],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()  # SIGTERM only pauses a headless driver; SIGKILL ends it
        p.communicate(timeout=10)


def start_waiting_driver(project: Path, spawn) -> subprocess.Popen:
    """A headless run, in another process, waiting for approval of its Write (step 2)."""
    script = write_script(project, WRITE_THEN_DONE)
    p = spawn("run", "say hi", "--headless", "--script", str(script), "--approve", "side-effects")
    wait_for(project, lambda s: s["status"] == "awaiting_approval" and s["driver"] is not None, driver=p)
    return p


def stop_at_write(project: Path) -> subprocess.CompletedProcess:
    """A run stopped (--no-wait) at its Write, which needs a decision; no process drives it after."""
    script = write_script(project, WRITE_THEN_DONE)
    return cli(
        "run",
        "say hi",
        "--headless",
        "--script",
        str(script),
        "--approve",
        "side-effects",
        "--no-wait",
        cwd=project,
        check_rc=3,
    )


# ================================================================ help

SUBCOMMAND_PURPOSE = {
    "run": "goal",
    "resume": "continue",
    "status": "state",
    "runs": "runs",
    "approve": "pending step",
    "deny": "refuse",
    "skip": "skip",
    "retry": "again",
    "pause": "pause",
    "resume-run": "paused",
    "cancel": "cancel",
    "init": "system/",
    "demo": "demo",
}


def test_top_level_help_lists_every_command(tmp_path):
    proc = cli("--help", cwd=tmp_path, check_rc=0)
    assert proc.stdout.startswith("usage: llmos-tui")
    for name in SUBCOMMAND_PURPOSE:
        assert re.search(rf"^\s+{re.escape(name)}\b", proc.stdout, re.M), name


@pytest.mark.parametrize("name", sorted(SUBCOMMAND_PURPOSE))
def test_every_subcommand_has_help_that_says_what_it_does(tmp_path, name):
    proc = cli(name, "--help", cwd=tmp_path, check_rc=0)
    assert proc.stdout.startswith(f"usage: llmos-tui {name}")
    assert SUBCOMMAND_PURPOSE[name] in proc.stdout.lower()
    assert proc.stderr == ""


def test_no_arguments_outside_a_project_exits_2_and_says_to_run_init(tmp_path):
    # bare `llmos-tui` opens the TUI on ./workspace; with no workspace there it cannot
    msg = one_line_error(cli(cwd=tmp_path))
    assert "llmos-tui init" in msg


def test_unknown_command_is_bad_usage(tmp_path):
    proc = cli("frobnicate", cwd=tmp_path)
    assert proc.returncode == 2 and "usage: llmos-tui" in proc.stderr


# ================================================================ init


def test_init_creates_system_and_workspace_equal_to_the_repository_defaults(tmp_path):
    target = tmp_path / "proj"
    proc = cli("init", str(target), cwd=tmp_path, check_rc=0)
    assert proc.stdout.count("created") == 5
    # and init's record of what it wrote (system/.llmos-init.json: a second init repairs a cut default)
    assert sorted(p.name for p in (target / "system").iterdir()) == sorted([*SYSTEM_FILES, ".llmos-init.json"])
    assert set(SYSTEM_FILES) == {"SystemAgent.md", "ClaudeCodeToolMap.md", "TrainingDataCollector.md", "memory_log.md"}
    for name in SYSTEM_FILES:
        assert (target / "system" / name).read_bytes() == (REPO_SYSTEM / name).read_bytes(), name
    assert (target / "workspace").is_dir() and not any((target / "workspace").iterdir())


def test_init_without_dir_uses_the_current_folder(tmp_path):
    cli("init", cwd=tmp_path, check_rc=0)
    assert (tmp_path / "system" / "SystemAgent.md").is_file() and (tmp_path / "workspace").is_dir()


def test_init_again_changes_nothing_and_reports_kept(tmp_path):
    cli("init", str(tmp_path), cwd=tmp_path, check_rc=0)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    proc = cli("init", str(tmp_path), cwd=tmp_path, check_rc=0)
    assert "created" not in proc.stdout
    assert proc.stdout.count("kept") == 5
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_init_never_overwrites_an_edited_file_and_adds_a_missing_one_back(tmp_path):
    init_project(tmp_path)
    agent = tmp_path / "system" / "SystemAgent.md"
    edited = agent.read_bytes().replace(b"approval: side-effects", b"approval: ask") + b"\nMy own rule.\n"
    agent.write_bytes(edited)
    (tmp_path / "system" / "memory_log.md").unlink()
    proc = cli("init", str(tmp_path), cwd=tmp_path, check_rc=0)
    assert agent.read_bytes() == edited
    assert (tmp_path / "system" / "memory_log.md").read_bytes() == (REPO_SYSTEM / "memory_log.md").read_bytes()
    lines = {
        line.split()[-1].split("/", 1)[1]: line.split()[0]
        for line in proc.stdout.splitlines()
        if line.split() and line.split()[0] in ("created", "kept")
    }
    assert lines["system/memory_log.md"] == "created"
    assert lines["system/SystemAgent.md"] == "kept"


# ================================================================ a headless run


def test_headless_run_completes_with_real_files_and_a_full_record(project):
    script = write_script(project, WRITE_THEN_DONE)
    proc = cli("run", "say hi", "--headless", "--script", str(script), "--approve", "never", cwd=project, check_rc=0)
    assert "completed" in proc.stdout.splitlines()[-1]
    ws = project / "workspace"
    assert (ws / "hello.txt").read_text() == "hi\n"
    live = StateFile(ws / "execution_state.md").load()
    assert live.status == "completed" and live.goal == "say hi"
    run_dir = only_run(project)
    for name in ("journal.jsonl", "trace.json", "execution_state.md", "script.yaml"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "script.yaml").read_bytes() == script.read_bytes()
    assert (run_dir / "execution_state.md").read_bytes() == (ws / "execution_state.md").read_bytes()
    assert run_dir.name == live.run_id

    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    for r in records:
        assert isinstance(r["at"], str) and r["at"]
        assert isinstance(r["kind"], str) and r["kind"]
        assert isinstance(r["data"], dict)
    assert records[0]["kind"] == "run_started"
    trace = json.loads((run_dir / "trace.json").read_text())
    assert trace["final_outcome"] == "completed" and trace["goal"] == "say hi"


def test_script_that_ends_without_a_final_answer_fails_with_exit_1(project):
    script = write_script(project, script_yaml([tool("Write", file_path="a.txt", content="a")]))
    proc = cli("run", "write a", "--headless", "--script", str(script), "--approve", "never", cwd=project)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "failed" in proc.stdout.splitlines()[-1]
    st = status_json(project)
    assert st["status"] == "failed" and st["error"]["type"] == "script_exhausted"
    assert (project / "workspace" / "a.txt").read_text() == "a"


def test_no_wait_stops_at_a_decision_with_exit_3_and_says_how_to_decide(project):
    proc = stop_at_write(project)
    assert "llmos-tui approve" in proc.stdout
    assert "resume" in proc.stdout.splitlines()[-1]
    assert not (project / "workspace" / "hello.txt").exists()
    st = status_json(project)
    assert st["status"] == "awaiting_approval" and st["current_step"] == 2 and st["driver"] is None


def test_approve_without_a_driver_is_queued_and_resume_applies_it(project):
    stop_at_write(project)
    proc = cli("approve", cwd=project, check_rc=0)
    assert "queued" in proc.stdout and "resume" in proc.stdout
    assert not (project / "workspace" / "hello.txt").exists()  # nothing runs until a driver applies it
    cli("resume", "--headless", cwd=project, check_rc=0)
    assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
    assert status_json(project)["status"] == "completed"


def test_deny_with_feedback_reaches_the_model_as_the_tool_result(project):
    stop_at_write(project)
    proc = cli("deny", "--feedback", "use greeting.txt instead", cwd=project, check_rc=0)
    assert "queued" in proc.stdout
    cli("resume", "--headless", cwd=project, check_rc=0)
    assert not (project / "workspace" / "hello.txt").exists()
    trace = json.loads((only_run(project) / "trace.json").read_text())
    results = [
        b
        for m in trace["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    denied = [b for b in results if "use greeting.txt instead" in json.dumps(b["content"])]
    assert len(denied) == 1 and denied[0]["is_error"] is True
    assert trace["transitions"][1]["human"]["decision"] == "denied"


def test_simulate_mode_leaves_the_workspace_untouched_and_marks_steps_simulated(project):
    ws = project / "workspace"
    (ws / "keep.txt").write_text("original\n")
    (ws / "sub").mkdir()
    (ws / "sub" / "data.csv").write_bytes(b"a,b\n1,2\n")
    script = write_script(
        project,
        script_yaml(
            [tool("UpdatePlan", steps=[{"title": "Change files", "status": "in_progress"}])],
            [
                tool("Write", file_path="new.txt", content="new\n"),
                tool("Edit", file_path="keep.txt", old_string="original", new_string="changed"),
            ],
            [tool("Bash", command="rm keep.txt sub/data.csv; echo x > made.txt")],
            [text("Done.")],
        ),
    )

    def outside_runs(rel: Path) -> bool:
        return rel.parts[0] in ("runs", "execution_state.md", LOCK_NAME)

    before = snapshot(ws, skip=outside_runs)
    cli(
        "run",
        "change files",
        "--headless",
        "--mode",
        "simulate",
        "--script",
        str(script),
        "--approve",
        "never",
        cwd=project,
        check_rc=0,
    )
    assert snapshot(ws, skip=outside_runs) == before
    trace = json.loads((only_run(project) / "trace.json").read_text())
    assert trace["mode"] == "simulate"
    by_tool = {t["tool"]: t for t in trace["transitions"]}
    for name in ("Write", "Edit", "Bash"):
        assert by_tool[name]["simulated"] is True, by_tool[name]
        assert by_tool[name]["status"] == "done"


# ================================================================ a driver in another process


def test_a_waiting_driver_locks_the_workspace_reports_itself_and_takes_an_approval(project, spawn):
    driver = start_waiting_driver(project, spawn)
    st = status_json(project)
    assert st["status"] == "awaiting_approval" and st["current_step"] == 2
    assert st["driver"]["pid"] == driver.pid
    assert [p["title"] for p in st["plan"]] == [p["title"] for p in PLAN]
    assert [s["tool"] for s in st["steps"]] == ["UpdatePlan", "Write"]
    assert st["steps"][1]["status"] == "awaiting_approval"

    script = project / "script.yaml"
    second = cli("run", "another goal", "--headless", "--script", str(script), "--approve", "never", cwd=project)
    assert f"pid {driver.pid}" in one_line_error(second)
    again = cli("resume", "--headless", cwd=project)
    assert f"pid {driver.pid}" in one_line_error(again)
    assert len(list(runs_in(project))) == 1  # the refused run left nothing

    wrong = cli("approve", "--step", "1", cwd=project)
    assert "rejected" in one_line_error(wrong)

    proc = cli("approve", cwd=project, check_rc=0)
    assert "applied" in proc.stdout
    assert driver.wait(timeout=15) == 0
    assert (project / "workspace" / "hello.txt").read_text() == "hi\n"
    assert status_json(project)["status"] == "completed"


def test_pause_then_resume_run_on_a_waiting_driver(project, spawn):
    driver = start_waiting_driver(project, spawn)
    proc = cli("pause", cwd=project)
    assert proc.returncode == 0 and "applied" in proc.stdout, (proc.stdout, proc.stderr)
    assert status_json(project)["status"] == "paused"
    assert driver.poll() is None  # a paused headless driver waits to be resumed
    proc = cli("resume-run", cwd=project)
    assert proc.returncode == 0 and "applied" in proc.stdout, (proc.stdout, proc.stderr)
    assert status_json(project)["status"] == "awaiting_approval"
    cli("approve", cwd=project, check_rc=0)
    assert driver.wait(timeout=15) == 0


def test_cancel_ends_the_driver_with_exit_1(project, spawn):
    driver = start_waiting_driver(project, spawn)
    proc = cli("cancel", "--feedback", "wrong goal", cwd=project)
    assert proc.returncode == 0 and "applied" in proc.stdout, (proc.stdout, proc.stderr)
    assert driver.wait(timeout=15) == 1
    assert status_json(project)["status"] == "cancelled"
    assert not (project / "workspace" / "hello.txt").exists()


# ================================================================ decisions that cannot apply

BUDGET_SCRIPT = yaml.safe_dump(
    {
        "turns": [
            {
                "content": [tool("UpdatePlan", steps=[{"title": "Think", "status": "pending"}])],
                "usage": {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.5},
            },
            {"content": [text("Done.")]},
        ]
    },
    sort_keys=False,
)


def pause_on_budget(project: Path) -> subprocess.CompletedProcess:
    """A run paused between turns because its cost reached --max-cost (exit 3): no step pending."""
    script = write_script(project, BUDGET_SCRIPT)
    return cli(
        "run",
        "think",
        "--headless",
        "--script",
        str(script),
        "--approve",
        "never",
        "--max-cost",
        "0.4",
        "--no-wait",
        cwd=project,
        check_rc=3,
    )


def test_a_budget_pause_exits_3_and_approve_then_has_nothing_to_approve(project):
    proc = pause_on_budget(project)
    assert "paused" in proc.stdout.splitlines()[-1] and "max_cost" in proc.stdout
    assert status_json(project)["status"] == "paused"
    msg = one_line_error(cli("approve", cwd=project))
    assert "awaiting approval" in msg and "paused" in msg


def test_resume_with_a_raised_budget_continues_a_budget_paused_run(project):
    proc = pause_on_budget(project)
    run_id = status_json(project)["run_id"]
    assert f"llmos-tui resume {run_id}" in proc.stdout  # what the user is told to do
    proc = cli("resume", run_id, "--headless", "--max-cost", "5", "--no-wait", cwd=project, timeout=20)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert status_json(project)["status"] == "completed"


def test_approve_on_a_completed_run_is_refused(project):
    script = write_script(project, WRITE_THEN_DONE)
    cli("run", "say hi", "--headless", "--script", str(script), "--approve", "never", cwd=project, check_rc=0)
    msg = one_line_error(cli("approve", cwd=project))
    assert "completed" in msg
    assert not (only_run(project) / "control.jsonl").exists()  # nothing was queued


@pytest.mark.parametrize("bad", ["{file_path: x}", "[1, 2]"])
def test_approve_inputs_that_are_not_a_json_object_are_refused(project, bad):
    stop_at_write(project)
    msg = one_line_error(cli("approve", "--inputs", bad, cwd=project))
    assert "--inputs" in msg
    assert not (only_run(project) / "control.jsonl").exists()


@pytest.mark.parametrize("command", [["status"], ["approve"], ["deny"], ["resume", "--headless"]])
def test_an_unknown_run_id_is_refused(project, command):
    stop_at_write(project)
    msg = one_line_error(cli(command[0], "no-such-run", *command[1:], cwd=project))
    assert "no-such-run" in msg


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["approve"], ["resume", "--headless"]])
def test_no_runs_yet_says_how_to_start_one(project, command):
    msg = one_line_error(cli(*command, cwd=project))
    assert "llmos-tui run" in msg


def test_runs_with_no_runs_says_so(project):
    proc = cli("runs", cwd=project)
    assert "no runs" in proc.stdout


# ================================================================ bad input files


def test_script_with_a_yaml_syntax_error_names_file_and_line(project):
    script = write_script(project, 'turns:\n  - content:\n      - {type: text, text: "a"\n  - content: [x]\n')
    msg = one_line_error(cli("run", "g", "--headless", "--script", str(script), cwd=project))
    assert re.search(rf"{re.escape(str(script))}:[34]:", msg), msg
    assert "yaml" in msg.lower()
    assert not (project / "workspace" / "runs").exists()


def test_script_tool_use_without_a_name_names_the_line_of_that_turn(project):
    script = write_script(
        project,
        "turns:\n  - content:\n      - {type: text, text: a}\n  - content:\n      - {type: tool_use, input: {}}\n",
    )
    msg = one_line_error(cli("run", "g", "--headless", "--script", str(script), cwd=project))
    assert f"{script}:4:" in msg and "name" in msg


def _line_of(path: Path, prefix: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(prefix))


def test_system_agent_with_a_bad_approval_names_file_and_line(project):
    agent = project / "system" / "SystemAgent.md"
    agent.write_text(re.sub(r"(?m)^approval: \S+", "approval: maybe", agent.read_text()))
    script = write_script(project, WRITE_THEN_DONE)
    msg = one_line_error(cli("run", "g", "--headless", "--script", str(script), cwd=project))
    assert f"{agent}:{_line_of(agent, 'approval:')}:" in msg and "maybe" in msg


def test_system_agent_with_broken_yaml_names_file_and_line(project):
    agent = project / "system" / "SystemAgent.md"
    agent.write_text(re.sub(r"(?m)^approval: .*$", "approval: [side-effects", agent.read_text()))
    bad_line = _line_of(agent, "approval:")
    script = write_script(project, WRITE_THEN_DONE)
    msg = one_line_error(cli("run", "g", "--headless", "--script", str(script), cwd=project))
    m = re.search(rf"{re.escape(str(agent))}:(\d+):", msg)
    assert m, msg
    assert int(m.group(1)) == bad_line or f"line {bad_line}" in msg, msg


def test_toolmap_with_bad_side_effects_names_file_and_line(project):
    tm = project / "system" / "ClaudeCodeToolMap.md"
    original = tm.read_text()
    at = original.index("side_effects: filesystem")
    tm.write_text(original[:at] + "side_effects: lots" + original[at + len("side_effects: filesystem") :])
    lines = tm.read_text().splitlines()
    bad_line = next(i for i, line in enumerate(lines, 1) if line == "side_effects: lots")
    block_start = max(i for i, line in enumerate(lines[:bad_line], 1) if line.startswith("```yaml")) + 1
    script = write_script(project, WRITE_THEN_DONE)
    msg = one_line_error(cli("run", "g", "--headless", "--script", str(script), cwd=project))
    m = re.search(rf"{re.escape(str(tm))}:(\d+):", msg)
    assert m, msg
    assert block_start <= int(m.group(1)) <= bad_line and "lots" in msg


def test_missing_system_folder_says_to_run_init(project):
    shutil.rmtree(project / "system")
    script = write_script(project, WRITE_THEN_DONE)
    msg = one_line_error(cli("run", "g", "--headless", "--script", str(script), cwd=project))
    assert "llmos-tui init" in msg


def test_no_api_key_and_no_script_names_the_key_and_the_offline_alternative(project):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "llmos_tui", "run", "g", "--headless"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    msg = one_line_error(proc)
    assert "ANTHROPIC_API_KEY" in msg and "--script" in msg
    assert not (project / "workspace" / "runs").exists()


# ================================================================ runs and status


def test_runs_lists_newest_first_with_status_and_goal(project):
    first = write_script(project, WRITE_THEN_DONE)
    cli("run", "first goal", "--headless", "--script", str(first), "--approve", "never", cwd=project, check_rc=0)
    started = StateFile(project / "workspace" / "execution_state.md").load().started_at
    # run ids carry whole seconds: start the second run in a later second (same-second: see below)
    while dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") <= started[:19]:
        time.sleep(0.02)
    stop_at_write(project)  # "say hi", left awaiting approval
    lines = cli("runs", cwd=project, check_rc=0).stdout.splitlines()
    assert len(lines) == 2
    assert "awaiting_approval" in lines[0] and "say hi" in lines[0]
    assert "completed" in lines[1] and "first goal" in lines[1]


def test_status_text_shows_plan_checkboxes_and_the_pending_step(project):
    stop_at_write(project)
    out = cli("status", cwd=project, check_rc=0).stdout
    assert "awaiting_approval" in out.splitlines()[0] and "step 2" in out.splitlines()[0]
    assert "goal: say hi" in out
    assert "[x] Plan the greeting" in out
    assert "[~] Write hello" in out
    assert "[ ] Check it" in out
    assert re.search(r"step 2 Write is awaiting approval: .*hello\.txt", out), out
    assert "driver: none" in out


async def test_two_runs_in_the_same_second_the_newer_is_the_latest(ws, monkeypatch):
    import llmos_tui.core.workspace as workspace_mod

    draws = iter([15, 0])  # the newer run happens to draw the smaller random digit
    monkeypatch.setattr(workspace_mod, "secrets", types.SimpleNamespace(randbelow=lambda n: next(draws)), raising=False)
    if dt.datetime.now().microsecond > 500_000:  # both runs must start within one second
        time.sleep(1.0 - dt.datetime.now().microsecond / 1e6 + 0.01)
    older = start_runner(ws, script_yaml([text("one")]), goal="older goal")
    assert await older.drive() == "completed"
    newer = start_runner(ws, script_yaml([text("two")]), goal="newer goal")
    assert await newer.drive() == "completed"
    project = ws.root.parent
    lines = cli("runs", cwd=project, check_rc=0).stdout.splitlines()
    assert "newer goal" in lines[0] and "older goal" in lines[1]
    assert "goal: newer goal" in cli("status", cwd=project, check_rc=0).stdout


def test_a_step_approved_then_paused_before_it_ran_is_not_uncertain(project):
    stop_at_write(project)
    cli("approve", cwd=project, check_rc=0)
    ws = Workspace.locate(project)
    run_id = ws.latest_run_id()
    control = ControlChannel(ws.run_dir(run_id) / "control.jsonl")
    control.append(new_command("pause", feedback="pause after this step"))
    cli("resume", "--headless", "--no-wait", cwd=project, check_rc=3)  # applies both: paused
    proc = cli("resume", "--headless", "--no-wait", cwd=project)
    uncertain = [r for r in read_records(ws.run_dir(run_id) / "journal.jsonl") if r.get("to") == "uncertain"]
    assert uncertain == [], uncertain
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert (ws.root / "hello.txt").read_text() == "hi\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_pauses_a_waiting_headless_driver_and_it_exits_3(project, sig):
    """Ctrl-C (or a plain kill) leaves the run paused and resumable, and the driver really exits."""
    (project / "s.yaml").write_text(script_yaml([tool("Write", file_path="hello.txt", content="hi\n")], [text("done")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", "run", "--headless", "--script", "s.yaml", "say hi"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = cli("status", "--json", cwd=project)
            if r.returncode == 0 and json.loads(r.stdout)["status"] == "awaiting_approval":
                break
            time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, (out, err)
    assert "paused" in out and "llmos-tui resume" in out
    assert json.loads(cli("status", "--json", cwd=project).stdout)["status"] == "paused"


def test_a_project_folder_with_a_runs_folder_of_its_own_is_still_a_project(project):
    (project / "runs").mkdir()  # e.g. a project that keeps its own CI runs here
    r = cli("runs", cwd=project)
    assert r.returncode == 0 and "no runs in" in r.stdout and str(project / "workspace") in r.stdout
