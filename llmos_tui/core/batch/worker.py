"""A batch worker: many runs interleaved on one event loop, the SDK imported and its client made once.

`WorkerCore` is the worker itself, the same in every kind of worker: a local process
(`python -m llmos_tui.core.batch.worker`, driven over its stdin/stdout, one JSON object a line)
or a Ray actor (core/batch/ray_glue.py). For each goal it is handed it makes the goal's folder
(unless the coordinator did), then starts the goal's run with the run id the batch journal fixed
— or, when the run already has a journal (the batch was killed), resumes it under the run's own
rules: a side-effecting step that was running becomes `uncertain` and waits for a person — and
drives it with `no_wait`: a run that needs a person stops and frees its place at once (its goal
is "waiting"; a decision sent with `llmos-tui approve --workspace <goal>` brings it back).

Protocol of the local process. In: {"op": "init", "settings": {...}} first, then
{"op": "run", "spec": {...}}, {"op": "pause", "reason": …}, {"op": "close"}. Out:
{"event": "ready"}, {"event": "started", "goal": i}, {"event": "cost", "goal": i, "cost": usd},
{"event": "throttled", "status": 429, "delay": s}, {"event": "ended", "goal": i, ...result}.
End of its stdin means the coordinator is gone: the worker stops at once (its runs resume later,
as after a kill -9), and on Linux the kernel kills it anyway when the coordinator dies
(PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos_tui.core.batch.folders import SCRIPT, goal_workspace, prepare_goal
from llmos_tui.core.batch.goals import Goal
from llmos_tui.core.errors import BadInput, LlmosError, WorkspaceLocked

Emit = Callable[[dict[str, Any]], None]
COST_EVERY = 0.25  # seconds between two cost events of one goal


def outcome(run_status: str, stopped: str) -> str:
    """The goal's batch status for a run that stopped: done, failed, waiting or paused."""
    if run_status == "completed":
        return "done"
    if run_status in ("failed", "cancelled"):
        return "failed"
    if run_status == "paused" or stopped == "paused":
        return "paused"
    return "waiting"


class WorkerCore:
    def __init__(self, settings: dict[str, Any], emit: Emit) -> None:
        self.settings = settings
        self.emit = emit
        self.out = Path(settings["out"])
        self.runners: dict[int, Any] = {}
        self.pausing: str | None = None
        self._client: Any = None
        self._gate: Any = None

    # ------------------------------------------------------------------ runtimes

    def gate(self) -> Any:
        if self._gate is None:
            spec = self.settings.get("gate") or {}
            if spec.get("kind") == "ray":
                from llmos_tui.core.batch.ratelimit import RayGateClient

                self._gate = RayGateClient(spec["actor"])
            else:
                from llmos_tui.core.batch.ratelimit import FileGate

                self._gate = FileGate(Path(spec.get("folder") or self.out / ".batch" / "gate"), spec.get("limit"))
        return self._gate

    def client(self) -> Any:
        """The worker's one SDK client (its connection pool shared by every run), behind the gate."""
        if self._client is None:
            import anthropic

            from llmos_tui.core.batch.ratelimit import GatedClient

            raw = anthropic.AsyncAnthropic(
                api_key=self.settings.get("api_key") or None,
                base_url=self.settings.get("base_url") or None,
                max_retries=0,  # every retry goes through the gate (ratelimit.py)
                timeout=float(self.settings.get("timeout") or 600.0),
            )
            self._client = GatedClient(
                raw,
                self.gate(),
                retries=int(self.settings.get("retries") or 8),
                on_throttle=lambda status, delay: self.emit({"event": "throttled", "status": status, "delay": delay}),
            )
        return self._client

    def make_runtime(self, name: str, script: Path | None, config: Any) -> Any:
        if name == "native":
            if not (
                self.settings.get("api_key")
                or os.environ.get("ANTHROPIC_API_KEY")
                or os.environ.get("ANTHROPIC_AUTH_TOKEN")
            ):
                raise BadInput("ANTHROPIC_API_KEY is not set where this worker runs")
            from llmos_tui.core.runtime.native import NativeRuntime

            return NativeRuntime(
                client=self.client(),
                owns_client=False,
                prices=config.prices,
                model=config.model,
                small_model=config.small_model,  # the model profile, as a single run has it
                context_window=config.context_window,
                max_tokens=config.max_tokens,
            )
        from llmos_tui.core.session import make_runtime

        return make_runtime(name, script, config)

    def warm_up(self) -> None:
        """Import what every run needs, and make the SDK client, once for the worker's life (not
        in its first run)."""
        import llmos_tui.core.runner
        import llmos_tui.core.session

        if self.settings.get("runtime") == "native":
            import llmos_tui.core.runtime.native

            self.client()
        elif self.settings.get("runtime") == "scripted":
            import llmos_tui.core.runtime.scripted  # noqa: F401

    # ------------------------------------------------------------------ one goal

    async def run_goal(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Start or resume the goal's run and drive it until it ends or needs a person. Never
        raises: what went wrong is the result's `error`."""
        index = int(spec["goal"]["index"])
        base = {"goal": index, "run_id": spec["run_id"], "dir": spec["dir"]}
        try:
            return {**base, **await self._run_goal(spec, index)}
        except WorkspaceLocked as exc:
            return {**base, "status": "locked", "error": {"type": "locked", "message": str(exc)}}
        except LlmosError as exc:
            return {**base, "status": "failed", "error": {"type": "start", "message": str(exc)}}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one goal's crash must not take the worker's other runs down
            traceback.print_exc(file=sys.stderr)
            return {**base, "status": "failed", "error": {"type": "crash", "message": f"{type(exc).__name__}: {exc}"}}
        finally:
            self.runners.pop(index, None)

    async def _run_goal(self, spec: dict[str, Any], index: int) -> dict[str, Any]:
        from llmos_tui.core.journal import iter_records
        from llmos_tui.core.runner import RunOptions
        from llmos_tui.core.session import driver_for, load_parts, read_ledger, say_notes
        from llmos_tui.core.statuses import RUN_TERMINAL

        s = self.settings
        goal = Goal.from_json(index, spec["goal"])
        run_id = spec["run_id"]
        folder = self.out / spec["dir"]
        if s.get("prepare", True):
            folder = prepare_goal(self.out, goal, run_id, spec["dir"])
        ws = goal_workspace(folder)
        config, registry = load_parts(ws, model=s.get("model"), approval=s.get("approve"))
        options = RunOptions(no_wait=True, poll_interval=float(s.get("poll_interval") or 0.05))
        journal = ws.journal_path(run_id)
        if _has_record(journal):
            led = read_ledger(ws, run_id)
            if led.status in RUN_TERMINAL:  # it ended before the batch could record it
                return self._result(led, led.status, ws, run_id)
            first = next(iter_records(journal))["data"]
            runtime_name = str(first.get("runtime", "scripted"))
            if runtime_name != "scripted" and first.get("model"):
                config = config.with_(model=first["model"])
            script = ws.run_dir(run_id) / SCRIPT
            runtime = self.make_runtime(runtime_name, script if script.exists() else None, config)
            runner = driver_for(runtime_name).resume(
                ws,
                run_id,
                config=config,
                registry=registry,
                runtime=runtime,
                options=options,
                approval=s.get("approve"),
            )
        else:
            if ws.run_dir(run_id).exists():  # killed before the run's first record: nothing of it happened
                shutil.rmtree(ws.run_dir(run_id))
            runtime_name = str(s["runtime"])
            given = folder / SCRIPT if (folder / SCRIPT).exists() else None
            if runtime_name == "scripted" and given is None:
                raise BadInput(f"goal {index} has no script (--runtime scripted replays each goal's `script`)")
            runtime = self.make_runtime(runtime_name, given, config)
            runner = driver_for(runtime_name).start(
                ws,
                goal.goal,
                config=config,
                registry=registry,
                runtime=runtime,
                runtime_name=runtime_name,
                mode=str(s.get("mode") or "execute"),
                variables=goal.variables or None,
                options=options,
                run_id=run_id,
                run_files={SCRIPT: given.read_bytes()} if given is not None else None,
            )
        say_notes(runner)
        self.runners[index] = runner
        self.emit({"event": "started", "goal": index})
        last = [runner.ledger.usage.cost_usd, 0.0]

        def on_record(_record: Any, _ledger: Any) -> None:
            cost = runner.ledger.usage.cost_usd
            now = time.monotonic()
            if cost != last[0] and now - last[1] >= COST_EVERY:
                last[0], last[1] = cost, now
                self.emit({"event": "cost", "goal": index, "cost": cost})

        runner.add_listener(on_record)
        if self.pausing is not None:
            from llmos_tui.core.control import new_command

            runner.submit(new_command("pause", feedback=self.pausing))
        stopped = await runner.drive()
        return self._result(runner.ledger, stopped, ws, run_id)

    def _result(self, led: Any, stopped: str, ws: Any, run_id: str) -> dict[str, Any]:
        status = outcome(led.status, stopped)
        out: dict[str, Any] = {
            "status": status,
            "run_status": led.status,
            "cost": led.usage.cost_usd,
            "steps": len(led.steps),
            "error": led.error,
        }
        if status in ("waiting", "paused"):
            cur = led.current_step
            out["waiting"] = {
                "step": cur.n if cur is not None else None,
                "tool": cur.tool if cur is not None else None,
                "step_status": cur.status if cur is not None else None,
                "control_offset": led.control_offset,
                "journal_size": _size(ws.journal_path(run_id)),
            }
        return out

    def pause_all(self, reason: str) -> None:
        """Pause every run after its current step (the budget is spent, or the batch is stopping);
        goals handed over after this are paused as soon as they open."""
        from llmos_tui.core.control import new_command

        self.pausing = reason
        for runner in list(self.runners.values()):
            runner.submit(new_command("pause", feedback=reason))

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.close()
            except Exception:  # noqa: BLE001 - closing an HTTP client at exit: nothing left to tell
                pass


def _has_record(journal: Path) -> bool:
    """Whether a run's journal holds its first record whole (else the run never began)."""
    try:
        with open(journal, "rb") as fh:
            return fh.readline().endswith(b"\n")
    except (FileNotFoundError, NotADirectoryError):
        return False


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# ====================================================================== the local process


def _die_with_parent() -> None:
    """Linux: the kernel SIGKILLs this worker when the coordinator dies (kill -9 included)."""
    if sys.platform != "linux":
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _writer(fd: int) -> Emit:
    def emit(msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        while data:
            n = os.write(fd, data)
            data = data[n:]

    return emit


async def serve(parent: int) -> None:
    loop = asyncio.get_running_loop()
    proto_out = os.dup(1)
    os.dup2(2, 1)  # stray prints go to the worker's log, never into the protocol
    emit = _writer(proto_out)
    reader = asyncio.StreamReader(limit=1 << 28)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    if os.getppid() != parent:
        os._exit(3)  # the coordinator died before we could ask to die with it
    core: WorkerCore | None = None
    tasks: set[asyncio.Task[None]] = set()

    async def run(spec: dict[str, Any]) -> None:
        assert core is not None
        result = await core.run_goal(spec)
        emit({"event": "ended", **result})

    while True:
        line = await reader.readline()
        if not line:
            sys.stderr.flush()
            os._exit(3)  # the coordinator is gone: stop now, the runs resume later (as after a kill -9)
        msg = json.loads(line)
        op = msg.get("op")
        if op == "init":
            core = WorkerCore(msg["settings"], emit)
            core.warm_up()
            emit({"event": "ready", "pid": os.getpid()})
        elif op == "run":
            task = asyncio.create_task(run(msg["spec"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif op == "pause" and core is not None:
            core.pause_all(str(msg.get("reason") or "paused by the batch"))
        elif op == "close":
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if core is not None:
                await core.aclose()
            emit({"event": "closed"})
            return


def main() -> None:
    _die_with_parent()
    parent = int(os.environ.get("LLMOS_BATCH_PARENT", "0") or 0) or os.getppid()
    asyncio.run(serve(parent))
    sys.stdout.flush()
    os._exit(0)  # (the SDK's teardown at exit would only cost time)


if __name__ == "__main__":
    main()
