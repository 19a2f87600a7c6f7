"""Read, Write, Edit, Bash, Grep and Glob as the model sees them."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path

import pytest

from llmos_tui.core.tools.base import ToolContext, ToolError
from llmos_tui.core.tools.bash import BashTool
from llmos_tui.core.tools.files import EditTool, ReadTool, WriteTool
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.tools.search import GlobTool, GrepTool, compile_glob

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def ctx(ws: Path) -> ToolContext:
    return ToolContext(sandbox=Sandbox(ws))


# -- schemas ------------------------------------------------------------------------------------

ALL_TOOLS = [ReadTool(), WriteTool(), EditTool(), BashTool(), GrepTool(), GlobTool()]


@pytest.mark.parametrize("tool", ALL_TOOLS, ids=lambda t: t.name)
def test_schema_shape(tool: object) -> None:
    schema = tool.input_schema  # type: ignore[attr-defined]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    assert tool.description  # type: ignore[attr-defined]


def test_claude_code_names() -> None:
    assert [t.name for t in ALL_TOOLS] == ["Read", "Write", "Edit", "Bash", "Grep", "Glob"]
    grep_props = set(GrepTool.input_schema["properties"])
    assert {
        "pattern",
        "path",
        "glob",
        "output_mode",
        "-i",
        "-n",
        "-A",
        "-B",
        "-C",
        "head_limit",
        "multiline",
    } == grep_props
    assert set(ReadTool.input_schema["properties"]) == {"file_path", "offset", "limit"}
    assert set(EditTool.input_schema["properties"]) == {"file_path", "old_string", "new_string", "replace_all"}
    assert set(BashTool.input_schema["properties"]) == {"command", "timeout", "description"}


# -- Read ---------------------------------------------------------------------------------------


async def test_read_numbers_lines(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("alpha\nbeta\n\ngamma\n")
    out = await ReadTool().run({"file_path": "a.txt"}, ctx)
    assert out.text == "     1\talpha\n     2\tbeta\n     3\t\n     4\tgamma"
    assert not out.is_error


async def test_read_offset_limit_and_more_note(ws: Path, ctx: ToolContext) -> None:
    (ws / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    out = await ReadTool().run({"file_path": "n.txt", "offset": 3, "limit": 2}, ctx)
    assert out.text == ("     3\tline 3\n     4\tline 4\n… 6 more lines; use offset=5 to read on")
    tail = await ReadTool().run({"file_path": "n.txt", "offset": 9}, ctx)
    assert tail.text == "     9\tline 9\n    10\tline 10"


async def test_read_default_limit_is_2000(ws: Path, ctx: ToolContext) -> None:
    (ws / "big.txt").write_text("".join(f"{i}\n" for i in range(1, 2501)))
    big = ToolContext(sandbox=ctx.sandbox, output_cap=1_000_000)
    out = await ReadTool().run({"file_path": "big.txt"}, big)
    lines = out.text.split("\n")
    assert lines[1999] == "  2000\t2000"
    assert lines[-1] == "… 500 more lines; use offset=2001 to read on"


async def test_read_stops_at_output_cap_on_a_line(ws: Path, ctx: ToolContext) -> None:
    (ws / "wide.txt").write_text("".join(f"{i} " + "x" * 90 + "\n" for i in range(1, 101)))
    small = ToolContext(sandbox=ctx.sandbox, output_cap=1000)
    out = await ReadTool().run({"file_path": "wide.txt"}, small)
    *shown, note = out.text.split("\n")
    assert len(out.text) < 1200
    assert shown[-1].startswith(f"{len(shown):>6}\t{len(shown)} ")
    assert note == f"… {100 - len(shown)} more lines; use offset={len(shown) + 1} to read on"


async def test_read_offset_past_end(ws: Path, ctx: ToolContext) -> None:
    (ws / "s.txt").write_text("one\ntwo\n")
    with pytest.raises(ToolError, match="has 2 lines; offset 5 is past the end"):
        await ReadTool().run({"file_path": "s.txt", "offset": 5}, ctx)


async def test_read_truncates_long_lines(ws: Path, ctx: ToolContext) -> None:
    (ws / "long.txt").write_text("y" * 2500 + "\nshort\n")
    out = await ReadTool().run({"file_path": "long.txt"}, ctx)
    first, second = out.text.split("\n")
    assert first.startswith("     1\t" + "y" * 2000 + "…")
    assert "500 more characters" in first
    assert second == "     2\tshort"


async def test_read_crlf_and_bad_utf8(ws: Path, ctx: ToolContext) -> None:
    (ws / "w.txt").write_bytes(b"caf\xe9\r\nok\r\n")
    out = await ReadTool().run({"file_path": "w.txt"}, ctx)
    assert out.text == "     1\tcaf\ufffd\n     2\tok"


async def test_read_empty_file(ws: Path, ctx: ToolContext) -> None:
    (ws / "e.txt").write_text("")
    out = await ReadTool().run({"file_path": "e.txt"}, ctx)
    assert "empty" in out.text and not out.is_error


async def test_read_binary_file(ws: Path, ctx: ToolContext) -> None:
    (ws / "b.bin").write_bytes(b"ELF\x00\x01\x02" * 10)
    with pytest.raises(ToolError) as info:
        await ReadTool().run({"file_path": "b.bin"}, ctx)
    assert str(info.value) == "b.bin is a binary file (60 bytes); Read shows text and images only."


@pytest.mark.parametrize(
    "head, media",
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 20, "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp"),
    ],
)
async def test_read_image(ws: Path, ctx: ToolContext, head: bytes, media: str) -> None:
    (ws / "pic.dat").write_bytes(head)  # detected by content, not by name
    out = await ReadTool().run({"file_path": "pic.dat"}, ctx)
    assert len(out.images) == 1
    block = out.images[0]
    assert block["type"] == "image"
    assert block["source"]["media_type"] == media
    assert base64.b64decode(block["source"]["data"]) == head
    assert "pic.dat" in out.text
    content = out.to_content()
    assert isinstance(content, list) and content[0] is block


async def test_read_image_over_5mb(ws: Path, ctx: ToolContext) -> None:
    (ws / "huge.png").write_bytes(PNG + b"\x00" * (5 * 1024 * 1024))
    with pytest.raises(ToolError, match="over 5 MB"):
        await ReadTool().run({"file_path": "huge.png"}, ctx)


async def test_read_directory(ws: Path, ctx: ToolContext) -> None:
    (ws / "d").mkdir()
    with pytest.raises(ToolError) as info:
        await ReadTool().run({"file_path": "d"}, ctx)
    assert "directory" in str(info.value) and "Glob" in str(info.value)
    assert "ls" in str(info.value)


async def test_read_missing(ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as info:
        await ReadTool().run({"file_path": "nope/x.txt"}, ctx)
    assert str(info.value) == "File not found: nope/x.txt"


async def test_read_fifo_does_not_hang(ws: Path, ctx: ToolContext) -> None:
    os.mkfifo(ws / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        await asyncio.wait_for(ReadTool().run({"file_path": "pipe"}, ctx), 2)


async def test_read_large_file_with_offset(ws: Path, ctx: ToolContext) -> None:
    """Over 1 MB the file is read in a thread and streamed; paging still works."""
    (ws / "large.txt").write_text("".join(f"row {i:07d}\n" for i in range(1, 200_001)))
    assert (ws / "large.txt").stat().st_size > 1024 * 1024
    out = await ReadTool().run({"file_path": "large.txt", "offset": 150_000, "limit": 2}, ctx)
    assert out.text == ("150000\trow 0150000\n150001\trow 0150001\n… 49999 more lines; use offset=150002 to read on")


# -- Write --------------------------------------------------------------------------------------


async def test_write_creates_with_parent_folders(ws: Path, ctx: ToolContext) -> None:
    out = await WriteTool().run({"file_path": "a/b/c.txt", "content": "héllo\n"}, ctx)
    assert out.text == "Wrote 7 bytes to a/b/c.txt (created a new file)."
    assert (ws / "a" / "b" / "c.txt").read_bytes() == "héllo\n".encode()


async def test_write_overwrites(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("old content that is longer\n")
    out = await WriteTool().run({"file_path": "f.txt", "content": "new"}, ctx)
    assert out.text == "Wrote 3 bytes to f.txt (overwrote the existing file)."
    assert (ws / "f.txt").read_text() == "new"


async def test_write_onto_directory_or_through_file(ws: Path, ctx: ToolContext) -> None:
    (ws / "d").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        await WriteTool().run({"file_path": "d", "content": "x"}, ctx)
    (ws / "plain").write_text("x")
    with pytest.raises(ToolError, match="Cannot create folder"):
        await WriteTool().run({"file_path": "plain/child.txt", "content": "x"}, ctx)
    assert (ws / "plain").read_text() == "x"


async def test_write_large_content(ws: Path, ctx: ToolContext) -> None:
    content = "z" * (2 * 1024 * 1024)
    out = await WriteTool().run({"file_path": "big.txt", "content": content}, ctx)
    assert out.text.startswith(f"Wrote {len(content)} bytes to big.txt")
    assert (ws / "big.txt").stat().st_size == len(content)


# -- Edit ---------------------------------------------------------------------------------------


async def test_edit_once_preserves_the_rest_byte_for_byte(ws: Path, ctx: ToolContext) -> None:
    original = b"line1\nbad \xff byte\nkeep = 1\nvalue = 2\ntail\t \n"
    (ws / "c.py").write_bytes(original)
    out = await EditTool().run({"file_path": "c.py", "old_string": "value = 2", "new_string": "value = 3"}, ctx)
    assert (ws / "c.py").read_bytes() == original.replace(b"value = 2", b"value = 3")
    assert out.text.startswith("Edited c.py: 1 replacement.")
    assert "     4\tvalue = 3" in out.text
    assert "     2\tbad" in out.text  # context before the edit


async def test_edit_not_found(ws: Path, ctx: ToolContext) -> None:
    (ws / "c.txt").write_text("hello\n")
    with pytest.raises(ToolError, match="not found in c.txt"):
        await EditTool().run({"file_path": "c.txt", "old_string": "bye", "new_string": "x"}, ctx)
    assert (ws / "c.txt").read_text() == "hello\n"


async def test_edit_many_needs_context_or_replace_all(ws: Path, ctx: ToolContext) -> None:
    (ws / "m.txt").write_text("x = 1\nx = 1\nx = 1\n")
    with pytest.raises(ToolError) as info:
        await EditTool().run({"file_path": "m.txt", "old_string": "x = 1", "new_string": "y"}, ctx)
    assert "3 times" in str(info.value) and "replace_all" in str(info.value)
    assert (ws / "m.txt").read_text() == "x = 1\nx = 1\nx = 1\n"
    out = await EditTool().run(
        {"file_path": "m.txt", "old_string": "x = 1", "new_string": "y", "replace_all": True}, ctx
    )
    assert out.text.startswith("Edited m.txt: 3 replacements.")
    assert (ws / "m.txt").read_text() == "y\ny\ny\n"


@pytest.mark.parametrize(
    "old, new, words",
    [("same", "same", "identical"), ("", "x", "empty")],
)
async def test_edit_rejects_useless_strings(ws: Path, ctx: ToolContext, old: str, new: str, words: str) -> None:
    (ws / "f.txt").write_text("same\n")
    with pytest.raises(ToolError, match=words):
        await EditTool().run({"file_path": "f.txt", "old_string": old, "new_string": new}, ctx)
    assert (ws / "f.txt").read_text() == "same\n"


async def test_edit_missing_file(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="File not found: ghost.txt"):
        await EditTool().run({"file_path": "ghost.txt", "old_string": "a", "new_string": "b"}, ctx)


async def test_edit_crlf_file_with_lf_strings(ws: Path, ctx: ToolContext) -> None:
    (ws / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    await EditTool().run({"file_path": "win.txt", "old_string": "one\ntwo", "new_string": "1\n2"}, ctx)
    assert (ws / "win.txt").read_bytes() == b"1\r\n2\r\nthree\r\n"


# -- Bash ---------------------------------------------------------------------------------------


def _group_alive(pgid: int) -> list[int]:
    """Pids in process group `pgid` that are not zombies (zombies are dead, just unreaped)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            alive.append(int(entry))
    return alive


async def _wait_group_gone(pgid: int, seconds: float = 3.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := _group_alive(pgid)) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return alive


async def test_bash_output_and_merged_stderr(ctx: ToolContext) -> None:
    out = await BashTool().run({"command": "echo out; echo err >&2", "description": "x"}, ctx)
    assert out.text == "out\nerr" and not out.is_error


async def test_bash_runs_in_workspace(ws: Path, ctx: ToolContext) -> None:
    out = await BashTool().run({"command": "pwd; echo hi > made.txt"}, ctx)
    assert out.text == str(ws.resolve())
    assert (ws / "made.txt").read_text() == "hi\n"


async def test_bash_exit_code_is_an_error_result(ctx: ToolContext) -> None:
    out = await BashTool().run({"command": "echo oops; exit 3"}, ctx)
    assert out.is_error
    assert out.text == "oops\nexit code 3"


async def test_bash_no_output(ctx: ToolContext) -> None:
    out = await BashTool().run({"command": "true"}, ctx)
    assert out.text == "(no output)" and not out.is_error


async def test_bash_env(ctx: ToolContext) -> None:
    env_ctx = ToolContext(sandbox=ctx.sandbox, env={"PATH": os.environ["PATH"], "FOO": "bar"})
    out = await BashTool().run({"command": "echo $FOO; echo ${HOME:-nohome}"}, env_ctx)
    assert out.text == "bar\nnohome"


async def test_bash_stdin_is_closed(ctx: ToolContext) -> None:
    out = await asyncio.wait_for(BashTool().run({"command": "cat; echo done"}, ctx), 5)
    assert out.text == "done"


async def test_bash_timeout_kills_grandchildren(ctx: ToolContext) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError) as info:
        await BashTool().run({"command": "echo $$; sleep 30 & sleep 30", "timeout": 500}, ctx)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert elapsed < 5
    assert "timed out after 0.5 s" in message
    pgid = int(message.splitlines()[-1])  # output so far: bash's pid, which is the group id
    assert await _wait_group_gone(pgid) == []


async def test_bash_cancel_kills_process_group(ws: Path, ctx: ToolContext) -> None:
    task = asyncio.create_task(BashTool().run({"command": "echo $$ > pid.txt; sleep 30 & sleep 30"}, ctx))
    deadline = time.monotonic() + 5
    while not (ws / "pid.txt").exists() or not (ws / "pid.txt").read_text().strip():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    pgid = int((ws / "pid.txt").read_text())
    assert _group_alive(pgid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _wait_group_gone(pgid) == []


async def test_bash_background_child_does_not_hang_the_call(ctx: ToolContext) -> None:
    started = time.monotonic()
    out = await BashTool().run({"command": "sleep 30 & echo $!"}, ctx)
    try:
        assert time.monotonic() - started < 3
        assert "background processes" in out.text
    finally:
        os.kill(int(out.text.splitlines()[0]), 9)


async def test_bash_output_is_capped(ctx: ToolContext) -> None:
    small = ToolContext(sandbox=ctx.sandbox, output_cap=1000)
    out = await BashTool().run({"command": "seq 1 100000"}, small)
    assert len(out.text) < 1100
    assert out.text.startswith("1\n2\n3\n")
    assert out.text.endswith("99999\n100000")
    assert "characters cut" in out.text


async def test_bash_keeps_about_1mb_in_memory(ctx: ToolContext) -> None:
    big = ToolContext(sandbox=ctx.sandbox, output_cap=10_000_000)
    out = await BashTool().run({"command": "head -c 5000000 /dev/zero | tr '\\0' a"}, big)
    assert "bytes of output dropped" in out.text
    assert len(out.text) < 1_100_000


@pytest.mark.parametrize("inputs", [{"command": ""}, {"command": "ls", "timeout": -5}])
async def test_bash_bad_inputs(ctx: ToolContext, inputs: dict[str, object]) -> None:
    with pytest.raises(ToolError):
        await BashTool().run(inputs, ctx)


# -- Grep ---------------------------------------------------------------------------------------


def _touch(path: Path, text: str | bytes, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def tree(ws: Path) -> Path:
    now = time.time()
    app = "import os\ndef main():\n    return TODO\n# todo later\n"
    _touch(ws / "src" / "app.py", app, now - 30)
    _touch(ws / "src" / "ui.ts", "const a = 1; // TODO\n", now - 10)
    _touch(ws / "src" / "view.tsx", "export const TODO = 2\n", now - 20)
    _touch(ws / "docs" / "guide.md", "Intro\nTODO: write\nEnd\n", now - 5)
    _touch(ws / "README.md", "readme TODO\n", now - 40)
    _touch(ws / "bin.dat", b"TODO\x00\x01binary", now)
    _touch(ws / ".git" / "config", "TODO in git\n", now)
    _touch(ws / "runs" / "r1" / "journal.jsonl", '{"TODO": 1}\n', now)
    _touch(ws / "execution_state.md", "TODO state\n", now)
    return ws


async def test_grep_files_with_matches_newest_first(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": "TODO"}, ctx)
    assert out.text == ("Found 5 files\ndocs/guide.md\nsrc/ui.ts\nsrc/view.tsx\nsrc/app.py\nREADME.md")


async def test_grep_skips_state_dotdirs_and_binaries_unless_named(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": "TODO"}, ctx)
    for hidden in ("runs/", "execution_state.md", ".git", "bin.dat"):
        assert hidden not in out.text
    runs = await GrepTool().run({"pattern": "TODO", "path": "runs"}, ctx)
    assert runs.text == "Found 1 file\nruns/r1/journal.jsonl"
    state = await GrepTool().run({"pattern": "TODO", "path": "execution_state.md", "output_mode": "content"}, ctx)
    assert state.text == "execution_state.md:1:TODO state"


async def test_grep_content_with_and_without_numbers(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": "TODO", "output_mode": "content", "path": "src"}, ctx)
    assert out.text == (
        "src/app.py:3:    return TODO\nsrc/ui.ts:1:const a = 1; // TODO\nsrc/view.tsx:1:export const TODO = 2"
    )
    bare = await GrepTool().run({"pattern": "TODO", "output_mode": "content", "path": "src/app.py", "-n": False}, ctx)
    assert bare.text == "src/app.py:    return TODO"


async def test_grep_case_insensitive(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": "todo", "-i": True, "output_mode": "content", "path": "src/app.py"}, ctx)
    assert out.text == "src/app.py:3:    return TODO\nsrc/app.py:4:# todo later"


async def test_grep_context_lines(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": "TODO", "output_mode": "content", "-C": 1, "glob": "*.md"}, ctx)
    assert out.text == (
        "README.md:1:readme TODO\n--\ndocs/guide.md-1-Intro\ndocs/guide.md:2:TODO: write\ndocs/guide.md-3-End"
    )
    after = await GrepTool().run({"pattern": "Intro", "output_mode": "content", "-A": 1, "path": "docs"}, ctx)
    assert after.text == "docs/guide.md:1:Intro\ndocs/guide.md-2-TODO: write"
    before = await GrepTool().run({"pattern": "End", "output_mode": "content", "-B": 2, "path": "docs"}, ctx)
    assert before.text == ("docs/guide.md-1-Intro\ndocs/guide.md-2-TODO: write\ndocs/guide.md:3:End")


async def test_grep_count(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": "o", "output_mode": "count", "path": "src"}, ctx)
    assert out.text == "src/app.py:2\nsrc/ui.ts:1\nsrc/view.tsx:1"  # lines, not matches


@pytest.mark.parametrize(
    "glob, expected",
    [
        ("*.py", {"src/app.py"}),
        ("**/*.md", {"README.md", "docs/guide.md"}),
        ("*.{ts,tsx}", {"src/ui.ts", "src/view.tsx"}),
        ("src/*", {"src/app.py", "src/ui.ts", "src/view.tsx"}),
        ("./docs/*.md", {"docs/guide.md"}),
    ],
)
async def test_grep_glob_filter(tree: Path, ctx: ToolContext, glob: str, expected: set[str]) -> None:
    out = await GrepTool().run({"pattern": "TODO", "glob": glob}, ctx)
    assert set(out.text.splitlines()[1:]) == expected


async def test_grep_invalid_regex(tree: Path, ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as info:
        await GrepTool().run({"pattern": "foo(("}, ctx)
    assert "Invalid regex 'foo(('" in str(info.value) and "missing )" in str(info.value)


async def test_grep_no_matches_is_not_an_error(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": "nothing-like-this"}, ctx)
    assert out.text == "No matches found" and not out.is_error


async def test_grep_head_limit(tree: Path, ctx: ToolContext) -> None:
    files = await GrepTool().run({"pattern": "TODO", "head_limit": 2}, ctx)
    assert files.text == "Found 5 files\ndocs/guide.md\nsrc/ui.ts\n… 3 more files (head_limit=2)"
    lines = await GrepTool().run({"pattern": "TODO", "output_mode": "content", "head_limit": 1, "path": "src"}, ctx)
    assert lines.text == "src/app.py:3:    return TODO\n… 2 more lines (head_limit=1)"


async def test_grep_multiline(tree: Path, ctx: ToolContext) -> None:
    single = await GrepTool().run({"pattern": "main.*return", "path": "src"}, ctx)
    assert single.text == "No matches found"
    multi = await GrepTool().run(
        {"pattern": "main.*return", "multiline": True, "output_mode": "content", "path": "src"},
        ctx,
    )
    assert multi.text == "src/app.py:2:def main():\nsrc/app.py:3:    return TODO"


async def test_grep_anchors_are_per_line(tree: Path, ctx: ToolContext) -> None:
    out = await GrepTool().run({"pattern": r"^End$", "output_mode": "content", "path": "docs"}, ctx)
    assert out.text == "docs/guide.md:3:End"
    spans = await GrepTool().run({"pattern": r"Intro\sTODO", "path": "docs"}, ctx)
    assert spans.text == "No matches found"  # \s may not cross lines without multiline


async def test_grep_missing_path(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="Path not found: nope"):
        await GrepTool().run({"pattern": "x", "path": "nope"}, ctx)


# -- Glob ---------------------------------------------------------------------------------------


async def test_glob_newest_first(tree: Path, ctx: ToolContext) -> None:
    out = await GlobTool().run({"pattern": "**/*.md"}, ctx)
    assert out.text == "docs/guide.md\nREADME.md"  # execution_state.md is not listed
    src = await GlobTool().run({"pattern": "*.{ts,tsx,py}", "path": "src"}, ctx)
    assert src.text == "src/ui.ts\nsrc/view.tsx\nsrc/app.py"


async def test_glob_star_stays_in_one_folder(tree: Path, ctx: ToolContext) -> None:
    out = await GlobTool().run({"pattern": "*.md"}, ctx)
    assert out.text == "README.md"
    nested = await GlobTool().run({"pattern": "src/*.py"}, ctx)
    assert nested.text == "src/app.py"


async def test_glob_skips_dotdirs_and_state(tree: Path, ctx: ToolContext) -> None:
    out = await GlobTool().run({"pattern": "**/*"}, ctx)
    assert ".git" not in out.text and "runs/" not in out.text
    assert "execution_state.md" not in out.text
    assert "bin.dat" in out.text  # Glob lists binaries; only Grep skips them
    explicit = await GlobTool().run({"pattern": "runs/**/*.jsonl"}, ctx)
    assert explicit.text == "runs/r1/journal.jsonl"


async def test_glob_caps_at_100(ws: Path, ctx: ToolContext) -> None:
    now = time.time()
    for i in range(130):
        _touch(ws / "many" / f"f{i:03d}.txt", "x", now - 1000 + i)
    out = await GlobTool().run({"pattern": "many/*.txt"}, ctx)
    lines = out.text.splitlines()
    assert len(lines) == 101
    assert lines[0] == "many/f129.txt" and lines[99] == "many/f030.txt"
    assert lines[100] == "… 30 more (showing the 100 newest)"


async def test_glob_absolute_inside_and_no_match(ws: Path, tree: Path, ctx: ToolContext) -> None:
    out = await GlobTool().run({"pattern": f"{ws}/src/*.py"}, ctx)
    assert out.text == "src/app.py"
    none = await GlobTool().run({"pattern": "**/*.rs"}, ctx)
    assert none.text == "No files found" and not none.is_error


def test_compile_glob() -> None:
    assert compile_glob("**/*.md").match("a.md")
    assert compile_glob("**/*.md").match("a/b/c.md")
    assert not compile_glob("*.md").match("a/b.md")
    assert compile_glob("*.{ts,tsx}").match("x.tsx")
    assert not compile_glob("*.{ts,tsx}").match("x.js")
    assert compile_glob("f[0-9].txt").match("f7.txt")
    assert compile_glob("f[!0-9].txt").match("fa.txt")
    assert compile_glob("a?c").match("abc") and not compile_glob("a?c").match("a/c")
