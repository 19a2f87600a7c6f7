"""`llmos-tui export`: every format's rows valid by a strict validator, over real runs (scripted
runtime, real tools, real decisions); redaction end to end; filters and TrainingDataCollector.md
defaults; a run killed midway; streaming (one run in memory at a time)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
import types
from pathlib import Path

import pytest
import yaml

from llmos_tui.core import export as export_mod
from llmos_tui.core.control import new_command
from llmos_tui.core.export import ExportStats, Filters, export_rows, write_jsonl
from llmos_tui.core.formats import checks
from llmos_tui.core.formats.checks import RowInvalid
from llmos_tui.core.training import FORMATS, Redactor, load_collector_settings
from llmos_tui.core.workspace import Workspace

from conftest import cli, script_yaml, start_runner, text, tool

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


# ====================================================================== validators (strict)

# the rules live in core (formats/checks.py): `export --check` runs the same ones
validate_seed = checks.check_seed
validate_anthropic = checks.check_anthropic
validate_openai = checks.check_openai
validate_sharegpt = checks.check_sharegpt
validate_preference = checks.check_preference
VALIDATORS = checks.CHECKS


def test_the_validators_catch_broken_rows():
    good = {
        "system": "s",
        "tools": [{"name": "Bash", "description": "d", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "ok"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
        ],
        "metadata": {
            "execution_id": "r",
            "goal": "g",
            "mode": "execute",
            "final_outcome": "completed",
            "total_cost": 0,
        },
    }
    validate_anthropic(good)
    bad = json.loads(json.dumps(good))
    bad["messages"] = bad["messages"][:3]  # ends on tool results, not on the assistant
    with pytest.raises(RowInvalid):
        validate_anthropic(bad)
    ends_on_a_call = json.loads(json.dumps(good))
    ends_on_a_call["messages"] = ends_on_a_call["messages"][:2]  # a row may end on the call the model made
    validate_anthropic(ends_on_a_call)
    bad = json.loads(json.dumps(good))
    bad["messages"][2] = {"role": "user", "content": "never mind"}  # a call left unanswered midway
    with pytest.raises(RowInvalid):
        validate_anthropic(bad)
    bad = json.loads(json.dumps(good))
    bad["messages"][2]["content"][0]["tool_use_id"] = "b"  # answered under another id
    with pytest.raises(RowInvalid):
        validate_anthropic(bad)
    bad = json.loads(json.dumps(good))
    bad["tools"][0]["cache_control"] = {"type": "ephemeral"}
    with pytest.raises(RowInvalid):
        validate_anthropic(bad)
    with pytest.raises(RowInvalid):  # a tool message missing before the next assistant
        validate_openai(
            {
                "tools": [],
                "messages": [
                    {"role": "user", "content": "go"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"id": "a", "type": "function", "function": {"name": "X", "arguments": "{}"}}],
                    },
                    {"role": "assistant", "content": "done"},
                ],
            }
        )
    with pytest.raises(RowInvalid):  # a gpt turn with a call, then gpt again
        validate_sharegpt(
            {
                "metadata": good["metadata"],
                "conversations": [
                    {"from": "human", "value": "go"},
                    {"from": "gpt", "value": '<tool_call>\n{"name": "X", "arguments": {}}\n</tool_call>'},
                    {"from": "gpt", "value": "done"},
                ],
            }
        )


# ====================================================================== making real runs


def rows_of(
    ws: Workspace,
    fmt: str,
    run_ids: list[str] | None = None,
    *,
    filters: Filters | None = None,
    stats: ExportStats | None = None,
    **kw,
) -> list[dict]:
    settings = load_collector_settings(ws.system / "TrainingDataCollector.md")
    rows = list(
        export_rows(
            ws,
            fmt,
            run_ids=run_ids,
            filters=filters or Filters(),
            redactor=Redactor.from_settings(settings),
            stats=stats,
            **kw,
        )
    )
    for row in rows:
        VALIDATORS[fmt](row)
        json.dumps(row)  # JSON-able
    return rows


def a_person(runner, decisions: dict[int, list]) -> None:
    """Answers each step waiting for a decision with the commands listed for its number."""

    def listener(rec, led):
        if rec["kind"] == "step_status" and rec["to"] == "awaiting_approval" and led is runner.ledger:
            for cmd in decisions.get(rec["step"], [new_command("approve")]):
                runner.submit(cmd)

    runner.add_listener(listener)


MULTI_STEP = yaml.safe_dump(
    {
        "turns": [
            {
                "content": [
                    text("I'll plan first."),
                    tool(
                        "UpdatePlan",
                        steps=[{"title": "Write", "status": "in_progress"}, {"title": "Check", "status": "pending"}],
                    ),
                ]
            },
            {
                "content": [
                    tool("Write", file_path="a.txt", content="alpha\n"),
                    tool("Bash", command="cat a.txt; echo more"),
                ]
            },
            {"content": [text("Reading it back."), tool("Read", file_path="a.txt")]},
            {"content": [tool("Glob", pattern="*.txt"), tool("Grep", pattern="alpha", path=".")]},
            {"content": [text("A long answer that was cut")], "stop_reason": "max_tokens"},
            {"content": [text("…off. All done: a.txt holds alpha.")]},
        ]
    },
    sort_keys=False,
)

REVIEWED = script_yaml(
    [text("Plan."), tool("UpdatePlan", steps=[{"title": "Greet", "status": "in_progress"}])],
    [tool("Write", file_path="hello.txt", content="hi\n")],  # 2: edited
    [text("Saving the key too."), tool("Write", file_path="key.txt", content="k")],  # 3: denied
    [text("Understood, no key file."), tool("Write", file_path="notes.txt", content="n\n")],  # 4: approved
    [tool("Bash", command="rm -f notes.txt")],  # 5: skipped
    [text("Done.")],
)


async def make_multi_step(ws) -> str:
    r = start_runner(ws, MULTI_STEP, goal="write and check a.txt")
    assert await r.drive() == "completed"
    return r.run_id


async def make_reviewed(ws) -> str:
    r = start_runner(ws, REVIEWED, goal="greet", approval="side-effects")
    a_person(
        r,
        {
            2: [
                new_command("edit", step=2, inputs={"file_path": "greeting.txt", "content": "hello\n"}),
                new_command("approve", step=2),
            ],
            3: [new_command("deny", step=3, feedback="never write keys to disk")],
            5: [new_command("skip", step=5, feedback="keep it")],
        },
    )
    assert await r.drive() == "completed"
    assert (ws.root / "greeting.txt").exists() and not (ws.root / "key.txt").exists()
    return r.run_id


async def make_image(ws) -> str:
    (ws.root / "pic.png").write_bytes(PNG)
    r = start_runner(
        ws, script_yaml([tool("Read", file_path="pic.png")], [text("A tiny picture.")]), goal="look at pic.png"
    )
    assert await r.drive() == "completed"
    return r.run_id


async def make_simulated(ws) -> str:
    script = script_yaml(
        [tool("Write", file_path="keep.txt", content="changed")],
        [tool("Bash", command="rm -rf /")],
        [text("done")],
        simulated_results={0: ["Wrote 7 bytes to keep.txt"]},
    )
    r = start_runner(ws, script, goal="simulate it", mode="simulate")
    assert await r.drive() == "completed"
    return r.run_id


async def make_subagent(ws) -> str:
    doc = yaml.safe_load(
        script_yaml(
            [tool("Task", description="Write the notes", prompt="Write notes.txt.")],
            [text("The sub-agent wrote the notes.")],
        )
    )
    doc["subagents"] = [
        {
            "turns": [
                {"content": [tool("Write", file_path="sub.txt", content="n")]},
                {"content": [text("Wrote sub.txt.")]},
            ]
        }
    ]
    r = start_runner(ws, yaml.safe_dump(doc), goal="delegate")
    assert await r.drive() == "completed"
    return r.run_id


async def make_failed(ws) -> str:
    r = start_runner(ws, script_yaml([tool("Write", file_path="f.txt", content="f")]), goal="runs out")
    assert await r.drive() == "failed"  # the script ends on a tool call: the conversation ends with results
    return r.run_id


async def make_cancelled(ws) -> str:
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="c.txt", content="c")], [text("x")]),
        goal="cancel me",
        approval="side-effects",
    )
    a_person(r, {1: [new_command("cancel", feedback="wrong goal")]})
    assert await r.drive() == "cancelled"
    return r.run_id


async def make_toolmap_denied(ws) -> str:
    tm = ws.system / "ClaudeCodeToolMap.md"
    original = tm.read_text()
    start = original.index("claude_tool: Bash")
    end = original.index("approval: ask", start)
    tm.write_text(original[:end] + "approval: deny" + original[end + len("approval: ask") :])
    try:
        r = start_runner(
            ws,
            script_yaml([tool("Bash", command="ls")], [text("Bash is refused here.")]),
            goal="list",
            approval="never",
        )
        assert await r.drive() == "completed"
    finally:
        tm.write_text(original)
    return r.run_id


# ====================================================================== format rules over real runs


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_format_is_valid_over_varied_real_runs(ws, fmt):
    ids = [
        await make(ws)
        for make in (
            make_multi_step,
            make_reviewed,
            make_image,
            make_simulated,
            make_subagent,
            make_failed,
            make_cancelled,
            make_toolmap_denied,
        )
    ]
    stats = ExportStats()
    rows = rows_of(ws, fmt, stats=stats)  # every run, sub-agents included, no filter
    assert stats.runs_seen == len(ids) + 1 and not stats.unreadable
    if fmt == "preference":
        assert len(rows) == 2  # the edit and the denial of the reviewed run; nothing else
    elif fmt == "seed":
        assert len(rows) == len(ids) + 1
    else:  # the run cancelled at its first call has no answered assistant turn: nothing to learn
        assert len(rows) == len(ids) and stats.empty == 1


async def test_anthropic_rows_keep_the_conversation(ws):
    run_id = await make_multi_step(ws)
    (row,) = rows_of(ws, "anthropic", [run_id])
    msgs = row["messages"]
    assert msgs[0] == {"role": "user", "content": "write and check a.txt"}
    uses = [b for m in msgs if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"]
    assert [u["name"] for u in uses] == ["UpdatePlan", "Write", "Bash", "Read", "Glob", "Grep"]
    assert msgs[-1]["content"] == [{"type": "text", "text": "…off. All done: a.txt holds alpha."}]
    assert "Continue from where it stopped" in msgs[-2]["content"]  # the max_tokens nudge, in turn
    assert row["system"].startswith("You are the SystemAgent") and {t["name"] for t in row["tools"]} >= {"Bash", "Read"}
    assert row["metadata"]["final_outcome"] == "completed" and row["metadata"]["execution_id"] == run_id
    assert "truncated" not in row["metadata"]


async def test_openai_rows_answer_each_call_with_a_tool_message(ws):
    run_id = await make_multi_step(ws)
    (row,) = rows_of(ws, "openai", [run_id])
    msgs = row["messages"]
    assert [m["role"] for m in msgs[:6]] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    two = msgs[4]
    assert two["content"] is None and [c["function"]["name"] for c in two["tool_calls"]] == ["Write", "Bash"]
    assert json.loads(two["tool_calls"][0]["function"]["arguments"]) == {"file_path": "a.txt", "content": "alpha\n"}
    assert [m["tool_call_id"] for m in msgs[5:7]] == [c["id"] for c in two["tool_calls"]]
    assert "alpha" in msgs[6]["content"]
    assert {t["function"]["name"] for t in row["tools"]} >= {"Write", "Bash", "UpdatePlan"}


async def test_images_become_placeholders_in_text_formats(ws):
    run_id = await make_image(ws)
    (a,) = rows_of(ws, "anthropic", [run_id])
    result = a["messages"][2]["content"][0]
    assert result["content"][0]["type"] == "image"  # anthropic keeps the image block
    (o,) = rows_of(ws, "openai", [run_id])
    tool_msg = [m for m in o["messages"] if m["role"] == "tool"][0]
    assert tool_msg["content"].startswith("[image image/png, ") and "not included" in tool_msg["content"]
    assert base64.b64encode(PNG).decode()[:20] not in json.dumps(o)
    (s,) = rows_of(ws, "sharegpt", [run_id])
    assert "[image image/png" in s["conversations"][-2]["value"]


async def test_denials_skips_and_errors_reach_every_format(ws):
    run_id = await make_reviewed(ws)
    (o,) = rows_of(ws, "openai", [run_id])
    tools = [m["content"] for m in o["messages"] if m["role"] == "tool"]
    assert any(
        t.startswith("Error: A person denied this Write call. Their reason: never write keys to disk") for t in tools
    )
    assert any(t.startswith("Error: A person skipped this call") for t in tools)
    (s,) = rows_of(ws, "sharegpt", [run_id])
    assert any("never write keys to disk" in c["value"] for c in s["conversations"] if c["from"] == "tool")
    (a,) = rows_of(ws, "anthropic", [run_id])
    denied = [
        b
        for m in a["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if "never write keys" in str(b.get("content"))
    ]
    assert denied[0]["is_error"] is True
    # the rows show the edited call as it ran; seed keeps the model's original call in messages
    calls = [b for m in a["messages"] if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"]
    assert calls[1]["input"] == {"file_path": "greeting.txt", "content": "hello\n"}
    (seed,) = rows_of(ws, "seed", [run_id])
    t2 = seed["transitions"][1]
    assert t2["inputs"]["file_path"] == "greeting.txt" and t2["human"]["decision"] == "edited"
    assert [t["human"]["decision"] for t in seed["transitions"]] == ["auto", "edited", "denied", "approved", "skipped"]


async def test_preference_pairs_from_an_edit_and_a_denial(ws):
    run_id = await make_reviewed(ws)
    edit, denial = rows_of(ws, "preference", [run_id])
    assert edit["metadata"]["decision"] == "edited" and edit["metadata"]["step"] == 2
    assert edit["rejected"][0]["content"][0]["input"] == {"file_path": "hello.txt", "content": "hi\n"}
    assert edit["chosen"][0]["content"][0]["input"] == {"file_path": "greeting.txt", "content": "hello\n"}
    assert edit["chosen"][0]["content"][0]["id"] == edit["rejected"][0]["content"][0]["id"]
    assert edit["prompt"]["messages"][-1]["content"][0]["type"] == "tool_result"  # after step 1's result
    assert len(edit["prompt"]["messages"]) == 3

    assert denial["metadata"]["decision"] == "denied" and denial["metadata"]["step"] == 3
    assert denial["metadata"]["feedback"] == "never write keys to disk"
    assert denial["metadata"]["chosen_from"] == "next_turn_after_denial"
    assert denial["rejected"][0]["content"][1]["input"]["file_path"] == "key.txt"
    assert denial["chosen"][0]["content"][0]["text"] == "Understood, no key file."
    assert denial["chosen"][0]["content"][1]["input"]["file_path"] == "notes.txt"
    assert len(denial["prompt"]["messages"]) == 5


async def test_no_preference_pairs_without_a_persons_edit_or_denial(ws):
    ids = [await make_multi_step(ws), await make_toolmap_denied(ws), await make_cancelled(ws)]
    stats = ExportStats()
    assert rows_of(ws, "preference", ids, stats=stats) == []
    assert stats.empty == 3
    (seed,) = rows_of(ws, "seed", [ids[1]])
    assert seed["transitions"][0]["human"] == {"decision": "denied", "by": "toolmap"}


async def test_a_denial_the_model_never_answered_gives_no_pair(ws):
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="k.txt", content="k")], [text("x")]),
        goal="deny, then the run stops",
        approval="side-effects",
        max_turns=1,
    )
    a_person(r, {1: [new_command("deny", step=1, feedback="no")]})
    assert await r.drive() == "failed"  # max_turns: the model never saw the denial
    assert rows_of(ws, "preference", [r.run_id]) == []
    stats = ExportStats()
    assert rows_of(ws, "anthropic", [r.run_id], stats=stats) == []  # its only call was denied: nothing to learn
    assert stats.skipped == 1


async def test_simulate_mode_rows_are_marked_and_valid(ws):
    run_id = await make_simulated(ws)
    (seed,) = rows_of(ws, "seed", [run_id])
    assert seed["mode"] == "simulate" and all(t["simulated"] for t in seed["transitions"])
    (a,) = rows_of(ws, "anthropic", [run_id])
    assert a["metadata"]["mode"] == "simulate"
    assert a["messages"][2]["content"][0]["content"] == "Wrote 7 bytes to keep.txt"


async def test_sub_agent_runs_are_rows_of_their_own(ws):
    parent = await make_subagent(ws)
    child = f"{parent}/task-1"
    rows = rows_of(ws, "anthropic")
    assert [r["metadata"]["execution_id"] for r in rows] == [parent, child]
    assert "parent" not in rows[0]["metadata"]
    assert rows[1]["metadata"]["parent"] == {"run_id": parent, "step": 1, "depth": 1}
    assert rows[1]["messages"][0]["content"] == "Write notes.txt."
    assert "sub-agent started by the Task tool" in rows[1]["system"]
    assert [r["metadata"]["execution_id"] for r in rows_of(ws, "anthropic", subagents=False)] == [parent]
    (named,) = rows_of(ws, "sharegpt", [child])
    assert named["metadata"]["parent"]["run_id"] == parent


# ====================================================================== a run killed midway


def start_headless(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    full.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", "run", "--headless", "--approve", "never", "-q", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full,
    )


def wait_for_record(journal_glob: str, root: Path, pred, proc: subprocess.Popen, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        for j in root.glob(journal_glob):
            for line in j.read_text().splitlines():
                try:
                    if pred(json.loads(line)):
                        return j
                except ValueError:
                    pass
        time.sleep(0.02)
    raise AssertionError("the record never came")


def test_a_run_killed_midway_exports_what_it_has(project):
    script = script_yaml(
        [tool("UpdatePlan", steps=[{"title": "Work", "status": "in_progress"}])],
        [tool("Write", file_path="a.txt", content="a")],
        [
            text("Now the long part."),
            tool("Bash", command="echo 'Authorization: Bearer abcdefghijklmnop12345'; sleep 3"),
        ],
        [text("Done.")],
    )
    (project / "s.yaml").write_text(script)
    proc = start_headless(project, "--script", "s.yaml", "killed midway")
    journal = wait_for_record(
        "workspace/runs/*/journal.jsonl", project, lambda r: r["kind"] == "step_exec" and r["step"] == 3, proc
    )
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    ws = Workspace.locate(project)
    run_id = journal.parent.name
    for fmt in FORMATS:
        rows = rows_of(ws, fmt, [run_id])
        assert len(rows) == (0 if fmt == "preference" else 1), fmt
        blob = json.dumps(rows)
        assert "abcdefghijklmnop12345" not in blob, fmt  # redacted though rebuilt from the raw journal
    (seed,) = rows_of(ws, "seed", [run_id])
    assert seed["final_outcome"] == "running" and seed["transitions"][2]["status"] == "running"
    (a,) = rows_of(ws, "anthropic", [run_id])
    assert a["metadata"]["truncated"] is True and a["metadata"]["final_outcome"] == "running"
    assert a["messages"][-1]["content"][-1]["name"] == "Write"  # ends on the last call that ran; its result cut
    assert all(b.get("name") != "Bash" for m in a["messages"] if m["role"] == "assistant" for b in m["content"])
    # --all follows the status filter (completed by default); by name it is exported
    assert cli("export", "--all", "-o", "all.jsonl", cwd=project, check_rc=0)
    assert (project / "all.jsonl").read_text() == ""
    out = cli("export", run_id[-6:], "--format", "openai", "-o", "k.jsonl", cwd=project, check_rc=0)
    assert "1 openai row from 1 of 1 run" in out.stdout
    validate_openai(json.loads((project / "k.jsonl").read_text()))
    assert cli("export", "--all", "--status", "running", "-o", "-", cwd=project, check_rc=0).stdout.count("\n") == 1
    # killed before any trace.json: rebuilt from the journal alone, tools from the workspace's ToolMap
    (ws.run_dir(run_id) / "trace.json").unlink()
    for fmt in ("anthropic", "openai", "sharegpt"):
        (row,) = rows_of(ws, fmt, [run_id])
    assert row["metadata"]["execution_id"] == run_id


# ====================================================================== redaction

SECRETS = {
    "ANTHROPIC_API_KEY": "plantedanthropickey0123456789",  # built-in: always redacted
    "MY_SERVICE_TOKEN": "tok-planted-secret-98765",
}  # configured in redaction.env_vars
LITERALS = ["sk-ant-api03-PLANTEDKEY1234567890", "CORP-654321", "CORP-123456", "abcdefghijklmnop12345"]


def test_secrets_reach_neither_trace_json_nor_any_export(project):
    tdc = project / "system" / "TrainingDataCollector.md"
    text_ = tdc.read_text()
    text_ = text_.replace("env_vars: [ANTHROPIC_API_KEY,", "env_vars: [MY_SERVICE_TOKEN, ANTHROPIC_API_KEY,")
    text_ = text_.replace(
        "  patterns:                                    # Python regexes; matches become [REDACTED]\n",
        "  patterns:                                    # Python regexes; matches become [REDACTED]\n"
        "    - 'CORP-[0-9]{6}'\n",
    )
    tdc.write_text(text_)
    assert load_collector_settings(tdc).env_vars[0] == "MY_SERVICE_TOKEN"
    script = script_yaml(
        [
            text(f"I'll use {LITERALS[0]} and {LITERALS[2]}."),
            tool(
                "Bash",
                # Bash's environment has no keys or tokens (they are removed): the values come from a
                # file the person left in the workspace
                command="cat keys.env; echo corp=CORP-654321; sed -n 's/^tok=//p' keys.env > token.txt",
            ),
        ],
        [
            tool(
                "Write",
                file_path="notes.txt",
                content=f"token {SECRETS['MY_SERVICE_TOKEN']}\nAuthorization: Bearer {LITERALS[3]}\n",
            )
        ],
        [text(f"Done; the token was {SECRETS['MY_SERVICE_TOKEN']}.")],
    )
    (project / "s.yaml").write_text(script)
    (project / "workspace" / "keys.env").write_text(
        f"key={SECRETS['ANTHROPIC_API_KEY']}\ntok={SECRETS['MY_SERVICE_TOKEN']}\n"
    )
    env = dict(SECRETS)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmos_tui",
            "run",
            "--headless",
            "--approve",
            "never",
            "-q",
            "--script",
            "s.yaml",
            f"use the token {SECRETS['MY_SERVICE_TOKEN']}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    ws = project / "workspace"
    # the run itself worked with the real values
    assert (ws / "token.txt").read_text().strip() == SECRETS["MY_SERVICE_TOKEN"]
    secrets = [*SECRETS.values(), *LITERALS]
    # redacted as it was recorded: the journal (and all made from it) never held them
    journal = next(ws.glob("runs/*/journal.jsonl")).read_text()
    for s in secrets:
        assert s not in journal, s
    trace = next(ws.glob("runs/*/trace.json")).read_text()
    for s in secrets:
        assert s not in trace, s
    assert "[REDACTED]" in trace
    for fmt in FORMATS:
        out = project / f"{fmt}.jsonl"
        cli("export", "--all", "--format", fmt, "-o", str(out), cwd=project, env=env, check_rc=0)
        body = out.read_text()
        for s in secrets:
            assert s not in body, (fmt, s)
        for line in body.splitlines():
            VALIDATORS[fmt](json.loads(line))
        if fmt != "preference":
            assert "[REDACTED]" in body and body.count("\n") == 1
    # a trace.json written before the settings changed is redacted again on export
    raw = next(ws.glob("runs/*/trace.json"))
    raw.write_text(raw.read_text().replace("[REDACTED]", "CORP-999999"))
    body = cli("export", "--all", "--format", "seed", "-o", "-", cwd=project, env=env, check_rc=0).stdout
    assert "CORP-999999" not in body


# ====================================================================== filters, defaults, the command


async def test_filters_from_the_file_and_flags(ws, project):
    done = await make_multi_step(ws)
    reviewed = await make_reviewed(ws)
    sim = await make_simulated(ws)
    failed = await make_failed(ws)
    cancelled = await make_cancelled(ws)
    settings = load_collector_settings(ws.system / "TrainingDataCollector.md")

    def ids(filters: Filters) -> list[str]:
        return [r["execution_id"] for r in rows_of(ws, "seed", filters=filters)]

    assert ids(Filters.for_all(settings)) == [done, reviewed, sim]  # completed only
    assert ids(Filters.for_all(settings, status=["failed", "cancelled"])) == [failed, cancelled]
    assert ids(Filters.for_all(settings, mode=["simulate"])) == [sim]
    assert ids(Filters.for_all(settings, human_reviewed=True)) == [reviewed]
    assert ids(Filters.for_all(settings, status=["cancelled"], human_reviewed=True)) == []  # no step decided
    today = dt.datetime.now(dt.UTC).date()
    assert ids(Filters.for_all(settings, since=today)) == [done, reviewed, sim]
    assert ids(Filters.for_all(settings, since=today + dt.timedelta(days=1))) == []
    assert ids(Filters.for_all(settings.__class__(**{**settings.__dict__, "include_simulated": False}))) == [
        done,
        reviewed,
    ]
    # named runs: the file's filters do not apply, the flags given do
    assert [r["execution_id"] for r in rows_of(ws, "seed", [failed, sim], filters=Filters.for_named())] == [failed, sim]
    assert [
        r["execution_id"] for r in rows_of(ws, "seed", [failed, sim], filters=Filters.for_named(mode=["execute"]))
    ] == [failed]
    # the file's defaults, and flags over them, through the command
    tdc = ws.system / "TrainingDataCollector.md"
    tdc.write_text(
        tdc.read_text()
        .replace("default_format: anthropic", "default_format: sharegpt")
        .replace("output_dir: exports", "output_dir: data/out")
        .replace("status: [completed]", "status: [completed, failed]")
        .replace("human_reviewed: false", "human_reviewed: true")
    )
    out = cli("export", "--all", cwd=project, check_rc=0)
    written = list((ws.root / "data" / "out").glob("sharegpt-*.jsonl"))
    assert len(written) == 1 and str(written[0]) in out.stdout
    assert [json.loads(x)["metadata"]["execution_id"] for x in written[0].read_text().splitlines()] == [reviewed]
    assert "1 sharegpt row from 1 of 5 runs" in out.stdout and "4 left out by the filters" in out.stdout
    out = cli("export", "--all", "--no-human-reviewed", "--format", "openai", "-o", "-", cwd=project, check_rc=0)
    assert out.stdout.count("\n") == 4  # completed and failed, reviewed or not
    assert "4 openai rows from 4 of 5 runs written to stdout" in out.stderr
    out = cli(
        "export",
        "--all",
        "--status",
        "completed",
        "--mode",
        "execute",
        "--human-reviewed",
        "--format",
        "anthropic",
        "-o",
        "-",
        cwd=project,
        check_rc=0,
    )
    assert [json.loads(x)["metadata"]["execution_id"] for x in out.stdout.splitlines()] == [reviewed]
    out = cli("export", "--all", "--since", "2999-01-01", "-o", "-", cwd=project, check_rc=0)
    assert out.stdout == "" and "since 2999-01-01" in out.stderr
    second = cli("export", "--all", cwd=project, check_rc=0)  # the same second: a new name, not overwritten
    assert len(list((ws.root / "data" / "out").glob("sharegpt-*.jsonl"))) == 2, second.stdout


async def test_bad_input_is_one_line_and_exit_2(ws, project):
    run_id = await make_multi_step(ws)
    for args, says in [
        (["export", "nope-nope"], "no run 'nope-nope'"),
        (["export", "--all", "--since", "2026-13-45"], "--since needs a date"),
        (["export", run_id, "--all"], "not both"),
        (["export"], "--all"),
    ]:
        proc = cli(*args, cwd=project)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    tdc = ws.system / "TrainingDataCollector.md"
    tdc.write_text(tdc.read_text().replace("status: [completed]", "status: [finished]"))
    proc = cli("export", "--all", cwd=project)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "TrainingDataCollector.md:" in proc.stderr and "finished" in proc.stderr
    # a format the file does not offer is still exported when named, with a note
    tdc.write_text(
        tdc.read_text()
        .replace("status: [finished]", "status: [completed]")
        .replace("sharegpt, preference, hf, llamafactory]", "sharegpt, hf, llamafactory]")
    )
    proc = cli("export", run_id, "--format", "preference", "-o", "-", cwd=project, check_rc=0)
    assert "not in the formats" in proc.stderr


def test_an_unreadable_run_is_skipped_with_all_and_refused_by_name(project):
    ws = Workspace.locate(project)
    bad = ws.run_dir("20260101-000000-0000")
    bad.mkdir(parents=True)
    (bad / "journal.jsonl").write_text('{"seq": 1, "kind": "run_started", "data": {}}\n{broken\n{"x": 1}\n')
    proc = cli("export", "--all", "--status", "running", "-o", "-", cwd=project, check_rc=0)
    assert "skipped unreadable run 20260101-000000-0000" in proc.stderr
    proc = cli("export", "20260101-000000-0000", "-o", "x.jsonl", cwd=project)
    assert proc.returncode == 2 and "cannot be read" in proc.stderr and not (project / "x.jsonl").exists()


# ====================================================================== streaming


def clone_run(ws: Workspace, run_id: str, new_id: str) -> None:
    """A copy of a finished run under another id (its files say the new id)."""
    src, dst = ws.run_dir(run_id), ws.run_dir(new_id)
    shutil.copytree(src, dst)
    for name in ("journal.jsonl", "trace.json", "execution_state.md"):
        p = dst / name
        if p.exists():
            p.write_bytes(p.read_bytes().replace(run_id.encode(), new_id.encode()))


async def test_the_exporter_is_lazy_one_run_at_a_time(ws, monkeypatch):
    run_id = await make_multi_step(ws)
    for k in range(5):
        clone_run(ws, run_id, f"{run_id[:-4]}c{k:03d}")
    loaded = []
    real = export_mod.load_trace
    monkeypatch.setattr(export_mod, "load_trace", lambda w, rid, **kw: loaded.append(rid) or real(w, rid, **kw))
    rows = export_rows(ws, "anthropic", filters=Filters())
    assert isinstance(rows, types.GeneratorType) and loaded == []  # nothing read before it is asked for
    first = next(rows)
    assert loaded == [run_id] and first["metadata"]["execution_id"] == run_id
    next(rows)
    assert len(loaded) == 2
    assert len(list(rows)) == 4 and len(loaded) == 6


async def test_memory_stays_flat_however_many_runs(ws, tmp_path):
    run_id = await make_reviewed(ws)
    ids = [run_id]
    for k in range(1, 240):
        new = f"{run_id[:-4]}{k:04x}"
        clone_run(ws, run_id, new)
        ids.append(new)
    redactor = Redactor.from_settings(load_collector_settings(ws.system / "TrainingDataCollector.md"))

    def peak(n: int, fmt: str) -> tuple[int, int]:
        with open(tmp_path / f"{fmt}-{n}.jsonl", "w") as fh:
            tracemalloc.start()
            count = write_jsonl(export_rows(ws, fmt, run_ids=ids[:n], redactor=redactor), fh)
            _, top = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        return count, top

    for fmt in ("anthropic", "preference"):
        few, many = peak(20, fmt), peak(240, fmt)
        assert many[0] == 12 * few[0]
        assert many[1] < few[1] * 1.3 + 200_000, (fmt, few, many)  # 12× the runs, not 12× the memory
