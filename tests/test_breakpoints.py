"""Breakpoints: a call that would run at once waits for a person instead — under `--approve never`
too — and the step, the run's status and every face say which breakpoint stopped it.

Contract: docs/design.md §10.1 (the kinds), §1.1 (SystemAgent.md `breakpoints:`), §5 (the
`breakpoints` control action), §7.1 (`--break`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from llmos_tui.core.config import load_agent_config
from llmos_tui.core.control import ControlChannel, new_command, parse_command
from llmos_tui.core.engine.breakpoints import hit, parse_breakpoint, relative_path
from llmos_tui.core.errors import BadInput, FileFormatError
from llmos_tui.core.journal import read_records
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.session import load_parts
from llmos_tui.core.toolmap import load_toolmap

from conftest import cli, resume_runner, runs_in, script_yaml, start_runner, text, tool
from test_hook import claude_project, finish, pre, start_hook, status, transcript, wait_awaiting  # noqa: F401
from test_runner import until


def write_script(project: Path, body: str) -> Path:
    path = project / "script.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def one_line_error(proc) -> str:
    """Exit 2, and why in exactly one line on stderr."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def status_json(project: Path) -> dict:
    return json.loads(cli("status", "--json", cwd=project, check_rc=0).stdout)


def registry(ws) -> ToolRegistry:
    return ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))


def kinds(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r["kind"] == kind]


async def stops(r, *, decision: str = "approve") -> list[tuple[int, str | None]]:
    """Drive the run in-process; at each step that waits, note (step, breakpoint) and decide it."""
    task = asyncio.create_task(r.drive())
    seen: list[tuple[int, str | None]] = []

    def news() -> bool:
        cur = r.ledger.current_step
        fresh = cur is not None and cur.status == "awaiting_approval" and all(cur.n != n for n, _ in seen)
        return task.done() or (r.ledger.status == "awaiting_approval" and fresh)

    while True:
        await until(news)
        if task.done():
            break
        cur = r.ledger.current_step
        seen.append((cur.n, cur.breakpoint))
        r.submit(new_command(decision, step=cur.n))
    assert await task == "completed"
    return seen


# ---------------------------------------------------------------- the spec syntax


def test_each_kind_parses_and_a_bad_one_is_one_line_naming_what_is_wrong(ws):
    reg = registry(ws)
    assert parse_breakpoint("Write", reg).kind == "tool"
    assert parse_breakpoint(" path:./src/**/*.py ", reg).kind == "path"
    assert parse_breakpoint("bash:rm -rf ", reg).spec == "bash:rm -rf "  # a regex keeps its blanks
    assert parse_breakpoint("step:3", reg).number == 3
    assert parse_breakpoint("cost:0.5", reg).number == 0.5
    assert parse_breakpoint("failed", reg).kind == "failed"
    for bad, words in [
        ("Wrtie", ["no tool 'Wrtie'", "Write", "Bash", "Read"]),
        ("bash:(", ["not a regular expression"]),
        ("bash:", ["needs a regular expression"]),
        ("step:0", ["step number"]),
        ("step:two", ["step number"]),
        ("cost:-1", ["USD > 0"]),
        ("cost:nan", ["USD > 0"]),
        ("path:", ["needs a glob"]),
        ("line:3", ["unknown kind 'line:'"]),
        ("", ["empty"]),
        ("Write\nRead", ["one line"]),
        (3, ["is text"]),
    ]:
        with pytest.raises(BadInput) as info:
            parse_breakpoint(bad, reg)
        message = str(info.value)
        assert "\n" not in message
        for w in words:
            assert w in message, (bad, message)


@pytest.mark.parametrize(
    "glob,path,matches",
    [
        ("notes/**", "notes/a.md", True),
        ("notes/**", "./notes/deep/b.md", True),
        ("notes/**", "notesy/a.md", False),
        ("**/*.py", "a.py", True),
        ("**/*.py", "src/x/a.py", True),
        ("src/*.py", "src/x/a.py", False),  # * stays within one folder
        ("*.env", "deep/down/env.txt", False),
        ("*.env", "deep/down/prod.env", True),  # no "/": the file's name, at any depth
        ("./a/b.txt", "a/x/../b.txt", True),
        ("/etc/**", "/etc/passwd", True),  # outside the workspace: absolute
        ("secret.txt", "{root}/secret.txt", True),  # inside it: relative
        ("w/secret.txt", "{root}/secret.txt", False),
    ],
)
def test_path_globs_match_the_call_s_path_relative_to_the_workspace(ws, glob, path, matches):
    led = Ledger()
    step = _step(led, "Write", {"file_path": path.format(root=ws.root), "content": ""})
    assert (hit((f"path:{glob}",), step, led, root=str(ws.root)) is not None) is matches


def test_path_looks_at_each_file_tool_s_own_input(ws):
    led = Ledger()
    root = str(ws.root)
    assert hit(("path:nb/*",), _step(led, "NotebookEdit", {"notebook_path": "nb/a.ipynb"}), led, root=root)
    assert hit(("path:src",), _step(led, "Grep", {"pattern": "x", "path": "./src"}), led, root=root)
    assert hit(("path:**",), _step(led, "Glob", {"pattern": "*"}), led, root=root)  # (the workspace itself)
    assert not hit(("path:**",), _step(led, "Bash", {"command": "cat a"}), led, root=root)
    assert relative_path("./a/../b", root) == "b" and relative_path(root, root) == "."


def test_the_first_matching_spec_is_the_one_that_hit(ws):
    led = Ledger()
    step = _step(led, "Bash", {"command": "rm -rf build"})
    assert hit(("Write", "bash:^rm ", "Bash"), step, led) == "bash:^rm "
    assert hit(("bash:^echo",), step, led) is None
    assert hit((), step, led) is None


def _step(led: Ledger, tool_name: str, inputs: dict):
    led.apply(
        {
            "seq": len(led.steps) + 1,
            "at": "",
            "kind": "step_status",
            "step": len(led.steps) + 1,
            "from": None,
            "to": "proposed",
            "data": {"tool": tool_name, "inputs": inputs, "tool_use_id": f"t{len(led.steps)}"},
        }
    )
    return led.steps[-1]


# ---------------------------------------------------------------- each kind stops a run under `never`

FOUR_CALLS = script_yaml(
    [tool("Write", file_path="./notes/a.md", content="hi\n")],
    [tool("Bash", command="echo made > made.txt")],
    [tool("Read", file_path="notes/a.md")],
    [tool("Glob", pattern="*")],
    [text("Done.")],
)


@pytest.mark.parametrize(
    "spec,stopped",
    [
        ("Write", [1]),
        ("Read", [3]),
        ("path:notes/**", [1, 3]),
        ("path:*.md", [1, 3]),
        ("bash:made\\.txt$", [2]),
        ("bash:^rm", []),
        ("step:4", [4]),
    ],
)
async def test_each_kind_stops_where_it_should_even_under_never(ws, spec, stopped):
    r = start_runner(ws, FOUR_CALLS, approval="never", breakpoints=(spec,))
    assert await stops(r) == [(n, spec) for n in stopped]
    assert r.ledger.steps[1].status == "done" and (ws.root / "made.txt").exists()  # approved: it ran
    records = read_records(r.run_dir / "journal.jsonl")
    assert records[0]["data"]["breakpoints"] == [spec]
    waits = [x for x in kinds(records, "step_status") if x["to"] == "awaiting_approval"]
    assert [x["step"] for x in waits] == stopped and all(x["data"]["breakpoint"] == spec for x in waits)
    reasons = [x["data"].get("reason", "") for x in kinds(records, "run_status") if x["to"] == "awaiting_approval"]
    assert reasons == [f'breakpoint "{spec}" hit at step {n} ({r.ledger.steps[n - 1].tool})' for n in stopped]


async def test_approving_goes_on_to_the_next_breakpoint_and_the_first_matching_spec_is_named(ws):
    r = start_runner(ws, FOUR_CALLS, approval="never", breakpoints=("step:3", "Read", "Glob"))
    assert await stops(r) == [(3, "step:3"), (4, "Glob")]


async def test_failed_stops_the_step_after_a_step_that_failed(ws):
    script = script_yaml(
        [tool("Glob", pattern="*")],
        [tool("Read", file_path="missing.txt")],
        [tool("Glob", pattern="*.md")],
        [tool("Glob", pattern="*.txt")],
        [text("Done.")],
    )
    r = start_runner(ws, script, approval="never", breakpoints=("failed",))
    assert await stops(r) == [(3, "failed")]
    assert r.ledger.steps[1].status == "failed"


async def test_cost_stops_once_when_the_run_s_cost_goes_above_it(ws):
    def turn(content: str) -> str:
        return f"  - usage: {{input_tokens: 100, output_tokens: 10, cost_usd: 0.003}}\n    content: [{content}]\n"

    glob = "{type: tool_use, name: Glob, input: {pattern: '*'}}"
    script = "turns:\n" + turn(glob) + turn(f"{glob}, {glob}") + turn(glob) + turn("{type: text, text: done}")
    r = start_runner(ws, script, approval="never", breakpoints=("cost:0.005",))
    # $0.003 at step 1; $0.006 when steps 2 and 3 are proposed: step 2 stops, 3 and 4 do not
    assert await stops(r) == [(2, "cost:0.005")]


async def test_a_step_that_asks_anyway_names_the_breakpoint_and_refused_calls_are_not_stopped(ws):
    tm = ws.system / "ClaudeCodeToolMap.md"
    body = tm.read_text()
    start = body.index("claude_tool: Edit")
    end = body.index("approval: ask", start)
    tm.write_text(body[:end] + "approval: deny" + body[end + len("approval: ask") :])
    script = script_yaml(
        [tool("Write", file_path="a.md", content="x")],  # asks under side-effects anyway
        [tool("Edit", file_path="a.md", old_string="x", new_string="y")],  # the ToolMap denies it
        [tool("Write", file_path="b.md")],  # invalid: no content
        [tool("Glob", pattern="*")],
        [text("Done.")],
    )
    r = start_runner(ws, script, approval="side-effects", breakpoints=("path:*.md", "step:3"))
    assert await stops(r) == [(1, "path:*.md")]
    assert [s.status for s in r.ledger.steps] == ["done", "denied", "failed", "done"]
    assert [s.breakpoint for s in r.ledger.steps] == ["path:*.md", None, None, None]


# ---------------------------------------------------------------- the `breakpoints` control command

TWO_WRITES = script_yaml(
    [tool("Write", file_path="a.txt", content="a")],
    [tool("Write", file_path="b.txt", content="b")],
    [tool("Glob", pattern="*")],
    [text("Done.")],
)


async def test_the_command_adds_and_removes_breakpoints_on_a_waiting_run_and_refuses_a_bad_one(ws):
    r = start_runner(ws, TWO_WRITES, approval="never", breakpoints=("step:1",))
    task = asyncio.create_task(r.drive())
    await until(lambda: r.ledger.status == "awaiting_approval")
    add = r.submit(new_command("breakpoints", breakpoints=["step:1", "Glob"]))
    bad = r.submit(new_command("breakpoints", breakpoints=["Glob", "bash:("]))
    await until(lambda: {add.id, bad.id} <= r.ledger.commands_seen)
    assert r.ledger.breakpoints == ("step:1", "Glob")
    assert r.ledger.current_step.n == 1 and r.ledger.current_step.status == "awaiting_approval"  # still waits
    r.submit(new_command("approve", step=1))
    await until(lambda: r.ledger.current_step is not None and r.ledger.current_step.n == 3)
    assert r.ledger.status == "awaiting_approval" and r.ledger.current_step.breakpoint == "Glob"
    off = r.submit(new_command("breakpoints", breakpoints=[]))
    await until(lambda: off.id in r.ledger.commands_seen)
    r.submit(new_command("approve", step=3))
    assert await task == "completed"
    records = read_records(r.run_dir / "journal.jsonl")
    changes = kinds(records, "breakpoints_changed")
    assert [(c["data"]["breakpoints"], c["data"]["by"]) for c in changes] == [
        (["step:1", "Glob"], add.id),
        ([], off.id),
    ]
    (refused,) = [c for c in kinds(records, "command") if c["data"].get("id") == bad.id]
    assert refused["data"]["applied"] is False and refused["data"]["breakpoints"] == ["Glob", "bash:("]
    assert "not a regular expression" in refused["data"]["reason"]
    # the command is refused on an ended run the way every command is
    assert r.commands.apply(new_command("breakpoints", breakpoints=["Write"])) == "the run is completed"


async def test_the_command_works_on_a_paused_run_and_malformed_ones_are_reported(ws):
    r = start_runner(ws, TWO_WRITES, approval="never")
    r.submit(new_command("pause"))
    task = asyncio.create_task(r.drive())
    await until(lambda: r.ledger.status == "paused")
    cmd = r.submit(new_command("breakpoints", breakpoints=["Glob"]))
    await until(lambda: cmd.id in r.ledger.commands_seen)
    assert r.ledger.status == "paused" and r.ledger.breakpoints == ("Glob",)
    r.submit(new_command("resume"))
    await until(lambda: r.ledger.status == "awaiting_approval")
    assert r.ledger.current_step.n == 3 and r.ledger.current_step.breakpoint == "Glob"
    r.submit(new_command("cancel"))
    assert await task == "cancelled"

    # queued while no process drives the run: the next resume applies it
    r = start_runner(ws, TWO_WRITES, approval="never", no_wait=True)
    r.submit(new_command("pause"))
    assert await r.drive() == "paused"
    ControlChannel(r.run_dir / "control.jsonl").append(new_command("breakpoints", breakpoints=["Write"]))
    again = resume_runner(ws, r.run_id, TWO_WRITES, no_wait=True)
    assert await again.drive() == "waiting"
    assert again.ledger.breakpoints == ("Write",) and again.ledger.current_step.breakpoint == "Write"

    for line, reason in [
        (b'{"id": "c-1", "action": "breakpoints"}', "needs breakpoints"),
        (b'{"id": "c-1", "action": "breakpoints", "breakpoints": "Write"}', "list of texts"),
        (b'{"id": "c-1", "action": "breakpoints", "breakpoints": [1]}', "list of texts"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_command(line)
    cmd = parse_command(b'{"id": "c-2", "action": "breakpoints", "breakpoints": ["Write", "step:2"]}')
    assert cmd.breakpoints == ("Write", "step:2") and cmd.to_json()["breakpoints"] == ["Write", "step:2"]


async def test_a_resumed_run_keeps_its_breakpoints(ws):
    r = start_runner(ws, TWO_WRITES, approval="never", no_wait=True, breakpoints=("Write",))
    assert await r.drive() == "waiting"
    ControlChannel(r.run_dir / "control.jsonl").append(new_command("approve", step=1))
    again = resume_runner(ws, r.run_id, TWO_WRITES, no_wait=True)  # SystemAgent.md has none
    assert await again.drive() == "waiting"
    assert again.ledger.current_step.n == 2 and again.ledger.current_step.breakpoint == "Write"


# ---------------------------------------------------------------- SystemAgent.md `breakpoints:`


def _with_breakpoints(ws, value: str) -> int:
    path = ws.system / "SystemAgent.md"
    lines = [line for line in path.read_text().splitlines(keepends=True) if not line.startswith("breakpoints:")]
    at = next(i for i, line in enumerate(lines) if line.startswith("approval:")) + 1
    lines.insert(at, f"breakpoints: {value}\n")
    path.write_text("".join(lines))
    return at + 1


def test_system_agent_breakpoints_are_read_and_journaled(ws):
    _with_breakpoints(ws, '[Write, "bash:^rm "]')
    config, _ = load_parts(ws)
    assert config.breakpoints == ("Write", "bash:^rm ")


@pytest.mark.parametrize(
    "value,words",
    [
        ("Write", "must be a list"),
        ('["bash:("]', "not a regular expression"),
        ("[step:0]", "step number"),
        ("[Wrtie]", "no tool 'Wrtie'"),
    ],
)
def test_a_bad_system_agent_breakpoint_is_reported_with_its_line(ws, value, words):
    line = _with_breakpoints(ws, value)
    with pytest.raises(FileFormatError) as info:
        load_parts(ws)
    assert info.value.line == line and words in info.value.problem
    assert str(info.value).startswith(f"{ws.system / 'SystemAgent.md'}:{line}: breakpoints")
    if words != "no tool 'Wrtie'":  # (the tool names are checked against the ToolMap, after)
        with pytest.raises(FileFormatError):
            load_agent_config(ws.system / "SystemAgent.md")


# ---------------------------------------------------------------- the command line

WRITE_THEN_GLOB = script_yaml(
    [text("plan"), tool("Glob", pattern="*")],
    [tool("Write", file_path="hello.txt", content="hi\n")],
    [tool("Glob", pattern="*.txt")],
    [text("Done.")],
)


def test_break_stops_a_headless_run_says_which_and_status_shows_it(project):
    script = write_script(project, WRITE_THEN_GLOB)
    args = ("run", "say hi", "--headless", "--script", str(script), "--approve", "never", "--no-wait")
    proc = cli(*args, "--break", "Write", "--break", "Write", cwd=project, check_rc=3)
    assert "step 2 Write(" in proc.stdout and ') waits: breakpoint "Write" hit — approve with' in proc.stdout
    assert '(Write, awaiting approval) at breakpoint "Write"' in proc.stdout
    st = status_json(project)
    assert st["breakpoints"] == ["Write"]  # (once)
    assert [s.get("breakpoint") for s in st["steps"]] == [None, "Write"]
    text_status = cli("status", cwd=project, check_rc=0).stdout
    assert "breakpoints: Write" in text_status and '(breakpoint "Write" hit)' in text_status
    # resume adds to them; the run keeps the ones it had
    cli("approve", cwd=project, check_rc=0)
    resumed = cli("resume", "--headless", "--no-wait", "--break", "step:3", cwd=project, check_rc=3)
    assert "step 3 Glob(pattern='*.txt') waits: breakpoint \"step:3\" hit" in resumed.stdout, resumed.stdout
    (run_dir,) = runs_in(project)
    records = read_records(run_dir / "journal.jsonl")
    assert records[0]["data"]["breakpoints"] == ["Write"]
    (change,) = kinds(records, "breakpoints_changed")
    assert change["data"] == {"breakpoints": ["Write", "step:3"], "by": "cli"}


def test_a_bad_break_is_exit_2_in_one_line_before_any_run_starts(project):
    script = write_script(project, WRITE_THEN_GLOB)
    for spec, words in [("Wrtie", "no tool 'Wrtie'"), ("bash:(", "not a regular expression"), ("x:1", "unknown kind")]:
        line = one_line_error(cli("run", "hi", "--headless", "--script", str(script), "--break", spec, cwd=project))
        assert words in line, line
        line = one_line_error(cli("run", "hi", "--script", str(script), "--break", spec, cwd=project))  # (TUI)
        assert words in line, line
    assert not (project / "workspace" / "runs").exists() or not any(runs_in(project))
    cli("run", "hi", "--headless", "--script", str(script), "--no-wait", cwd=project, check_rc=3)
    one_line_error(cli("resume", "--headless", "--break", "step:x", cwd=project))
    one_line_error(cli("resume", "--break", "step:x", cwd=project))
    one_line_error(cli("demo", "--headless", "--break", "cost:0", "--workspace", str(project / "d"), cwd=project))
    help_text = cli("run", "--help", cwd=project, check_rc=0).stdout
    for kind in ("path:GLOB", "bash:REGEX", "step:N", "cost:USD", "failed"):
        assert kind in help_text


# ---------------------------------------------------------------- the hook driver


def test_the_hook_stops_at_a_breakpoint_and_says_which(claude_project):  # noqa: F811
    project = claude_project
    agent = project / "system" / "SystemAgent.md"
    agent.write_text(agent.read_text().replace("\nbreakpoints: []", "\nbreakpoints: [Read]", 1))
    transcript(project)
    proc = start_hook(pre(project, "Read", {"file_path": str(project / "README.md")}, "toolu_01R"))
    st = wait_awaiting(project, 1, proc)
    assert st["breakpoints"] == ["Read"] and st["steps"][0]["breakpoint"] == "Read"
    r = cli("approve", "--workspace", str(project), cwd=project)
    assert r.returncode == 0 and "applied" in r.stdout, (r.stdout, r.stderr)
    _, out = finish(proc)
    assert out["hookSpecificOutput"]["permissionDecision"] == "allow"
    journal = next((project / "workspace" / "runs").glob("*/journal.jsonl"))
    records = read_records(journal)
    reasons = [x["data"].get("reason") for x in kinds(records, "run_status") if x["to"] == "awaiting_approval"]
    assert reasons == ['breakpoint "Read" hit at step 1 (Read)']
    assert json.loads(json.dumps(records[0]["data"]["breakpoints"])) == ["Read"]


def test_the_hook_lets_a_call_run_when_no_breakpoint_stops_it(claude_project):  # noqa: F811
    project = claude_project
    agent = project / "system" / "SystemAgent.md"
    agent.write_text(agent.read_text().replace("\nbreakpoints: []", "\nbreakpoints: [step:2]", 1))
    transcript(project)
    proc = start_hook(pre(project, "Read", {"file_path": str(Path(project) / "README.md")}, "toolu_01R"))
    rc, out = finish(proc)
    assert out is None  # Claude Code's own rules decide, as without llmos-tui
    assert status(project)["steps"][0]["status"] == "running"
