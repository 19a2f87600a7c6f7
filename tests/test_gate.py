"""One gate for every driver: a tool missing from the ToolMap and a ToolMap `approval: deny` tool get
the same decision under the scripted runtime, the native runtime, the Claude Code SDK driver and
the hook driver — except the one documented difference: the hook hands a tool the ToolMap does not
list back to Claude Code's own permission rules (core/engine/gate.py says why)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_native import start as start_native

from llmos_tui.core.engine.gate import decide
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.toolmap import load_toolmap
from llmos_tui.core.workspace import Workspace

from conftest import script_yaml, start_runner, text, tool
from fakeapi import FakeAnthropic, message
from fakeapi import text as api_text
from fakeapi import tool_use as api_tool_use
from test_claude_code import (
    env_for,
    finish,
    headless,
    home,  # noqa: F401 - a fixture
    journal,
    needs_claude,
)
from test_hook import claude_project, pre, run_hook, start_hook, status, transcript, wait_awaiting  # noqa: F401

UNKNOWN = ("Teleport", {"to": "mars"})
DENIED = ("Write", {"file_path": "denied.txt", "content": "no\n"})


def deny_in_toolmap(system: Path, tool_name: str = "Write") -> None:
    tm = system / "ClaudeCodeToolMap.md"
    text_ = tm.read_text()
    start = text_.index(f"claude_tool: {tool_name}")
    end = text_.index("approval: ask", start)
    tm.write_text(text_[:end] + "approval: deny" + text_[end + len("approval: ask") :])


def outcome(steps: list) -> list[tuple[str, str, str]]:
    """(tool, status, who decided) for each step, from a ledger's steps."""
    return [(s.tool, s.status, s.human.get("by", "")) for s in steps]


EXPECTED = [("Teleport", "failed", ""), ("Write", "denied", "toolmap")]


def assert_refusals(results: list[str]) -> None:
    assert "unknown tool 'Teleport'" in results[0]
    assert "approval: deny" in results[1]


# ---------------------------------------------------------------- the rule itself


@pytest.mark.parametrize("policy", ["ask", "side-effects", "never"])
def test_the_rule_is_the_same_for_every_driver_but_the_documented_one(ws: Workspace, policy: str):
    deny_in_toolmap(ws.system)
    registry = ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
    for driver in ("engine", "claude-code", "hook"):
        v = decide("Write", {"file_path": "a.txt", "content": "x"}, policy=policy, registry=registry, driver=driver)
        assert (v.action, v.by) == ("deny", "toolmap"), driver
        assert "approval: deny" in v.message
    for driver in ("engine", "claude-code"):
        v = decide("Teleport", {"to": "mars"}, policy=policy, registry=registry, driver=driver)
        assert v.action == "invalid" and "unknown tool 'Teleport'" in v.message, driver
    hook = decide("Teleport", {"to": "mars"}, policy=policy, registry=registry, driver="hook")
    assert hook.action == ("ask" if policy == "ask" else "run")  # the documented difference
    paused = decide("Teleport", {"to": "mars"}, policy=policy, registry=registry, driver="hook", paused=True)
    assert paused.action == "ask"


# ---------------------------------------------------------------- each driver, end to end


async def test_scripted(ws: Workspace):
    deny_in_toolmap(ws.system)
    script = script_yaml([tool(UNKNOWN[0], **UNKNOWN[1])], [tool(DENIED[0], **DENIED[1])], [text("done")])
    r = start_runner(ws, script, approval="never")
    assert await r.drive() == "completed"
    assert outcome(r.ledger.steps) == EXPECTED
    assert_refusals([str(s.content) for s in r.ledger.steps])
    assert not (ws.root / "denied.txt").exists()


async def test_native(ws: Workspace):
    deny_in_toolmap(ws.system)
    replies = [message(api_tool_use(*UNKNOWN)), message(api_tool_use(*DENIED)), message(api_text("done"))]
    with FakeAnthropic(replies) as api:
        r = start_native(ws, api, "refusals")  # approval never
        assert await r.drive() == "completed"
        # what the model was told, turn by turn
        told = [json.dumps(req.body["messages"][-1]) for req in api.message_requests[1:3]]
    assert outcome(r.ledger.steps) == EXPECTED
    assert_refusals(told)
    assert not (ws.root / "denied.txt").exists()


@needs_claude
def test_claude_code_sdk_driver(project: Path, home: Path):  # noqa: F811 - the fixture
    deny_in_toolmap(project / "system")
    replies = [message(api_tool_use(*UNKNOWN)), message(api_tool_use(*DENIED)), message(api_text("done"))]
    with FakeAnthropic(replies) as api:
        env = env_for(api, home)
        proc = headless(project, env, "--approve", "never", "refusals")
        rc, out, err = finish(proc)
        told = [json.dumps(req.body["messages"][-1]) for req in api.message_requests[1:3]]
    assert rc == 0, (out, err)
    final = {}
    for r in journal(project):
        if r["kind"] == "step_status":
            final[r["step"]] = (
                r["data"].get("tool") or final.get(r["step"], ("",))[0],
                r["to"],
                r["data"].get("human", {}).get("by", ""),
            )
    # Claude Code itself answers a call to a tool it does not have (it never reaches our gate):
    # the step is recorded as failed, as under the engine
    assert list(final.values()) == EXPECTED
    assert "Teleport" in told[0] and "approval: deny" in told[1]
    assert not (project / "workspace" / "denied.txt").exists()


def test_hook_driver(claude_project: Path):  # noqa: F811 - the fixture
    project = claude_project
    deny_in_toolmap(project / "system")
    transcript(project)
    # a ToolMap `approval: deny` tool: denied, as everywhere
    rc, out, _ = run_hook(pre(project, *DENIED, "toolu_01"))
    assert rc == 0 and out["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "approval: deny" in out["hookSpecificOutput"]["permissionDecisionReason"]
    # a tool the ToolMap does not list: handed back to Claude Code's own rules (no output)
    rc, out, _ = run_hook(pre(project, *UNKNOWN, "toolu_02"))
    assert rc == 0 and out is None
    st = status(project)
    assert [(s["tool"], s["status"]) for s in st["steps"]] == [("Write", "denied"), ("Teleport", "running")]


def test_hook_driver_under_ask_waits_for_a_person_on_an_unknown_tool(claude_project: Path):  # noqa: F811
    project = claude_project
    agent = project / "system" / "SystemAgent.md"
    agent.write_text(agent.read_text().replace("approval: side-effects", "approval: ask", 1))
    transcript(project)
    proc = start_hook(pre(project, *UNKNOWN, "toolu_03"))
    wait_awaiting(project, 1, proc)
    time.sleep(0.1)
    from conftest import cli

    assert cli("deny", "--feedback", "no teleporting", cwd=project).returncode == 0
    out, err = proc.communicate(timeout=60)
    decision = json.loads(out)["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny" and "no teleporting" in decision["permissionDecisionReason"]
