"""Issue 11, finding 5: kill -9 left Bash running.

The driver killed 0.7 s into `sleep 1.5; echo X >> log` left the command alive (10 of 10);
`resume` showed the step `uncertain` with no hint that it still ran; the person saw no line yet,
retried, and got two lines (10 of 10). Now the call's process group dies with the driver (the
reaper; under the sandbox also bubblewrap's --die-with-parent and pid namespace), its identity is
journaled (`step_process`), and a survivor both missed is found and stopped by `resume` before the
step is shown `uncertain`, which then says so.

Survivors are counted independently of the code under test: every live process whose working
folder is the run's workspace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from llmos_tui.core.control import ControlChannel, new_command
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.journal import read_records
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.scaffold import init_project
from llmos_tui.core.tools import bwrap, procs

ROUNDS = 10
KILL_AT = 0.7  # seconds into the command
COMMAND = "sleep 1.5; echo X >> log"


def need_bwrap() -> None:
    found = bwrap.probe()
    if not found.ok:
        if os.environ.get("LLMOS_REQUIRE_BWRAP"):
            pytest.fail(f"LLMOS_REQUIRE_BWRAP is set but {found.reason}")
        pytest.skip(found.reason)


def make_project(root: Path, *, sandbox: str, commands: list[str]) -> Path:
    init_project(root)
    if sandbox == "off":
        toolmap = root / "system" / "ClaudeCodeToolMap.md"
        text = toolmap.read_text()
        assert text.count("sandbox: on ") == 1
        toolmap.write_text(text.replace("sandbox: on ", "sandbox: off "))
    turns = [{"content": [{"type": "tool_use", "name": "Bash", "input": {"command": c}}]} for c in commands]
    turns.append({"content": [{"type": "text", "text": "Done."}]})
    (root / "s.yaml").write_text(yaml.safe_dump({"turns": turns}, sort_keys=False))
    return root


def driver(root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.Popen(
        [sys.executable, "-m", "llmos_tui", *args, "--headless", "--no-wait", "-q"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def journal(ws: Path) -> Path | None:
    found = sorted(ws.glob("runs/*/journal.jsonl"))
    return found[-1] if found else None


def ledger_of(ws: Path) -> Ledger:
    path = journal(ws)
    assert path is not None
    return Ledger.from_records(read_records(path))


def wait_for(ws: Path, proc: subprocess.Popen[bytes], kind: str, step: int, timeout: float = 30) -> dict:
    """The first `kind` record of `step`, as soon as it is in the journal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = journal(ws)
        try:
            records = read_records(path) if path is not None else []
        except FileFormatError:
            records = []  # created, its first record not yet written
        for rec in records:
            if rec["kind"] == kind and rec.get("step") == step:
                return dict(rec)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        time.sleep(0.005)
    raise AssertionError(f"no {kind} record for step {step}")


def alive_in(ws: Path) -> list[int]:
    """Live processes working in `ws` (a zombie is dead, merely unreaped)."""
    real = os.path.realpath(ws)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] in "ZX":
            continue
        if cwd == real or cwd.startswith(real + os.sep):
            found.append(int(entry))
    return found


def settle(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def resume(root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", "resume", "--headless", "--no-wait", "--approve", "never"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def decide_by_looking(ws: Path) -> str:
    """The person: the step is uncertain; a line in the log means it ran (skip), none means retry."""
    led = ledger_of(ws)
    step = led.current_step
    assert step is not None and step.status == "uncertain", (step and step.status, led.status)
    action = "skip" if (ws / "log").exists() else "retry"
    ControlChannel(ws / "runs" / led.run_id / "control.jsonl").append(new_command(action, step=step.n))
    return action


def one_round(root: Path) -> dict:
    """kill -9 the driver 0.7 s into the command; resume; decide as a person would; finish."""
    ws = root / "workspace"
    proc = driver(root, "run", "--approve", "never", "--script", "s.yaml", "kill test")
    wait_for(ws, proc, "step_exec", 1)
    started = time.monotonic()
    time.sleep(max(0.0, started + KILL_AT - time.monotonic()))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    time.sleep(0.3)  # the kernel and the reaper take a moment
    survivors = alive_in(ws)
    first = resume(root)
    assert first.returncode == 3, (first.stdout, first.stderr)
    step = ledger_of(ws).steps[0]
    uncertain = [r for r in read_records(journal(ws)) if r["kind"] == "step_status" and r.get("to") == "uncertain"]
    action = decide_by_looking(ws)
    final = resume(root)
    time.sleep(max(0.0, started + 2.0 - time.monotonic()))  # past the moment an orphan would write
    lines = (ws / "log").read_text().splitlines() if (ws / "log").exists() else []
    leftover = alive_in(ws)
    settle(survivors + leftover)
    return {
        "survivors": len(survivors),
        "action": action,
        "lines": lines,
        "final": final.returncode,
        "status": ledger_of(ws).status,
        "reason": uncertain[0]["data"].get("reason") if uncertain else None,
        "step": step.status,
        "leftover": len(leftover),
    }


@pytest.mark.parametrize("sandbox", ["off", "on"])
def test_kill_nine_at_0_7_s_leaves_no_command_running_and_a_retry_writes_one_line(tmp_path, sandbox):
    if sandbox == "on":
        need_bwrap()
    roots = [make_project(tmp_path / f"r{i}", sandbox=sandbox, commands=[COMMAND]) for i in range(ROUNDS)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(one_round, roots))
    survived = sum(1 for r in results if r["survivors"])
    doubled = sum(1 for r in results if len(r["lines"]) > 1)
    print(f"sandbox {sandbox}: {survived} of {ROUNDS} commands survived the kill; {doubled} logs with two lines")
    assert survived == 0, results
    for r in results:
        assert r["action"] == "retry" and r["final"] == 0 and r["status"] == "completed", r
        assert r["lines"] == ["X"], r  # exactly one line: the retry's
        assert r["leftover"] == 0, r
        assert r["reason"].startswith("the driver stopped while this step ran"), r


def reaper_of(driver_pid: int) -> int:
    """The driver's reaper: its child running core/tools/procs.py."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == driver_pid and any(part.endswith(b"procs.py") for part in cmd):
            return int(entry)
    raise AssertionError("the driver has no reaper")


def test_resume_stops_a_survivor_before_the_step_is_shown_uncertain_and_says_so(tmp_path):
    """Both guards missed (the reaper was killed first): resume finds the command from the
    journal, stops it, notes it, and the uncertain step's reason says what it found."""
    root = make_project(tmp_path / "p", sandbox="off", commands=[COMMAND])
    ws = root / "workspace"
    proc = driver(root, "run", "--approve", "never", "--script", "s.yaml", "kill test")
    started_rec = wait_for(ws, proc, "step_process", 1)
    started = time.monotonic()
    time.sleep(max(0.0, started + KILL_AT - 0.2 - time.monotonic()))
    os.kill(reaper_of(proc.pid), signal.SIGKILL)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    time.sleep(0.1)
    survivors = alive_in(ws)
    try:
        assert survivors, "the command should have outlived both guards"
        out = resume(root)
        assert out.returncode == 3, (out.stdout, out.stderr)
        assert alive_in(ws) == [], "resume stopped it"
        pgid = started_rec["data"]["pgid"]
        found = f"its command was still running (pgid {pgid}"
        assert sum(found in line for line in out.stderr.splitlines()) == 1, out.stderr
        records = read_records(journal(ws))
        note = next(r for r in records if r["kind"] == "note" and found in r["data"]["message"])
        uncertain = next(r for r in records if r["kind"] == "step_status" and r.get("to") == "uncertain")
        assert note["seq"] < uncertain["seq"]  # stopped before anyone is asked about the step
        assert found in uncertain["data"]["reason"] and "stopped at resume" in uncertain["data"]["reason"]
        time.sleep(max(0.0, started + 1.9 - time.monotonic()))
        assert not (ws / "log").exists()  # it never got to write
        assert decide_by_looking(ws) == "retry"
        assert resume(root).returncode == 0
        assert (ws / "log").read_text() == "X\n"
    finally:
        settle(alive_in(ws))


def test_a_background_job_of_a_finished_step_dies_with_the_driver(tmp_path):
    """Unconfined (sandbox: off): what a step left running in the background is ended by the
    reaper when the driver dies, not only the step that was running."""
    root = make_project(
        tmp_path / "p", sandbox="off", commands=["sleep 30 >/dev/null 2>&1 & echo $! > bg.pid", COMMAND]
    )
    ws = root / "workspace"
    proc = driver(root, "run", "--approve", "never", "--script", "s.yaml", "background")
    wait_for(ws, proc, "step_exec", 2)
    bg = int((ws / "bg.pid").read_text())
    assert Path(f"/proc/{bg}").exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 3
    while alive_in(ws) and time.monotonic() < deadline:
        time.sleep(0.02)
    leftover = alive_in(ws)
    settle(leftover)
    assert leftover == []


def test_a_recorded_group_is_only_stopped_while_it_is_really_the_one_recorded(tmp_path):
    """pid reuse: a process with the recorded pgid but another start time, no marker, or another
    boot is left alone."""
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        real = procs.identity(other.pid, "f" * 32)
        assert real["start"] is not None
        for wrong in (
            {**real, "start": real["start"] + 1},
            {**real, "boot": "another-boot"},
            {**real, "pgid": 1},
            {"pgid": other.pid},
        ):
            assert procs.stop(wrong) == [], wrong
            assert other.poll() is None
        assert procs.stop(real, grace=0.5) == [other.pid]  # the leader's start time matches: ours
        assert other.wait(5) == -signal.SIGTERM
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()


def test_members_carrying_the_marker_are_found_after_their_leader_is_gone(tmp_path):
    mark = "a" * 32
    env = {**os.environ, procs.MARK_VAR: mark}
    leader = subprocess.Popen(
        ["/bin/bash", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        env=env,
    )
    info = procs.identity(leader.pid, mark)
    child = int(leader.stdout.readline())
    leader.wait(5)
    try:
        assert procs.survivors(info) == [child]
        assert procs.survivors({**info, "mark": "b" * 32}) == []  # leader gone, no marker: not ours
        assert procs.stop(info, grace=0.5) == [child]
        assert procs.survivors(info) == []
    finally:
        settle([child])
