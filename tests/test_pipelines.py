"""Issue 12: the exports taken unedited by the pipelines people train with.

First the reported failures, each reproduced over a real run (scripted runtime, real tools, real
decisions): an edited call that contradicts its result, rows that end on a tool result, the
image placeholder's byte count, the denial pair's prompt. Then every format loaded through its
consumer's own code (tests/pipelines.py), over one workspace holding parallel calls, an edit, a
denial, a skip, a killed run, a max_turns failure, a sub-agent, an image Read and simulate mode;
then `export --dataset` and `export --check`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import time
import types
from pathlib import Path

import pytest
from pipelines import (
    LLAMA31_TEMPLATE,
    QWEN25_TEMPLATE,
    THOUGHT_WORDS,
    TOOL_CALL_WORDS,
    lf_align,
    lf_function_calls,
    lf_llama3_function,
    lf_qwen_function,
    lf_tools,
    real_llamafactory,
    render,
    tokenizer,
)
from test_export import (
    PNG,
    a_person,
    clone_run,
    make_cancelled,
    make_image,
    make_multi_step,
    make_reviewed,
    make_simulated,
    make_subagent,
    rows_of,
    start_headless,
)

from llmos_tui.core.control import new_command
from llmos_tui.core.dataset import split_of
from llmos_tui.core.editnote import NOTE_START
from llmos_tui.core.export import ExportStats
from llmos_tui.core.formats import SFT_FORMATS
from llmos_tui.core.scaffold import init_project
from llmos_tui.core.trace import load_trace
from llmos_tui.core.training import FORMATS
from llmos_tui.core.workspace import Workspace

from conftest import cli, runs_in, script_yaml, start_runner, text, tool

# ====================================================================== an edited call


def calls_in(messages: list[dict]) -> list[dict]:
    return [b for m in messages if m["role"] == "assistant" for b in m["content"] if b.get("type") == "tool_use"]


def results_in(messages: list[dict]) -> list[dict]:
    return [
        b
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]


async def test_the_model_is_told_that_a_person_edited_its_call_and_to_what(ws):
    run_id = await make_reviewed(ws)
    trace = load_trace(ws, run_id)
    result = results_in(trace["messages"])[1]  # step 2: Write hello.txt, edited to greeting.txt
    assert result["content"].startswith(NOTE_START), result
    assert '"greeting.txt"' in result["content"] and '"hello.txt"' in result["content"]
    assert "greeting.txt" in result["content"].split("]\n", 1)[1]  # then the real result
    assert trace["transitions"][1]["outputs"] == result["content"]  # the trace's outputs say the same


async def test_sft_rows_show_the_call_that_ran_and_its_result(ws):
    run_id = await make_reviewed(ws)
    for fmt in ("anthropic", "openai", "sharegpt", "hf", "llamafactory"):
        (row,) = rows_of(ws, fmt, [run_id])
        blob = json.dumps(row)
        assert "hello.txt" not in blob, fmt  # the model's original call is not a training target
        assert NOTE_START not in blob, fmt  # nor the note about a change the row does not show
        assert "greeting.txt" in blob, fmt
    (a,) = rows_of(ws, "anthropic", [run_id])
    call, result = calls_in(a["messages"])[1], results_in(a["messages"])[1]
    assert call["input"] == {"file_path": "greeting.txt", "content": "hello\n"}
    assert result["tool_use_id"] == call["id"] and "greeting.txt" in result["content"]
    assert a["metadata"]["edited_steps"] == [2]
    # seed keeps the story as it happened: the original call, answered with the note
    (seed,) = rows_of(ws, "seed", [run_id])
    assert calls_in(seed["messages"])[1]["input"]["file_path"] == "hello.txt"
    assert seed["transitions"][1]["outputs"].startswith(NOTE_START)


async def test_the_denial_pairs_prompt_carries_the_persons_reason(ws):
    run_id = await make_reviewed(ws)
    edit, denial = rows_of(ws, "preference", [run_id])
    last = denial["prompt"]["messages"][-1]
    assert "never write keys to disk" in json.dumps(last), last
    assert "never write keys to disk" not in json.dumps(edit["prompt"])
    assert edit["rejected"][0]["content"][0]["input"]["file_path"] == "hello.txt"
    assert edit["chosen"][0]["content"][0]["input"]["file_path"] == "greeting.txt"


# ====================================================================== rows end on an assistant turn


def last_role(fmt: str, row: dict) -> str:
    if fmt in ("anthropic",):
        return row["messages"][-1]["role"]
    if fmt in ("openai", "hf"):
        return row["messages"][-1]["role"]
    return row["conversations"][-1]["from"]


ASSISTANT = {"anthropic": "assistant", "openai": "assistant", "hf": "assistant", "sharegpt": "gpt"}


async def make_max_turns(ws) -> str:
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="m.txt", content="m")], [text("never reached")]),
        goal="one turn only",
        max_turns=1,
    )
    assert await r.drive() == "failed"
    return r.run_id


async def make_blank_ending(ws) -> str:
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="b.txt", content="b")], [text("  \n ")]),
        goal="ends in whitespace",
    )
    assert await r.drive() == "completed"
    return r.run_id


async def test_rows_end_on_an_assistant_turn_and_say_they_were_trimmed(ws):
    ids = [await make_max_turns(ws), await make_blank_ending(ws)]
    for fmt in ("anthropic", "openai", "sharegpt", "hf"):
        for run_id in ids:
            (row,) = rows_of(ws, fmt, [run_id])
            assert last_role(fmt, row) == ASSISTANT[fmt], (fmt, run_id)
    (a,) = rows_of(ws, "anthropic", [ids[0]])
    assert a["metadata"]["truncated"] is True
    assert a["messages"][-1]["content"][-1]["name"] == "Write"  # the call that ran, its result trimmed
    (lf,) = rows_of(ws, "llamafactory", [ids[1]])
    assert lf["conversations"][-1]["from"] == "function_call" and lf["metadata"]["truncated"] is True


async def test_a_run_with_no_assistant_content_left_is_skipped_and_counted(ws):
    r = start_runner(
        ws,
        script_yaml([tool("Write", file_path="k.txt", content="k")], [text("x")]),
        goal="deny, then the run stops",
        approval="side-effects",
        max_turns=1,
    )
    a_person(r, {1: [new_command("deny", step=1, feedback="no")]})
    assert await r.drive() == "failed"
    for fmt in ("anthropic", "openai", "sharegpt", "hf", "llamafactory"):
        stats = ExportStats()
        assert rows_of(ws, fmt, [r.run_id], stats=stats) == [], fmt  # its one call was denied
        assert stats.skipped == 1 and stats.empty == 1, fmt


# ====================================================================== images


async def test_the_image_placeholder_counts_the_real_bytes(ws):
    png = PNG + b"\x00" * 17  # 73 bytes: 100 base64 characters, two of them padding
    (ws.root / "pic.png").write_bytes(png)
    r = start_runner(ws, script_yaml([tool("Read", file_path="pic.png")], [text("A picture.")]), goal="look")
    assert await r.drive() == "completed"
    for fmt in ("openai", "hf"):
        (row,) = rows_of(ws, fmt, [r.run_id])
        tool_msg = [m for m in row["messages"] if m["role"] == "tool"][0]
        assert "[image image/png, 73 bytes not included]" in tool_msg["content"], tool_msg["content"]


# ====================================================================== one workspace, every kind of run


@pytest.fixture(scope="module")
def varied(tmp_path_factory) -> tuple[Workspace, dict[str, str]]:
    """A project holding parallel calls, an edit, a denial, a skip, a killed run, a max_turns
    failure, a sub-agent, an image Read, simulate mode, a blank ending and a run cancelled at once."""
    root = tmp_path_factory.mktemp("varied")
    os.environ.setdefault("XDG_CONFIG_HOME", str(root / "config"))
    init_project(root)
    ws = Workspace.locate(root)

    async def build() -> dict[str, str]:
        made = {}
        for name, make in [
            ("parallel", make_multi_step),
            ("reviewed", make_reviewed),
            ("image", make_image),
            ("simulated", make_simulated),
            ("subagent", make_subagent),
            ("max_turns", make_max_turns),
            ("blank", make_blank_ending),
            ("cancelled", make_cancelled),
        ]:
            made[name] = await make(ws)
        return made

    made = asyncio.run(build())
    made["killed"] = _killed_run(root)
    return ws, made


def _killed_run(root: Path) -> str:
    (root / "k.yaml").write_text(
        script_yaml(
            [tool("Write", file_path="a.txt", content="a"), tool("Read", file_path="a.txt")],
            [text("Now the long part."), tool("Bash", command="sleep 5")],
            [text("Done.")],
        )
    )
    before = {p.name for p in runs_in(root)}
    proc = start_headless(root, "--script", "k.yaml", "killed midway")
    deadline = time.monotonic() + 30
    while True:  # this run's journal, not another run's with a step 3
        new = [p for p in runs_in(root) if p.name not in before]
        if new and any(r.get("kind") == "step_exec" and r.get("step") == 3 for r in _records(new[0])):
            break
        assert time.monotonic() < deadline and proc.poll() is None, "the killed run never reached its Bash call"
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return new[0].name


def _records(run_dir: Path) -> list[dict]:
    out = []
    try:
        lines = (run_dir / "journal.jsonl").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a line still being written
    return out


def all_rows(ws: Workspace, fmt: str, **kw) -> list[dict]:
    return rows_of(ws, fmt, **kw)  # every run, sub-agents included, each row checked by formats/checks.py


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_passes_its_rules_over_every_kind_of_run(varied, fmt):
    ws, made = varied
    stats = ExportStats()
    rows = all_rows(ws, fmt, stats=stats)
    assert not stats.unreadable and stats.runs_seen == len(made) + 1  # + the sub-agent's run
    if fmt in SFT_FORMATS:
        assert stats.skipped == 1  # the run cancelled at its first call: no assistant turn left
        assert len(rows) == len(made)
        assert stats.trimmed == 3  # killed, max_turns, blank ending
    elif fmt == "preference":
        assert len(rows) == 2


def test_hf_rows_render_through_the_qwen25_template(varied):
    ws, _ = varied
    tok = tokenizer(QWEN25_TEMPLATE)
    rows = all_rows(ws, "hf")
    assert any(len(m.get("tool_calls", [])) > 1 for r in rows for m in r["messages"])  # parallel calls among them
    for row in rows:
        out = render(tok, row)
        turns = re.findall(r"<\|im_start\|>assistant(.*?)<\|im_end\|>", out, re.S)
        calls = [json.loads(x) for t in turns for x in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", t, re.S)]
        want = [
            {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for m in row["messages"]
            for c in m.get("tool_calls", [])
        ]
        assert calls == want, row["metadata"]["execution_id"]  # objects, not JSON strings inside JSON
        for m in row["messages"]:
            if m["role"] == "tool" or (m["role"] in ("user", "assistant") and m["content"]):
                assert m["content"] in out
        assert out.endswith("<|im_end|>\n") and out.count("<|im_start|>assistant") == sum(
            m["role"] == "assistant" for m in row["messages"]
        )


def test_hf_rows_render_through_the_llama31_template_with_single_call(varied):
    from jinja2.exceptions import TemplateError

    ws, _ = varied
    tok = tokenizer(LLAMA31_TEMPLATE)
    rows = all_rows(ws, "hf")
    parallel = [r for r in rows if any(len(m.get("tool_calls", [])) > 1 for m in r["messages"])]
    assert parallel
    for row in parallel:  # the template's own refusal: why --single-call exists
        with pytest.raises(TemplateError, match="only supports single tool-calls"):
            render(tok, row)
    single = all_rows(ws, "hf", single_call=True)
    assert len(single) == len(rows)
    for row in single:
        assert row["metadata"]["single_call"] is True
        out = render(tok, row)
        for m in row["messages"]:
            for c in m.get("tool_calls", []):
                f = c["function"]
                assert (
                    f'{{"name": "{f["name"]}", "parameters": {json.dumps(f["arguments"], ensure_ascii=False)}}}' in out
                )
            if m["role"] == "tool":
                assert json.dumps(m["content"], ensure_ascii=False) in out  # Llama 3.1 writes a result as JSON
            elif m["role"] in ("user", "assistant") and "tool_calls" not in m:
                assert m["content"].strip() in out


def test_openai_rows_are_the_openai_sdks_own_request_types(varied):
    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
    from pydantic import TypeAdapter

    ws, _ = varied
    messages, tools = TypeAdapter(list[ChatCompletionMessageParam]), TypeAdapter(list[ChatCompletionToolParam])
    for row in all_rows(ws, "openai"):
        messages.validate_python(row["messages"], strict=True)
        tools.validate_python(row["tools"], strict=True)
        assert row["messages"][-1]["role"] == "assistant"


def test_anthropic_and_preference_rows_are_the_anthropic_sdks_own_types(varied):
    from anthropic.types import MessageParam, ToolParam
    from pydantic import TypeAdapter

    ws, _ = varied
    messages, tools = TypeAdapter(list[MessageParam]), TypeAdapter(list[ToolParam])
    for row in all_rows(ws, "anthropic"):
        messages.validate_python(row["messages"], strict=True)
        tools.validate_python(row["tools"], strict=True)
    for row in all_rows(ws, "preference"):
        for side in ("chosen", "rejected"):
            messages.validate_python([*row["prompt"]["messages"], *row[side]], strict=True)


def test_llamafactory_rows_survive_llamafactorys_rules(varied, tmp_path):
    ws, made = varied
    out = tmp_path / "runs.jsonl"
    cli("export", *made.values(), "--format", "llamafactory", "-o", str(out), cwd=ws.root.parent, check_rc=0)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    entry = info["runs"]
    assert entry["file_name"] == "runs.jsonl" and entry["formatting"] == "sharegpt"
    assert entry["tags"]["function_tag"] == "function_call" and entry["tags"]["observation_tag"] == "observation"
    hf = {r["metadata"]["execution_id"]: r for r in all_rows(ws, "hf")}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = {r["metadata"]["execution_id"] for r in rows}
    assert got == {v for k, v in made.items() if k != "cancelled"}, made  # the cancelled run has nothing
    for row in rows:
        aligned = lf_align(row)
        assert aligned is not None, row["conversations"]  # not dropped
        prompt, response, system, tools = aligned
        assert system == row["system"] and [t["function"]["name"] for t in lf_tools(tools)]
        calls = []
        for m in [*prompt, *response]:
            if m["role"] == "function":
                thought, parsed = lf_function_calls(m["content"])
                calls += [{"name": n, "arguments": json.loads(a)} for n, a in parsed]
                assert "<tool_call>" in lf_qwen_function(parsed) and lf_llama3_function(parsed)
                assert "<tool_call>" not in thought
        want = hf[row["metadata"]["execution_id"]]
        assert calls == [
            {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for m in want["messages"]
            for c in m.get("tool_calls", [])
        ]


def test_llamafactory_rows_through_llamafactorys_own_files(varied, tmp_path, monkeypatch):
    lf = real_llamafactory(monkeypatch)
    if lf is None:
        pytest.skip("set LLMOS_LLAMAFACTORY_SRC to an unpacked llamafactory package to run its own files")
    ws, made = varied
    out = tmp_path / "runs.jsonl"
    cli("export", *made.values(), "--format", "llamafactory", "-o", str(out), cwd=ws.root.parent, check_rc=0)
    (attr,) = lf.parser.get_dataset_list(["runs"], str(tmp_path))
    convert = lf.converter.SharegptDatasetConverter(attr, types.SimpleNamespace(media_dir=str(tmp_path)))
    qwen = lf.formatter.FunctionFormatter(slots=["{{content}}<|im_end|>\n"], tool_format="qwen")
    tools = lf.formatter.ToolFormatter(tool_format="qwen")
    broken = convert(
        {"conversations": [{"from": "human", "value": "go"}, {"from": "tool", "value": "x"}], "system": "", "tools": ""}
    )
    assert broken["_prompt"] == [] and "Invalid role tag" in lf.logger.warnings[0]  # its code, not a copy
    lf.logger.warnings.clear()
    for line in out.read_text().splitlines():
        row = json.loads(line)
        aligned = convert(row)
        assert not lf.logger.warnings, lf.logger.warnings
        assert len(aligned["_prompt"]) % 2 == 1 and len(aligned["_response"]) == 1
        assert aligned == {**aligned, "_system": row["system"], "_tools": row["tools"]}
        tools.apply(content=aligned["_tools"])
        for m in [*aligned["_prompt"], *aligned["_response"]]:
            if m["role"] == "function":
                qwen.apply(content=m["content"], thought_words=THOUGHT_WORDS, tool_call_words=TOOL_CALL_WORDS)


# ====================================================================== --dataset and --check


def test_a_dataset_folder_split_by_run_deduplicated_with_its_card(varied, tmp_path):
    ws, made = varied
    project = ws.root.parent
    out = tmp_path / "my-runs"
    formats = ["hf", "llamafactory", "openai", "anthropic", "preference"]
    args = ["export", "--all", "--status", "completed", "failed", "cancelled", "running"]
    fmts = sum((["--format", f] for f in formats), [])
    proc = cli(*args, "--dataset", str(out), *fmts, "--val", "0.5", "--check", cwd=project)
    assert proc.returncode == 0, proc.stderr
    for f in formats[:4]:
        assert f"check {f}: 9 rows, 9 valid, 3 trimmed, 1 skipped" in proc.stdout, proc.stdout
    assert "check preference: 2 rows, 2 valid" in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    hf = stats["formats"]["hf"]
    assert hf["rows"] == hf["train"] + hf["validation"] == 9 and hf["validation"] >= 1
    assert (
        stats["human_decisions"] == {"approved": 2, "edited": 1, "denied": 1, "skipped": 1}
        or stats["human_decisions"].get("edited") == 1
    ), stats["human_decisions"]
    assert stats["tools_used"]["Write"] >= 5 and stats["models"]
    assert "ANTHROPIC_API_KEY" in stats["redaction"]["env_vars"] and stats["redaction"]["patterns"]
    assert hf["tokens_per_row_estimate"]["max"] >= hf["tokens_per_row_estimate"]["median"] > 0
    # a sub-agent run goes to its parent's split
    where = {}
    for split in ("train", "validation"):
        path = out / "hf" / f"{split}.jsonl"
        for line in path.read_text().splitlines() if path.exists() else []:
            where[json.loads(line)["metadata"]["execution_id"]] = split
    sub = made["subagent"]
    assert where[f"{sub}/task-1"] == where[sub]
    # the card
    card = (out / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n- config_name: hf\n") and "path: hf/train.jsonl" in card
    for needle in (
        "| hf | 9 |",
        "Human decisions:",
        "edited 1",
        "Redaction rules applied",
        "Generating model: scripted",
    ):
        assert needle in card, needle
    # LLaMA-Factory's entries, beside the data
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["my-runs_train"]["file_name"] == "llamafactory/train.jsonl"
    for split in ("train", "validation"):
        for line in (out / "llamafactory" / f"{split}.jsonl").read_text().splitlines():
            assert lf_align(json.loads(line)) is not None
    # the same seed gives the same split; exact duplicates are written once
    again = tmp_path / "again"
    clone = made["parallel"][:-4] + "beef"
    clone_run(ws, made["parallel"], clone)
    try:
        proc = cli(*args, "--dataset", str(again), "--format", "hf", cwd=project, check_rc=0)
        assert "1 duplicates removed" in proc.stdout, proc.stdout
        assert json.loads((again / "stats.json").read_text())["formats"]["hf"]["rows"] == 9
    finally:
        shutil.rmtree(ws.run_dir(clone))
    ids = [f"2026010{k}-000000-0000" for k in range(1, 10)] + ["20260101-000000-0000/task-1"]
    assert split_of(ids, 0.3, 7) == split_of(list(reversed(ids)), 0.3, 7)  # the seed decides, not the order
    assert len(split_of(ids, 0.3, 7)) == 3 and split_of(ids, 0.1, 0) and not split_of(ids, 0, 0)
    assert {frozenset(split_of(ids, 0.3, seed)) for seed in range(5)} != {frozenset(split_of(ids, 0.3, 7))}


def test_check_says_which_rows_break_the_rules_and_exits_1(varied, tmp_path):
    from llmos_tui.core.export import CheckResult, check_jsonl

    ws, made = varied
    out = tmp_path / "o.jsonl"
    proc = cli("export", made["reviewed"], "--format", "openai", "-o", str(out), "--check", cwd=ws.root.parent)
    assert proc.returncode == 0 and "check openai: 1 rows, 1 valid, 0 trimmed, 0 skipped" in proc.stdout
    row = json.loads(out.read_text())
    row["messages"][2]["tool_calls"][0]["function"]["arguments"] = {"steps": []}  # an object: OpenAI wants text
    out.write_text(json.dumps(row) + "\n{broken\n")
    result = check_jsonl(out, "openai", CheckResult("openai"))
    assert (result.rows, result.valid) == (2, 0)
    assert "arguments are not a JSON string" in result.problems[0] and "not JSON" in result.problems[1]
    proc = cli("export", made["killed"], "--format", "hf", "-o", "-", "--check", cwd=ws.root.parent)
    assert proc.returncode == 0 and "check hf: 1 rows, 1 valid, 1 trimmed, 0 skipped" in proc.stderr


def test_push_to_hub_offline_is_one_line_and_exit_2(varied, tmp_path):
    pytest.importorskip("huggingface_hub")
    ws, made = varied
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = cli(
        "export", made["reviewed"], "--dataset", str(tmp_path / "d"), "--format", "hf", "--push-to-hub", "me/runs",
        cwd=ws.root.parent, env=env,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1].startswith("llmos-tui: --push-to-hub me/runs: "), (
        proc.stderr
    )
    assert "offline" in proc.stderr.splitlines()[-1].lower() and (tmp_path / "d" / "README.md").exists()
    proc = cli("export", made["reviewed"], "--push-to-hub", "me/runs", cwd=ws.root.parent)
    assert proc.returncode == 2 and "give --dataset DIR too" in proc.stderr


def test_the_dataset_card_never_counts_an_unknown_cost_as_zero(tmp_path):
    """A run on a model without a price (a local model) has `total_cost: null` in its trace:
    stats.json counts it apart and the card says so, rather than adding $0."""
    from llmos_tui.core.dataset import DatasetReport, _count_trace, dataset_card

    def report() -> DatasetReport:
        return DatasetReport(tmp_path, "runs", (), 0.0, 0, False, {})

    def card(r: DatasetReport) -> str:
        line = next(ln for ln in dataset_card(r).splitlines() if ln.startswith("- Cost of the runs"))
        return line

    mixed = report()
    for cost in (0.25, None, 0.5):
        mixed.runs["train"] += 1
        _count_trace(mixed, {"total_cost": cost, "model": "m", "transitions": []})
    assert mixed.to_json()["cost_usd"] == 0.75 and mixed.to_json()["cost_unknown_runs"] == 1
    assert card(mixed) == "- Cost of the runs: $0.7500, and 1 run of unknown cost"
    local = report()
    for _ in range(2):
        local.runs["train"] += 1
        _count_trace(local, {"total_cost": None, "model": "/models/smollm2.gguf", "transitions": []})
    assert local.to_json()["cost_unknown_runs"] == 2
    assert card(local) == "- Cost of the runs: unknown (no price for the model)"
