"""Bash in bubblewrap (issue 11): the workspace writable, the rest read-only, the user's secrets
hidden, /tmp private, the network off unless allowed, the API keys out of its environment — and
normal work still works. Against the real `bwrap`: skipped when this machine has none that works,
a failure instead when LLMOS_REQUIRE_BWRAP is set (CI installs it, .ci/run).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos_tui.core.config import load_agent_config
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.journal import read_records
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import Runner, RunOptions
from llmos_tui.core.runtime.scripted import ScriptedRuntime
from llmos_tui.core.toolmap import load_toolmap, parse_toolmap
from llmos_tui.core.tools import bwrap, procs
from llmos_tui.core.tools.base import ToolContext, ToolError
from llmos_tui.core.tools.bash import BashPolicy, BashTool, clean_environment
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.workspace import Workspace

from conftest import cli, script_yaml, start_runner, text, tool

KEY = "sk-ant-api03-SANDBOXTESTSECRET0123456789"
started: list[dict] = []  # the process groups Bash calls reported (ctx.extra["on_process"])


@pytest.fixture
def need_bwrap() -> None:
    found = bwrap.probe()
    if not found.ok:
        if os.environ.get("LLMOS_REQUIRE_BWRAP"):
            pytest.fail(f"LLMOS_REQUIRE_BWRAP is set but {found.reason}")
        pytest.skip(found.reason)


@pytest.fixture
def home(monkeypatch) -> Iterator[Path]:
    """A HOME with fake secrets, outside /tmp (the sandbox's /tmp is private anyway, which would
    hide them for the wrong reason)."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="llmos-home-", dir=base))
    h = folder / "home"
    (h / ".ssh").mkdir(parents=True)
    (h / ".ssh" / "id_rsa").write_text("-----BEGIN FAKE PRIVATE KEY-----\nSSHSECRET\n")
    (h / ".aws").mkdir()
    (h / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = AWSSECRET\n")
    (h / ".config" / "gh").mkdir(parents=True)
    (h / ".config" / "gh" / "hosts.yml").write_text("oauth_token: GHSECRET\n")
    (h / ".netrc").write_text("machine example.com login me password NETRCSECRET\n")
    (h / "notes.txt").write_text("not a secret\n")
    monkeypatch.setenv("HOME", str(h))
    yield h
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "runs" / "r1").mkdir(parents=True)
    (root / "runs" / "r1" / "control.jsonl").write_text("")
    (root / "execution_state.md").write_text("---\n---\n")
    return root


def ctx_for(ws: Path, **policy: object) -> ToolContext:
    reserved = tuple(str(ws / n) for n in ("runs", "execution_state.md", ".llmos-driver.lock"))
    return ToolContext(sandbox=Sandbox(ws), extra={"bash": BashPolicy(read_only=reserved, **policy)})  # type: ignore[arg-type]


async def bash(ctx: ToolContext, command: str, **inputs: object) -> tuple[str, bool]:
    out = await BashTool().run({"command": command, **inputs}, ctx)
    return out.text, out.is_error


# ---------------------------------------------------------------------------------- confinement


async def test_it_cannot_write_outside_the_workspace(need_bwrap, home, ws, tmp_path):
    ctx = ctx_for(ws)
    for command in ("touch /etc/llmos-x", "echo x > ~/x", "echo x >> ~/notes.txt", "rm -rf ~/.ssh"):
        out, failed = await bash(ctx, command)
        assert failed and "Read-only file system" in out, (command, out)
    assert not Path("/etc/llmos-x").exists() and not (home / "x").exists()
    assert (home / "notes.txt").read_text() == "not a secret\n" and (home / ".ssh" / "id_rsa").exists()
    # beside the workspace, under /tmp: the write lands in the call's private /tmp, never here
    outside = tmp_path / "outside.txt"
    await bash(ctx, f"echo x > {outside}")
    assert not outside.exists()


async def test_it_cannot_write_llmos_tuis_own_files_in_the_workspace(need_bwrap, ws):
    ctx = ctx_for(ws)
    for command in (
        'echo \'{"id":"c-1","action":"approve"}\' >> runs/r1/control.jsonl',
        "echo x > execution_state.md",
        "rm -rf runs",
    ):
        _, failed = await bash(ctx, command)
        assert failed, command
    assert (ws / "runs" / "r1" / "control.jsonl").read_text() == ""
    assert (ws / "execution_state.md").read_text() == "---\n---\n"


async def test_it_cannot_read_the_users_secrets(need_bwrap, home, ws):
    ctx = ctx_for(ws)
    out, _ = await bash(ctx, "cat ~/.ssh/id_rsa ~/.aws/credentials ~/.config/gh/hosts.yml ~/.netrc; ls -A ~/.ssh")
    for secret in ("SSHSECRET", "AWSSECRET", "GHSECRET", "NETRCSECRET"):
        assert secret not in out
    assert "No such file" in out
    out, failed = await bash(ctx, "cat ~/notes.txt")  # the rest of the home stays readable
    assert out == "not a secret" and not failed


async def test_secrets_stay_hidden_in_a_home_inside_the_workspace(need_bwrap, tmp_path, monkeypatch):
    """A workspace that holds the home: the home's secrets are hidden again after the bind."""
    root = tmp_path / "ws"
    (root / "home" / ".ssh").mkdir(parents=True)
    (root / "home" / ".ssh" / "id_rsa").write_text("SSHSECRET\n")
    monkeypatch.setenv("HOME", str(root / "home"))
    out, _ = await bash(ctx_for(root), "cat home/.ssh/id_rsa; echo ok > home/made.txt")
    assert "SSHSECRET" not in out and (root / "home" / "made.txt").read_text() == "ok\n"


async def test_tmp_is_private(need_bwrap, ws):
    marker = Path(tempfile.mkstemp(prefix="llmos-host-")[1])
    mine = Path("/tmp") / f"llmos-sandbox-{os.getpid()}-{time.monotonic_ns()}"
    try:
        out, failed = await bash(ctx_for(ws), f"ls {marker} 2>&1; echo private > {mine}; cat {mine}")
        assert "No such file" in out and out.endswith("private") and not failed
        assert not mine.exists()
    finally:
        marker.unlink()


@pytest.fixture
def server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that greets whoever connects."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"hello\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    sock.close()


async def test_the_network_is_off_unless_allowed(need_bwrap, ws, server):
    connect = f"exec 3<>/dev/tcp/127.0.0.1/{server} && head -n1 <&3"
    out, failed = await bash(ctx_for(ws), connect)
    assert failed and ("refused" in out or "unreachable" in out), out
    out, failed = await bash(ctx_for(ws, network=True), connect)
    assert out == "hello" and not failed
    out, failed = await bash(ctx_for(ws, sandbox=False), connect)
    assert out == "hello" and not failed


async def test_the_api_keys_are_not_in_its_environment(need_bwrap, ws, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-SECRET")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "TOKENSECRET")
    monkeypatch.setenv("LISTED_IN_TDC", "LISTEDSECRET")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # named like a token, but not one
    for ctx in (ctx_for(ws, hide_env=("LISTED_IN_TDC",)), ctx_for(ws, sandbox=False, hide_env=("LISTED_IN_TDC",))):
        out, _ = await bash(ctx, "env")
        for secret in (KEY, "sk-openai-SECRET", "TOKENSECRET", "LISTEDSECRET"):
            assert secret not in out
        assert "TOKENIZERS_PARALLELISM=false" in out and "PATH=" in out


def test_clean_environment_rule():
    env = {"ANTHROPIC_AUTH_TOKEN": "a", "GH_TOKEN": "b", "DB_PASSWORD": "c", "X_API_KEY": "d", "PATH": "/bin"}
    assert clean_environment(env) == {"PATH": "/bin"}
    assert clean_environment({"KEEP": "1", "DROP": "2"}, ("DROP",)) == {"KEEP": "1"}


# ---------------------------------------------------------------------------------- normal work


async def test_normal_work_still_works(need_bwrap, ws):
    ctx = ctx_for(ws)
    out, failed = await bash(ctx, "pwd; mkdir -p out && echo hi > out/a.txt && cat out/a.txt")
    assert out == f"{ws.resolve()}\nhi" and not failed
    out, failed = await bash(ctx, f"{sys.executable} -c 'print(6 * 7)' | tr 4 x")
    assert out == "x2" and not failed
    out, failed = await bash(ctx, "(sleep 0.1; echo bg) & wait; seq 3 | wc -l")
    assert out == "bg\n3" and not failed
    out, failed = await bash(ctx, "printf 'b\\na\\n' > u.txt; sort u.txt | head -1")
    assert out == "a" and not failed


async def test_a_timeout_kills_everything_it_started_inside_the_sandbox(need_bwrap, ws):
    ctx = ToolContext(sandbox=Sandbox(ws), extra={"bash": BashPolicy(), "on_process": started.append})
    started.clear()
    t0 = time.monotonic()
    with pytest.raises(ToolError, match="timed out after 0.5 s"):
        await BashTool().run({"command": "sleep 30 & sleep 30 & echo up; sleep 30", "timeout": 500}, ctx)
    assert time.monotonic() - t0 < 5
    deadline = time.monotonic() + 3
    while procs.survivors(started[0]) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert procs.survivors(started[0]) == []


async def test_a_background_process_ends_with_its_call_under_the_sandbox(need_bwrap, ws):
    """Its own pid namespace: what a call leaves running dies when the call's shell exits."""
    ctx = ToolContext(sandbox=Sandbox(ws), extra={"bash": BashPolicy(), "on_process": started.append})
    started.clear()
    out, failed = await bash(ctx, "sleep 30 & echo started")
    assert out == "started" and not failed
    deadline = time.monotonic() + 3
    while procs.survivors(started[0]) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert procs.survivors(started[0]) == []


async def test_sandbox_off_runs_unconfined(ws, tmp_path):
    outside = tmp_path / "outside.txt"
    out, failed = await bash(ctx_for(ws, sandbox=False), f"echo x > {outside}; cat /proc/1/cmdline | tr '\\0' ' '")
    assert not failed and outside.read_text() == "x\n"
    assert "bwrap" not in out


# ---------------------------------------------------------------------------------- through a run


def set_bash_entry(ws: Workspace, old: str, new: str) -> None:
    toolmap = ws.system / "ClaudeCodeToolMap.md"
    text = toolmap.read_text()
    assert text.count(old) == 1
    toolmap.write_text(text.replace(old, new))


def bash_run(ws: Workspace, command: str) -> Runner:
    return start_runner(ws, script_yaml([tool("Bash", command=command)], [text("done")]))


async def test_a_run_sandboxes_bash_by_default(need_bwrap, ws_project, tmp_path):
    ws = ws_project
    runner = bash_run(ws, "echo x > ../outside.txt; touch /usr/llmos-x")
    assert await runner.drive() == "completed"
    assert "Read-only file system" in runner.ledger.steps[0].content
    assert not (tmp_path / "outside.txt").exists() and not Path("/usr/llmos-x").exists()
    assert runner.notices == []
    process = [r for r in read_records(runner.run_dir / "journal.jsonl") if r["kind"] == "step_process"]
    assert len(process) == 1 and process[0]["step"] == 1
    assert set(process[0]["data"]) == {"pgid", "start", "boot", "mark"}


async def test_a_toolmap_sandbox_off_runs_bash_unconfined(ws_project, tmp_path):
    ws = ws_project
    set_bash_entry(ws, "sandbox: on ", "sandbox: off ")
    outside = tmp_path / "outside.txt"
    runner = bash_run(ws, f"echo x > {outside}")
    assert await runner.drive() == "completed"
    assert outside.read_text() == "x\n"
    assert runner.notices == []  # unconfined by choice: nothing to say


@pytest.mark.parametrize("where", ["toolmap", "system_agent"])
async def test_the_network_can_be_allowed(need_bwrap, ws_project, server, where):
    ws = ws_project
    if where == "toolmap":
        set_bash_entry(ws, "network: deny ", "network: allow ")
    else:
        agent = ws.system / "SystemAgent.md"
        agent.write_text(agent.read_text().replace("bash_network: false", "bash_network: true", 1))
    config = load_agent_config(ws.system / "SystemAgent.md").with_(approval="never")
    runner = Runner.start(
        ws,
        "net",
        config=config,
        registry=ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md")),
        runtime=ScriptedRuntime.parse(
            script_yaml([tool("Bash", command=f"exec 3<>/dev/tcp/127.0.0.1/{server} && head -n1 <&3")], [text("ok")])
        ),
        runtime_name="scripted",
        options=RunOptions(poll_interval=0.01),
    )
    assert await runner.drive() == "completed"
    assert runner.ledger.steps[0].content == "hello"


def test_the_settings_are_checked():
    block = "```yaml\nframework_tool: B\nclaude_tool: {name}\ndescription: d\ncost: free\nlatency: fast\nside_effects: process\nerror_modes: []\napproval: ask\n{extra}```\n"
    assert parse_toolmap(block.format(name="Bash", extra="sandbox: off\nnetwork: allow\n"))["Bash"].sandbox is False
    assert parse_toolmap(block.format(name="Bash", extra="network: allow\n"))["Bash"].network is True
    spec = parse_toolmap(block.format(name="Bash", extra=""))["Bash"]
    assert spec.sandbox is True and spec.network is False
    for extra, name in (("sandbox: maybe\n", "Bash"), ("network: open\n", "Bash"), ("sandbox: off\n", "Read")):
        with pytest.raises(FileFormatError):
            parse_toolmap(block.format(name=name, extra=extra))


def test_bash_network_must_be_a_boolean(project):
    agent = project / "system" / "SystemAgent.md"
    agent.write_text(agent.read_text().replace("bash_network: false", "bash_network: sometimes", 1))
    with pytest.raises(FileFormatError, match="bash_network"):
        load_agent_config(agent)


# ---------------------------------------------------------------------------------- without bwrap


def test_without_bwrap_the_run_says_so_once_and_bash_runs_as_before(project, tmp_path):
    """No bwrap on PATH: one line on stderr and one journal note at run start, and Bash works."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("sleep", "cat"):
        if found := shutil.which(name):
            (bin_dir / name).symlink_to(found)
    script = script_yaml([tool("Bash", command="echo one")], [tool("Bash", command="echo two")], [text("done")])
    (project / "s.yaml").write_text(script)
    out = cli(
        "run", "--headless", "--approve", "never", "--script", "s.yaml", "no sandbox",
        cwd=project, env={"PATH": str(bin_dir)}, check_rc=0,
    )  # fmt: skip
    lines = [line for line in out.stderr.splitlines() if "Bash runs unconfined" in line]
    assert len(lines) == 1 and "bubblewrap (bwrap) is not installed" in lines[0], out.stderr
    ws = Workspace.locate(project)
    run_dir = sorted(ws.root.glob("runs/*/journal.jsonl"))[-1].parent
    notes = [r for r in read_records(run_dir / "journal.jsonl") if r["kind"] == "note"]
    assert sum("Bash runs unconfined" in n["data"]["message"] for n in notes) == 1
    contents = [r["data"].get("content") for r in read_records(run_dir / "journal.jsonl") if r.get("to") == "done"]
    assert contents == ["one", "two"]


def test_a_bwrap_that_cannot_work_here_counts_as_missing(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    bwrap.probe.cache_clear()
    try:
        found = bwrap.probe()
        assert not found.ok and "uid map: Permission denied" in found.reason
    finally:
        bwrap.probe.cache_clear()


@pytest.fixture
def ws_project(project) -> Workspace:
    return Workspace.locate(project)


async def test_what_the_command_runs_with_under_tmp_stays_there(need_bwrap, ws, tmp_path, monkeypatch):
    """A private /tmp must not hide a PATH folder (a virtualenv's bin/, a tool) that lives under
    /tmp: CI's clone of the project is in /tmp, and its python vanished inside the sandbox."""
    tools = tmp_path / "venv-like" / "bin"
    tools.mkdir(parents=True)
    (tools / "hello-tool").write_text("#!/bin/sh\necho tool-ran\n")
    (tools / "hello-tool").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    sentinel = Path(tempfile.mkdtemp(prefix="llmos-sentinel-"))  # elsewhere in the real /tmp
    try:
        out, failed = await bash(ctx_for(ws), f"hello-tool; touch /tmp/private && ls /tmp && ls -d {sentinel}")
    finally:
        sentinel.rmdir()
    # the tool runs; /tmp is still private: only what came back is there, not the rest of /tmp
    lines = out.splitlines()
    assert failed and lines[0] == "tool-ran" and "private" in lines
    assert sentinel.name not in lines and "No such file or directory" in out
    out, failed = await bash(ctx_for(ws), f"touch {tools}/x")
    assert failed and "Read-only file system" in out  # and what came back is read-only
