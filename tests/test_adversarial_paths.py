"""Adversarial paths: hundreds of ways to name something outside, through every file tool.

Each attack runs against a fresh workspace that sits next to an `outside` folder and an allowed
read root (`system`), full of traps: symlinks out (to files, folders, /, /proc/self/root,
/dev/zero), chains, loops, dangling links, hard links, a fifo, a socket, reserved state.

An attack is one tool call. After it:
  - escaped: outside content in the answer, or anything outside (or llmos-tui's own state)
    changed, or a new file next to the workspace;
  - crashed: anything but a ToolError, a ToolError that is empty or not one line, a hang;
  - refused clearly: a one-line ToolError;
  - allowed-inside: an answer that stayed inside.
Attacks marked "refuse" must be refused; the others may be allowed as long as nothing escapes.
The counts are printed to the terminal (also without `pytest -s`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput
from llmos_tui.core.tools.files import EditTool, ReadTool, WriteTool
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.tools.search import GlobTool, GrepTool

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc, fifos and Linux paths")

SECRET = "TOP-SECRET-adversarial"
OUTSIDE_NAME = "only_out_name"
TOOLS: dict[str, Any] = {
    "Read": ReadTool(),
    "Write": WriteTool(),
    "Edit": EditTool(),
    "Grep": GrepTool(),
    "Glob": GlobTool(),
}
R, A = "refuse", "any"  # must be refused / may be allowed inside


@dataclass(frozen=True)
class Attack:
    tool: str
    inputs: dict[str, Any]
    expect: str  # R or A
    note: str = ""

    def label(self) -> str:
        return f"{self.tool} {self.inputs!r}"[:160]


def build(root: Path) -> dict[str, Path]:
    """The trap-filled layout; returns its folders."""
    outside = root / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text(f"{SECRET} TOP\n")
    (outside / f"{OUTSIDE_NAME}_top.txt").write_text(f"{SECRET} TOP\n")  # a name seen only by a listing out
    (outside / "dir" / f"{OUTSIDE_NAME}.txt").write_text(f"{SECRET} in a folder TOP\n")
    system = root / "system"
    system.mkdir()
    (system / "agent.md").write_text("agent TOP\n")
    (system / "out_link").symlink_to("../outside/secret.txt")
    os.link(outside / "secret.txt", system / "hl.txt")
    ws = root / "ws"
    (ws / "sub" / "deeper").mkdir(parents=True)
    (ws / "sub" / "inner.txt").write_text("inner TOP\n")
    (ws / "runs" / "r1").mkdir(parents=True)
    (ws / "runs" / "r1" / "journal.jsonl").write_text('{"TOP": 1}\n')
    (ws / "execution_state.md").write_text("# state TOP\n")
    (ws / ".llmos-driver.lock").write_text("123\n")
    (ws / unicodedata.normalize("NFC", "café.txt")).write_text("cafe TOP\n")
    links = {
        "link_file": str(outside / "secret.txt"),
        "link_dir": str(outside),
        "rel_out": "../outside",
        "chain2": "../outside",
        "chain1": "chain2",
        "sub/up": "../..",
        "dangling": str(outside / "new.txt"),
        "dangling_dir": str(outside / "newdir"),
        "runs_alias": "runs",
        "state_alias": "execution_state.md",
        "loop1": "loop2",
        "loop2": "loop1",
        "self_loop": "self_loop",
        "good_link": "sub/inner.txt",
        "good_abs_link": str(ws / "sub" / "inner.txt"),
        "good_dir_link": "sub",
        "proc_root": "/proc/self/root",
        "proc_cwd": "/proc/self/cwd",
        "proc_fd": "/proc/self/fd",
        "zero": "/dev/zero",
        "root_link": "/",
        "deep_rel": "../" * 16 + "etc/passwd",
        "deep_rel_out": "../" * 16 + str(outside / "secret.txt").lstrip("/"),
        "sysl": str(system),
        "sys_out": str(system / "out_link"),
        "sub/deeper/back_out": "../../../outside/dir",
    }
    for name, target in links.items():
        (ws / name).symlink_to(target)
    os.mkfifo(ws / "fifo")
    os.link(outside / "secret.txt", ws / "hl.txt")
    (ws / "sub" / "twin.txt").write_text("twin TOP\n")
    os.link(ws / "sub" / "twin.txt", ws / "hl_inside.txt")  # both names inside: still refused
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(ws / "sock"))
    except OSError:  # a path too long for a socket: the attack is then just a missing file
        pass
    return {"root": root, "ws": ws, "outside": outside, "system": system}


def _path_attacks() -> list[tuple[str, str, str]]:
    """(path, expectation for reading tools, expectation for writing tools)."""
    return [
        ("../outside/secret.txt", R, R),
        ("sub/../../outside/secret.txt", R, R),
        ("{out}/secret.txt", R, R),
        ("{ws}/../outside/secret.txt", R, R),
        ("{ws}/sub/../../outside/secret.txt", R, R),
        ("/proc/self/root{out}/secret.txt", R, R),
        ("/proc/self/environ", R, R),
        ("/proc/self/cwd/probe.txt", R, R),
        ("/proc/self/fd/0", R, R),
        ("/dev/zero", R, R),
        ("/dev/null", R, R),
        ("link_file", R, R),
        ("link_dir/secret.txt", R, R),
        ("link_dir", R, R),
        ("link_dir/", R, R),
        ("link_dir/dir/", R, R),
        ("rel_out/secret.txt", R, R),
        ("chain1/secret.txt", R, R),
        ("chain1/newdir/deep.txt", R, R),
        ("sub/up/outside/secret.txt", R, R),
        ("sub/up", R, R),
        ("sub/deeper/back_out/" + OUTSIDE_NAME + ".txt", R, R),
        ("loop1", R, R),
        ("self_loop", R, R),
        ("loop1/x", R, R),
        ("dangling", R, R),
        ("dangling_dir/x.txt", R, R),
        ("proc_root{out}/secret.txt", R, R),
        ("proc_cwd/probe.txt", R, R),
        ("proc_fd/0", R, R),
        ("zero", R, R),
        ("root_link{out}/secret.txt", R, R),
        ("deep_rel_out", R, R),
        ("fifo", R, R),
        ("sock", R, R),
        ("hl.txt", R, R),
        ("hl_inside.txt", R, R),
        ("secret\x00.txt", R, R),
        ("sub/\x00/../inner.txt", R, R),
        ("a" * 300, R, R),
        ("/".join(["d"] * 2100), R, R),
        ("~/.ssh/id_rsa", R, R),
        ("~root/x", R, R),
        ("//proc/self/root{out}/secret.txt", R, R),
        ("sub/inner.txt/../../../outside/secret.txt", R, R),
        ("sub/./././../../outside/secret.txt", R, R),
        ("sub//..//..//outside//secret.txt", R, R),
        ("sub/deeper/../../../outside", R, R),
        ("", R, R),
        ("   ", R, R),
        ("/", R, R),
        ("..", R, R),
        ("../", R, R),
        ("{system}/out_link", R, R),
        ("{system}/../outside/secret.txt", R, R),
        ("{system}/hl.txt", R, R),
        ("sys_out", R, R),
        ("{system}/agent.md", A, R),
        ("sysl/agent.md", A, R),
        ("runs/r1/journal.jsonl", A, R),
        ("execution_state.md", A, R),
        (".llmos-driver.lock", A, R),
        ("runs", A, R),
        ("runs/", A, R),
        ("./runs/../runs/x", A, R),
        ("sub/../execution_state.md", A, R),
        ("runs_alias/r1/journal.jsonl", A, R),
        ("state_alias", A, R),
        ("{ws}/runs/r1/journal.jsonl", A, R),
        ("{ws}/execution_state.md", A, R),
        (".", A, R),
        ("{ws}", A, R),
        ("RUNS/x.txt", A, A),  # case tricks: an ordinary name on a case-sensitive file system
        ("Execution_State.md", A, A),
        ("EXECUTION_STATE.MD", A, A),
        ("\u2025/outside/secret.txt", A, A),  # unicode look-alikes of '..'
        ("\uff0e\uff0e/outside/secret.txt", A, A),
        ("sub/..\u200b/..\u200b/outside/secret.txt", A, A),
        ("\u202etxt.terces", A, A),
        (unicodedata.normalize("NFD", "café.txt"), A, A),
        ("..\\outside\\secret.txt", A, A),
        ("%2e%2e/outside/secret.txt", A, A),
        ("file:///etc/passwd", A, A),
        ("good_link", A, A),
        ("good_abs_link", A, A),
        ("good_dir_link/inner.txt", A, A),
        ("{ws}/../ws/sub/inner.txt", A, A),
        ("sub/inner.txt", A, A),
        ("sub/inner.txt/", A, A),  # a trailing slash on a file: judged (and used) as the file
        ("sub/twin.txt", R, R),  # the other name of hl_inside.txt
        ("new\nline.txt", A, A),  # a newline in a name: every message stays one line
        ("\ud800", R, R),  # a lone surrogate (valid JSON, no file name)
        ("/proc/self/root{ws}/sub/inner.txt", A, A),  # resolves back inside
        ("/proc/self/root/etc/hostname", R, R),
        ("/proc/self/fd/3/x", R, R),
        ("/sys/kernel/notes", R, R),
    ]


def attacks() -> list[Attack]:
    out: list[Attack] = []
    for path, read_expect, write_expect in _path_attacks():
        out.append(Attack("Read", {"file_path": path}, read_expect))
        out.append(Attack("Write", {"file_path": path, "content": "pwned TOP\n"}, write_expect))
        out.append(Attack("Edit", {"file_path": path, "old_string": "TOP", "new_string": "pwned"}, write_expect))
        out.append(Attack("Grep", {"pattern": "TOP|root:", "path": path, "output_mode": "content"}, read_expect))
        out.append(Attack("Glob", {"pattern": "**/*", "path": path}, read_expect))
    # Read-only system files are named only for reading tools (the test runs as any user).
    for path in ("/etc/passwd", "/etc/shadow", "deep_rel", "root_link/etc/passwd", "proc_root/etc/passwd"):
        out.append(Attack("Read", {"file_path": path}, R))
        out.append(Attack("Grep", {"pattern": "root:", "path": path, "output_mode": "content"}, R))
    for pattern, expect in [
        ("../*", R),
        ("**/../../*", R),
        ("sub/../../outside/*", R),
        ("/etc/*", R),
        ("{out}/*", R),
        ("{out}/**/*", R),
        ("/proc/self/root{out}/*", R),
        ("link_dir/*", A),
        ("link_dir/**/*", A),
        ("rel_out/**", A),
        ("sub/up/**/*", A),
        ("proc_root/etc/*", A),
        ("root_link/etc/passwd", A),
        ("**/*secret*", A),
        (f"**/{OUTSIDE_NAME}*", A),
        ("**/*", A),
        ("{system}/*", A),
        ("{system}/../outside/*", R),
        ("runs/**/*", A),
        ("*\x00", R),
        ("{ws}/../outside/*", R),
        ("/proc/self/cwd/*", R),
    ]:
        out.append(Attack("Glob", {"pattern": pattern}, expect))
    for glob in ("../**", "link_dir/*", "/etc/*", "**/*", "rel_out/**/*", "sub/up/**"):
        out.append(Attack("Grep", {"pattern": "TOP|root:", "glob": glob, "output_mode": "content"}, A))
    out.append(Attack("Grep", {"pattern": "TOP|root:", "output_mode": "content", "multiline": True}, A))
    out.append(Attack("Grep", {"pattern": "TOP", "path": "sub/up", "glob": "**/*"}, R))
    return out


def _fill(value: Any, dirs: dict[str, Path]) -> Any:
    if isinstance(value, str):
        return (
            value.replace("{out}", str(dirs["outside"]))
            .replace("{ws}", str(dirs["ws"]))
            .replace("{system}", str(dirs["system"]))
        )
    return value


def _tree(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (links not followed): a digest of its bytes or its link."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            key = str(p.relative_to(folder))
            if p.is_symlink():
                out[key] = "link->" + os.readlink(p)
            elif p.is_file():
                out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[key] = "other"
    return out


def _state(dirs: dict[str, Path]) -> dict[str, Any]:
    ws = dirs["ws"]
    return {
        "outside": _tree(dirs["outside"]),
        "system": _tree(dirs["system"]),
        "next_to_ws": sorted(os.listdir(dirs["root"])),
        "runs": _tree(ws / "runs"),
        "state": (ws / "execution_state.md").read_bytes(),
        "lock": (ws / ".llmos-driver.lock").read_bytes(),
        "passwd": hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest(),
    }


def _leaks(text: str) -> bool:
    """Outside content (or the name of a file only outside) in an answer."""
    return SECRET in text or "root:x:0:0" in text or OUTSIDE_NAME in text


async def _attempt(attack: Attack, root: Path) -> tuple[str, str]:
    """(outcome, detail) with outcome one of refused, allowed, escaped, crashed."""
    dirs = build(root)
    ctx = ToolContext(sandbox=Sandbox(dirs["ws"], read_roots=[dirs["system"]]))
    inputs = {k: _fill(v, dirs) for k, v in attack.inputs.items()}
    before = _state(dirs)
    outcome, detail = "allowed", ""
    try:
        out: ToolOutput = await asyncio.wait_for(TOOLS[attack.tool].run(inputs, ctx), 5)
    except ToolError as exc:
        message = str(exc)
        if SECRET in message or "root:x:0:0" in message:
            outcome, detail = "escaped", f"error shows outside content: {message[:200]!r}"
        elif not message.strip() or "\n" in message:
            outcome, detail = "crashed", f"not a one-line error: {message[:200]!r}"
        else:
            outcome, detail = "refused", message
    except Exception as exc:  # noqa: BLE001 - a crash of the run, a hang (TimeoutError)
        outcome, detail = "crashed", f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        shown = out.text + repr(out.images)
        if _leaks(shown):
            outcome, detail = "escaped", f"answer shows outside content: {out.text[:200]!r}"
    after = _state(dirs)
    if outcome != "crashed":
        changed = [k for k in before if before[k] != after[k]]
        if changed:
            outcome, detail = "escaped", f"changed {changed}"
    return outcome, detail


async def test_adversarial_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = attacks()
    counts: Counter[str] = Counter()
    per_tool: Counter[str] = Counter()
    bad: list[str] = []
    for i, attack in enumerate(cases):
        outcome, detail = await _attempt(attack, tmp_path / f"c{i}")
        counts["attempted"] += 1
        counts[outcome] += 1
        per_tool[attack.tool] += 1
        if outcome in ("escaped", "crashed"):
            bad.append(f"{outcome.upper()} {attack.label()}: {detail}")
        elif outcome == "allowed" and attack.expect == R:
            counts["allowed but should be refused"] += 1
            bad.append(f"NOT REFUSED {attack.label()}")
    line = (
        f"[adversarial paths] attempted {counts['attempted']} / refused clearly {counts['refused']} / "
        f"allowed-inside {counts['allowed']} / escaped-or-crashed {counts['escaped'] + counts['crashed']} "
        f"(escaped {counts['escaped']}, crashed {counts['crashed']}, "
        f"not refused though expected {counts['allowed but should be refused']}); per tool: "
        + ", ".join(f"{k} {v}" for k, v in sorted(per_tool.items()))
    )
    with capsys.disabled():
        print("\n" + line)
        for b in bad[:40]:
            print("  " + b)
    assert counts["attempted"] >= 100
    assert set(per_tool) == set(TOOLS)
    assert bad == [], f"{len(bad)} attacks went wrong; first: {bad[:5]}"
    assert counts["escaped"] == 0 and counts["crashed"] == 0
