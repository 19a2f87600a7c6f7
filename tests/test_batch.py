"""`llmos-tui batch`: many goals, each in its own workspace, on a pool of worker processes.

Fifty goals on the scripted runtime and fifty on the native one (the real SDK against
FakeAnthropic on 127.0.0.1) end with every goal's files right; kill -9 of the batch at random
moments, then running it again, finishes every goal exactly once (each side effect once); the
budget stops the batch and pauses its runs; a 429 storm is met by one backoff across workers and
never more model calls in flight than the limit; a run that waits for a person frees its place.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from llmos_tui.core.batch.goals import load_goals
from llmos_tui.core.batch.journal import read_batch_records
from llmos_tui.core.batch.ratelimit import FileGate, delay_from_headers
from llmos_tui.core.batch.scheduler import BatchOptions, BatchResult, run_batch
from llmos_tui.core.control import ControlChannel, new_command
from llmos_tui.core.errors import BadInput, FileFormatError
from llmos_tui.core.journal import read_records
from llmos_tui.core.ledger import Ledger

from conftest import cli, effect_happened
from fakeapi import FakeAnthropic, error, message, text, tool_use

# ---------------------------------------------------------------------------------------------- goals


def goal_script(i: int) -> dict:
    """Plan, write a file, append to a log (Bash), edit the counter, read back, finish."""
    tu = lambda name, **inputs: {"type": "tool_use", "name": name, "input": inputs}  # noqa: E731
    return {
        "turns": [
            {"content": [tu("UpdatePlan", steps=[{"title": f"goal {i}", "status": "in_progress"}])]},
            {"content": [tu("Write", file_path=f"out/goal-{i}.txt", content=f"goal {i}\n")]},
            {"content": [tu("Bash", command=f"echo line-{i} >> log.txt")]},
            {"content": [tu("Edit", file_path="counter.txt", old_string="count=0", new_string=f"count={i}")]},
            {"content": [tu("Read", file_path=f"out/goal-{i}.txt")]},
            {"content": f"Goal {i} done."},
        ]
    }


def write_goals(project: Path, n: int, *, scripted: bool = True, name: str = "goals.yaml") -> Path:
    goals = []
    for i in range(1, n + 1):
        g: dict = {"goal": f"Goal {i}: write out/goal-{i}.txt", "files": {"counter.txt": "count=0\n"}}
        g["variables"] = {"n": i}
        g["tags"] = ["even" if i % 2 == 0 else "odd"]
        if scripted:
            g["script"] = goal_script(i)
        goals.append(g)
    path = project / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(g) + "\n" for g in goals))
    else:
        path.write_text(yaml.safe_dump(goals, sort_keys=False))
    return path


def goal_folders(out: Path) -> dict[int, Path]:
    return {int(p.name.split("-", 1)[0]): p for p in out.iterdir() if p.is_dir() and p.name[:4].isdigit()}


def files_of(ws: Path) -> dict[str, str]:
    skip = {"runs", "execution_state.md", ".llmos-driver.lock"}
    return {
        str(p.relative_to(ws)): p.read_text()
        for p in sorted(ws.rglob("*"))
        if p.is_file() and p.relative_to(ws).parts[0] not in skip
    }


def expected_scripted(i: int) -> dict[str, str]:
    return {
        "counter.txt": f"count={i}\n",
        "log.txt": f"line-{i}\n",
        f"out/goal-{i}.txt": f"goal {i}\n",
        "shared.txt": "from the project\n",
    }


def the_run(folder: Path) -> Ledger:
    runs = [p for p in (folder / "workspace" / "runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1, runs  # one run per goal, never a second one
    return Ledger.from_records(read_records(runs[0] / "journal.jsonl"))


def batch(project: Path, goals: Path | None, out: Path, **kw) -> BatchResult:
    kw.setdefault("approve", "never")
    kw.setdefault("workers", 2)
    return asyncio.run(run_batch(BatchOptions(goals_file=goals, out=out, workspace=project, **kw)))


@pytest.fixture
def seeded(project: Path) -> Path:
    (project / "workspace" / "shared.txt").write_text("from the project\n")
    return project


# ---------------------------------------------------------------------------------------------- goals file


@pytest.mark.parametrize(
    "content, name, where",
    [
        ("- goal: a\n- goal: ''\n", "g.yaml", "g.yaml:2: goal 2: `goal` must be non-empty text"),
        ("- goal: a\n- goal: b\n  fils: {}\n", "g.yaml", "g.yaml:3: goal 2: unknown key 'fils'"),
        ("- goal: a\n  files: {../x: hi}\n", "g.yaml", "g.yaml:2: goal 1: '../x' is not a path inside"),
        ("- goal: a\n  files: {runs/x: hi}\n", "g.yaml", "g.yaml:2: goal 1: 'runs/x': runs/"),
        ("- goal: a\n  script: {turns: []}\n", "g.yaml", "g.yaml:2: goal 1: script: "),
        ("- goal: a\n  script: nope.yaml\n", "g.yaml", "g.yaml:2: goal 1: script not found"),
        ("goal: a\n", "g.yaml", "g.yaml:1: a goals file is a YAML list"),
        ("- goal: [a\n", "g.yaml", "g.yaml:2: invalid YAML"),
        ('{"goal": "a"}\n\n{"goal": "b", "tags": 3}\n', "g.jsonl", "g.jsonl:3: goal 2: `tags`"),
        ('{"goal": "a"}\n{nope\n', "g.jsonl", "g.jsonl:2: not JSON"),
    ],
)
def test_goals_file_errors_name_file_and_line(tmp_path, content, name, where):
    (tmp_path / name).write_text(content)
    with pytest.raises(FileFormatError) as info:
        load_goals(tmp_path / name)
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(where), str(info.value)


def test_goals_file_yaml_and_jsonl_read_alike(tmp_path):
    (tmp_path / "in.csv").write_text("a,b\n")
    y = tmp_path / "g.yaml"
    y.write_text("- goal: Sum in.csv\n  files: {data/in.csv: {from: in.csv}, notes.md: hi}\n  tags: one\n")
    j = tmp_path / "g.jsonl"
    j.write_text(
        json.dumps(
            {"goal": "Sum in.csv", "files": {"data/in.csv": {"from": "in.csv"}, "notes.md": "hi"}, "tags": ["one"]}
        )
    )
    a, b = load_goals(y), load_goals(j)
    assert a[0].digest == b[0].digest and a[0].files["data/in.csv"] == {"from": str(tmp_path / "in.csv")}


# ---------------------------------------------------------------------------------------------- 50 scripted


def test_fifty_goals_scripted(seeded, tmp_path):
    goals = write_goals(seeded, 50)
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = batch(seeded, goals, out, parallel=4)
    elapsed = time.monotonic() - t0
    assert (r.reason, r.exit_code, r.counts["done"]) == ("finished", 0, 50), r.counts
    folders = goal_folders(out)
    assert sorted(folders) == list(range(1, 51))
    for i, folder in folders.items():
        assert files_of(folder / "workspace") == expected_scripted(i), i
        led = the_run(folder)
        assert led.status == "completed" and led.variables == {"n": i}
        assert len(led.steps) == 5 and all(s.status == "done" for s in led.steps)
        # each goal is a project of its own: its system/ was written (memory, tool figures), the project's never
        assert f"Goal {i}" in (folder / "system" / "memory_log.md").read_text()
    assert not (seeded / "system" / "tool_stats.json").exists()
    assert "Goal" not in (seeded / "system" / "memory_log.md").read_text()
    assert not list((seeded / "workspace").glob("runs/*/journal.jsonl"))  # the project's workspace is untouched
    # the batch journal: every goal started once and ended done once
    recs = list(read_batch_records(out / "batch.jsonl"))
    ended = [r["goal"] for r in recs if r["kind"] == "goal_ended"]
    assert sorted(ended) == list(range(1, 51))
    assert elapsed < 60
    # the usual commands work on a goal's folder
    one = folders[7]
    st = cli("status", "--workspace", str(one), "--json", cwd=seeded, check_rc=0)
    assert json.loads(st.stdout)["status"] == "completed"
    # a second run of the batch repeats nothing
    again = batch(seeded, goals, out, parallel=4)
    assert again.exit_code == 0 and again.settled_here == 0
    kinds = [r["kind"] for r in read_batch_records(out / "batch.jsonl")][len(recs) :]
    assert kinds == ["batch_resumed", "batch_stopped"]  # nothing started again
    # one dataset from the whole batch
    ds = tmp_path / "ds"
    ex = cli(
        "export", "--batch", str(out), "--dataset", str(ds), "--format", "anthropic", "--check", cwd=seeded, check_rc=0
    )
    assert "anthropic 50 " in ex.stdout and "check anthropic: 50 rows, 50 valid" in ex.stdout, ex.stdout
    rows = [
        json.loads(x)
        for split in ("train", "validation")
        for x in (ds / "anthropic" / f"{split}.jsonl").read_text().splitlines()
    ]
    assert sorted(r["metadata"]["goal"] for r in rows) == sorted(
        f"Goal {i}: write out/goal-{i}.txt" for i in range(1, 51)
    )
    # time travel on a goal's run, as on any run: its checkpoints are its own
    cli("rewind", "--to-step", "2", "--workspace", str(one), cwd=seeded, check_rc=0)
    assert not (one / "workspace" / "out" / "goal-7.txt").exists()
    assert (folders[8] / "workspace" / "out" / "goal-8.txt").exists()


def test_batch_goes_on_with_added_goals_and_refuses_changed_ones(seeded, tmp_path):
    goals = write_goals(seeded, 3)
    out = tmp_path / "out"
    assert batch(seeded, goals, out, parallel=3).exit_code == 0
    write_goals(seeded, 5)  # two more at the end
    r = batch(seeded, goals, out)
    assert r.exit_code == 0 and r.counts["done"] == 5 and r.settled_here == 2
    resumed = [x for x in read_batch_records(out / "batch.jsonl") if x["kind"] == "batch_resumed"]
    assert resumed[-1]["data"]["settings"] == {}  # (--parallel 3 kept: nothing given, nothing changed)
    data = yaml.safe_load(goals.read_text())
    data[1]["goal"] = "something else"
    goals.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(BadInput, match=r"goals.yaml:\d+: goal 2 is not the one the batch"):
        batch(seeded, goals, out)
    with pytest.raises(BadInput, match="runs with mode 'execute', not 'simulate'"):
        batch(seeded, None, out, mode="simulate")
    assert batch(seeded, None, out).exit_code == 0  # (the batch's own goals.jsonl)


# ---------------------------------------------------------------------------------------------- 50 native


def native_reply(rec):
    """Stateless: the goal's number from its first message, the turn from the message count."""
    body = rec.body
    system = body.get("system")
    if isinstance(system, str) and system.startswith("You write the 'Key learnings'"):
        return message(text("Write the file first."))
    first = body["messages"][0]["content"]
    first = first if isinstance(first, str) else first[0]["text"]
    i = int(first.split("Goal ", 1)[1].split(":", 1)[0])
    turn = (len(body["messages"]) - 1) // 2
    if turn == 0:
        return message(
            text("Writing it."), tool_use("Write", {"file_path": f"out/goal-{i}.txt", "content": f"native {i}\n"})
        )
    if turn == 1:
        return message(tool_use("Read", {"file_path": f"out/goal-{i}.txt"}))
    return message(text(f"Goal {i} done."))


def test_fifty_goals_native_against_the_fake_api(seeded, tmp_path):
    goals = write_goals(seeded, 50, scripted=False, name="goals.jsonl")
    out = tmp_path / "out"
    with FakeAnthropic(default=native_reply) as api:
        r = batch(seeded, goals, out, parallel=6, api_key="test-key", base_url=api.base_url)
        conversation = [q for q in api.message_requests if q.body.get("tools")]
    assert (r.exit_code, r.counts["done"]) == (0, 50), (r.counts, [g.error for g in r.goals.values() if g.error])
    assert len(conversation) == 150  # three turns a goal, none repeated
    for i, folder in goal_folders(out).items():
        assert files_of(folder / "workspace") == {
            "counter.txt": "count=0\n",
            f"out/goal-{i}.txt": f"native {i}\n",
            "shared.txt": "from the project\n",
        }
        led = the_run(folder)
        assert led.status == "completed" and led.runtime == "native" and led.usage.cost_usd > 0
        assert (
            "Write the file first." in (folder / "system" / "memory_log.md").read_text()
        )  # (the side call, gated too)
    assert r.cost == pytest.approx(sum(g.cost for g in r.goals.values())) and r.cost > 0


# ---------------------------------------------------------------------------------------------- shared backoff


def test_429_storm_one_backoff_across_workers_and_the_call_limit(seeded, tmp_path):
    goals = write_goals(seeded, 12, scripted=False)
    lock = threading.Lock()
    seen = {"n": 0, "in_flight": 0, "max": 0}
    arrivals: list[tuple[float, int]] = []  # (time, status answered)
    K, WAIT = 5, 0.4

    def reply(rec):
        with lock:
            seen["n"] += 1
            status = 429 if seen["n"] <= K else 200
            arrivals.append((time.monotonic(), status))
            seen["in_flight"] += 1
            seen["max"] = max(seen["max"], seen["in_flight"])
        try:
            time.sleep(0.03)  # a call takes a while: concurrent ones overlap here
            if status == 429:
                return error(429, headers={"retry-after-ms": str(int(WAIT * 1000))})
            return native_reply(rec)
        finally:
            with lock:
                seen["in_flight"] -= 1

    out = tmp_path / "out"
    with FakeAnthropic(default=reply) as api:
        r = batch(seeded, goals, out, parallel=6, max_calls=2, api_key="test-key", base_url=api.base_url)
    assert (r.exit_code, r.counts["done"]) == (0, 12), r.counts
    assert seen["max"] <= 2, seen  # never more than the limit in flight, across both workers
    arrivals.sort()
    first_429 = next(t for t, s in arrivals if s == 429)
    # after the first 429, the only calls before its retry-after are those already on their way (without
    # the shared backoff two slots free every 0.03 s would bring a dozen)
    early = [t for t, _ in arrivals if first_429 < t < first_429 + WAIT - 0.05]
    assert len(early) <= 2, (early, first_429)
    for folder in goal_folders(out).values():
        assert the_run(folder).status == "completed"


def test_retry_after_and_rate_limit_headers():
    assert delay_from_headers({"retry-after-ms": "1500"}) == 1.5
    assert delay_from_headers({"Retry-After": "7"}) == 7
    now = time.time()
    assert delay_from_headers(
        {"retry-after": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))}, now
    ) == pytest.approx(30, abs=1.5)
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 12))
    h = {
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": reset,
        "anthropic-ratelimit-requests-remaining": "5",
        "anthropic-ratelimit-requests-reset": reset,
    }
    assert delay_from_headers(h, now) == pytest.approx(12, abs=1.5)
    assert delay_from_headers({"anthropic-ratelimit-requests-remaining": "3"}) is None


async def test_file_gate_shared_by_two_gates_on_one_folder(tmp_path):
    a, b = FileGate(tmp_path, 1), FileGate(tmp_path, 1)
    token = await a.acquire()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(b.acquire(), 0.1)  # the one slot is taken, by another "process"
    a.release(token)
    token = await asyncio.wait_for(b.acquire(), 1)
    b.release(token)
    await a.throttle(0.3)
    t0 = time.monotonic()
    b.release(await b.acquire())
    assert time.monotonic() - t0 >= 0.25  # a's throttle holds b back
    a.close()
    b.close()


# ---------------------------------------------------------------------------------------------- budget


def test_budget_stops_new_goals_and_pauses_running_ones(seeded, tmp_path):
    goals = write_goals(seeded, 8, scripted=False)

    def slow(rec):
        time.sleep(0.1)  # six turns of 0.1 s: the runs report their cost as they go
        body = rec.body
        if isinstance(body.get("system"), str):
            return message(text("ok"))
        turn = (len(body["messages"]) - 1) // 2
        if turn < 6:
            return message(tool_use("Glob", {"pattern": "*.txt"}))
        return message(text("done"))

    out = tmp_path / "out"
    with FakeAnthropic(default=slow) as api:
        # a run costs $0.017-0.024 here: the first two end below the budget, which is spent during the next two
        first = batch(seeded, goals, out, parallel=2, max_cost=0.055, api_key="test-key", base_url=api.base_url)
        c = first.counts
        assert (first.reason, first.exit_code) == ("budget", 3), c
        assert c["paused"] >= 1 and c["queued"] >= 2, c  # running ones paused, the rest never started
        assert 0.055 <= first.cost < 0.055 + 2 * 0.025  # (at most what the runs going on spent meanwhile)
        assert len(goal_folders(out)) == c["done"] + c["paused"]
        started = sorted(goal_folders(out))
        for index in started:
            led = the_run(goal_folders(out)[index])
            assert led.status in ("completed", "paused")
        # a higher budget: the paused runs go on where they stopped, the others start; nothing twice
        second = batch(seeded, goals, out, parallel=2, max_cost=100.0, api_key="test-key", base_url=api.base_url)
    assert (second.exit_code, second.counts["done"]) == (0, 8), second.counts
    for folder in goal_folders(out).values():
        led = the_run(folder)
        assert led.status == "completed" and len(led.steps) == 6


# ---------------------------------------------------------------------------------------------- a person


def test_waiting_goal_frees_its_place_and_goes_on_once_decided(seeded, tmp_path):
    goals_path = seeded / "goals.yaml"
    ro = {"turns": [{"content": [{"type": "tool_use", "name": "Glob", "input": {"pattern": "*"}}]}, {"content": "ok"}]}
    needs = {
        "turns": [
            {"content": [{"type": "tool_use", "name": "Write", "input": {"file_path": "w.txt", "content": "w\n"}}]},
            {"content": "written"},
        ]
    }
    goals_path.write_text(
        yaml.safe_dump(
            [
                {"goal": "writes", "script": needs},
                {"goal": "looks", "script": ro},
                {"goal": "looks again", "script": ro},
            ]
        )
    )
    out = tmp_path / "out"
    decided = threading.Event()

    def person():
        # the person answers once the two other goals are done (the waiting one did not hold the only place)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                ended = [r for r in read_batch_records(out / "batch.jsonl") if r["kind"] == "goal_ended"]
            except FileNotFoundError:
                ended = []
            if sum(1 for r in ended if r["data"]["status"] == "done") == 2 and any(
                r["data"]["status"] == "waiting" for r in ended
            ):
                folder = goal_folders(out)[1]
                proc = cli("approve", "--workspace", str(folder), "--timeout", "0", cwd=seeded)
                assert proc.returncode == 0, proc.stderr
                decided.set()
                return
            time.sleep(0.05)

    t = threading.Thread(target=person)
    t.start()
    r = batch(seeded, goals_path, out, parallel=1, approve="side-effects", waiting_poll=0.1)
    t.join()
    assert decided.is_set()
    assert (r.exit_code, r.counts["done"]) == (0, 3), r.counts
    assert (goal_folders(out)[1] / "workspace" / "w.txt").read_text() == "w\n"


def test_no_wait_returns_3_naming_the_goals_to_decide(seeded, tmp_path):
    goals = write_goals(seeded, 3)
    out = tmp_path / "out"
    p = cli("batch", str(goals), "--out", str(out), "--approve", "side-effects", "--no-wait", cwd=seeded, timeout=120)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "3 waiting for a person" in p.stdout
    assert f"goal 1 waits: {out}/0001-" in p.stdout and "(step 2 Write awaiting approval)" in p.stdout
    j = cli("batch", "--out", str(out), "--approve", "never", "--no-wait", "--json", cwd=seeded, timeout=120)
    # policy never from now on: but the waiting steps wait until decided; approve them the usual way
    assert j.returncode == 3, j.stderr
    for folder in goal_folders(out).values():
        cli("approve", "--workspace", str(folder), "--rest", "--timeout", "0", cwd=seeded, check_rc=0)
    done = cli("batch", "--out", str(out), "--json", cwd=seeded, timeout=120)
    assert done.returncode == 0, (done.stdout, done.stderr)
    summary = json.loads(done.stdout)
    assert summary["counts"]["done"] == 3 and all(r["status"] == "done" for r in summary["runs"])
    for i, folder in goal_folders(out).items():
        assert files_of(folder / "workspace") == expected_scripted(i) | {"shared.txt": "from the project\n"}


def test_cli_bad_input_is_one_line_exit_2(seeded, tmp_path):
    (seeded / "bad.yaml").write_text("- goal: ok\n  script: {turns: [{content: hi}]}\n- goal: ok too\n  tags: {a: 1}\n")
    p = cli("batch", "bad.yaml", cwd=seeded)
    assert p.returncode == 2 and p.stderr.strip() == "llmos-tui: bad.yaml:4: goal 2: `tags` must be a list of words"
    p = cli("batch", "--out", str(tmp_path / "none"), cwd=seeded)
    assert p.returncode == 2 and "holds no batch" in p.stderr
    goals = write_goals(seeded, 2, scripted=False)
    p = cli("batch", str(goals), cwd=seeded)
    assert p.returncode == 2 and "ANTHROPIC_API_KEY is not set" in p.stderr


# ---------------------------------------------------------------------------------------------- kill -9


def _journal_lines(out: Path) -> int:
    total = 0
    for j in out.glob("*/workspace/runs/*/journal.jsonl"):
        with open(j, "rb") as fh:
            total += fh.read().count(b"\n")
    return total


def test_kill_nine_the_batch_then_run_it_again_finishes_every_goal_once(seeded, tmp_path, capsys):
    n = 16
    goals = write_goals(seeded, n)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "llmos_tui", "batch", str(goals), "--out", str(out), "--approve", "never"]
    cmd += ["--no-wait", "-q", "--parallel", "4", "--workers", "2"]
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    rng = random.Random(int(os.environ.get("LLMOS_CRASH_SEED", "20261207")))
    total = n * 14  # about the records of the whole batch's runs
    kills = decisions = rounds = 0
    while True:
        rounds += 1
        assert rounds < 60, "the batch never finished"
        proc = subprocess.Popen(cmd, cwd=seeded, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if kills < 8:
            target = _journal_lines(out) + rng.randint(1, total // 6)
            while proc.poll() is None and _journal_lines(out) < target:
                time.sleep(0.001)
            time.sleep(rng.choice([0.0, rng.uniform(0, 0.02)]))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        stdout, stderr = proc.communicate(timeout=120)
        if proc.returncode == 0:
            break
        assert proc.returncode in (3, -signal.SIGKILL), (proc.returncode, stdout, stderr)
        time.sleep(0.05)
        # the person: an uncertain step (a side effect a kill interrupted) is skipped if it happened, else retried
        for folder in goal_folders(out).values():
            ws = folder / "workspace"
            runs = [p for p in ws.glob("runs/*/journal.jsonl")]
            if not runs or not runs[0].read_bytes().partition(b"\n")[1]:
                continue  # killed before its first record: nothing of it happened (the batch starts it anew)
            led = Ledger.from_records(read_records(runs[0]))
            cur = led.current_step
            if (
                cur is not None
                and cur.status == "uncertain"
                and led.control_offset >= _size(runs[0].parent / "control.jsonl")
            ):
                action = "skip" if effect_happened(ws, cur.tool, cur.inputs) else "retry"
                ControlChannel(runs[0].parent / "control.jsonl").append(new_command(action, step=cur.n))
                decisions += 1
    assert kills >= 4
    recs = list(read_batch_records(out / "batch.jsonl"))
    done = [r["goal"] for r in recs if r["kind"] == "goal_ended" and r["data"]["status"] == "done"]
    assert sorted(done) == list(range(1, n + 1))  # each goal finished exactly once
    for i, folder in goal_folders(out).items():
        led = the_run(folder)  # (one run per goal)
        assert led.status == "completed"
        assert all(s.status in ("done", "skipped") for s in led.steps), [(s.n, s.status) for s in led.steps]
        assert files_of(folder / "workspace") == expected_scripted(i), i  # every side effect exactly once
    with capsys.disabled():
        print(
            f"\n[batch kill -9 loop] {kills} kills, {rounds} batch runs, {decisions} uncertain steps decided; every goal once"
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def test_ctrl_c_pauses_the_runs_and_the_same_command_goes_on(seeded, tmp_path):
    def slow_script(i: int) -> dict:
        step = {"type": "tool_use", "name": "Bash", "input": {"command": f"sleep 0.15; echo {i} >> log.txt"}}
        return {"turns": [{"content": [step]} for _ in range(4)] + [{"content": "done"}]}

    goals = seeded / "goals.yaml"
    goals.write_text(yaml.safe_dump([{"goal": f"slow {i}", "script": slow_script(i)} for i in range(1, 9)]))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "llmos_tui", "batch", str(goals), "--out", str(out), "--approve", "never"]
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = subprocess.Popen(
        [*cmd, "--parallel", "2"], cwd=seeded, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    while _journal_lines(out) < 20 and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, (stdout, stderr)
    assert "stopped: run the same command again to go on" in stdout and "stopping:" in stderr
    first = {
        r["goal"]: r["data"]["status"] for r in read_batch_records(out / "batch.jsonl") if r["kind"] == "goal_ended"
    }
    assert "paused" in first.values() and len(first) < 8, first  # the runs under way paused; the rest never started
    again = subprocess.run([*cmd, "-q"], cwd=seeded, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, (again.stdout, again.stderr)
    for i, folder in goal_folders(out).items():
        assert (folder / "workspace" / "log.txt").read_text() == f"{i}\n" * 4  # each step once
