"""Shared fixtures: a fresh project (system/ + workspace/) and helpers to script and drive runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmos_tui.core.config import load_agent_config
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import Runner, RunOptions
from llmos_tui.core.runtime.scripted import ScriptedRuntime
from llmos_tui.core.scaffold import init_project
from llmos_tui.core.toolmap import load_toolmap
from llmos_tui.core.workspace import Workspace


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Never read or write the real ~/.config (theme memory), never reach a real API."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path)
    return tmp_path


@pytest.fixture
def ws(project: Path) -> Workspace:
    return Workspace.locate(project)


def runs_in(project: Path) -> list[Path]:
    """The run folders of a project's workspace (not the checkpoint store, runs/.checkpoints)."""
    runs = project / "workspace" / "runs"
    return [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.is_dir() else []


def tool(name: str, **inputs) -> dict:
    return {"type": "tool_use", "name": name, "input": inputs}


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def script_yaml(*turns: list[dict], simulated_results: dict | None = None) -> str:
    doc: dict = {"turns": [{"content": list(t)} for t in turns]}
    if simulated_results:
        doc["simulated_results"] = simulated_results
    return yaml.safe_dump(doc, sort_keys=False)


def start_runner(
    ws: Workspace,
    script: str,
    *,
    goal: str = "test goal",
    approval: str | None = "never",
    mode: str = "execute",
    no_wait: bool = False,
    **config_changes,
) -> Runner:
    config = load_agent_config(ws.system / "SystemAgent.md").with_(approval=approval, **config_changes)
    registry = ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
    runtime = ScriptedRuntime.parse(script)
    return Runner.start(
        ws,
        goal,
        config=config,
        registry=registry,
        runtime=runtime,
        runtime_name="scripted",
        mode=mode,
        options=RunOptions(no_wait=no_wait, poll_interval=0.01),
    )


def resume_runner(ws: Workspace, run_id: str, script: str, *, no_wait: bool = False) -> Runner:
    config = load_agent_config(ws.system / "SystemAgent.md")
    registry = ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
    return Runner.resume(
        ws,
        run_id,
        config=config,
        registry=registry,
        runtime=ScriptedRuntime.parse(script),
        options=RunOptions(no_wait=no_wait, poll_interval=0.01),
    )


def cli(
    *args: str, cwd: Path, timeout: float = 60, env: dict | None = None, check_rc: int | None = None
) -> subprocess.CompletedProcess:
    """Run the real `llmos-tui` entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("ANTHROPIC_API_KEY", None) if env is None or "ANTHROPIC_API_KEY" not in env else None
    proc = subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def headless(project: Path, *args: str) -> subprocess.Popen:
    """`llmos-tui run --headless …` as a child process of the test (no API key), its output piped."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", "run", "--headless", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def effect_happened(ws: Path, tool: str, inputs: dict) -> bool:
    """Whether a kill -9 loop's side-effecting call (an echo into log.txt, a Write, an Edit of
    counter.txt) took effect in workspace `ws`."""
    if tool == "Bash":
        line = inputs["command"].split("echo ")[1].split(" >>")[0]
        log = ws / "log.txt"
        return log.exists() and line in log.read_text().split()
    if tool == "Write":
        p = ws / inputs["file_path"]
        return p.exists() and p.read_text() == inputs["content"]
    if tool == "Edit":
        return inputs["new_string"] in (ws / "counter.txt").read_text()
    raise AssertionError(f"unexpected uncertain {tool}")


async def wait_for(pilot, pred, timeout: float = 15.0) -> None:
    """Let the app run until `pred()` holds (then one more pause), or fail after `timeout` s."""
    for _ in range(int(timeout / 0.02)):
        if pred():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")
