"""Benchmark a headless run: wall time and peak memory of `llmos-tui run --headless` for 20 steps.

The real command, `python -m llmos_tui run --headless --approve never GOAL`, runs as a child
process in a fresh project (init_project, a small file to work on) against FakeAnthropic
(tests/fakeapi.py) on 127.0.0.1, which answers at once: 20 turns each calling one cheap tool
(UpdatePlan, Glob, Read, Grep, Write in turn), then a final text turn. The child gets
ANTHROPIC_API_KEY=test-key and ANTHROPIC_BASE_URL pointing at the fake, so the real native
runtime (the anthropic SDK, streamed) makes 21 real HTTP requests. Measured per child: wall time
from spawn to exit, and its peak RSS (ru_maxrss from os.wait4 for that child alone: KB on Linux).
Repeated N times (default 5, --quick 2); median and min. Aims for the whole process: ≤ 1 s and
≤ 120 MB, and ahead of Claude Code's own CLI on the same task:

  claude code   Claude Code's CLI (the one claude-agent-sdk's wheel bundles, as the claude-code
                runtime finds it: $LLMOS_CLAUDE_CLI, the bundled one, `claude` on PATH) doing the
                same 20 steps as a child process, `claude -p GOAL --permission-mode acceptEdits
                --allowedTools Read,Glob,Grep,Write` in a fresh folder holding small.txt, against
                its own FakeAnthropic answering the same tool calls in the same order (Claude Code
                has no plan tool in -p mode, so UpdatePlan's turns are a Glob there; it gets file
                paths relative to its folder, as ours does). bypassPermissions is refused as root;
                acceptEdits with those tools allowed asks nothing either. Its HOME and config are a
                temporary folder and its non-essential traffic is off (FakeAnthropic's
                claude_code_env); side requests (a title) get a short text. Interleaved with our
                runs, the same N times; wall time and peak RSS likewise. Skipped, with a line
                saying why, when the CLI is not installed (pip install -e '.[claude-code]').

The figure is split honestly, since most of it is not llmos-tui's own:

  baselines     the same interpreter doing nothing (`python -c pass`), importing only the SDK
                (`python -c "import anthropic"`), and `python -m llmos_tui --version` (our CLI
                without the SDK).
  in-process    one child process that imports the SDK, then llmos-tui's modules, then runs the
                same 20-step run three times in fresh projects, calling what `run --headless`
                calls (session.start_run, Runner.drive): cold (the first run, paying the lazy
                imports and the SDK client's setup), warm (a second run in the same process),
                and warm under tracemalloc (Python allocations). start = start_run (config,
                tools, the runtime and its SDK client, the run's first records); drive = drive()
                until it returns, split into the time spent inside the runtime's next_turn (SDK
                request + streamed parse + the fake's answer) and the rest (runner, journal,
                tools, state file). RSS and VmHWM from /proc/self/status around each part, and the
                time the cyclic garbage collector took in each (gc.callbacks; the CLI pauses it
                while a run opens and freezes what opening made, cli/run_commands.py gc_paused;
                this child does not, so the figure shows what that saves).

    /work/venv/bin/python benchmarks/headless.py            # 5 repetitions
    /work/venv/bin/python benchmarks/headless.py --quick    # 2 repetitions

No network beyond 127.0.0.1: the key is a fake one and every child is pointed at the fake;
the benchmark's own ANTHROPIC_API_KEY is removed, XDG_CONFIG_HOME points at a temporary folder,
projects live in temporary folders.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # FakeAnthropic is test support code

STEPS = 20
TIME_AIM_S = 1.0
RSS_AIM_MB = 120
GOAL = "Tidy the notes: plan, look at the files, read and search small.txt, write out.txt."
SMALL_FILE = "".join(f"line {i}: some small text to read\n" for i in range(1, 11))


def isolate_env() -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        os.environ.pop(name, None)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="llmos-bench-config-")
    os.environ["TEXTUAL_ANIMATIONS"] = "none"


# ====================================================================== the fake model


def tool_call(step: int) -> tuple[str, dict[str, Any]]:
    kind = step % 5
    if kind == 0:
        return "UpdatePlan", {
            "steps": [
                {"title": "Look at the files", "status": "completed" if step else "in_progress"},
                {"title": "Write out.txt", "status": "pending"},
            ]
        }
    if kind == 1:
        return "Glob", {"pattern": "*.txt"}
    if kind == 2:
        return "Read", {"file_path": "small.txt"}
    if kind == 3:
        return "Grep", {"pattern": "line [0-9]", "path": "small.txt", "output_mode": "count"}
    return "Write", {"file_path": "out.txt", "content": f"written at step {step + 1}\n"}


def turn_of(rec: Any) -> int:
    """The turn a request asks for: the assistant messages it carries (Claude Code adds user
    messages of its own between turns, so the message count alone would not tell)."""
    return sum(1 for m in rec.body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant")


def reply_for(rec: Any) -> Any:
    """Stateless, so one server serves any number of runs: the turn is told by the request."""
    from fakeapi import message, text, tool_use

    turn = turn_of(rec)
    if turn < STEPS:
        name, inputs = tool_call(turn)
        return message(tool_use(name, inputs))
    return message(text("Done: out.txt is written."))


def claude_code_reply(rec: Any) -> Any:
    """The same turns for Claude Code, in its tools' names: UpdatePlan (none in -p mode) is a Glob."""
    from fakeapi import message, text, tool_use

    turn = turn_of(rec)
    if turn < STEPS:
        name, inputs = tool_call(turn)
        if name == "UpdatePlan":
            name, inputs = "Glob", {"pattern": "*.txt"}
        return message(tool_use(name, inputs))
    return message(text("Done: out.txt is written."))


def make_project(root: Path) -> Path:
    from llmos_tui.core.scaffold import init_project

    init_project(root)
    (root / "workspace" / "small.txt").write_text(SMALL_FILE, encoding="utf-8")
    return root


# ====================================================================== child processes

TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time: the child's own peak RSS


def spawn(cmd: list[str], *, cwd: str, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """Run `cmd`: wall time from spawn to exit, its peak RSS and CPU time.

    The peak RSS comes from /usr/bin/time (%M) when present. Not from this process's wait4: on
    Linux a child's ru_maxrss also counts the memory it had between fork and exec, which is this
    (big) process's, so `python -c pass` would show ~90 MB. Without /usr/bin/time the wait4
    figure is used and flagged as an upper bound."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [TIME, "-o", tf.name, "-f", "%M %U %S", *cmd] if TIME else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        # a blocking wait, the timeout on a timer: Popen.wait(timeout=…) polls, with sleeps growing
        # to 50 ms, which rounded every wall time up to a step of up to 50 ms
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            proc.wait()
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
        if TIME:
            fields = (tf.read().strip().splitlines() or ["0 0 0"])[-1].split()
            rss_kb, cpu, exact = int(fields[0]), float(fields[1]) + float(fields[2]), True
        else:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the max over all children so far
            rss_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
            cpu, exact = float("nan"), False
    return {
        "wall_s": wall,
        "rss_mb": rss_kb / 1024,
        "rc": proc.returncode,
        "output": text,
        "cpu_s": cpu,
        "rss_exact": exact,
    }


def child_env(base_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    if base_url:
        env["ANTHROPIC_API_KEY"] = "test-key"
        env["ANTHROPIC_BASE_URL"] = base_url
    return env


def headless_once() -> dict[str, Any]:
    from fakeapi import FakeAnthropic

    with tempfile.TemporaryDirectory(prefix="llmos-bench-headless-") as tmp, FakeAnthropic(default=reply_for) as api:
        make_project(Path(tmp))
        r = spawn(
            [sys.executable, "-m", "llmos_tui", "run", "--headless", "--approve", "never", GOAL],
            cwd=tmp,
            env=child_env(api.base_url),
        )
        # the conversation's requests (the memory summary at the end is a side call without tools)
        r["requests"] = sum(1 for req in api.message_requests if "tools" in req.body)
    tail = r["output"].strip().splitlines()[-1:] or ["(no output)"]
    ok = r["rc"] == 0 and r["requests"] == STEPS + 1 and f"completed: {STEPS} calls" in tail[0]
    if not ok:
        raise SystemExit(
            f"the headless run did not complete as scripted (exit {r['rc']}, "
            f"{r['requests']} requests): {r['output'][-800:]}"
        )
    r["last_line"] = tail[0]
    return r


def baseline(code: list[str]) -> dict[str, Any]:
    return spawn([sys.executable, *code], cwd=tempfile.gettempdir(), env=child_env(None))


CLAUDE_TOOLS = "Read,Glob,Grep,Write"


def find_claude_code() -> tuple[str | None, str]:
    """(the Claude Code CLI, its version) as the claude-code runtime finds it, or (None, why not)."""
    try:
        from llmos_tui.core.claude.runtime import find_cli

        cli = find_cli()
    except Exception as exc:  # noqa: BLE001 - the extra (or its CLI) is not installed: said, skipped
        return None, str(exc)
    try:
        out = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{cli} --version failed: {exc}"
    return cli, out or "?"


def claude_code_once(cli: str) -> dict[str, Any]:
    """Claude Code's CLI doing the same 20 steps (see the module's docstring)."""
    from fakeapi import FakeAnthropic, message, text

    with (
        tempfile.TemporaryDirectory(prefix="llmos-bench-cc-") as tmp,
        FakeAnthropic(default=claude_code_reply, side=message(text("Tidy the notes"))) as api,
    ):
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        (work / "small.txt").write_text(SMALL_FILE, encoding="utf-8")
        env = child_env(None)
        env.pop("ANTHROPIC_AUTH_TOKEN", None)
        env.update(api.claude_code_env(home))
        r = spawn(
            [cli, "-p", GOAL, "--permission-mode", "acceptEdits", "--allowedTools", CLAUDE_TOOLS],
            cwd=str(work),
            env=env,
        )
        convo = [req for req in api.message_requests if req.body.get("tools")]
        r["requests"] = len(convo)
        results = [
            b
            for m in (convo[-1].body.get("messages") or [] if convo else [])
            if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        r["tool_errors"] = sum(1 for b in results if b.get("is_error"))
        r["wrote"] = (work / "out.txt").exists()
    ok = r["rc"] == 0 and r["requests"] == STEPS + 1 and not r["tool_errors"] and r["wrote"] and "Done" in r["output"]
    if not ok:
        raise SystemExit(
            f"Claude Code did not do the task as scripted (exit {r['rc']}, {r['requests']} requests, "
            f"{r['tool_errors']} failed tool calls, out.txt {'written' if r['wrote'] else 'missing'}): "
            f"{r['output'][-800:]}"
        )
    return r


# ====================================================================== in-process child


def vm(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def inproc_child(base_url: str) -> None:
    """Runs in its own process: imports, then three runs in-process; prints one JSON line."""
    import gc

    t_proc = time.perf_counter()
    out: dict[str, Any] = {"rss_start": vm("VmRSS")}
    collector = {"s": 0.0, "t0": 0.0}  # time in the cyclic garbage collector

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collector["t0"] = time.perf_counter()
        else:
            collector["s"] += time.perf_counter() - collector["t0"]

    gc.callbacks.append(on_gc)
    t0 = time.perf_counter()
    import anthropic  # noqa: F401

    out["import_sdk_s"] = time.perf_counter() - t0
    out["import_sdk_gc_s"] = collector["s"]
    out["rss_after_sdk"] = vm("VmRSS")
    t0 = time.perf_counter()
    import asyncio
    import tracemalloc

    import llmos_tui.cli
    import llmos_tui.core.runtime.native  # noqa: F401
    from llmos_tui.core import session
    from llmos_tui.core.runner import RunOptions
    from llmos_tui.core.session import RunRequest, start_run
    from llmos_tui.core.workspace import Workspace

    out["import_ours_s"] = time.perf_counter() - t0
    out["rss_after_ours"] = vm("VmRSS")
    os.environ["ANTHROPIC_API_KEY"] = "test-key"
    os.environ["ANTHROPIC_BASE_URL"] = base_url

    real_make_runtime = session.make_runtime
    box: dict[str, float] = {}

    def timed_make_runtime(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_make_runtime(*a, **kw)
        finally:
            box["make_runtime_s"] = time.perf_counter() - t

    session.make_runtime = timed_make_runtime

    def one_run(label: str, trace: bool) -> dict[str, Any]:
        tmp = tempfile.mkdtemp(prefix="llmos-bench-inproc-")
        try:
            make_project(Path(tmp))
            ws = Workspace.locate(tmp)
            req = RunRequest(goal=GOAL, runtime="native", approval="never")
            r: dict[str, Any] = {"label": label, "rss_before": vm("VmRSS")}
            gc0 = collector["s"]
            if trace:
                tracemalloc.start()
            t0 = time.perf_counter()
            runner = start_run(ws, req, RunOptions())
            r["start_s"] = time.perf_counter() - t0
            r["make_runtime_s"] = box.get("make_runtime_s", 0.0)
            rt = runner.runtime
            inner = rt.next_turn
            calls = {"s": 0.0, "n": 0, "first_s": 0.0}

            async def timed_next_turn(request: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await inner(request)
                finally:
                    dt = time.perf_counter() - t
                    calls["s"] += dt
                    calls["n"] += 1
                    if calls["n"] == 1:
                        calls["first_s"] = dt

            rt.next_turn = timed_next_turn  # instance attribute: this run only
            t0 = time.perf_counter()
            status = asyncio.run(runner.drive())
            r["drive_s"] = time.perf_counter() - t0
            r["gc_s"] = collector["s"] - gc0
            if trace:
                r["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1024 / 1024
                tracemalloc.stop()
            r["status"], r["steps"] = status, runner.ledger.steps.__len__()
            r["model_s"], r["model_calls"], r["first_call_s"] = calls["s"], calls["n"], calls["first_s"]
            r["rss_after"], r["hwm_after"] = vm("VmRSS"), vm("VmHWM")
            return r
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    out["runs"] = [one_run("cold", False), one_run("warm", False), one_run("traced", True)]
    out["total_s"] = time.perf_counter() - t_proc
    out["hwm"] = vm("VmHWM")
    print(json.dumps(out))


def inproc() -> dict[str, Any]:
    from fakeapi import FakeAnthropic

    with FakeAnthropic(default=reply_for) as api:
        r = spawn(
            [sys.executable, str(HERE), "--child-inproc", api.base_url], cwd=tempfile.gettempdir(), env=child_env(None)
        )
    if r["rc"] != 0:
        raise SystemExit(f"the in-process child failed (exit {r['rc']}):\n{r['output'][-2000:]}")
    data = json.loads(r["output"].strip().splitlines()[-1])
    data["wall_s"], data["rss_mb"] = r["wall_s"], r["rss_mb"]
    for run in data["runs"]:
        if run["status"] != "completed" or run["steps"] != STEPS or run["model_calls"] != STEPS + 1:
            raise SystemExit(f"in-process run {run['label']} ended {run['status']} with {run['steps']} steps")
    return data


# ====================================================================== report


def med(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def low(rows: list[dict[str, Any]], key: str) -> float:
    return min(r[key] for r in rows)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--child-inproc":
        inproc_child(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 repetitions instead of 5")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions of each process measurement")
    args = ap.parse_args(argv)
    n = args.repeat or (2 if args.quick else 5)
    isolate_env()
    t_all = time.perf_counter()
    from importlib.metadata import version

    print(
        f"llmos-tui headless run — {STEPS} tool turns + a final text turn against an instant FakeAnthropic, "
        f"anthropic {version('anthropic')}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{n} repetitions (median / min)"
    )
    if not TIME:
        print(
            "  note: /usr/bin/time not found: peak RSS is wait4's ru_maxrss, an upper bound that includes "
            "this benchmark's own memory at fork"
        )

    claude, claude_version = find_claude_code()
    headless_once()  # warm the page cache; not counted
    if claude:
        claude_code_once(claude)
    kinds = {
        "pass": ("python -c pass", ["-c", "pass"]),
        "sdk": ("python -c 'import anthropic'", ["-c", "import anthropic"]),
        "sdk_noexit": ("  the same, skipping exit (os._exit)", ["-c", "import anthropic, os; os._exit(0)"]),
        "version": ("python -m llmos_tui --version", ["-m", "llmos_tui", "--version"]),
    }
    base: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    runs, cc_runs = [], []
    for _ in range(n):  # interleaved, so a slow spell of the machine hits every row alike
        for key, (_, code) in kinds.items():
            base[key].append(baseline(code))
        runs.append(headless_once())
        if claude:
            cc_runs.append(claude_code_once(claude))
    ip = inproc()

    w = 52
    print(f"\n  {'process (spawn to exit)':<{w}} {'wall s':>13} {'peak RSS MB':>13} {'cpu s':>6}")
    rows = [(label, base[key]) for key, (label, _) in kinds.items()]
    rows.append((f"llmos-tui run --headless --approve never, {STEPS} steps", runs))
    if claude:
        rows.append((f"Claude Code {claude_version.split()[0]}: claude -p, {STEPS} steps", cc_runs))
    for label, rs in rows:
        print(
            f"  {label:<{w}} {med(rs, 'wall_s'):>6.3f}/{low(rs, 'wall_s'):<6.3f} "
            f"{med(rs, 'rss_mb'):>6.1f}/{low(rs, 'rss_mb'):<6.1f} {med(rs, 'cpu_s'):>6.2f}"
        )

    print(f"\n  in one process (`--child-inproc`: {ip['wall_s']:.2f} s spawn to exit, peak RSS {ip['rss_mb']:.1f} MB)")
    print(f"  {'part':<{w}} {'s':>7} {'RSS MB after':>13}")
    print(f"  {'interpreter start':<{w}} {'':>7} {ip['rss_start']:>13.1f}")
    print(
        f"  {'import anthropic':<{w}} {ip['import_sdk_s']:>7.3f} {ip['rss_after_sdk']:>13.1f}"
        f"   (of which the garbage collector {ip['import_sdk_gc_s']:.3f}: the CLI pauses it there)"
    )
    print(
        f"  {'import llmos_tui (cli, session, runner, native)':<{w}} {ip['import_ours_s']:>7.3f} "
        f"{ip['rss_after_ours']:>13.1f}"
    )
    for r in ip["runs"]:
        ours = r["drive_s"] - r["model_s"]
        label = {"cold": "run 1, cold", "warm": "run 2, warm", "traced": "run 3, warm, tracemalloc on"}[r["label"]]
        print(
            f"  {label + ': start_run':<{w}} {r['start_s']:>7.3f} {'':>13}"
            f"   (of which the runtime + its SDK client {r['make_runtime_s']:.3f})"
        )
        print(
            f"  {'   drive(), all of it':<{w}} {r['drive_s']:>7.3f} {r['rss_after']:>13.1f}"
            + (f"   traced Python peak {r['traced_peak_mb']:.1f} MB" if "traced_peak_mb" in r else "")
        )
        print(
            f"  {'   - inside next_turn (SDK, HTTP, the fake)':<{w}} {r['model_s']:>7.3f} {'':>13}"
            f"   ({r['model_calls']} calls, the first {r['first_call_s'] * 1000:.0f} ms)"
        )
        print(
            f"  {'   - the rest (runner, journal, tools)':<{w}} {ours:>7.3f} {'':>13}"
            f"   ({ours / STEPS * 1000:.1f} ms/step; the garbage collector {r['gc_s']:.3f} s in start_run + drive, "
            "not frozen here)"
        )
    cold = ip["runs"][0]
    print(
        f"  {'peak RSS of the process (VmHWM)':<{w}} {'':>7} {ip['hwm']:>13.1f}"
        f"   (run 1 raised RSS by {cold['rss_after'] - cold['rss_before']:.1f} MB)"
    )

    wall, rss = med(runs, "wall_s"), med(runs, "rss_mb")
    py_wall, py_rss = med(base["pass"], "wall_s"), med(base["pass"], "rss_mb")
    sdk_wall, sdk_rss = med(base["sdk"], "wall_s"), med(base["sdk"], "rss_mb")
    sdk_import = med(base["sdk_noexit"], "wall_s") - py_wall
    sdk_exit = sdk_wall - med(base["sdk_noexit"], "wall_s")
    ok_t, ok_m = wall <= TIME_AIM_S, rss <= RSS_AIM_MB
    print(
        f"\n  whole process: {wall:.2f} s (aim ≤ {TIME_AIM_S:.0f} s){'' if ok_t else '  ← MISSED'}, "
        f"peak RSS {rss:.0f} MB (aim ≤ {RSS_AIM_MB} MB){'' if ok_m else '  ← MISSED'}"
    )
    print(f"  the interpreter:        {py_wall:5.2f} s  {py_rss:4.0f} MB")
    # a headless run on Claude leaves with os._exit (llmos_tui/cli.py main): it pays the SDK's
    # import, not the interpreter tearing the SDK's modules down at exit
    sdk_cost = sdk_import
    print(
        f"  the SDK (anthropic):    {sdk_cost:5.2f} s  {sdk_rss - py_rss:4.0f} MB   "
        f"= its import ({(sdk_cost) / wall:.0%} of the wall time, {(sdk_rss - py_rss) / rss:.0%} of the memory); "
        f"the {sdk_exit:.2f} s its modules take to tear down at exit is skipped (os._exit once all is closed)"
    )
    ours_wall = wall - py_wall - sdk_cost
    print(
        f"  llmos-tui on top:       {ours_wall:5.2f} s  {rss - sdk_rss:4.0f} MB   "
        f"≈ imports {ip['import_ours_s']:.2f} s + start_run {cold['start_s']:.2f} s + drive() "
        f"{cold['drive_s']:.2f} s (cold; {cold['model_s']:.2f} s of it inside next_turn, i.e. SDK + HTTP) "
        f"+ the CLI's parsing and printing"
    )
    if claude:
        cc_wall, cc_rss = med(cc_runs, "wall_s"), med(cc_runs, "rss_mb")
        ok_cc = wall < cc_wall
        print(
            f"  Claude Code's CLI ({claude_version}), the same task: {cc_wall:.2f} s (min "
            f"{low(cc_runs, 'wall_s'):.2f}), peak RSS {cc_rss:.0f} MB, cpu {med(cc_runs, 'cpu_s'):.2f} s; "
            f"llmos-tui is {wall / cc_wall:.2f}× its wall time (aim: ahead, < 1×){'' if ok_cc else '  ← MISSED'}"
            f" and {rss / cc_rss:.2f}× its memory"
        )
    else:
        ok_cc = True
        print(f"  Claude Code: skipped, its CLI is not installed ({claude_version})")
    without_sdk = wall - sdk_cost
    print(
        f"  without the SDK's import the process would take ≈ {without_sdk:.2f} s "
        f"({'within' if without_sdk <= TIME_AIM_S else 'still over'} the aim)"
    )
    print(f"  total {time.perf_counter() - t_all:.1f} s")
    missed = []
    if not ok_t:
        missed.append(
            f"wall {wall:.2f} s > {TIME_AIM_S:.0f} s ({sdk_cost:.2f} s of it is the SDK's "
            f"import; llmos-tui's own share {ours_wall:.2f} s)"
        )
    if not ok_m:
        missed.append(f"peak RSS {rss:.0f} MB > {RSS_AIM_MB} MB (the SDK alone {sdk_rss:.0f} MB)")
    if not ok_cc:
        missed.append(f"wall {wall:.2f} s behind Claude Code's {cc_wall:.2f} s")
    met = [f"peak RSS {rss:.0f} MB ≤ {RSS_AIM_MB} MB"] if ok_m else []
    met += [f"wall {wall:.2f} s ≤ {TIME_AIM_S:.0f} s"] if ok_t else []
    met += [f"wall {wall:.2f} s ahead of Claude Code's {cc_wall:.2f} s"] if claude and ok_cc else []
    print(
        "verdict: all aims met"
        if not missed
        else "verdict: missed — " + "; ".join(missed) + (f" (met: {'; '.join(met)})" if met else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
