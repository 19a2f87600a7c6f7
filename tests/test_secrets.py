"""Finding 4 of the hardening issue: secrets never reach disk outside files the tools themselves
wrote in the workspace — not the journal, the state file (live or final), `status --json`, the
trace, SmartMemory or exports — while the model and the tools still get the raw text in the run."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from test_native import start as start_native

from llmos_tui.core.training import Redactor
from llmos_tui.core.workspace import Workspace

from conftest import cli, script_yaml, start_runner, text, tool
from fakeapi import FakeAnthropic, message
from fakeapi import text as api_text
from fakeapi import tool_use as api_tool_use

SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
GITHUB = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DB_URL = "postgres://admin:s3cr3t-Passw0rd@db.internal:5432/app"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"
)
ENV_SECRET = "my-very-own-deploy-token-1234"

LEAKS = (SLACK, HF, GITHUB, AWS_ID, AWS_SECRET, "s3cr3t-Passw0rd", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ")


def every_file_outside_the_tools_reach(project: Path) -> dict[str, str]:
    """Everything llmos-tui itself wrote: the run folders, the live state file, system/."""
    ws = project / "workspace"
    files = [ws / "execution_state.md", *ws.glob("runs/**/*"), *(project / "system").glob("*")]
    return {str(p): p.read_text(errors="replace") for p in files if p.is_file()}


def assert_no_leak(texts: dict[str, str], *extra: str) -> None:
    for where, body in texts.items():
        for secret in (*LEAKS, *extra):
            assert secret not in body, f"{secret[:12]}… reached {where}"


@pytest.mark.parametrize(
    "secret",
    [SLACK, HF, GITHUB, AWS_ID, f"aws_secret_access_key = {AWS_SECRET}", DB_URL, PEM, "Bearer abcdefghijklmnop1234"],
    ids=["slack", "huggingface", "github-fine-grained", "aws-key-id", "aws-secret", "url-credentials", "pem", "bearer"],
)
def test_the_default_patterns_catch_common_secrets(secret):
    out = Redactor()(f"config: {secret} end")
    assert "[REDACTED]" in out and out.endswith(" end")
    for part in LEAKS + ("abcdefghijklmnop1234",):
        assert part not in out


def test_a_known_secret_is_caught_in_base64_too():
    red = Redactor(env_vars=("DEPLOY_TOKEN",), environ={"DEPLOY_TOKEN": ENV_SECRET})
    for prefix in (b"", b"x", b"xy"):
        blob = base64.b64encode(prefix + ENV_SECRET.encode() + b"\n").decode()
        assert ENV_SECRET not in red(blob)
        assert base64.b64encode(ENV_SECRET.encode()).decode()[4:-4] not in red(blob)


async def test_secrets_in_tool_inputs_and_outputs_never_reach_disk_but_the_tools_get_them(project, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_SECRET)
    tdc = project / "system" / "TrainingDataCollector.md"
    tdc.write_text(tdc.read_text().replace("env_vars: [", "env_vars: [DEPLOY_TOKEN, "))
    ws = Workspace.locate(project)
    (ws.root / "db.conf").write_text(f"url = {DB_URL}\n{PEM}\n")
    script = script_yaml(
        [text(f"I will use {HF} to log in."), tool("Read", file_path="db.conf")],
        [tool("Bash", command=f"echo token={SLACK} $DEPLOY_TOKEN")],
        [tool("Write", file_path="creds.txt", content=f"{GITHUB}\n{ENV_SECRET}\n")],
        [text(f"Done; the key {AWS_ID} is set.")],
    )
    r = start_runner(ws, script, approval="never")
    assert await r.drive() == "completed"
    # the tool wrote what the model asked for: a file the tools wrote is the person's business
    assert (ws.root / "creds.txt").read_text() == f"{GITHUB}\n{ENV_SECRET}\n"
    files = every_file_outside_the_tools_reach(project)
    assert any("[REDACTED]" in body for body in files.values())
    assert_no_leak(files, ENV_SECRET, "admin:s3cr3t")
    status = cli("status", "--json", cwd=project)
    assert status.returncode == 0
    assert_no_leak({"status --json": status.stdout}, ENV_SECRET)
    exported = cli("export", "--all", "--status", "completed", "--format", "seed", "-o", "-", cwd=project)
    assert exported.returncode == 0 and exported.stdout.strip()
    assert_no_leak({"export": exported.stdout}, ENV_SECRET)


async def test_the_model_still_reads_the_raw_result_within_the_run(project):
    ws = Workspace.locate(project)
    (ws.root / "note.txt").write_text(f"the slack token is {SLACK}\n")
    replies = [message(api_tool_use("Read", {"file_path": "note.txt"})), message(api_text("noted"))]
    with FakeAnthropic(replies) as api:
        r = start_native(ws, api, "read the note")  # approval never
        assert await r.drive() == "completed"
        second = json.dumps(api.message_requests[1].body["messages"])
    assert SLACK in second  # the model saw the real text
    assert_no_leak(every_file_outside_the_tools_reach(project))


async def test_a_resumed_run_without_the_secrets_variable_still_writes_no_secret(project, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_SECRET)
    tdc = project / "system" / "TrainingDataCollector.md"
    tdc.write_text(tdc.read_text().replace("env_vars: [", "env_vars: [DEPLOY_TOKEN, "))
    (project / "workspace" / "deploy.env").write_text(f"TOKEN={ENV_SECRET}\n")
    script = script_yaml(
        [tool("Read", file_path="deploy.env")],  # read-only: runs at once, in the first process
        [tool("Write", file_path="x.txt", content="x")],  # waits for a person
        [text("done")],
    )
    (project / "s.yaml").write_text(script)
    first = cli("run", "--headless", "--no-wait", "--script", "s.yaml", "--approve", "side-effects", "go", cwd=project)
    assert first.returncode == 3, first.stderr  # the Bash waits for a person
    assert cli("approve", cwd=project).returncode == 0
    monkeypatch.delenv("DEPLOY_TOKEN")
    done = cli("resume", "--headless", "--approve", "never", cwd=project, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert_no_leak(every_file_outside_the_tools_reach(project), ENV_SECRET)


def test_a_training_data_collector_that_does_not_parse_stops_the_run_before_it_starts(project):
    (project / "system" / "TrainingDataCollector.md").write_text("---\nredaction: [unclosed\n---\n")
    (project / "s.yaml").write_text(script_yaml([text("hi")]))
    r = cli("run", "--headless", "--script", "s.yaml", "hello", cwd=project)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "TrainingDataCollector.md" in r.stderr and "Traceback" not in r.stderr
    assert not list((project / "workspace").glob("runs/*"))


async def test_a_secret_in_system_agent_md_never_reaches_the_trace_however_often_it_is_written(project):
    """The trace keeps the system prompt, redacted once and reused while it does not change."""
    sa = project / "system" / "SystemAgent.md"
    sa.write_text(sa.read_text() + f"\nDeploy with {SLACK} when asked.\n")
    ws = Workspace.locate(project)
    script = script_yaml(
        [tool("Bash", command="echo one")],  # a slow tool: its step flushes, trace included
        [tool("Bash", command="echo two")],
        [text("Done.")],
    )
    r = start_runner(ws, script, approval="never")
    writes: list[str] = []
    real = r.rec.write_trace

    def counted() -> None:
        real()
        writes.append((r.rec.run_dir / "trace.json").read_text())

    r.rec.write_trace = counted  # type: ignore[method-assign]
    assert await r.drive() == "completed"
    assert len(writes) >= 3
    for body in writes:
        trace = json.loads(body)
        assert SLACK not in body and "[REDACTED]" in trace["system"]
    written = every_file_outside_the_tools_reach(project)
    assert_no_leak({where: body for where, body in written.items() if not where.endswith("SystemAgent.md")})
