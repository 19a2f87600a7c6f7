"""Benchmark the TUI: opening a 100,000-call run, keypress-to-screen latency, time to first frame.

Four measurements, each in a fresh child process (so peak RSS is the measurement's own):

  load      A finished run of N tool calls (default 100,000; --quick 10,000) is built once with
            the real engine, headless (scripted Read/Glob turns, approval "never") and cached
            under $TMPDIR/llmos-tui-bench-cache/. The app then opens the workspace with no
            request, as bare `llmos-tui` does: it folds the journal as it reads it
            (`FollowedRun.open`, timed within the app; `read_ledger`, which status and lists
            use, timed on its own in a child of its own) and fills the tool call log. Timed: app start until a frame is rendered with all
            N rows in the log. Peak RSS (ru_maxrss) and VmRSS before/after. Target ≤ 250 MB.
  keys      A live scripted run of cheap read-only Glob calls streams into the app while the
            focused tool call log gets ≥ 200 up/down keys. Each key enters the app the way
            Pilot.press sends it (the driver's `send_message`) but without Pilot's wait-for-idle
            (which blocks up to 2 s while the app is busy); the latency is from sending the key
            until the first frame composed after the key's action ran (App._display is hooked,
            and the frame is also rendered to terminal bytes, the work a real terminal would
            cost). Then the run is paused and the same keys are timed with nothing streaming
            (baseline), and again on the N-row log of the load step. Target p95 ≤ 50 ms.
  stall     A scripted run of Read calls on a small file: Read returns without awaiting, so
            this shows whether the runner lets the UI breathe between steps. One key is sent
            from another thread mid-run; its latency and the longest event-loop stall are shown.
  frame     The real `llmos-tui --workspace P` in a pseudo-terminal (160x45, xterm-256color),
            5 times: spawn until the first full frame (footer text "palette", end of its
            synchronized update). Target ≤ 400 ms and ≤ 2× the anchor: a bare Textual app
            (Header, Static, Footer; `python -c`, the same interpreter) measured the same way,
            its runs interleaved with ours so a slow spell of the machine hits both alike. Plus
            `-X importtime` top imports and whether the anthropic SDK is imported before the
            first frame.

    /work/venv/bin/python benchmarks/tui.py            # 100,000 calls
    /work/venv/bin/python benchmarks/tui.py --quick    # 10,000 calls, fewer keys
    /work/venv/bin/python benchmarks/tui.py --fresh    # rebuild the cached runs

No network: runs are scripted, ANTHROPIC_API_KEY is removed from every child's environment,
XDG_CONFIG_HOME points at a temporary folder (the remembered theme is untouched) and
TEXTUAL_ANIMATIONS=none.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
CACHE = Path(tempfile.gettempdir()) / "llmos-tui-bench-cache"
CACHE_VERSION = 1  # bump when the generated project changes shape
SIZE = (160, 45)
RSS_TARGET_MB = 250
P95_TARGET_MS = 50
FIRST_FRAME_TARGET_MS = 400
FIRST_FRAME_ANCHOR_X = 2.0  # ≤ this many times the bare Textual app's first frame, same run
SMALL_FILE = "".join(f"line {i}: some small text to read\n" for i in range(1, 11))
READ_INPUT = {"file_path": "small.txt"}
GLOB_INPUT = {"pattern": "*.txt", "path": "data"}


# ====================================================================== shared helpers


def isolate_env(config_dir: str | None = None) -> None:
    """No network, no real settings: applied to this process and inherited by every child."""
    os.environ.pop("ANTHROPIC_API_KEY", None)
    os.environ["TEXTUAL_ANIMATIONS"] = "none"
    if config_dir is None and "LLMOS_BENCH_CONFIG" in os.environ:
        config_dir = os.environ["LLMOS_BENCH_CONFIG"]
    if config_dir is None:
        config_dir = tempfile.mkdtemp(prefix="llmos-bench-config-")
    os.environ["LLMOS_BENCH_CONFIG"] = config_dir
    os.environ["XDG_CONFIG_HOME"] = config_dir


def vm_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def make_project(root: Path, max_turns: int) -> Path:
    """A fresh project with a small file to Read and a folder to Glob; max_turns raised."""
    from llmos_tui.core.scaffold import init_project

    init_project(root)
    ws = root / "workspace"
    ws.mkdir(exist_ok=True)
    (ws / "small.txt").write_text(SMALL_FILE, encoding="utf-8")
    (ws / "data").mkdir(exist_ok=True)
    for name in ("a.txt", "b.txt", "c.txt"):
        (ws / "data" / name).write_text(name + "\n", encoding="utf-8")
    agent = root / "system" / "SystemAgent.md"
    text, count = re.subn(r"(?m)^max_turns:\s*\d+", f"max_turns: {max_turns}", agent.read_text(encoding="utf-8"))
    if not count:
        raise SystemExit(f"{agent}: no max_turns line to raise")
    agent.write_text(text, encoding="utf-8")
    return root


def script_text(tools: list[str], n: int) -> str:
    """A scripted-runtime YAML script: n one-call turns cycling through `tools`, then a text turn."""
    inputs = {"Read": "{file_path: small.txt}", "Glob": "{pattern: '*.txt', path: data}"}
    lines = ["turns:"]
    for i in range(n):
        t = tools[i % len(tools)]
        lines.append(f"- {{content: [{{type: tool_use, name: {t}, input: {inputs[t]}}}]}}")
    lines.append("- {content: [{type: text, text: done}]}")
    return "\n".join(lines) + "\n"


def run_child(kind: str, *args: Any, timeout: float = 300) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--child", kind, *map(str, args)]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy(), cwd=tempfile.gettempdir()
    )
    wall = time.perf_counter() - t0
    out = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                out = json.loads(line)
                break
            except ValueError:
                continue
    if proc.returncode != 0 or out is None:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-25:])
        return {"error": f"child {kind} exited {proc.returncode}:\n{tail}", "wall_s": wall}
    out["wall_s"] = wall
    return out


# ====================================================================== the cached N-call run


def cached_run(n: int, fresh: bool) -> tuple[Path, dict[str, Any]]:
    dest = CACHE / f"v{CACHE_VERSION}-calls-{n}"
    marker = dest / "bench.json"
    if fresh or not marker.exists():
        shutil.rmtree(dest, ignore_errors=True)
        building = dest.with_name(f"{dest.name}.building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        res = run_child("gen", n, building, timeout=900)
        if "error" in res:
            shutil.rmtree(building, ignore_errors=True)
            raise SystemExit(res["error"])
        try:
            os.rename(building, dest)  # complete or absent: an interrupted build is never reused
        except OSError:  # another benchmark built it meanwhile
            shutil.rmtree(building, ignore_errors=True)
        res["cached"] = False
        return dest, res
    info = json.loads(marker.read_text())
    info["cached"] = True
    return dest, info


def child_gen(n: int, dest: str) -> dict[str, Any]:
    from llmos_tui.core.config import load_agent_config
    from llmos_tui.core.registry import ToolRegistry
    from llmos_tui.core.runner import Runner, RunOptions
    from llmos_tui.core.runtime.base import ModelTurn
    from llmos_tui.core.runtime.scripted import ScriptedRuntime
    from llmos_tui.core.toolmap import load_toolmap
    from llmos_tui.core.workspace import Workspace

    root = make_project(Path(dest), max_turns=n + 10)
    ws = Workspace.locate(root)
    config = load_agent_config(ws.system / "SystemAgent.md").with_(approval="never")
    registry = ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
    turns = [
        ModelTurn(
            content=[
                {
                    "type": "tool_use",
                    "id": f"toolu_b{i:07d}",
                    "name": "Glob" if i % 4 == 3 else "Read",
                    "input": dict(GLOB_INPUT if i % 4 == 3 else READ_INPUT),
                }
            ],
            stop_reason="tool_use",
            model="scripted",
        )
        for i in range(n)
    ]
    turns.append(ModelTurn(content=[{"type": "text", "text": "done"}], model="scripted"))
    runner = Runner.start(
        ws,
        f"benchmark: {n} tool calls",
        config=config,
        registry=registry,
        runtime=ScriptedRuntime(turns, source="benchmark"),
        runtime_name="scripted",
        options=RunOptions(),
    )
    t0 = time.perf_counter()
    status = asyncio.run(runner.drive())
    drive_s = time.perf_counter() - t0
    if status != "completed" or len(runner.ledger.steps) != n:
        raise SystemExit(f"generating {n} calls: run ended {status!r} with {len(runner.ledger.steps)} steps")
    journal = ws.run_dir(runner.run_id) / "journal.jsonl"
    info = {"n": n, "run_id": runner.run_id, "drive_s": drive_s, "journal_bytes": journal.stat().st_size}
    (root / "bench.json").write_text(json.dumps(info))
    return info


# ====================================================================== frame / key probes


class Probe:
    """Hooks App._display (every composed frame) and the log's cursor action (every key handled).

    Headless, App._display returns before turning the update into terminal bytes; the hook does
    that work too (render_segments), so a frame's time includes what a real terminal would cost.
    """

    def __init__(self, app: Any) -> None:
        from textual._compositor import CompositorUpdate

        self.app = app
        self.frames: list[float] = []
        self.frame_rows: list[int] = []
        self.log: Any = None
        self.sent: float | None = None
        self.handled: float | None = None
        self.shown: float | None = None
        self.waiter: asyncio.Future | None = None
        self.render_error: str | None = None
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            if isinstance(renderable, CompositorUpdate) and self.render_error is None:
                try:
                    renderable.render_segments(app.console)
                except Exception as exc:  # noqa: BLE001 - keep measuring without the byte rendering
                    self.render_error = f"{type(exc).__name__}: {exc}"
            now = time.perf_counter()
            self.frames.append(now)
            self.frame_rows.append(len(self.log.rows) if self.log is not None else -1)
            if self.handled is not None and self.shown is None:
                self.shown = now
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(now)

        app._display = display
        self.patch_cursor_action()

    def attach(self, log: Any) -> None:
        self.log = log

    def patch_cursor_action(self) -> None:
        """Wrap ToolCallLog.action_cursor (class-wide, in this child process only): when a key ran."""
        from llmos_tui.tui.widgets.tool_log import ToolCallLog

        original = ToolCallLog.action_cursor
        probe = self

        def action_cursor(log: Any, delta: int) -> None:
            original(log, delta)
            if probe.sent is not None and probe.handled is None:
                probe.handled = time.perf_counter()

        ToolCallLog.action_cursor = action_cursor

    def arm(self) -> None:
        self.sent = self.handled = self.shown = None

    def send_key(self, key: str) -> None:
        from textual import events

        self.arm()
        event = events.Key(key, None)
        event.set_sender(self.app)
        self.sent = time.perf_counter()
        self.app._driver.send_message(event)  # the path Pilot.press (and a terminal's input thread) uses

    async def press(self, key: str, timeout: float = 10.0) -> tuple[float, float] | None:
        """(ms from send to frame, ms from send to the action running), or None on timeout."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.send_key(key)
        try:
            shown = await asyncio.wait_for(self.waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self.waiter = None
        assert self.sent is not None and self.handled is not None
        return (shown - self.sent) * 1000, (self.handled - self.sent) * 1000


async def press_series(probe: Probe, count: int, seed: int) -> dict[str, Any]:
    """Leave the newest row (5 ups), then alternate down/up; a 20-60 ms pause between keys."""
    rng = random.Random(seed)
    keys = ["up"] * 5 + ["down" if i % 2 == 0 else "up" for i in range(max(count - 5, 0))]
    lat: list[float] = []
    queue: list[float] = []
    lost = 0
    gcs = {"t": 0.0, "max": 0.0, "n2": 0}

    def on_gc(phase: str, info: dict) -> None:  # the longest collector pause during the keys
        if phase == "start":
            gcs["t"] = time.perf_counter()
        else:
            gcs["max"] = max(gcs["max"], time.perf_counter() - gcs["t"])
            gcs["n2"] += info.get("generation") == 2

    gc.callbacks.append(on_gc)
    try:
        for key in keys:
            r = await probe.press(key)
            if r is None:
                lost += 1
            else:
                lat.append(r[0])
                queue.append(r[1])
            await asyncio.sleep(rng.uniform(0.02, 0.06))
    finally:
        gc.callbacks.remove(on_gc)
    return {
        "n": len(lat),
        "lost": lost,
        "p50": pct(lat, 50),
        "p95": pct(lat, 95),
        "max": max(lat, default=0),
        "queue_p95": pct(queue, 95),
        "render_error": probe.render_error,
        "gc_max_ms": gcs["max"] * 1000,
        "gc_full": gcs["n2"],
    }


# ====================================================================== load: open an N-call run


async def _load(project: str, n: int, keys: int) -> dict[str, Any]:
    from llmos_tui.core.source import FollowedRun
    from llmos_tui.tui.app import AppSettings, LlmosApp
    from llmos_tui.tui.widgets.tool_log import ToolCallLog

    gc.collect()
    rss_before = vm_kb()
    timings: dict[str, float] = {}
    real_open = FollowedRun.open.__func__  # type: ignore[attr-defined]

    def timed_open(cls: Any, ws: Any, run_id: str) -> Any:
        t = time.perf_counter()
        try:
            return real_open(cls, ws, run_id)
        finally:
            timings["read_ledger_s"] = time.perf_counter() - t
            timings["rss_after_read_kb"] = vm_kb()

    FollowedRun.open = classmethod(timed_open)  # type: ignore[method-assign,assignment]
    real_load = ToolCallLog.load

    def timed_load(self: Any, rows: list) -> None:
        t = time.perf_counter()
        real_load(self, rows)
        timings["log_load_s"] = time.perf_counter() - t

    ToolCallLog.load = timed_load
    from llmos_tui.tui.screens.run import RunScreen

    real_load_views = RunScreen._load_views

    def timed_load_views(self: Any) -> None:
        t = time.perf_counter()
        real_load_views(self)
        timings["load_views_s"] = time.perf_counter() - t

    RunScreen._load_views = timed_load_views

    t0 = time.perf_counter()
    app = LlmosApp(AppSettings(workspace=Path(project), clock=False, watch_files=False))
    probe = Probe(app)
    out: dict[str, Any] = {"n": n, "rss_before_mb": rss_before / 1024}
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one(ToolCallLog)
        probe.attach(log)
        deadline = time.perf_counter() + 300
        while not any(r == n for r in probe.frame_rows):
            if time.perf_counter() > deadline:
                raise SystemExit(f"the log never showed {n} rows (has {len(log.rows)})")
            await asyncio.sleep(0.005)
        shown = next(t for t, r in zip(probe.frames, probe.frame_rows) if r == n)
        out["first_frame_s"] = probe.frames[0] - t0
        out["loaded_s"] = shown - t0
        await pilot.pause()
        out["rows"] = len(log.rows)
        out["rss_after_mb"] = vm_kb() / 1024
        out["anthropic_after_mount"] = "anthropic" in sys.modules
        if keys:
            out["keys"] = await press_series(probe, keys, seed=1)
    out["peak_mb"] = peak_mb()
    out["rss_after_read_mb"] = timings.pop("rss_after_read_kb", 0) / 1024
    out.update(timings)
    return out


def child_ledger(project: str) -> dict[str, Any]:
    """`read_ledger` (status, lists, watchers) on its own: the journal folded as it is read."""
    from llmos_tui.core.session import read_ledger
    from llmos_tui.core.workspace import Workspace

    ws = Workspace.locate(project)
    run_id = ws.latest_run_id()
    path = ws.run_dir(run_id) / "journal.jsonl"
    gc.collect()
    rss0 = vm_kb()
    t0 = time.perf_counter()
    led = read_ledger(ws, run_id)
    t1 = time.perf_counter()
    gc.collect()
    return {
        "s": t1 - t0,
        "ledger_mb": (vm_kb() - rss0) / 1024,
        "base_mb": rss0 / 1024,
        "steps": len(led.steps),
        "peak_mb": peak_mb(),
        "journal_mb": path.stat().st_size / 1024 / 1024,
        "records": led.seq,
    }


# ====================================================================== keys while calls stream in


async def _stream(turns: int, keys: int, warm_rows: int) -> dict[str, Any]:
    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.app import AppSettings, LlmosApp
    from llmos_tui.tui.widgets.tool_log import ToolCallLog

    root = make_project(Path(tempfile.mkdtemp(prefix="llmos-bench-stream-")), max_turns=turns + 10)
    script = root / "stream.yaml"
    script.write_text(script_text(["Glob"], turns), encoding="utf-8")
    req = RunRequest(goal="stream cheap calls", runtime="scripted", script=script, approval="never")
    app = LlmosApp(AppSettings(workspace=root, request=req, clock=False, watch_files=False))
    probe = Probe(app)
    out: dict[str, Any] = {"turns": turns}
    t0 = time.perf_counter()
    try:
        async with app.run_test(size=SIZE) as pilot:
            out["mount_s"] = time.perf_counter() - t0  # includes parsing the script in on_mount
            log = app.query_one(ToolCallLog)
            probe.attach(log)
            while len(log.rows) < warm_rows and app.ledger.status not in ("completed", "failed"):
                await asyncio.sleep(0.02)
            led = app.ledger
            s0, ts = len(led.steps), time.perf_counter()
            out["streaming"] = await press_series(probe, keys, seed=2)
            s1, te = len(led.steps), time.perf_counter()
            out["streamed"] = s1 - s0
            out["stream_s"] = te - ts
            out["status_after"] = led.status
            out["rows"] = len(log.rows)
            # stop the stream: pause the run (a person's command), then the same keys, idle
            app._send("pause", feedback="benchmark baseline")
            for _ in range(500):
                if led.status in ("paused", "completed", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.01)
            await pilot.pause(0.2)
            out["status_paused"] = led.status
            out["idle"] = await press_series(probe, keys, seed=3)
            out["idle_rows"] = len(log.rows)
            app.workers.cancel_group(app.run_screen, "runner")
            await pilot.pause(0.1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


# ====================================================================== a run whose tool never awaits


async def _stall(turns: int) -> dict[str, Any]:
    from llmos_tui.core.session import RunRequest
    from llmos_tui.tui.app import AppSettings, LlmosApp
    from llmos_tui.tui.widgets.tool_log import ToolCallLog

    root = make_project(Path(tempfile.mkdtemp(prefix="llmos-bench-stall-")), max_turns=turns + 10)
    script = root / "read.yaml"
    script.write_text(script_text(["Read"], turns), encoding="utf-8")
    req = RunRequest(goal="read a small file many times", runtime="scripted", script=script, approval="never")
    app = LlmosApp(AppSettings(workspace=root, request=req, clock=False, watch_files=False))
    probe = Probe(app)
    gaps = {"max": 0.0, "last": time.perf_counter(), "stop": False}
    key_at_step: dict[str, Any] = {}

    async def heartbeat() -> None:
        while not gaps["stop"]:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            if app.runner is not None and app.ledger is not None and app.ledger.steps:
                gaps["max"] = max(gaps["max"], now - gaps["last"])
            gaps["last"] = now

    def presser() -> None:  # a person pressing a key once the run is under way (another thread)
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            r = app.runner
            if r is not None and len(r.ledger.steps) >= min(200, turns // 4):
                key_at_step["step"] = len(r.ledger.steps)
                probe.send_key("up")
                return
            time.sleep(0.001)

    out: dict[str, Any] = {"turns": turns}
    beat = asyncio.ensure_future(heartbeat())
    thread = threading.Thread(target=presser, daemon=True)
    thread.start()  # before run_test: its start-up waits for the loop the run may hold
    t0 = time.perf_counter()
    try:
        async with app.run_test(size=SIZE) as pilot:
            probe.attach(app.query_one(ToolCallLog))
            while app.ledger is None or app.ledger.status not in ("completed", "failed", "paused"):
                await asyncio.sleep(0.01)
                if time.perf_counter() - t0 > 120:
                    break
            t_end = time.perf_counter()
            thread.join(5)
            for _ in range(200):
                if probe.shown is not None:
                    break
                await asyncio.sleep(0.01)
            out["status"] = app.ledger.status
            out["run_s"] = t_end - t0
            out["key_sent_at_step"] = key_at_step.get("step")
            if probe.sent is not None and probe.shown is not None:
                out["key_ms"] = (probe.shown - probe.sent) * 1000
                out["key_after_run_end"] = probe.handled is not None and probe.handled >= t_end - 0.02
            await pilot.pause(0.05)
    finally:
        gaps["stop"] = True
        await beat
        shutil.rmtree(root, ignore_errors=True)
    out["max_stall_ms"] = gaps["max"] * 1000
    return out


# ====================================================================== time to first frame (pty)


def tui_command() -> list[str]:
    exe = Path(sys.executable).parent / "llmos-tui"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "llmos_tui"]


# The anchor: the least a Textual app shows (a header, a line of text, the footer with its
# "^p palette" key, which is what first_frame waits for), with q to quit like ours.
BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Static


class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield Static("a bare Textual app: Header, Static, Footer")
        yield Footer()


Bare().run()
"""


def bare_command() -> list[str]:
    return [sys.executable, "-c", BARE_APP]


def first_frame(project: Path | None, timeout: float = 60, command: list[str] | None = None) -> dict[str, Any]:
    """Spawn `llmos-tui --workspace project` (or `command`) in a pty until its first full frame."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env.update(TERM="xterm-256color", COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]), TEXTUAL_ANIMATIONS="none")
    env.pop("TEXTUAL", None)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command or [*tui_command(), "--workspace", str(project)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        close_fds=True,
        cwd=tempfile.gettempdir(),
    )
    os.close(slave)
    buf = bytearray()
    res: dict[str, Any] = {"frame_ms": None, "first_byte_ms": None}

    def pump(wait: float) -> bool:
        r, _, _ = select.select([master], [], [], wait)
        if not r:
            return True
        try:
            data = os.read(master, 1 << 16)
        except OSError:
            return False
        if not data:
            return False
        if res["first_byte_ms"] is None:
            res["first_byte_ms"] = (time.perf_counter() - t0) * 1000
        buf.extend(data)
        return True

    try:
        while time.perf_counter() - t0 < timeout:
            if not pump(0.02):
                break
            i = buf.find(b"palette")
            if i >= 0:
                opened = buf.rfind(b"\x1b[?2026h", 0, i)
                if opened < 0 or buf.find(b"\x1b[?2026l", i) >= 0:
                    res["frame_ms"] = (time.perf_counter() - t0) * 1000
                    break
            if proc.poll() is not None:
                break
        res["frame_bytes"] = len(buf)
        # quit: q (and y if a dialog asks), keep reading so the child never blocks on the pty
        t_quit = time.perf_counter()
        os.write(master, b"q")
        said_yes = False
        while time.perf_counter() - t_quit < 5 and proc.poll() is None:
            if not pump(0.02):
                break
            if not said_yes and (b"Quit while" in buf[-20000:]):
                os.write(master, b"y")
                said_yes = True
        try:
            proc.wait(max(0.1, 5 - (time.perf_counter() - t_quit)))
            res["exit"] = f"exited {proc.returncode} {int((time.perf_counter() - t_quit) * 1000)} ms after q"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            res["exit"] = "did not exit within 5 s of q: killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        os.close(master)
    return res


def wall_ms(code: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=tempfile.gettempdir())
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def import_times(module: str) -> tuple[float, list[tuple[float, float, str]]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(1)) / 1000, int(m.group(2)) / 1000, m.group(4)))
    total = sum(r[0] for r in rows)
    return total, sorted(rows, key=lambda r: -r[1])[:10]


# ====================================================================== the report


def fmt_ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def verdict_line(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 calls instead of 100,000; fewer keys")
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached runs")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    isolate_env()
    if args.child:
        return child_main(args.child)

    n = 10_000 if args.quick else 100_000
    keys = 60 if args.quick else 200
    stream_turns = 4_000 if args.quick else 12_000
    stall_turns = 2_000 if args.quick else 5_000
    frame_runs = 5
    t_all = time.perf_counter()
    missed: list[str] = []
    print(
        f"llmos-tui TUI benchmark — {n:,} calls, {keys} keys, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, terminal {SIZE[0]}x{SIZE[1]}"
    )

    # ---------------------------------------------------------------- 1. load
    project, gen = cached_run(n, args.fresh)
    how = "cached" if gen.get("cached") else f"built now in {gen['drive_s']:.1f} s"
    print(
        f"\n1. open a finished run of {n:,} calls ({how}: engine {gen['drive_s'] * 1000 / n:.3f} ms/step, "
        f"journal {gen['journal_bytes'] / 1024 / 1024:.0f} MB)"
    )
    led = run_child("ledger", project)
    load = run_child("load", project, n, keys // 2)
    if "error" in load and gen.get("cached"):
        print("   (the cached run did not open; rebuilding it once)")
        project, gen = cached_run(n, True)
        led = run_child("ledger", project)
        load = run_child("load", project, n, keys // 2)
    if "error" in led:
        print("   read_ledger alone: " + led["error"])
    else:
        print(
            f"   read_ledger alone        {led['s']:6.2f} s   ({led['records']:,} records folded as they are read; "
            f"the ledger holds ≈ {led['ledger_mb']:.0f} MB over a {led['base_mb']:.0f} MB interpreter; "
            f"peak {led['peak_mb']:.0f} MB)"
        )
    if "error" in load:
        print("   " + load["error"])
        missed.append("load: did not complete")
    else:
        ui = load["loaded_s"] - load.get("read_ledger_s", 0)
        print(
            f"   in the app: the journal  {load.get('read_ledger_s', 0):6.2f} s   (FollowedRun.open, off the event loop)"
        )
        print(
            f"   in the app: the rest     {ui:6.2f} s   (app start-up, first frame; rows + log.load {load.get('load_views_s', 0):.2f} s, "
            f"of which ToolCallLog.load {load.get('log_load_s', 0) * 1000:.0f} ms; first frame "
            f"{load['first_frame_s']:.2f} s after start)"
        )
        print(f"   load time (start → frame with {load['rows']:,} rows) {load['loaded_s']:6.2f} s   (no target)")
        ok = load["peak_mb"] <= RSS_TARGET_MB
        print(
            f"   peak RSS                 {load['peak_mb']:6.0f} MB  (target ≤ {RSS_TARGET_MB} MB)  "
            f"{verdict_line(ok)}   VmRSS {load['rss_before_mb']:.0f} MB after imports → "
            f"{load['rss_after_read_mb']:.0f} MB after the journal → {load['rss_after_mb']:.0f} MB loaded "
            f"(+{load['rss_after_mb'] - load['rss_before_mb']:.0f} MB)"
        )
        if not ok:
            missed.append(f"peak RSS {load['peak_mb']:.0f} MB > {RSS_TARGET_MB} MB")
        k = load.get("keys")
        if k:
            print(
                f"   keys on the {n:,}-row log, idle: p50 {k['p50']:.1f} / p95 {k['p95']:.1f} / "
                f"max {k['max']:.1f} ms over {k['n']} keys"
                + (f", {k['lost']} lost" if k["lost"] else "")
                + f" (longest GC pause {k['gc_max_ms']:.0f} ms, {k['gc_full']} full collections)"
            )

    # ---------------------------------------------------------------- 2. keys while streaming
    print(f"\n2. keypress → screen while Glob calls stream in (scripted run of {stream_turns:,} calls, approval never)")
    st = run_child("stream", stream_turns, keys, 300)
    if "error" in st:
        print("   " + st["error"])
        missed.append("keys while streaming: did not complete")
    else:
        s, b = st["streaming"], st["idle"]
        rate = st["streamed"] / st["stream_s"] if st["stream_s"] else 0
        ok = s["p95"] <= P95_TARGET_MS and not s["lost"]
        print(
            f"   streaming   p50 {s['p50']:5.1f}  p95 {s['p95']:5.1f}  max {s['max']:6.1f} ms  "
            f"(target p95 ≤ {P95_TARGET_MS} ms)  {verdict_line(ok)}   {s['n']} keys"
            + (f", {s['lost']} lost" if s["lost"] else "")
            + f"; {st['streamed']:,} calls streamed in during the {st['stream_s']:.1f} s "
            f"({rate:.0f}/s), run {st['status_after']} after, log {st['rows']:,} rows"
        )
        print(
            f"   baseline    p50 {b['p50']:5.1f}  p95 {b['p95']:5.1f}  max {b['max']:6.1f} ms  "
            f"(run {st['status_paused']}, nothing streaming, log {st['idle_rows']:,} rows)"
        )
        print(f"   longest GC pause: streaming {s['gc_max_ms']:.0f} ms, idle {b['gc_max_ms']:.0f} ms")
        print(
            f"   (send → key handled p95: streaming {s['queue_p95']:.1f} ms, idle {b['queue_p95']:.1f} ms; "
            f"the app took {st['mount_s']:.2f} s to mount, parsing the {stream_turns:,}-turn script"
            + (f"; frames not rendered to bytes: {s['render_error']}" if s["render_error"] else "")
            + ")"
        )
        if st["status_after"] != "running":
            print("   note: the run ended before the keys did; part of the keys saw no stream")
        if not ok:
            missed.append(f"keys while streaming p95 {s['p95']:.0f} ms > {P95_TARGET_MS} ms")

    sl = run_child("stall", stall_turns)
    if "error" in sl:
        print("   Read stream: " + sl["error"])
    else:
        key = sl.get("key_ms")
        ok = key is not None and key <= P95_TARGET_MS
        print(
            f"   Read stream ({stall_turns:,} Read calls; Read never awaits): a key sent at step "
            f"{sl.get('key_sent_at_step')} showed after {fmt_ms(key)}"
            + (" — only once the run had ended" if sl.get("key_after_run_end") else "")
            + f"; longest event-loop stall {sl['max_stall_ms']:.0f} ms; run took {sl['run_s']:.1f} s "
            f"({sl['status']})  {verdict_line(ok)}"
        )
        if not ok:
            missed.append(f"a key during a Read-only stream took {fmt_ms(key)} (the UI is frozen while it runs)")

    # ---------------------------------------------------------------- 3. first frame
    small, _ = cached_run(20, args.fresh)
    print(
        f"\n3. time to first frame: `{' '.join(Path(c).name for c in tui_command())} --workspace P` in a "
        f"pty, P = a finished 20-call run, {frame_runs} runs"
    )
    frames, bare = [], []
    for _ in range(frame_runs):  # interleaved: a slow spell of the machine hits both alike
        frames.append(first_frame(small))
        bare.append(first_frame(None, command=bare_command()))
    got = [f["frame_ms"] for f in frames if f["frame_ms"] is not None]
    got_bare = [f["frame_ms"] for f in bare if f["frame_ms"] is not None]
    bare_med = statistics.median(got_bare) if got_bare else None
    if got:
        med, worst = statistics.median(got), max(got)
        ok = med <= FIRST_FRAME_TARGET_MS and len(got) == frame_runs
        print(
            f"   first frame  median {med:4.0f} ms  max {worst:4.0f} ms  (target ≤ {FIRST_FRAME_TARGET_MS} ms)  "
            f"{verdict_line(ok)}   runs: {', '.join(f'{v:.0f}' for v in got)}; first byte median "
            f"{statistics.median(f['first_byte_ms'] for f in frames if f['first_byte_ms']):.0f} ms"
        )
        if not ok:
            missed.append(f"first frame {med:.0f} ms > {FIRST_FRAME_TARGET_MS} ms")
    else:
        print("   no frame seen")
        missed.append("first frame: never seen")
    if bare_med is not None:
        ratio = (statistics.median(got) / bare_med) if got else float("inf")
        ok = ratio <= FIRST_FRAME_ANCHOR_X and len(got_bare) == frame_runs
        print(
            f"   anchor: a bare Textual app (Header, Static, Footer), same pty, interleaved: median "
            f"{bare_med:4.0f} ms (runs: {', '.join(f'{v:.0f}' for v in got_bare)}); llmos-tui is "
            f"{ratio:.2f}× it (target ≤ {FIRST_FRAME_ANCHOR_X:.0f}×)  {verdict_line(ok)}"
        )
        if not ok:
            missed.append(f"first frame {ratio:.2f}× the bare Textual app's > {FIRST_FRAME_ANCHOR_X:.0f}×")
    else:
        print("   anchor: the bare Textual app showed no frame")
        missed.append("first frame anchor: never seen")
    exits = sorted({f["exit"].split(" ", 2)[0] + " " + f["exit"].split(" ", 2)[1] for f in frames})
    print(
        f"   quit with q: {'; '.join(f['exit'] for f in frames[:1])}"
        + ("" if exits == ["exited 0"] else f" (all: {exits})")
    )
    big = first_frame(project, timeout=120)
    print(
        f"   with the {n:,}-call run as the latest: first frame {fmt_ms(big['frame_ms'])} (one run, no target; "
        f"{big['exit']})"
    )
    py = wall_ms("pass")
    imp = wall_ms("import llmos_tui.cli, llmos_tui.tui.app")
    imp_bare = wall_ms("from textual.app import App; from textual.widgets import Footer, Header, Static")
    total, top = import_times("llmos_tui.tui.app")
    print(
        f"   breakdown: interpreter {py:.0f} ms, + imports (llmos_tui.cli + tui.app) {imp - py:.0f} ms, "
        f"+ app start to frame ≈ {(statistics.median(got) if got else 0) - imp:.0f} ms; the bare app: "
        f"+ imports (textual.app, 3 widgets) {imp_bare - py:.0f} ms, + start to frame ≈ {(bare_med or 0) - imp_bare:.0f} ms"
    )
    print(f"   -X importtime (import llmos_tui.tui.app: {total:.0f} ms in all), top 10 cumulative:")
    for self_ms, cum_ms, name in top:
        print(f"     {cum_ms:7.1f} ms  (self {self_ms:5.1f})  {name}")
    anth = subprocess.run(
        [sys.executable, "-c", "import sys, llmos_tui.cli, llmos_tui.tui.app; print('anthropic' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    ).stdout.strip()
    after_mount = load.get("anthropic_after_mount") if "error" not in load else None
    print(
        f"   anthropic imported by `import llmos_tui.cli, llmos_tui.tui.app`: {anth}; "
        f"after the app opened a run: {after_mount}"
    )
    if anth != "False":
        missed.append("anthropic is imported before the first frame")

    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")
    print("verdict: all targets met" if not missed else "verdict: missed — " + "; ".join(missed))
    return 0


def child_main(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "gen":
        out = child_gen(int(rest[0]), rest[1])
    elif kind == "ledger":
        out = child_ledger(rest[0])
    elif kind == "load":
        out = asyncio.run(_load(rest[0], int(rest[1]), int(rest[2])))
    elif kind == "stream":
        out = asyncio.run(_stream(int(rest[0]), int(rest[1]), int(rest[2])))
    elif kind == "stall":
        out = asyncio.run(_stall(int(rest[0])))
    else:
        raise SystemExit(f"unknown child {kind}")
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
