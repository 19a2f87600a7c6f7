"""execution_state.md: render ↔ parse, bounded size, and broken files reported and left untouched."""

from __future__ import annotations

import pytest

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.state import PlanItem, RunState, StateFile, StepView, Usage, parse, render

from conftest import cli


def sample(n_steps: int = 3, **kw) -> RunState:
    steps = tuple(
        StepView(
            n=i,
            tool="Write",
            inputs={"file_path": f"f{i}.txt", "content": "x" * 50},
            status="done",
            side_effects="filesystem",
            result="ok",
        )
        for i in range(1, n_steps + 1)
    )
    base = dict(
        run_id="20261125-093000-7f3a",
        goal="Get weather for London and save to file",
        mode="execute",
        runtime="scripted",
        status="running",
        current_step=None,
        model="claude-sonnet-4-6",
        started_at="2026-11-25T09:30:00Z",
        updated_at="2026-11-25T09:30:05Z",
        variables={"city": "London"},
        plan=(PlanItem("Fetch", "completed"), PlanItem("Save", "in_progress")),
        steps=steps,
        usage=Usage(1840, 210, 1500, 300, 0.0023),
        steps_total=n_steps,
        turns=2,
    )
    base.update(kw)
    return RunState(**base)


def test_round_trip_keeps_every_field():
    st = sample()
    back = parse(render(st))
    assert back == st.with_(last_text=None)


def test_contract_keys_are_in_the_front_matter():
    text = render(sample())
    head = text.split("---\n")[1]
    for key in (
        "llmos_state: 1",
        "run_id:",
        "goal:",
        "mode: execute",
        "runtime: scripted",
        "status: running",
        "current_step: null",
        "model:",
        "started_at:",
        "updated_at:",
        "variables:",
        "plan:",
        "steps:",
        "usage:",
        "error: null",
    ):
        assert key in head


def test_body_shows_plan_current_step_and_results():
    st = sample(
        current_step=4,
        steps=sample().steps
        + (StepView(4, "Write", {"file_path": "london.txt", "content": "15°C"}, "awaiting_approval", "filesystem"),),
    )
    body = render(st).split("---\n", 2)[2]
    assert "- [x] Fetch" in body and "- [~] Save" in body
    assert "Step 4 · Write · awaiting approval" in body and "london.txt" in body
    assert "15°C" in body  # unicode kept readable


def test_pending_step_inputs_stay_whole_while_settled_ones_are_shortened():
    big = "y" * 5000
    st = sample(
        steps=(
            StepView(1, "Write", {"file_path": "a", "content": big}, "done", "filesystem"),
            StepView(2, "Write", {"file_path": "b", "content": big}, "awaiting_approval", "filesystem"),
        ),
        current_step=2,
    )
    back = parse(render(st))
    assert back.steps[1].inputs["content"] == big
    assert len(back.steps[0].inputs["content"]) < 600 and "[+4600 chars]" in back.steps[0].inputs["content"]


BROKEN = {
    "yaml syntax": ("status: running\n", "status: [running\n", 8),
    "bad status": ("status: running\n", "status: sprinting\n", 7),
    "bad mode": ("mode: execute\n", "mode: pretend\n", 5),
    "not ours": ("llmos_state: 1\n", "llmos_state: 9\n", 2),
    "no closing fence": ("---\n# Get", "# Get", None),
    "bad step status": ("  status: done\n", "  status: finished\n", None),
    "current_step text": ("current_step: null\n", "current_step: two\n", 8),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_file_is_reported_with_its_line(tmp_path, name):
    old, new, line = BROKEN[name]
    path = tmp_path / "execution_state.md"
    text = render(sample())
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(FileFormatError) as info:
        StateFile(path).load()
    msg = str(info.value)
    assert str(path) in msg
    if line is not None:
        assert f":{line}:" in msg, msg
    else:
        assert info.value.line is not None


def test_yaml_error_names_where_the_construct_starts(tmp_path):
    path = tmp_path / "execution_state.md"
    path.write_text(render(sample()).replace("status: running\n", "status: [running\n", 1))
    with pytest.raises(FileFormatError, match=r"execution_state.md:8: .*starts on line 7"):
        StateFile(path).load()


def test_no_front_matter_at_all(tmp_path):
    path = tmp_path / "execution_state.md"
    path.write_text("# just notes\n")
    with pytest.raises(FileFormatError, match=r":1: expected YAML front matter"):
        StateFile(path).load()


@pytest.mark.parametrize(
    "old,new,line",
    [("status: completed\n", "status: [completed\n", 8), ("status: completed\n", "status: finished\n", 7)],
)
def test_broken_state_file_left_byte_for_byte_by_run_and_resume(project, old, new, line):
    """A new run and a resume both refuse (exit 2, with the line) and never rewrite the file."""
    ws = project / "workspace"
    script = project / "s.yaml"
    script.write_text("turns:\n  - content:\n      - {type: text, text: done}\n")
    cli("run", "--headless", "--script", str(script), "first", cwd=project, check_rc=0)
    state = ws / "execution_state.md"
    broken = state.read_bytes().replace(old.encode(), new.encode(), 1)
    assert broken != state.read_bytes()
    state.write_bytes(broken)
    r = cli("run", "--headless", "--script", str(script), "second", cwd=project)
    assert r.returncode == 2 and f"execution_state.md:{line}:" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert state.read_bytes() == broken
    r = cli("resume", "--headless", cwd=project)
    assert r.returncode == 2
    assert state.read_bytes() == broken


def test_state_file_size_is_bounded_however_long_the_run(project):
    import asyncio

    from llmos_tui.core.workspace import Workspace

    from conftest import resume_runner, script_yaml, start_runner, text, tool  # noqa: F401

    ws = Workspace.locate(project)
    sizes = {}
    for n in (30, 300):
        turns = [[tool("Glob", pattern="*.txt")] for _ in range(n)] + [[text("done")]]
        r = start_runner(ws, script_yaml(*turns), max_turns=1000)
        assert asyncio.run(r.drive()) == "completed"
        sizes[n] = (ws.state_path.stat().st_size, (r.run_dir / "journal.jsonl").stat().st_size)
    assert sizes[300][0] < sizes[30][0] * 1.1  # state file: constant
    assert sizes[300][1] > sizes[30][1] * 8  # journal: grows with the run
