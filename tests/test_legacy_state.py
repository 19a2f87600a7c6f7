"""The older LLMunix markdown layout of execution_state.md: read tolerantly, shown read-only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import llmos_tui.core.legacy_state as legacy_mod
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.legacy_state import (
    LegacyState,
    LegacyStep,
    is_legacy,
    normalise_run_status,
    normalise_step_status,
    parse_legacy,
    to_run_state,
)
from llmos_tui.core.state import PLAN_STATUSES, PlanItem, RunState, parse, render

EXAMPLE = """\
# Execution State

## Metadata
- **Goal**: Get weather for London and save to file
- **Status**: In Progress
- **Started**: 2025-01-15 10:30:00
- **Current Step**: 2

## Execution Plan

### Step 1: Fetch weather data
- **Status**: Completed
- **Tool**: WebFetcherTool
- **Result**: Retrieved current conditions

### Step 2: Save to file
- **status**: in_progress
- **Tool**: WriteFileTool

### Step 3 — Verify output
status: pending
"""


def test_the_typical_file():
    st = parse_legacy(EXAMPLE)
    assert st.goal == "Get weather for London and save to file"
    assert st.status == "running"
    assert st.current_step == 2
    assert st.steps == (
        LegacyStep(1, "Fetch weather data", "completed"),
        LegacyStep(2, "Save to file", "in_progress"),
        LegacyStep(3, "Verify output", "pending"),
    )
    assert st.metadata == {
        "Goal": "Get weather for London and save to file",
        "Status": "In Progress",
        "Started": "2025-01-15 10:30:00",
        "Current Step": "2",
    }
    assert is_legacy(EXAMPLE)


@pytest.mark.parametrize(
    "line",
    [
        "- **Goal**: Fetch the news",
        "- **Goal:** Fetch the news",
        "**Goal:** Fetch the news",
        "**Goal**: Fetch the news",
        "Goal: Fetch the news",
        "- goal: Fetch the news",
        "* GOAL: Fetch the news",
        "- 🎯 **Goal**: Fetch the news",
        "| Goal | Fetch the news |",
    ],
)
def test_goal_line_variants(line):
    text = f"# Execution State\n\n## Metadata\n{line}\n- **Status**: running\n\n## Execution Plan\n\n### Step 1: Go\n"
    st = parse_legacy(text)
    assert st.goal == "Fetch the news"
    assert st.status == "running"


def test_goal_on_the_next_line():
    st = parse_legacy("## Metadata\n**Goal:**\n> Fetch the news\n\n## Execution Plan\n### Step 1: Go\n")
    assert st.goal == "Fetch the news"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("In Progress", "in_progress"),
        ("in-progress", "in_progress"),
        ("IN_PROGRESS", "in_progress"),
        ("InProgress", "in_progress"),
        ("running", "in_progress"),
        ("waiting", "in_progress"),
        ("awaiting approval", "in_progress"),
        ("Awaiting-Approval", "in_progress"),
        ("done", "completed"),
        ("complete", "completed"),
        ("Completed", "completed"),
        ("success", "completed"),
        ("SUCCESS", "completed"),
        ("Completed (10:31)", "completed"),
        ("✅ Completed", "completed"),
        ("✅", "completed"),
        ("**done**", "completed"),
        ("failed", "failed"),
        ("error", "failed"),
        ("Error: timeout", "failed"),
        ("❌", "failed"),
        ("skipped", "skipped"),
        ("N/A", "skipped"),
        ("pending", "pending"),
        ("not started", "pending"),
        ("Not_Started", "pending"),
        ("⏳", "in_progress"),
        ("banana", "pending"),
        ("", "pending"),
        ("🤷", "pending"),
    ],
)
def test_step_status_words(raw, expected):
    assert normalise_step_status(raw) == expected
    assert expected in PLAN_STATUSES


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("In Progress", "running"),
        ("in-progress", "running"),
        ("IN_PROGRESS", "running"),
        ("running", "running"),
        ("done", "completed"),
        ("complete", "completed"),
        ("completed", "completed"),
        ("success", "completed"),
        ("failed", "failed"),
        ("error", "failed"),
        ("cancelled", "failed"),
        ("paused", "paused"),
        ("waiting", "awaiting_approval"),
        ("awaiting approval", "awaiting_approval"),
        ("Awaiting_Approval", "awaiting_approval"),
        ("pending", "planning"),
        ("not started", "planning"),
        ("planning", "planning"),
        ("✅ Completed", "completed"),
        ("⏳", "running"),
        ("banana", None),
    ],
)
def test_run_status_words(raw, expected):
    assert normalise_run_status(raw) == expected


@pytest.mark.parametrize(
    "status_line",
    [
        "- **Status**: {w}",
        "- **status**: {w}",
        "**Status:** {w}",
        "status: {w}",
        "- Status: {w}",
        "- **State**: {w}",
    ],
)
@pytest.mark.parametrize(
    "word, expected",
    [
        ("Completed", "completed"),
        ("in-progress", "in_progress"),
        ("FAILED", "failed"),
        ("skipped", "skipped"),
        ("not started", "pending"),
        ("whatever", "pending"),
    ],
)
def test_step_status_line_variants(status_line, word, expected):
    text = f"## Execution Plan\n\n### Step 1: Do it\n{status_line.format(w=word)}\n- **Tool**: X\n"
    assert parse_legacy(text).steps == (LegacyStep(1, "Do it", expected),)


@pytest.mark.parametrize(
    "heading, n, title",
    [
        ("### Step 1: Fetch weather", 1, "Fetch weather"),
        ("### Step 1 - Fetch weather", 1, "Fetch weather"),
        ("### Step 1 — Fetch weather", 1, "Fetch weather"),
        ("### Step 1 – Fetch weather", 1, "Fetch weather"),
        ("### Step 1. Fetch weather", 1, "Fetch weather"),
        ("### 1. Fetch weather", 1, "Fetch weather"),
        ("### 1) Fetch weather", 1, "Fetch weather"),
        ("### **Step 1**: Fetch weather", 1, "Fetch weather"),
        ("#### Step 12: Fetch weather", 12, "Fetch weather"),
        ("### step 3 of 5: Fetch weather", 3, "Fetch weather"),
        ("## Step 1: Fetch weather", 1, "Fetch weather"),
    ],
)
def test_step_heading_variants(heading, n, title):
    text = f"## Execution Plan\n\n{heading}\n- **Status**: done\n"
    assert parse_legacy(text).steps == (LegacyStep(n, title, "completed"),)


def test_bare_step_heading_takes_its_title_from_the_body():
    text = """\
## Execution Plan
### Step 1
- **Status**: completed
- **Action**: Fetch the forecast
### Step 2
- **Tool**: WriteFileTool
- **Description**: Save it
- **Status**: pending
### Step 3
status: pending
### Step 4
- **Status**: pending
- **Tool**: Bash
"""
    assert parse_legacy(text).steps == (
        LegacyStep(1, "Fetch the forecast", "completed"),
        LegacyStep(2, "Save it", "pending"),
        LegacyStep(3, "Step 3", "pending"),
        LegacyStep(4, "Bash", "pending"),  # no Action/Description: the first other bullet
    )


def test_emoji_status_marks():
    text = """\
## Execution Plan
### ✅ Step 1: Fetch weather
### Step 2: Save to file ⏳
### Step 3: Verify ❌
### Step 4: Tidy up
- **Status**: ✅ Done
### Step 5: Report
- **Status**: ⏳
### Step 6: Celebrate 🎉
"""
    assert parse_legacy(text).steps == (
        LegacyStep(1, "Fetch weather", "completed"),
        LegacyStep(2, "Save to file", "in_progress"),
        LegacyStep(3, "Verify", "failed"),
        LegacyStep(4, "Tidy up", "completed"),
        LegacyStep(5, "Report", "in_progress"),
        LegacyStep(6, "Celebrate", "pending"),
    )


def test_status_words_in_headings_and_the_status_line_wins():
    text = """\
## Execution Plan
### Step 1: Fetch weather (completed)
### Step 2: Save to file [IN PROGRESS]
### Step 3: Verify output — skipped
### Step 4: Fetch (optional)
### Step 5: Report ✅
- **Status**: failed
"""
    assert parse_legacy(text).steps == (
        LegacyStep(1, "Fetch weather", "completed"),
        LegacyStep(2, "Save to file", "in_progress"),
        LegacyStep(3, "Verify output", "skipped"),
        LegacyStep(4, "Fetch (optional)", "pending"),
        LegacyStep(5, "Report", "failed"),
    )


def test_missing_metadata_takes_the_goal_from_the_title():
    text = "# Get weather for Paris\n\n## Execution Plan\n\n### Step 1: Fetch\n- Status: done\n"
    st = parse_legacy(text)
    assert st.goal == "Get weather for Paris"
    assert st.status is None and st.current_step is None and st.metadata == {}
    assert st.steps == (LegacyStep(1, "Fetch", "completed"),)


def test_missing_metadata_takes_a_goal_line_before_the_plan():
    text = """\
# Execution State

**Goal**: Summarise the report
**Status**: ✅ Completed

## Execution Plan
### Step 1: Read
status: done
### Step 2: Write
status: done
"""
    st = parse_legacy(text)
    assert st.goal == "Summarise the report"
    assert st.status == "completed"
    assert st.metadata == {"Goal": "Summarise the report", "Status": "✅ Completed"}


def test_generic_title_is_not_a_goal_but_a_prefixed_one_is():
    assert parse_legacy("# Execution State\n## Execution Plan\n### Step 1: A\n").goal == ""
    assert parse_legacy("# LLMunix Execution State\n## Execution Plan\n").goal == ""
    assert parse_legacy("# Execution State: Backup the db\n## Execution Plan\n").goal == "Backup the db"
    assert parse_legacy("# Goal: Backup the db\n## Plan\n").goal == "Backup the db"


def test_goal_section_and_current_step_from_the_running_step():
    text = """\
# Run
## Goal
Translate the README into French.
## Execution Plan
### 1. Read the README
- **Status**: completed
### 2. Translate
- **Status**: running
"""
    st = parse_legacy(text)
    assert st.goal == "Translate the README into French."
    assert st.current_step == 2  # no `Current Step` line: the step in progress
    assert [s.status for s in st.steps] == ["completed", "in_progress"]


def test_current_step_forms():
    for value, n in (("2", 2), ("Step 3", 3), ("4 of 7", 4), ("5 (Save to file)", 5), ("none", None)):
        text = f"## Metadata\n- **Goal**: g\n- **Current Step**: {value}\n"
        assert parse_legacy(text).current_step == n


def test_plan_as_a_checklist():
    text = """\
## Metadata
- Goal: Clean the inbox
## Execution Plan
- [x] Read the mail
- [ ] Archive old threads
- [~] Reply to Anna
1. Step 4: Unsubscribe — failed
   - Status: failed
5. Report ✅
- a note that is not a step
"""
    assert parse_legacy(text).steps == (
        LegacyStep(1, "Read the mail", "completed"),
        LegacyStep(2, "Archive old threads", "pending"),
        LegacyStep(3, "Reply to Anna", "in_progress"),
        LegacyStep(4, "Unsubscribe", "failed"),
        LegacyStep(5, "Report", "completed"),
    )


def test_steps_outside_the_plan_section_are_not_doubled():
    text = """\
## Metadata
- **Goal**: g
## Execution Plan
### Step 1: A
- **Status**: done
### Step 2: B
- **Status**: pending
## Execution History
### Step 1: A
Fetched things.
## Notes
"""
    st = parse_legacy(text)
    assert [(s.n, s.title, s.status) for s in st.steps] == [(1, "A", "completed"), (2, "B", "pending")]


def test_step_headings_without_a_plan_heading():
    text = "# Execution State\n- **Goal**: g\n\n### Step 1: A\n- **Status**: done\n### Step 2: B\n"
    st = parse_legacy(text)
    assert is_legacy(text)
    assert st.steps == (LegacyStep(1, "A", "completed"), LegacyStep(2, "B", "pending"))


def test_code_fences_and_comments_are_ignored():
    text = """\
## Metadata
- **Goal**: g
<!-- ### Step 9: hidden
status: done -->
## Execution Plan
### Step 1: A
```markdown
### Step 7: inside a fence
- **Status**: done
```
- **Status**: pending
"""
    assert parse_legacy(text).steps == (LegacyStep(1, "A", "pending"),)


def test_crlf_bom_and_sub_headings_inside_a_step():
    text = (
        "\ufeff## Metadata\r\n- **Goal**: g\r\n## Execution Plan\r\n### Step 1: A\r\n#### Details\r\n"
        "- **Status**: completed\r\n### Step 2: B\r\n"
    )
    assert parse_legacy(text).steps == (LegacyStep(1, "A", "completed"), LegacyStep(2, "B", "pending"))


def test_metadata_section_alone_is_enough():
    st = parse_legacy("# Execution State\n\n## Metadata\n- **Goal**: Just started\n- **Status**: Planning\n")
    assert st.goal == "Just started" and st.status == "planning" and st.steps == ()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n   \n",
        "# Shopping list\n\n- eggs\n- milk\n",
        "# Notes\n\nSome thoughts about the weather.\n\n## Ideas\n\n- one\n- two\n",
        "## Metadata\n- **Author**: me\n",  # metadata, but neither goal nor plan
    ],
)
def test_nothing_usable_is_a_file_format_error(text):
    with pytest.raises(FileFormatError) as info:
        parse_legacy(text, "ws/execution_state.md")
    assert info.value.line == 1
    assert info.value.path == "ws/execution_state.md"
    assert str(info.value).startswith("ws/execution_state.md:1: ")


def test_unrelated_markdown_is_not_legacy():
    assert not is_legacy("")
    assert not is_legacy("# Shopping list\n\n- eggs\n")
    assert not is_legacy("Goal: something\n")


def _llmos_state() -> RunState:
    return RunState(
        run_id="20261125-093000-7f3a",
        goal="Get weather for London",
        status="running",
        runtime="scripted",
        current_step=None,
        started_at="2026-11-25T09:30:00Z",
        plan=(PlanItem("Fetch", "completed"), PlanItem("Save", "in_progress")),
    )


def test_a_real_llmos_tui_state_file_is_not_legacy():
    text = render(_llmos_state())
    assert not is_legacy(text)
    with pytest.raises(FileFormatError) as info:
        parse_legacy(text)
    assert info.value.line == 1 and "llmos-tui state file" in info.value.problem


def test_a_legacy_file_is_not_an_llmos_tui_file():
    with pytest.raises(FileFormatError):
        parse(EXAMPLE)


def test_other_front_matter_is_skipped_but_not_legacy():
    text = "---\ntitle: run\n---\n" + EXAMPLE
    assert not is_legacy(text)
    assert parse_legacy(text).goal == "Get weather for London and save to file"
    # a markdown rule first is not front matter
    assert is_legacy("---\n" + EXAMPLE + "\n---\n")


def test_to_run_state_fields():
    st = parse_legacy(EXAMPLE)
    run = to_run_state(st, run_id="old-run")
    assert run.run_id == "old-run"
    assert run.goal == st.goal
    assert run.runtime == "external"
    assert run.mode == "execute"
    assert run.status == "running"
    assert run.current_step == 2
    assert run.started_at == "2025-01-15 10:30:00"
    assert run.plan == (
        PlanItem("Fetch weather data", "completed"),
        PlanItem("Save to file", "in_progress"),
        PlanItem("Verify output", "pending"),
    )
    assert run.steps == () and run.error is None
    # shown through the usual renderer, and read back by the strict parser unchanged
    assert parse(render(run)) == run


@pytest.mark.parametrize(
    "status, expected",
    [
        (None, "running"),
        ("completed", "completed"),
        ("failed", "failed"),
        ("paused", "paused"),
        ("awaiting_approval", "awaiting_approval"),
        ("planning", "planning"),
        ("bogus", "running"),
    ],
)
def test_to_run_state_status_mapping(status, expected):
    assert to_run_state(LegacyState("g", status, None, (), {})).status == expected


def test_to_run_state_defaults_and_extras():
    run = to_run_state(LegacyState("g", None, None, (), {}))
    assert run.run_id == "legacy" and run.plan == () and run.current_step is None
    run = to_run_state(
        LegacyState(
            "g",
            "failed",
            3,
            (LegacyStep(1, "a", "failed"),),
            {"Mode": "Simulation", "Model": "claude-x", "Error": "HTTP 500", "Last Updated": "2025-01-15 10:35"},
        )
    )
    assert run.mode == "simulate" and run.model == "claude-x"
    assert run.updated_at == "2025-01-15 10:35"
    assert run.error == {"step": 3, "type": "error", "message": "HTTP 500"}
    assert to_run_state(LegacyState("g", None, None, (), {"Error": "None"})).error is None


def test_parsing_is_read_only_and_total_on_odd_input():
    odd = [
        "### Step",
        "## Execution Plan\n### Step 0:",
        "## Plan\n1.\n- [ ]\n",
        "### Step 99999999999999999999",
        "## Metadata\n- **Goal**:\n",
        "| | |\n|---|---|\n## Plan",
        "#" * 7 + " Step 1",
    ]
    for text in odd:
        try:
            st = parse_legacy(text)
        except FileFormatError as exc:
            assert exc.line == 1
        else:
            assert all(s.status in PLAN_STATUSES for s in st.steps)


def test_module_does_not_import_textual():
    tree = ast.parse(Path(legacy_mod.__file__).read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not any(name.split(".")[0] == "textual" for name in names)
