"""Issue 11, findings 2, 3 and 6 for the file tools: races, hard links and huge lines.

- Finding 2: a process in the workspace swaps a folder with a symlink to an outside folder
  (renameat2 RENAME_EXCHANGE) in a tight loop while the file tools work on files under it.
  Before the fix the tools checked a resolved path and then opened it again by name, so some
  calls read or wrote outside, and others failed with a raw OSError.
- Finding 3: a hard link in the workspace to an outside file let Read show it and Write
  overwrite it in place.
- Finding 6: a file with a huge line made Read and Edit hold the whole line (several times).

The race and the memory figures are printed to the terminal even without `pytest -s`.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput
from llmos_tui.core.tools.files import EditTool, ReadTool, WriteTool
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.tools.search import GlobTool, GrepTool

SECRET = "TOP-SECRET-outside"
TOOLS: dict[str, Any] = {
    "Read": ReadTool(),
    "Write": WriteTool(),
    "Edit": EditTool(),
    "Grep": GrepTool(),
    "Glob": GlobTool(),
}

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the race uses Linux renameat2 and /proc")


def _snapshot(folder: Path) -> dict[str, bytes | str]:
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


def _report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print past pytest's capture so the figures show in a plain `pytest` run."""
    with capsys.disabled():
        print(f"\n{line}")


# -- finding 2: a folder flipping with a symlink -----------------------------------------------

FLIPPER = textwrap.dedent(
    """
    import ctypes, os, sys, time
    a, b, stop, count_file = sys.argv[1:5]
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    renameat2 = getattr(libc, "renameat2", None)
    def exchange():
        if renameat2 is not None:
            if renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) == 0:
                return "renameat2"
        # No renameat2 (old libc or file system): two renames, with a moment where a is missing.
        os.rename(a, a + ".tmp"); os.rename(b, a); os.rename(a + ".tmp", b)
        return "two renames"
    n, how = 0, "?"
    open(stop + ".started", "w").close()
    while not os.path.exists(stop):
        how = exchange()
        n += 1
    if n % 2:  # leave the real folder where it started
        exchange(); n += 1
    with open(count_file, "w") as f:
        f.write(f"{n} {how}")
    """
)


@pytest.fixture
def flip_layout(tmp_path: Path) -> dict[str, Path]:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "f.txt").write_text(f"{SECRET} v1\n")
    (outside / "dir" / "outside_only.txt").write_text(f"{SECRET} only\n")
    ws = tmp_path / "ws"
    (ws / "d").mkdir(parents=True)
    (ws / "d" / "f.txt").write_text("inside v1\n")
    (ws / "d" / "g.txt").write_text("inside g\n")
    (ws / "swap").symlink_to(outside / "dir")
    return {"ws": ws, "outside": outside, "tmp": tmp_path}


def _calls(n: int) -> list[tuple[str, dict[str, Any]]]:
    """A mix of every file tool aimed at d/ (the flipping folder)."""
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("Read", {"file_path": "d/f.txt"}),
        ("Write", {"file_path": "d/w.txt", "content": "written\n"}),
        ("Edit", {"file_path": "d/f.txt", "old_string": "v1", "new_string": "v2"}),
        ("Edit", {"file_path": "d/f.txt", "old_string": "v2", "new_string": "v1"}),
        ("Grep", {"pattern": "v1|v2|only|inside", "path": "d", "output_mode": "content"}),
        ("Grep", {"pattern": "v1|v2|inside", "path": "d/f.txt", "output_mode": "content"}),
        ("Grep", {"pattern": "v1|v2|only|inside", "output_mode": "content"}),
        ("Glob", {"pattern": "d/*"}),
        ("Glob", {"pattern": "*", "path": "d"}),
        ("Write", {"file_path": "d/sub/new.txt", "content": "new\n"}),
        ("Read", {"file_path": "d/g.txt", "offset": 1, "limit": 5}),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def _reason(message: str) -> str:
    """Where a refusal came from: the sandbox's check, or the descriptor walk after it."""
    if "leads through a symlink to '" in message or "leads above" in message:
        return "walk met the swapped symlink"
    if "leads through a symlink to" in message:
        return "check saw the symlink"
    if "keeps changing" in message:
        return "changed while resolved"
    if "not found" in message:
        return "not found (mid-swap)"
    return message[:60]


def _leaks(out: ToolOutput | str) -> bool:
    text = out if isinstance(out, str) else out.text + repr(out.images)
    return SECRET in text or "outside_only" in text


async def test_flipping_folder_never_escapes(flip_layout: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ws, outside, tmp = flip_layout["ws"], flip_layout["outside"], flip_layout["tmp"]
    ctx = ToolContext(sandbox=Sandbox(ws))
    outside_before = _snapshot(outside)
    stop, count_file = tmp / "stop", tmp / "flips"
    child = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, str(ws / "d"), str(ws / "swap"), str(stop), str(count_file)]
    )
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    problems: list[str] = []
    try:
        deadline = time.monotonic() + 10
        while not Path(str(stop) + ".started").exists():
            assert time.monotonic() < deadline, "the flipping process did not start"
            time.sleep(0.01)
        for tool, inputs in _calls(1100):
            counts["calls"] += 1
            try:
                out = await asyncio.wait_for(TOOLS[tool].run(dict(inputs), ctx), 10)
            except ToolError as exc:
                message = str(exc)
                if _leaks(message):
                    counts["escaped"] += 1
                    problems.append(f"{tool} {inputs}: error shows outside content: {message}")
                elif not message or "\n" in message:
                    counts["crashed"] += 1
                    problems.append(f"{tool} {inputs}: not a one-line error: {message!r}")
                else:
                    counts["refused"] += 1
                    counts[f"refused {tool}"] += 1
                    reasons[_reason(message)] += 1
            except Exception as exc:  # noqa: BLE001 - anything but a ToolError is a crash of the run
                counts["crashed"] += 1
                problems.append(f"{tool} {inputs}: {type(exc).__name__}: {exc}")
            else:
                if _leaks(out):
                    counts["escaped"] += 1
                    problems.append(f"{tool} {inputs}: returned outside content: {out.text[:200]!r}")
                else:
                    counts["ok"] += 1
                    counts[f"ok {tool}"] += 1
            # Proof of a write outside is also checked after every call, not only at the end (an
            # Edit there could be undone by the next one).
            secret_now = (outside / "dir" / "f.txt").read_bytes()
            if secret_now != outside_before["dir/f.txt"]:
                counts["escaped"] += 1
                problems.append(f"{tool} {inputs}: changed the outside file to {secret_now!r}")
                (outside / "dir" / "f.txt").write_bytes(outside_before["dir/f.txt"])  # type: ignore[arg-type]
            if (outside / "dir" / "w.txt").exists() or (outside / "dir" / "sub").exists():
                counts["escaped"] += 1
                problems.append(f"{tool} {inputs}: wrote outside")
                for leftover in ("w.txt", "sub/new.txt", "sub"):
                    target = outside / "dir" / leftover
                    if target.is_dir():
                        target.rmdir()
                    elif target.exists():
                        target.unlink()
    finally:
        stop.touch()
        child.wait(10)
    flips, how = count_file.read_text().split(" ", 1)
    outside_changed = _snapshot(outside) != outside_before
    if outside_changed:
        problems.append("the outside folder changed")
    _report(
        capsys,
        f"[race] {counts['calls']} calls while a folder flipped {flips} times ({how}): "
        f"{counts['ok']} ok inside / {counts['refused']} refused clearly / "
        f"{counts['escaped']} escaped / {counts['crashed']} crashed; outside changed: {outside_changed}; "
        + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if " " in k)
        + "; refusals: "
        + ", ".join(f"{k}: {v}" for k, v in reasons.most_common()),
    )
    assert int(flips) > 100, "the folder hardly flipped: the race was not exercised"
    assert counts["calls"] >= 300
    assert problems == [], "\n".join(problems[:20])
    assert counts["escaped"] == 0 and counts["crashed"] == 0 and not outside_changed
    assert counts["ok"] > 0 and counts["refused"] > 0  # both sides of the flip were seen


def _exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE), or with three renames."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None or renameat2(-100, bytes(a), -100, bytes(b), 2) != 0:
        tmp = a.with_name(a.name + ".tmp")
        a.rename(tmp)
        b.rename(a)
        tmp.rename(b)


@pytest.mark.parametrize("link", ["absolute", "relative"])
@pytest.mark.parametrize(
    "tool, inputs",
    [
        ("Read", {"file_path": "d/f.txt"}),
        ("Write", {"file_path": "d/w.txt", "content": "x"}),
        ("Write", {"file_path": "d/sub/new.txt", "content": "x"}),
        ("Edit", {"file_path": "d/f.txt", "old_string": "v1", "new_string": "v2"}),
        ("Grep", {"pattern": "v1", "path": "d", "output_mode": "content"}),
        ("Grep", {"pattern": "v1", "path": "d/f.txt", "output_mode": "content"}),
        ("Glob", {"pattern": "*", "path": "d"}),
    ],
)
async def test_a_swap_right_after_the_check_is_caught_by_the_walk(
    flip_layout: dict[str, Path], tool: str, inputs: dict[str, Any], link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race, made certain: the folder is swapped between the sandbox's check and the open."""
    ws, outside = flip_layout["ws"], flip_layout["outside"]
    if link == "relative":
        (ws / "swap").unlink()
        (ws / "swap").symlink_to("../outside/dir")
    sandbox = Sandbox(ws)
    swapped: list[str] = []
    for name in ("resolve_read", "resolve_write"):
        original = getattr(sandbox, name)

        def checked_then_swapped(path: str, _original: Any = original) -> Path:
            real: Path = _original(path)
            if not swapped:
                _exchange(ws / "d", ws / "swap")
                swapped.append(path)
            return real

        monkeypatch.setattr(sandbox, name, checked_then_swapped)
    before = _snapshot(outside)
    with pytest.raises(ToolError) as info:
        await TOOLS[tool].run(dict(inputs), ToolContext(sandbox=sandbox))
    message = str(info.value)
    assert swapped and (ws / "d").is_symlink()
    assert "symlink" in message and "\n" not in message and not _leaks(message)
    assert _snapshot(outside) == before


# -- finding 3: hard links ---------------------------------------------------------------------


@pytest.fixture
def hard_linked(tmp_path: Path) -> dict[str, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "file.txt"
    secret.write_text(f"{SECRET} TOP\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    os.link(secret, ws / "hl.txt")
    return {"ws": ws, "outside": outside, "secret": secret}


@pytest.mark.parametrize(
    "tool, inputs",
    [
        ("Read", {"file_path": "hl.txt"}),
        ("Read", {"file_path": "hl.txt", "offset": 1, "limit": 1}),
        ("Write", {"file_path": "hl.txt", "content": "pwned\n"}),
        ("Edit", {"file_path": "hl.txt", "old_string": "TOP", "new_string": "pwned"}),
        ("Grep", {"pattern": "SECRET", "path": "hl.txt", "output_mode": "content"}),
    ],
)
async def test_hard_link_is_refused(hard_linked: dict[str, Path], tool: str, inputs: dict[str, Any]) -> None:
    ctx = ToolContext(sandbox=Sandbox(hard_linked["ws"]))
    before = hard_linked["secret"].read_bytes()
    with pytest.raises(ToolError) as info:
        await TOOLS[tool].run(inputs, ctx)
    message = str(info.value)
    assert "hard link" in message and "\n" not in message and SECRET not in message
    assert hard_linked["secret"].read_bytes() == before
    assert os.stat(hard_linked["secret"]).st_nlink == 2  # Write did not even replace the link


async def test_grep_walk_skips_hard_links_and_says_so(hard_linked: dict[str, Path]) -> None:
    ws = hard_linked["ws"]
    (ws / "plain.txt").write_text("SECRET-looking but inside\n")
    ctx = ToolContext(sandbox=Sandbox(ws))
    out = await GrepTool().run({"pattern": "SECRET", "output_mode": "content"}, ctx)
    assert SECRET not in out.text
    assert "plain.txt:1:SECRET-looking but inside" in out.text
    assert "1 file with more than one hard link not searched" in out.text
    glob = await GlobTool().run({"pattern": "*.txt"}, ctx)
    assert "hl.txt" in glob.text  # a name is not content: Glob still lists it


async def test_hard_link_made_by_a_bash_step(hard_linked: dict[str, Path]) -> None:
    """The link may appear while the run is going (a Bash step): it is judged when opened."""
    ws = hard_linked["ws"]
    ctx = ToolContext(sandbox=Sandbox(ws))
    (ws / "later.txt").write_text("mine\n")
    assert (await ReadTool().run({"file_path": "later.txt"}, ctx)).text == "     1\tmine"
    (ws / "later.txt").unlink()
    os.link(hard_linked["secret"], ws / "later.txt")
    with pytest.raises(ToolError, match="hard link"):
        await ReadTool().run({"file_path": "later.txt"}, ctx)


# -- finding 6: bounded memory -----------------------------------------------------------------

MEMORY_PROBE = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    from llmos_tui.core.tools.base import ToolContext, ToolError
    from llmos_tui.core.tools.files import EditTool, ReadTool
    from llmos_tui.core.tools.sandbox import Sandbox
    from llmos_tui.core.tools.search import GrepTool
    ws, tool, inputs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    tools = {"Read": ReadTool(), "Edit": EditTool(), "Grep": GrepTool()}
    ctx = ToolContext(sandbox=Sandbox(__import__("pathlib").Path(ws)))
    def status_kb(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    try:  # reset the peak (VmHWM) to the current RSS, so imports' own peak does not hide the call's
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        peak = lambda: status_kb("VmHWM")
    except OSError:
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = status_kb("VmRSS")
    try:
        out = asyncio.run(tools[tool].run(inputs, ctx)).text
    except ToolError as exc:
        out = "ERROR " + str(exc)
    after = peak()
    cut = "line truncated" in out
    print(json.dumps({"grew_kb": after - before, "len": len(out), "cut": cut, "head": out[:300], "tail": out[-300:]}))
    """
)

LONG_LINE = 128 * 1024 * 1024  # enough to see the growth; the 1 GB figures are in benchmarks/bigline.py


@pytest.fixture(scope="module")
def long_line_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("bigline") / "ws"
    ws.mkdir()
    with open(ws / "big.txt", "wb") as f:
        f.write(b"".join(b"line %d of ordinary text\n" % i for i in range(1, 300)))
        chunk = b"x" * (1024 * 1024)
        for _ in range(LONG_LINE // len(chunk)):
            f.write(chunk)
        f.write(b"NEEDLE\nlast line\n")
    (ws / "short.txt").write_bytes(b"ab\n" * (3 * 1024 * 1024))  # 9 MB of tiny lines: Grep's other worst case
    return ws


def _probe(ws: Path, tool: str, inputs: dict[str, Any]) -> dict[str, Any]:
    import json

    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(ws), tool, json.dumps(inputs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    "tool, inputs",
    [
        ("Read", {"file_path": "big.txt"}),
        ("Read", {"file_path": "big.txt", "offset": 299, "limit": 3}),
        ("Edit", {"file_path": "big.txt", "old_string": "NEEDLE", "new_string": "found"}),
        ("Grep", {"pattern": "NEEDLE|last", "path": "big.txt", "output_mode": "content"}),
        ("Grep", {"pattern": "ab", "path": "short.txt", "output_mode": "content"}),
    ],
    ids=["Read", "Read-offset-limit", "Edit", "Grep", "Grep-3M-lines"],
)
def test_a_huge_line_is_not_held_in_memory(
    long_line_ws: Path, tool: str, inputs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    result = _probe(long_line_ws, tool, inputs)
    grew_mb = result["grew_kb"] / 1024
    what = f"a {LONG_LINE >> 20} MB line" if inputs.get("path") != "short.txt" else "3M short matching lines"
    _report(capsys, f"[memory] {tool} {inputs} on {what}: peak RSS grew {grew_mb:.1f} MB")
    assert grew_mb < 64, f"{tool} grew {grew_mb:.0f} MB on {what}"  # half the line: not held
    assert result["len"] < 40_000  # the output cap, never the line
    if tool == "Edit":
        assert result["head"].startswith("ERROR ") and "10 MB" in result["head"]
    if tool == "Read" and "offset" in inputs:
        assert result["cut"] and result["tail"].endswith("   301\tlast line")
    if tool == "Grep" and inputs["path"] == "big.txt":  # streamed: the line after the huge one is found
        assert "big.txt:301:last line" in result["tail"]
    if inputs.get("path") == "short.txt":  # 3M matching lines: the answer is capped, the rest counted
        assert result["tail"].endswith("more lines (output cap)")


async def test_read_cuts_a_long_line_and_says_how_much(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "wide.txt").write_text("é" * 5000 + "\nnext\n")
    ctx = ToolContext(sandbox=Sandbox(ws))
    out = await ReadTool().run({"file_path": "wide.txt"}, ctx)
    first, second = out.text.split("\n")
    assert first == "     1\t" + "é" * 2000 + "… [line truncated, 3000 more characters]"
    assert second == "     2\tnext"


async def test_edit_refuses_big_files_before_reading(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    big = ws / "big.txt"
    with open(big, "wb") as f:
        f.truncate(11 * 1024 * 1024)  # sparse: the refusal must come from the size, not a read
    ctx = ToolContext(sandbox=Sandbox(ws))
    with pytest.raises(ToolError) as info:
        await EditTool().run({"file_path": "big.txt", "old_string": "a", "new_string": "b"}, ctx)
    assert "10 MB" in str(info.value) and "\n" not in str(info.value)
    assert "10 MB" in EditTool.description


def test_line_reader_matches_a_plain_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LineReader and line_blocks (tiny chunks here) give the lines a plain split gives, cut to `keep`."""
    import random

    from llmos_tui.core.tools import lines as lines_module

    monkeypatch.setattr(lines_module, "CHUNK", 5)
    rng = random.Random(11)
    for case in range(300):
        data = bytes(rng.choice(b"ab\n\xc3\xa9") for _ in range(rng.randint(0, 60)))
        path = tmp_path / f"f{case}"
        path.write_bytes(data)
        expected = data.split(b"\n")
        if expected[-1] == b"":
            expected.pop()
        keep = rng.randint(1, 9)
        stop = rng.randint(0, len(expected))
        fd = os.open(path, os.O_RDONLY)
        try:
            first = os.read(fd, rng.randint(0, 4))
            reader = lines_module.LineReader(fd, keep, first=first, count_chars=True)
            got = []
            for line in reader:
                got.append(line)
                if len(got) == stop:
                    break
            rest = reader.count_rest() if stop < len(expected) else 0
        finally:
            os.close(fd)
        assert [g.head for g in got] == [e[:keep] for e in expected[: len(got)]], data
        assert [g.size for g in got] == [len(e) for e in expected[: len(got)]], data
        for g, e in zip(got, expected, strict=False):
            assert lines_module.utf8_chars(g.head) + g.rest_chars == (
                lines_module.utf8_chars(e) if len(e) > keep else lines_module.utf8_chars(g.head)
            ), data
        assert len(got) + rest == len(expected), data
        fd = os.open(path, os.O_RDONLY)
        try:
            first = os.read(fd, rng.randint(0, 4))
            block_lines: list[bytes] = []
            cuts = 0
            for block, cut in lines_module.line_blocks(fd, keep, first=first, chunk=rng.randint(1, 6)):
                part = block.split(b"\n")
                if block.endswith(b"\n"):
                    part.pop()
                block_lines += part
                cuts += cut
        finally:
            os.close(fd)
        assert block_lines == [e[:keep] for e in expected], data
        assert cuts == sum(1 for e in expected if len(e) > keep), data


async def test_write_and_edit_replace_the_file_but_keep_its_mode(tmp_path: Path) -> None:
    """Write and Edit rename a fresh file over the old one: its permission bits carry over."""
    ws = tmp_path / "ws"
    ws.mkdir()
    script = ws / "run.sh"
    script.write_text("echo one\n")
    script.chmod(0o750)
    inode = script.stat().st_ino
    ctx = ToolContext(sandbox=Sandbox(ws))
    await WriteTool().run({"file_path": "run.sh", "content": "echo two\n"}, ctx)
    assert script.read_text() == "echo two\n" and (script.stat().st_mode & 0o777) == 0o750
    assert script.stat().st_ino != inode  # replaced, never written through
    inode = script.stat().st_ino
    await EditTool().run({"file_path": "run.sh", "old_string": "two", "new_string": "three"}, ctx)
    assert script.read_text() == "echo three\n" and (script.stat().st_mode & 0o777) == 0o750
    assert script.stat().st_ino != inode
    assert [p.name for p in ws.iterdir()] == ["run.sh"]  # no temp file left behind
