"""The sandbox: every way a model might name a path outside the workspace is refused.

Each escape is tried through the real tools (Read/Write/Edit/Grep/Glob) and, after the call,
the folder outside the workspace must be byte-for-byte unchanged and its secret unseen.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmos_tui.core.tools.base import ToolContext, ToolError
from llmos_tui.core.tools.files import EditTool, ReadTool, WriteTool
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.tools.search import GlobTool, GrepTool

SECRET = "TOP-SECRET-outside-the-workspace"

TOOLS = {
    "Read": ReadTool(),
    "Write": WriteTool(),
    "Edit": EditTool(),
    "Grep": GrepTool(),
    "Glob": GlobTool(),
}


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under `folder`: file bytes, or where a link points."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            key = str(p.relative_to(folder))
            if p.is_symlink():
                out[key] = "link->" + os.readlink(p)
            elif p.is_file():
                out[key] = p.read_bytes()
            else:
                out[key] = "dir"
    return out


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A workspace next to an `outside` folder, with symlinks of every kind between them."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    ws = tmp_path / "ws"
    (ws / "sub" / "deeper").mkdir(parents=True)
    (ws / "sub" / "inner.txt").write_text("inner\n")
    (ws / "runs" / "r1").mkdir(parents=True)
    (ws / "runs" / "r1" / "journal.jsonl").write_text("{}\n")
    (ws / "execution_state.md").write_text("# state\n")
    (ws / ".llmos-driver.lock").write_text("123\n")
    (ws / "link_file").symlink_to(outside / "secret.txt")
    (ws / "link_dir").symlink_to(outside)
    (ws / "chain2").symlink_to("../outside")  # relative link out
    (ws / "chain1").symlink_to("chain2")  # link to a link out
    (ws / "sub" / "up").symlink_to("../..")  # points at the workspace's parent
    (ws / "dangling").symlink_to(outside / "new.txt")  # target does not exist yet
    (ws / "runs_alias").symlink_to("runs")  # inside, but into reserved state
    (ws / "loop1").symlink_to("loop2")
    (ws / "loop2").symlink_to("loop1")
    (ws / "good_link").symlink_to("sub/inner.txt")  # inside -> inside: allowed
    (ws / "ü").mkdir()
    return {"ws": ws, "outside": outside, "tmp": tmp_path}


@pytest.fixture
def ctx(layout: dict[str, Path]) -> ToolContext:
    return ToolContext(sandbox=Sandbox(layout["ws"]))


# (tool, inputs); "{outside}" and "{ws}" are filled in with the absolute folders.
ESCAPES: list[tuple[str, dict[str, object]]] = [
    ("Read", {"file_path": "../outside/secret.txt"}),
    ("Read", {"file_path": "sub/../../outside/secret.txt"}),
    ("Read", {"file_path": "/etc/passwd"}),
    ("Read", {"file_path": "{outside}/secret.txt"}),  # absolute sibling
    ("Read", {"file_path": "link_file"}),  # symlinked file
    ("Read", {"file_path": "link_dir/secret.txt"}),  # symlinked folder
    ("Read", {"file_path": "chain1/secret.txt"}),  # chain of links
    ("Read", {"file_path": "sub/up/outside/secret.txt"}),  # link to a parent
    ("Read", {"file_path": "~/x"}),
    ("Read", {"file_path": "~root/x"}),
    ("Read", {"file_path": "secret\x00.txt"}),
    ("Read", {"file_path": ""}),
    ("Read", {"file_path": "   "}),
    ("Read", {"file_path": "./../outside/secret.txt"}),
    ("Read", {"file_path": "sub/./../../outside/secret.txt"}),
    ("Read", {"file_path": "../"}),  # trailing slash
    ("Read", {"file_path": "link_dir/"}),
    ("Read", {"file_path": "ü/../../outside/secret.txt"}),  # unicode names
    ("Read", {"file_path": "sub/Ω名 x/../../../outside/secret.txt"}),
    ("Read", {"file_path": "sub//..//..//outside//secret.txt"}),  # doubled slashes
    ("Read", {"file_path": "/proc/self/environ"}),
    ("Read", {"file_path": "/"}),  # root's parent chain
    ("Read", {"file_path": "{ws}/../outside/secret.txt"}),  # absolute via ..
    ("Read", {"file_path": "loop1"}),  # symlink loop
    ("Write", {"file_path": "../outside/new.txt", "content": "x"}),
    ("Write", {"file_path": "{outside}/new.txt", "content": "x"}),
    ("Write", {"file_path": "link_file", "content": "pwned"}),  # through a symlink
    ("Write", {"file_path": "link_dir/new.txt", "content": "x"}),
    ("Write", {"file_path": "chain1/new/deep.txt", "content": "x"}),
    ("Write", {"file_path": "dangling", "content": "x"}),  # dangling link out
    ("Write", {"file_path": "../outside/newdir/", "content": "x"}),  # trailing slash
    ("Write", {"file_path": "~/x.txt", "content": "x"}),
    ("Write", {"file_path": "runs/x", "content": "x"}),  # reserved state
    ("Write", {"file_path": "runs/r1/journal.jsonl", "content": "x"}),
    ("Write", {"file_path": "runs", "content": "x"}),
    ("Write", {"file_path": "execution_state.md", "content": "x"}),
    ("Write", {"file_path": "./runs/../runs/x", "content": "x"}),
    ("Write", {"file_path": ".llmos-driver.lock", "content": "x"}),
    ("Write", {"file_path": "{ws}/execution_state.md", "content": "x"}),
    ("Write", {"file_path": "runs_alias/x", "content": "x"}),  # link into reserved
    ("Write", {"file_path": "sub/../execution_state.md", "content": "x"}),
    ("Edit", {"file_path": "link_file", "old_string": "TOP", "new_string": "x"}),
    ("Edit", {"file_path": "link_dir/secret.txt", "old_string": "TOP", "new_string": "x"}),
    ("Edit", {"file_path": "../outside/secret.txt", "old_string": "TOP", "new_string": "x"}),
    ("Edit", {"file_path": "execution_state.md", "old_string": "state", "new_string": "x"}),
    ("Glob", {"pattern": "../*"}),
    ("Glob", {"pattern": "**/../../*"}),
    ("Glob", {"pattern": "sub/../../outside/*"}),
    ("Glob", {"pattern": "/etc/*"}),
    ("Glob", {"pattern": "{outside}/*"}),
    ("Glob", {"pattern": "*", "path": ".."}),
    ("Glob", {"pattern": "*", "path": "link_dir"}),
    ("Grep", {"pattern": "SECRET", "path": ".."}),
    ("Grep", {"pattern": "SECRET", "path": "{outside}"}),
    ("Grep", {"pattern": "SECRET", "path": "link_dir"}),
    ("Grep", {"pattern": "SECRET", "path": "link_file"}),
    ("Grep", {"pattern": "root", "path": "/etc/passwd"}),
]


def _fill(value: object, layout: dict[str, Path]) -> object:
    if isinstance(value, str):
        return value.replace("{outside}", str(layout["outside"])).replace("{ws}", str(layout["ws"]))
    return value


def _case_id(case: tuple[str, dict[str, object]]) -> str:
    tool, inputs = case
    shown = inputs.get("file_path", inputs.get("path", inputs.get("pattern")))
    return f"{tool}-{shown!r}"


def test_there_are_many_escapes() -> None:
    assert len(ESCAPES) >= 20


@pytest.mark.parametrize("case", ESCAPES, ids=[_case_id(c) for c in ESCAPES])
async def test_escape_is_refused(
    case: tuple[str, dict[str, object]], layout: dict[str, Path], ctx: ToolContext
) -> None:
    tool, raw_inputs = case
    inputs = {k: _fill(v, layout) for k, v in raw_inputs.items()}
    outside_before = _snapshot(layout["outside"])
    ws_before = _snapshot(layout["ws"])
    with pytest.raises(ToolError) as info:
        await TOOLS[tool].run(inputs, ctx)
    message = str(info.value)
    assert message and SECRET not in message
    assert _snapshot(layout["outside"]) == outside_before
    assert _snapshot(layout["ws"]) == ws_before
    assert not (layout["outside"] / "new.txt").exists()


@pytest.mark.parametrize(
    "path, words",
    [
        ("../x", ["outside the workspace"]),
        ("link_dir/secret.txt", ["symlink", "outside the workspace"]),
        ("..", ["parent of the workspace"]),
        ("~/x", ["home expansion is not done"]),
        ("", ["empty"]),
        ("a\x00b", ["NUL"]),
        ("loop1", ["loop"]),
    ],
)
def test_refusals_say_why(layout: dict[str, Path], path: str, words: list[str]) -> None:
    sandbox = Sandbox(layout["ws"])
    with pytest.raises(ToolError) as info:
        sandbox.resolve_read(path)
    for word in words:
        assert word in str(info.value)
    assert "\n" not in str(info.value)


def test_outside_message_names_workspace(layout: dict[str, Path]) -> None:
    sandbox = Sandbox(layout["ws"])
    with pytest.raises(ToolError) as info:
        sandbox.resolve_read("../x")
    assert str(info.value) == (
        f"Path '../x' is outside the workspace ({layout['ws']}); tools may only touch files inside it."
    )


@pytest.mark.parametrize("path", ["runs/x", "execution_state.md", ".llmos-driver.lock", "./runs/../runs/x"])
def test_reserved_writes_say_reserved(layout: dict[str, Path], path: str) -> None:
    with pytest.raises(ToolError, match="reserved for llmos-tui's own state"):
        Sandbox(layout["ws"]).resolve_write(path)


async def test_grep_and_glob_from_root_never_show_outside(layout: dict[str, Path], ctx: ToolContext) -> None:
    """Walking the tree must not follow links out: no secret, no linked names."""
    grep = await GrepTool().run({"pattern": "SECRET", "output_mode": "content"}, ctx)
    assert grep.text == "No matches found"
    glob = await GlobTool().run({"pattern": "**/*"}, ctx)
    assert "link_file" not in glob.text and "secret" not in glob.text
    assert "good_link" in glob.text  # a link that stays inside is listed


# -- what is allowed ----------------------------------------------------------------------------


async def test_nested_relative_and_absolute_paths_inside(layout: dict[str, Path], ctx: ToolContext) -> None:
    ws = layout["ws"]
    out = await WriteTool().run({"file_path": "sub/deeper/new.txt", "content": "hi\n"}, ctx)
    assert "sub/deeper/new.txt" in out.text
    assert (ws / "sub" / "deeper" / "new.txt").read_text() == "hi\n"
    read = await ReadTool().run({"file_path": str(ws / "sub" / "deeper" / "new.txt")}, ctx)
    assert read.text == "     1\thi"
    dotted = await ReadTool().run({"file_path": "sub/deeper/../inner.txt"}, ctx)
    assert dotted.text == "     1\tinner"


async def test_symlink_inside_pointing_inside(layout: dict[str, Path], ctx: ToolContext) -> None:
    read = await ReadTool().run({"file_path": "good_link"}, ctx)
    assert read.text == "     1\tinner"
    await EditTool().run({"file_path": "good_link", "old_string": "inner", "new_string": "changed"}, ctx)
    assert (layout["ws"] / "sub" / "inner.txt").read_text() == "changed\n"
    assert (layout["ws"] / "good_link").is_symlink()  # the link itself is kept


async def test_reserved_state_is_readable(ctx: ToolContext) -> None:
    out = await ReadTool().run({"file_path": "execution_state.md"}, ctx)
    assert "# state" in out.text
    journal = await ReadTool().run({"file_path": "runs/r1/journal.jsonl"}, ctx)
    assert "{}" in journal.text


def test_read_roots_are_readable_not_writable(layout: dict[str, Path]) -> None:
    system = layout["tmp"] / "system"
    system.mkdir()
    (system / "agent.md").write_text("agent\n")
    sandbox = Sandbox(layout["ws"], read_roots=[system])
    assert sandbox.resolve_read(str(system / "agent.md")) == system / "agent.md"
    with pytest.raises(ToolError, match="read-only"):
        sandbox.resolve_write(str(system / "agent.md"))
    with pytest.raises(ToolError, match="outside the workspace"):
        sandbox.resolve_read(str(layout["outside"] / "secret.txt"))
    assert sandbox.display(system / "agent.md") == str(system / "agent.md")


def test_write_roots_are_writable_and_readable(layout: dict[str, Path]) -> None:
    extra = layout["tmp"] / "scratch"
    extra.mkdir()
    sandbox = Sandbox(layout["ws"], write_roots=[extra])
    assert sandbox.resolve_write(str(extra / "a.txt")) == extra / "a.txt"
    assert sandbox.resolve_read(str(extra / "a.txt")) == extra / "a.txt"


async def test_read_root_through_tools(layout: dict[str, Path]) -> None:
    system = layout["tmp"] / "system"
    system.mkdir()
    (system / "agent.md").write_text("agent\n")
    ctx = ToolContext(sandbox=Sandbox(layout["ws"], read_roots=[system]))
    out = await ReadTool().run({"file_path": str(system / "agent.md")}, ctx)
    assert out.text == "     1\tagent"
    with pytest.raises(ToolError, match="read-only"):
        await WriteTool().run({"file_path": str(system / "agent.md"), "content": "x"}, ctx)
    assert (system / "agent.md").read_text() == "agent\n"


def test_root_is_realpath_and_display(tmp_path: Path) -> None:
    real = tmp_path / "real_ws"
    real.mkdir()
    alias = tmp_path / "alias_ws"
    alias.symlink_to(real)
    sandbox = Sandbox(alias)
    assert sandbox.root == real.resolve()
    inside = sandbox.resolve_read(str(alias / "a" / "b.txt"))  # not-yet-existing target
    assert inside == real.resolve() / "a" / "b.txt"
    assert sandbox.display(inside) == "a/b.txt"
    assert sandbox.display(sandbox.root) == "."
    assert sandbox.display(Path("/etc/passwd")) == "/etc/passwd"


def test_is_reserved(layout: dict[str, Path]) -> None:
    sandbox = Sandbox(layout["ws"])
    root = sandbox.root
    assert sandbox.is_reserved(root / "runs")
    assert sandbox.is_reserved(root / "runs" / "r1" / "x")
    assert sandbox.is_reserved(root / "execution_state.md")
    assert sandbox.is_reserved(root / ".llmos-driver.lock")
    assert not sandbox.is_reserved(root / "sub" / "runs")
    assert not sandbox.is_reserved(root / "runs2")
    assert not sandbox.is_reserved(root)
    # A folder named like reserved state, but deeper, is ordinary.
    assert sandbox.resolve_write("sub/runs/x") == root / "sub" / "runs" / "x"
