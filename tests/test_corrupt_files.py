"""Issue 11's adversarial suite, corrupt files: 70+ damaged state files, journals, control files,
system files and scripts (truncated, binary, huge, deeply nested, aliased, wrongly typed, BOM,
CRLF, empty, a folder, a symlink to /dev/zero, a fifo, a repeated or out-of-order seq, unknown
kinds …), each fed to what reads it: run, resume, status, runs, watch-open (the TUI's follower and
its state pane), and — for the files a live driver reads while it waits — a live driver.

Every attempt ends one of three ways: accepted, refused clearly (one line naming the file — on
the command line exit 2), or crashed (any other exception, a hang, a driver that died, or a file
that did not parse and was overwritten). The counts are printed; crashed must be 0. The command
line itself is driven through subprocesses for a sample of the cases (one line, exit 2, never a
traceback)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmos_tui.core.control import ControlChannel, new_command
from llmos_tui.core.errors import LlmosError
from llmos_tui.core.runner import RunOptions
from llmos_tui.core.scaffold import init_project
from llmos_tui.core.session import RunRequest, list_runs, read_ledger, resume_run, start_run
from llmos_tui.core.source import FollowedRun
from llmos_tui.core.state import text_to_show
from llmos_tui.core.workspace import Workspace

from conftest import cli
from test_runner import WRITE_THEN_DONE

Damage = Callable[[Path], None]

BINARY = bytes(range(256)) * 16  # every byte, NUL and invalid UTF-8 included
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


# ---------------------------------------------------------------- damage


def write(data: bytes) -> Damage:
    def damage(path: Path) -> None:
        _clear(path)
        path.write_bytes(data)

    return damage


def edit(fn: Callable[[bytes], bytes]) -> Damage:
    def damage(path: Path) -> None:
        data = path.read_bytes() if path.is_file() else b""
        path.write_bytes(fn(data))

    return damage


def replace(old: bytes, new: bytes) -> Damage:
    def fn(data: bytes) -> bytes:
        assert old in data, (old, data[:300])
        return data.replace(old, new, 1)

    return edit(fn)


def lines(fn: Callable[[list[bytes]], list[bytes]]) -> Damage:
    return edit(lambda data: b"".join(fn(data.splitlines(keepends=True))))


def _clear(path: Path) -> None:
    if path.is_symlink() or path.is_file() or stat.S_ISFIFO(_mode(path)):
        path.unlink()
    elif path.is_dir():
        path.rmdir()


def _mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


def folder(path: Path) -> None:
    _clear(path)
    path.mkdir()


def dev_zero(path: Path) -> None:
    _clear(path)
    path.symlink_to("/dev/zero")


def fifo(path: Path) -> None:
    _clear(path)
    os.mkfifo(path)


def huge(size: int, line: bytes = b"x" * 1023 + b"\n") -> Damage:
    return write(line * (size // len(line)))


def record_at(i: int, change: Callable[[dict], dict]) -> Damage:
    def fn(ls: list[bytes]) -> list[bytes]:
        ls[i] = (json.dumps(change(json.loads(ls[i]))) + "\n").encode()
        return ls

    return lines(fn)


# ---------------------------------------------------------------- the cases

STATE, JOURNAL, CONTROL = "workspace/execution_state.md", "journal", "control"


@dataclass(frozen=True)
class Case:
    name: str
    target: str  # a path in the project, or JOURNAL / CONTROL (of the run)
    damage: Damage
    ok: bool = False  # the damage is harmless: every reader accepts it
    tolerant: tuple[str, ...] = ()  # readers that may also read around this damage


CASES = [
    # -- execution_state.md (a person's edit while the run waits; then every reader of it)
    Case("state truncated in half", STATE, edit(lambda d: d[: len(d) // 2])),
    Case("state truncated in its front matter", STATE, edit(lambda d: d[:60])),
    Case("state empty", STATE, write(b"")),
    Case("state binary", STATE, write(BINARY)),
    Case("state invalid UTF-8 byte", STATE, replace(b"\nmode: execute", b"\nmode: ex\xe9cute")),
    Case("state huge (20 MB)", STATE, huge(20_000_000)),
    Case("state deep flow nesting", STATE, replace(b"variables: {}", b"variables: " + b"[" * 150 + b"]" * 150)),
    Case(
        "state deep block nesting",
        STATE,
        replace(b"variables: {}\n", b"variables:\n" + b"".join(b"  " * (i + 1) + b"k:\n" for i in range(3000))),
    ),
    Case("state alias", STATE, replace(b"variables: {}\n", b"variables:\n  a: &x 1\n  b: *x\n")),
    Case(
        "state billion laughs",
        STATE,
        replace(b"variables: {}\n", b"variables:\n" + LAUGHS.replace("\n", "\n  ").encode()),
    ),
    Case("state recursive alias", STATE, replace(b"variables: {}", b"variables: &v {self: *v}")),
    Case("state turns: x", STATE, replace(b"\nturns: ", b"\nturns: x #")),
    Case("state steps_total: [1]", STATE, replace(b"\nsteps_total: ", b"\nsteps_total: [1] #")),
    Case("state journal_seq: -1", STATE, replace(b"\njournal_seq: ", b"\njournal_seq: -1 #")),
    Case("state usage.cost_usd: free", STATE, replace(b"  cost_usd: ", b"  cost_usd: free #")),
    Case("state unknown status", STATE, replace(b"\nstatus: awaiting_approval", b"\nstatus: finished")),
    Case("state error is text", STATE, replace(b"\nerror: null", b"\nerror: it broke")),
    Case("state variables a list", STATE, replace(b"variables: {}", b"variables: [1, 2]")),
    Case("state steps a mapping", STATE, replace(b"\nsteps:\n", b"\nsteps: {}\nold_steps:\n")),
    Case("state step inputs a list", STATE, replace(b"    file_path: hello.txt\n", b"    - hello.txt\n")),
    Case("state no closing ---", STATE, edit(lambda d: d.replace(b"\n---\n", b"\n", 1).replace(b"\n---\n", b"\n", 1))),
    Case("state no front matter", STATE, write(b"# just some notes\n\nnothing here\n")),
    Case("state llmos_state: 2", STATE, replace(b"llmos_state: 1", b"llmos_state: 2")),
    Case("state bad timestamp", STATE, replace(b"\nstarted_at: ", b"\nstarted_at: 2026-13-45 #")),
    Case("state python tag", STATE, replace(b"variables: {}", b"variables: !!python/object/apply:os.system [id]")),
    Case("state non-text key", STATE, replace(b"variables: {}", b"variables: {1: one}")),
    Case("state NaN variable", STATE, replace(b"variables: {}", b"variables: {x: .nan}")),
    Case("state a set", STATE, replace(b"variables: {}", b"variables: {x: !!set {a}}")),
    Case("state binary value", STATE, replace(b"variables: {}", b"variables: {x: !!binary aGk=}")),
    Case("state folder", STATE, folder),
    Case("state symlink to /dev/zero", STATE, dev_zero),
    Case("state fifo", STATE, fifo),
    Case(
        "state LLMunix layout", STATE, write(b"# Execution State\n## Metadata\n- **goal**: g\n- **status**: PAUSED\n")
    ),
    Case("state BOM and CRLF", STATE, edit(lambda d: b"\xef\xbb\xbf" + d.replace(b"\n", b"\r\n")), ok=True),
    Case("state duplicate key", STATE, replace(b"variables: {}", b"variables: {}\nvariables: {}"), ok=True),
    # -- journal.jsonl
    # (a watcher may meet a journal the instant before its first record: it waits for one)
    Case("journal empty", JOURNAL, write(b""), tolerant=("watch",)),
    Case("journal torn last line", JOURNAL, edit(lambda d: d + b'{"seq": 99, "at": "x", "ki'), ok=True),
    Case("journal cut mid-file", JOURNAL, lines(lambda ls: [*ls[:2], ls[2][:20] + b"\n", *ls[3:]])),
    Case("journal binary line", JOURNAL, lines(lambda ls: [*ls[:3], BINARY.replace(b"\n", b" ") + b"\n", *ls[3:]])),
    Case("journal binary file", JOURNAL, write(BINARY)),
    Case(
        "journal duplicate seq, other content",
        JOURNAL,
        lines(lambda ls: [*ls[:3], ls[2].replace(b'"kind"', b'"x":1,"kind"'), *ls[3:]]),
    ),
    Case("journal duplicate line", JOURNAL, lines(lambda ls: [*ls[:3], ls[2], *ls[3:]])),
    Case("journal out of order", JOURNAL, lines(lambda ls: [ls[0], ls[2], ls[1], *ls[3:]])),
    Case("journal gap in seq", JOURNAL, lines(lambda ls: [*ls[:2], *ls[3:]])),
    Case("journal unknown kind", JOURNAL, record_at(-1, lambda r: {**r, "kind": "from_the_future"}), ok=True),
    Case("journal first record not run_started", JOURNAL, lines(lambda ls: ls[1:])),
    Case("journal seq is text", JOURNAL, record_at(2, lambda r: {**r, "seq": str(r["seq"])})),
    Case("journal data is a list", JOURNAL, record_at(2, lambda r: {**r, "data": [1]})),
    Case("journal deep nesting", JOURNAL, lines(lambda ls: [*ls[:3], b"[" * 100_000 + b"\n", *ls[3:]])),
    Case("journal invalid UTF-8", JOURNAL, lines(lambda ls: [*ls[:3], ls[3].replace(b'"at"', b'"\xe9t"'), *ls[4:]])),
    Case(
        "journal illegal transition",
        JOURNAL,
        record_at(-1, lambda r: {**r, "kind": "run_status", "from": "completed", "to": "running", "step": None}),
    ),
    Case("journal huge garbage line (5 MB)", JOURNAL, lines(lambda ls: [*ls[:3], b"z" * 5_000_000 + b"\n", *ls[3:]])),
    Case("journal CRLF", JOURNAL, edit(lambda d: d.replace(b"\n", b"\r\n")), ok=True),
    Case("journal BOM", JOURNAL, edit(lambda d: b"\xef\xbb\xbf" + d), ok=True),
    Case("journal folder", JOURNAL, folder),
    Case("journal symlink to /dev/zero", JOURNAL, dev_zero),
    Case("journal fifo", JOURNAL, fifo),
    # -- control.jsonl (malformed lines are journaled and skipped; the driver goes on)
    Case("control binary line", CONTROL, write(BINARY.replace(b"\n", b" ") + b"\n"), ok=True),
    Case("control deep nesting", CONTROL, write(b"[" * 100_000 + b"\n"), ok=True),
    Case("control invalid UTF-8", CONTROL, write(b'{"id":"c-1","action":"deny","feedback":"caf\xe9"}\n'), ok=True),
    Case("control torn line", CONTROL, write(b'{"id":"c-1","act'), ok=True),
    Case("control unknown action", CONTROL, write(b'{"id":"c-1","action":"explode"}\n'), ok=True),
    Case("control wrong types", CONTROL, write(b'{"id":3,"action":["approve"],"step":"two"}\n'), ok=True),
    Case("control huge garbage line", CONTROL, write(b"q" * 10_000_000 + b"\n"), ok=True),
    Case("control folder", CONTROL, folder, ok=True),
    Case("control symlink to /dev/zero", CONTROL, dev_zero, ok=True),
    Case("control fifo", CONTROL, fifo, ok=True),
    # -- system files and scripts
    Case("SystemAgent.md binary", "system/SystemAgent.md", write(BINARY)),
    Case("SystemAgent.md empty", "system/SystemAgent.md", write(b"")),
    Case("SystemAgent.md huge", "system/SystemAgent.md", huge(2_000_000, b"You are an agent.\n")),
    Case("SystemAgent.md folder", "system/SystemAgent.md", folder),
    Case("SystemAgent.md symlink to /dev/zero", "system/SystemAgent.md", dev_zero),
    Case("SystemAgent.md fifo", "system/SystemAgent.md", fifo),
    Case("SystemAgent.md billion laughs", "system/SystemAgent.md", write(("---\n" + LAUGHS + "---\nbody\n").encode())),
    Case("SystemAgent.md max_turns: x", "system/SystemAgent.md", replace(b"max_turns: 60", b"max_turns: x")),
    Case("SystemAgent.md unclosed front matter", "system/SystemAgent.md", edit(lambda d: d[:200])),
    Case("ClaudeCodeToolMap.md binary", "system/ClaudeCodeToolMap.md", write(BINARY)),
    Case("ClaudeCodeToolMap.md empty", "system/ClaudeCodeToolMap.md", write(b"")),
    Case("ClaudeCodeToolMap.md symlink to /dev/zero", "system/ClaudeCodeToolMap.md", dev_zero),
    Case("ClaudeCodeToolMap.md fifo", "system/ClaudeCodeToolMap.md", fifo),
    Case(
        "ClaudeCodeToolMap.md bomb in a block",
        "system/ClaudeCodeToolMap.md",
        write(("```yaml\n" + LAUGHS + "```\n").encode()),
    ),
    Case("ClaudeCodeToolMap.md block not a mapping", "system/ClaudeCodeToolMap.md", write(b"```yaml\n- Read\n```\n")),
    Case("TrainingDataCollector.md fifo", "system/TrainingDataCollector.md", fifo),
    Case("TrainingDataCollector.md binary", "system/TrainingDataCollector.md", write(BINARY)),
    Case("memory_log.md symlink to /dev/zero", "system/memory_log.md", dev_zero, ok=True),
    Case("memory_log.md fifo", "system/memory_log.md", fifo, ok=True),
    Case("memory_log.md binary", "system/memory_log.md", write(BINARY), ok=True),
    Case("memory_log.md bomb", "system/memory_log.md", write(("---\n" + LAUGHS + "---\nlearned\n").encode()), ok=True),
    Case("tool_stats.json binary", "system/tool_stats.json", write(BINARY), ok=True),
    Case("tool_stats.json symlink to /dev/zero", "system/tool_stats.json", dev_zero, ok=True),
    Case("tool_stats.json fifo", "system/tool_stats.json", fifo, ok=True),
    Case("tool_stats.json wrong types", "system/tool_stats.json", write(b'{"tools": {"Write": "many"}}'), ok=True),
    Case("tool_stats.json deep nesting", "system/tool_stats.json", write(b"[" * 100_000), ok=True),
    Case("script fifo", "s.yaml", fifo),
    Case("script symlink to /dev/zero", "s.yaml", dev_zero),
    Case("script binary", "s.yaml", write(BINARY)),
    Case("script billion laughs", "s.yaml", write(LAUGHS.encode())),
]

# which readers each kind of file meets
COMMANDS = {
    STATE: ("status", "runs", "watch", "resume", "run", "live"),
    JOURNAL: ("status", "runs", "watch", "resume"),
    CONTROL: ("status", "watch", "resume", "live"),
    "system/SystemAgent.md": ("status", "runs", "watch", "resume", "run"),
    "system/ClaudeCodeToolMap.md": ("status", "watch", "resume", "run"),
    "system/TrainingDataCollector.md": ("resume", "run"),
    "system/memory_log.md": ("resume", "run"),
    "system/tool_stats.json": ("run",),
    "s.yaml": ("run",),
}
# who must refuse a file that is really broken (the others read around it: `runs` lists a run
# from its live state file or falls back to the journal; `status` and watchers read the journal)
MUST_REFUSE = {
    STATE: {"resume", "run"},
    JOURNAL: {"status", "watch", "resume"},
    "system/SystemAgent.md": {"resume", "run"},
    "system/ClaudeCodeToolMap.md": {"resume", "run"},
    "s.yaml": {"run"},
}


# ---------------------------------------------------------------- running them


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """A call that blocks (a fifo opened for reading) is a crash: SIGALRM interrupts it."""

    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def fingerprint(path: Path) -> object:
    """What the damaged file is: its bytes (a regular file), else its kind."""
    mode = _mode(path)
    if stat.S_ISLNK(mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(mode):
        return path.read_bytes()
    return ("kind", stat.S_IFMT(mode))


def waiting_project(root: Path) -> tuple[Workspace, str]:
    """A project whose run waits for approval of step 2 (a Write), no driver."""
    init_project(root)
    (root / "s.yaml").write_text(WRITE_THEN_DONE)
    ws = Workspace.locate(root)
    runner = start_run(ws, request(root, "write hello", "side-effects"), RunOptions(no_wait=True, poll_interval=0.01))
    assert asyncio.run(runner.drive()) == "waiting"
    return ws, runner.run_id


def request(root: Path, goal: str, approval: str) -> RunRequest:
    return RunRequest(goal=goal, runtime="scripted", script=root / "s.yaml", approval=approval)


def target_path(ws: Workspace, run_id: str, target: str) -> Path:
    if target == JOURNAL:
        return ws.journal_path(run_id)
    if target == CONTROL:
        return ws.control_path(run_id)
    return ws.root.parent / target


def do(command: str, ws: Workspace, run_id: str) -> str | None:
    """Run one reader over the damaged project; a problem it reports (not raises) is returned."""
    root = ws.root.parent
    if command == "status":
        read_ledger(ws, run_id).snapshot()
    elif command == "runs":
        (mine,) = [r for r in list_runs(ws) if r.run_id == run_id]
        return mine.problem
    elif command == "watch":
        FollowedRun.open(ws, run_id)
        text_to_show(ws.state_path)
    elif command == "resume":
        runner = resume_run(ws, run_id, options=RunOptions(no_wait=True, poll_interval=0.01))
        asyncio.run(runner.drive())
    elif command == "run":
        runner = start_run(ws, request(root, "again", "never"), RunOptions(no_wait=True, poll_interval=0.01))
        asyncio.run(runner.drive())
    return None


async def live(ws: Workspace, run_id: str, case: Case) -> tuple[str, str]:
    """A driver waiting for a person meets the damage: it must keep going (pausing with the reason,
    or reading around it), leave a broken file alone, and end when told to."""
    path = target_path(ws, run_id, case.target)
    runner = resume_run(ws, run_id, options=RunOptions(poll_interval=0.01))
    task = asyncio.create_task(runner.drive())
    for _ in range(500):
        await asyncio.sleep(0.01)
        if runner.ledger.status == "awaiting_approval":
            break
    saved = path.read_bytes() if path.is_file() else None
    case.damage(path)
    damaged = fingerprint(path)
    for _ in range(60):
        await asyncio.sleep(0.01)
        if task.done() or runner.ledger.status == "paused":
            break
    await asyncio.sleep(0.05)
    if task.done():
        exc = task.exception()
        return "crashed", f"the driver ended: {type(exc).__name__ if exc else task.result()}"
    outcome, detail = "accepted", runner.ledger.status
    if runner.ledger.status == "paused":
        err = runner.ledger.error or {}
        named = err.get("type") == "state_file" and path.name in err.get("message", "")
        outcome, detail = ("refused", err.get("message", "")) if named else ("crashed", f"paused: {err}")
        if fingerprint(path) != damaged:
            outcome, detail = "crashed", "the broken file was overwritten"
    _clear(path)
    if saved is not None:
        path.write_bytes(saved)
    # told through the state file (the control file may be the damaged one)
    state = ws.state_path.read_bytes()
    ws.state_path.write_bytes(state.replace(b"\nstatus: awaiting_approval", b"\nstatus: cancelled", 1))
    try:
        result = await asyncio.wait_for(task, 10)
    except Exception as exc:  # noqa: BLE001 - a driver that dies is what this suite counts
        return "crashed", f"the driver ended: {type(exc).__name__}: {exc}"
    if result != "cancelled":
        return "crashed", f"the driver did not take the cancel: {result}"
    return outcome, detail


def attempt(case: Case, command: str, root: Path) -> tuple[str, str]:
    ws, run_id = waiting_project(root)
    path = target_path(ws, run_id, case.target)
    if command == "live":
        with deadline(30):
            return asyncio.run(live(ws, run_id, case))
    case.damage(path)
    damaged = fingerprint(path)
    try:
        with deadline(20):
            problem = do(command, ws, run_id)
    except LlmosError as exc:
        problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - anything else (a hang included) is a crash
        return "crashed", f"{type(exc).__name__}: {str(exc)[:300]}"
    if problem is None:
        return "accepted", ""
    if "\n" in problem or path.name not in problem:
        return "crashed", f"an unclear refusal: {problem[:300]}"
    if fingerprint(path) != damaged:
        return "crashed", f"refused, but the file was overwritten: {problem[:200]}"
    return "refused", problem


def test_corrupt_files_are_refused_clearly_or_read_around_never_crash(tmp_path, capsys):
    counts: Counter[str] = Counter()
    crashes: list[str] = []
    wrong: list[str] = []
    k = 0
    for case in CASES:
        for command in COMMANDS[case.target]:
            k += 1
            outcome, detail = attempt(case, command, tmp_path / f"p{k}")
            counts[outcome] += 1
            if outcome == "crashed":
                crashes.append(f"{case.name} / {command}: {detail}")
            elif case.ok and outcome != "accepted":
                wrong.append(f"{case.name} / {command}: refused a harmless file: {detail}")
            elif (
                not case.ok
                and command in MUST_REFUSE.get(case.target, ())
                and command not in case.tolerant
                and outcome != "refused"
            ):
                wrong.append(f"{case.name} / {command}: accepted a broken file")
    files = len(CASES)
    with capsys.disabled():
        print(
            f"\ncorrupt files: {files} files, {sum(counts.values())} attempted / {counts['refused']} refused clearly"
            f" / {counts['accepted']} accepted / {counts['crashed']} crashed"
        )
    assert files >= 50
    assert not crashes, "\n".join(crashes)
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- the command line, through subprocesses

CLI_SAMPLE = [
    ("state turns: x", ["resume", "--headless"]),
    ("state symlink to /dev/zero", ["resume", "--headless"]),
    ("state fifo", ["run", "--headless", "--script", "s.yaml", "--approve", "never", "again"]),
    ("state billion laughs", ["resume", "--headless"]),
    ("journal empty", ["status"]),
    ("journal duplicate seq, other content", ["resume", "--headless"]),
    ("journal folder", ["status"]),
    ("journal fifo", ["status", "--json"]),
    ("journal symlink to /dev/zero", ["resume", "--headless"]),
    ("SystemAgent.md binary", ["resume", "--headless"]),
    ("SystemAgent.md fifo", ["run", "--headless", "--script", "s.yaml", "again"]),
    ("ClaudeCodeToolMap.md symlink to /dev/zero", ["tools"]),
    ("TrainingDataCollector.md fifo", ["export", "--all"]),
    ("script fifo", ["run", "--headless", "--script", "s.yaml", "again"]),
    ("script billion laughs", ["run", "--headless", "--script", "s.yaml", "again"]),
    ("control folder", ["approve"]),
]


@pytest.mark.parametrize("name,args", CLI_SAMPLE, ids=[n for n, _ in CLI_SAMPLE])
def test_the_command_line_says_one_line_and_exits_2(tmp_path, name, args):
    (case,) = [c for c in CASES if c.name == name]
    ws, run_id = waiting_project(tmp_path)
    path = target_path(ws, run_id, case.target)
    case.damage(path)
    damaged = fingerprint(path)
    r = cli(*args, cwd=tmp_path, timeout=30)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    said = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("llmos-tui: ") and path.name in said[0], r.stderr
    assert fingerprint(path) == damaged


def test_runs_lists_a_damaged_run_as_unreadable_and_goes_on(tmp_path):
    (case,) = [c for c in CASES if c.name == "journal symlink to /dev/zero"]
    ws, run_id = waiting_project(tmp_path)
    case.damage(target_path(ws, run_id, case.target))
    ws.state_path.unlink()  # (else `runs` lists the run from its live state file)
    r = cli("runs", cwd=tmp_path, timeout=30)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"{run_id}  (unreadable:" in r.stdout and "not a regular file" in r.stdout


def test_a_control_file_turned_folder_is_noted_once_and_the_run_goes_on(tmp_path):
    ws, run_id = waiting_project(tmp_path)
    folder(ws.control_path(run_id))
    runner = resume_run(ws, run_id, options=RunOptions(no_wait=True, poll_interval=0.01))
    assert asyncio.run(runner.drive()) == "waiting"
    ws.control_path(run_id).rmdir()
    ControlChannel(ws.control_path(run_id)).append(new_command("approve", step=2))
    runner = resume_run(ws, run_id, options=RunOptions(no_wait=True, poll_interval=0.01))
    assert asyncio.run(runner.drive()) == "completed"
    from llmos_tui.core.journal import read_records

    said = [r["data"]["message"] for r in read_records(ws.journal_path(run_id)) if r["kind"] == "note"]
    assert sum("control.jsonl cannot be read" in m for m in said) == 1, said


WATCH_SAMPLE = [
    "state fifo",
    "state symlink to /dev/zero",
    "state folder",
    "state binary",
    "state billion laughs",
    "journal empty",
    "journal symlink to /dev/zero",
    "journal fifo",
    "journal duplicate seq, other content",
    "journal folder",
]


@pytest.mark.parametrize("name", WATCH_SAMPLE)
async def test_llmos_tui_watch_opens_on_a_damaged_file_and_stays_up(tmp_path, name):
    """`llmos-tui watch` itself (the Textual app, following the workspace) on each damage: it
    shows what it can and says what it cannot, within a moment; it never dies or hangs."""
    from llmos_tui.tui.app import AppSettings, LlmosApp

    (case,) = [c for c in CASES if c.name == name]
    ws, run_id = await asyncio.to_thread(waiting_project, tmp_path)
    path = target_path(ws, run_id, case.target)
    case.damage(path)
    damaged = fingerprint(path)
    app = LlmosApp(AppSettings(workspace=tmp_path, watch=True, clock=False))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(30):
            await pilot.pause(0.02)
        assert app.is_running
        shown = " | ".join(str(n.message) for n in app._notifications)
        if case.target == JOURNAL and name != "journal empty":
            assert path.name in shown, shown  # the journal's damage is said, with the file
    assert fingerprint(path) == damaged


@pytest.mark.parametrize(
    "damage", [dev_zero, fifo, write(b"[" * 100_000), write(BINARY)], ids=["dev-zero", "fifo", "deep", "binary"]
)
def test_a_damaged_trace_json_is_rebuilt_from_the_journal_on_export(tmp_path, damage):
    ws, run_id = waiting_project(tmp_path)
    damage(ws.trace_path(run_id))
    r = cli("export", run_id, "-o", "-", cwd=tmp_path, timeout=30)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["metadata"]["execution_id"] == run_id


@pytest.mark.parametrize(
    "damage", [dev_zero, fifo, folder, write(BINARY)], ids=["dev-zero", "fifo", "folder", "binary"]
)
def test_a_damaged_theme_memory_is_ignored_and_never_blocks(tmp_path, monkeypatch, damage):
    from llmos_tui.tui.themes import remember_theme, remembered_theme, settings_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    settings_path().parent.mkdir(parents=True)
    damage(settings_path())
    before = fingerprint(settings_path())
    with deadline(5):
        assert remembered_theme() is None
        remember_theme("llmos-light")
    assert fingerprint(settings_path()) == before or settings_path().is_file()


@pytest.mark.parametrize("damage", [dev_zero, fifo, write(b"[" * 100_000)], ids=["dev-zero", "fifo", "deep"])
def test_init_claude_on_a_damaged_settings_json_is_one_line(tmp_path, damage):
    (tmp_path / ".claude").mkdir()
    damage(tmp_path / ".claude" / "settings.json")
    r = cli("init", "--claude", str(tmp_path), cwd=tmp_path, timeout=30)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    said = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and "settings.json" in said[0], r.stderr


@pytest.mark.parametrize(
    "damage", [fifo, folder, dev_zero, write(b"[" * 4096)], ids=["fifo", "folder", "dev-zero", "deep"]
)
def test_a_damaged_driver_lock_never_hangs_status_or_watch(tmp_path, damage):
    from llmos_tui.core.lock import holder_info

    ws, run_id = waiting_project(tmp_path)
    damage(ws.lock_path)
    with deadline(5):
        holder_info(ws.root)
        FollowedRun.open(ws, run_id)
    r = cli("status", cwd=tmp_path, timeout=30)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
