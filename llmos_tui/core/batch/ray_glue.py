"""Workers as Ray actors (`llmos-tui batch --ray [ADDRESS]`, the `ray` extra).

Each actor runs the same `WorkerCore` as a local worker process, its runs interleaved on the
actor's event loop. `--ray` or `--ray auto` joins the Ray instance this machine runs (or starts
one); `--ray ADDRESS` joins a cluster (`ray://head:10001`, `head:6379`). Every node needs
llmos-tui installed (`pip install 'llmos-tui[ray]'`); the `ANTHROPIC_*` variables of the
coordinator's environment reach the actors through Ray's `runtime_env` (Ray keeps them in its
control store: on a shared cluster, prefer setting them in the nodes' own environment).

Where a goal's folder lives:

- **A shared filesystem** (the actors see the batch folder at the same path: the local Ray
  instance, or an NFS/CephFS mount on every node — found out with a marker file each actor
  looks for, or forced with `--ray-shared-fs` / `--no-ray-shared-fs`): the actors make and run
  each goal's folder in the batch folder itself, exactly as local workers do, and the shared
  gate is the batch folder's files (flock must work on that filesystem: NFSv4 and CephFS do).
- **No shared filesystem**: the coordinator makes the goal's folder, sends it to the actor as a
  tar, the actor runs it in a scratch folder on its node and sends the whole folder back as a tar
  when the run stops (done, failed, waiting or paused), which replaces the batch's copy. The gate
  is a Ray actor. A decision for a waiting goal is made in the batch's copy and the goal travels
  again. A batch killed meanwhile loses what its running goals did since they were sent: they
  start again from the batch's copy (the files in their folders come out right; anything a run
  did outside its folder, such as a web request, may happen twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import secrets
import shutil
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from llmos_tui.core.batch import folders
from llmos_tui.core.batch.goals import Goal
from llmos_tui.core.errors import BadInput

ENV_NAMES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
EVENT_WAIT = 0.5  # seconds an actor's event poll waits for news


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BadInput("--ray needs Ray: pip install 'llmos-tui[ray]'") from None
    return ray


def connect(address: str | None) -> bool:
    """Join (or start) Ray unless this process already has; True when this call started it."""
    ray = _ray()
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
    env = {k: os.environ[k] for k in ENV_NAMES if os.environ.get(k)}
    if env:
        kw["runtime_env"] = {"env_vars": env}
    if address in (None, "", "auto", "local"):
        try:
            ray.init(address="auto", **kw)  # a Ray instance this machine already runs
        except (ConnectionError, RuntimeError, ValueError):
            # none: start one here, without Ray's usage statistics (sent over the network) unless asked for
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(include_dashboard=False, **kw)
    else:
        ray.init(address=address, **kw)
    return True


# ====================================================================== tar


def pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        tar.add(str(folder), arcname=".")
    return buf.getvalue()


def unpack(data: bytes, into: Path) -> None:
    """Put a goal's folder in place from its tar: extracted beside, then swapped in."""
    into = Path(into)
    tmp = into.parent / f".{into.name}.{secrets.token_hex(4)}.unpack"
    tmp.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        try:
            tar.extractall(tmp, filter="tar")  # (no member outside the folder; symlinks kept)
        except TypeError:  # Python before 3.11.4: no filters (the tar is our own actor's)
            tar.extractall(tmp)
    if into.exists():
        old = into.parent / f".{into.name}.{secrets.token_hex(4)}.old"
        os.rename(into, old)
        os.rename(tmp, into)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, into)


# ====================================================================== the gate as an actor


class _GateLogic:
    """The shared backoff and slots of ratelimit.FileGate, held by one actor."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit if limit and limit > 0 else None
        self.free = self.limit or 0
        self.not_before = 0.0
        self.strikes = 0
        self.leases: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def acquire(self) -> str:
        from llmos_tui.core.batch.ratelimit import MAX_WAIT

        while True:
            wait = self.not_before - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))
                continue
            if self.limit is not None:
                self._expire(MAX_WAIT * 20)
                if self.free <= 0:
                    self.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), 1.0)
                    continue
                self.free -= 1
            token = uuid.uuid4().hex
            self.leases[token] = time.time()
            return token

    def _expire(self, age: float) -> None:
        """A lease held longer than any call lasts: its worker died holding it."""
        now = time.time()
        for token, since in list(self.leases.items()):
            if now - since > age:
                self.release(token)

    def release(self, token: str) -> None:
        if self.leases.pop(token, None) is not None and self.limit is not None:
            self.free += 1
            self.changed.set()

    def throttle(self, delay: float) -> None:
        from llmos_tui.core.batch.ratelimit import backoff

        self.strikes += 1
        wait = delay if delay >= 0 else backoff(self.strikes)
        self.not_before = max(self.not_before, time.time() + wait)

    def calm(self) -> None:
        self.strikes = 0


# ====================================================================== the worker as an actor


class _WorkerActor:
    """A batch worker in a Ray actor: WorkerCore, its events kept for the coordinator's polls."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from llmos_tui.core.batch.worker import WorkerCore

        self.shared = bool(settings.get("prepare"))
        if not self.shared:
            scratch = Path(tempfile.gettempdir()) / f"llmos-batch-{settings['batch_id']}-{os.getpid()}"
            scratch.mkdir(parents=True, exist_ok=True)
            settings = {**settings, "out": str(scratch)}
        self.events: list[dict[str, Any]] = []
        self.news = asyncio.Event()
        self.core = WorkerCore(settings, self._emit)

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.news.set()

    def probe(self, path: str, token: str) -> bool:
        try:
            return Path(path).read_text(encoding="ascii").strip() == token
        except OSError:
            return False

    async def run_goal(self, spec: dict[str, Any]) -> dict[str, Any]:
        data = spec.pop("tar", None)
        folder = self.core.out / spec["dir"]
        if data is not None:
            await asyncio.to_thread(unpack, data, folder)
        result = await self.core.run_goal(spec)
        if data is not None:
            result["tar"] = await asyncio.to_thread(pack, folder)
            shutil.rmtree(folder, ignore_errors=True)
        return result

    async def next_events(self) -> list[dict[str, Any]]:
        if not self.events:
            self.news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.news.wait(), EVENT_WAIT)
        out, self.events = self.events, []
        return out

    def pause_all(self, reason: str) -> None:
        self.core.pause_all(reason)

    async def close(self) -> None:
        await self.core.aclose()


_CLASSES: dict[str, Any] = {}


def _remote(name: str) -> Any:
    if not _CLASSES:
        ray = _ray()
        _CLASSES["worker"] = ray.remote(num_cpus=1)(_WorkerActor)
        _CLASSES["gate"] = ray.remote(num_cpus=0)(_GateLogic)
    return _CLASSES[name]


class RayPool:
    """The batch's workers as Ray actors; the same face as pool.LocalPool."""

    kind = "ray"

    def __init__(
        self, size: int, settings: dict[str, Any], out: Path, *, address: str | None, shared_fs: bool | None
    ) -> None:
        self.size = size
        self.settings = dict(settings)
        self.out = Path(out)
        self.address = address
        self.shared_fs = shared_fs
        self.events: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self.actors: list[Any] = []
        self.gate: Any = None
        self.started_ray = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self.respawns = 0

    async def start(self) -> None:
        ray = _ray()
        self.started_ray = await asyncio.to_thread(connect, self.address)
        settings = {**self.settings, "batch_id": secrets.token_hex(4)}
        cls = _remote("worker")
        probe_actors = [cls.remote({**settings, "prepare": True}) for _ in range(self.size)]
        shared = self.shared_fs
        if shared is None:
            marker = folders.meta(self.out) / f"ray-probe-{secrets.token_hex(4)}"
            token = secrets.token_hex(8)
            marker.write_text(token, encoding="ascii")
            try:
                seen = await asyncio.gather(*(a.probe.remote(str(marker), token) for a in probe_actors))
            finally:
                marker.unlink(missing_ok=True)
            shared = all(seen)
        self.shared_fs = shared
        if shared:
            self.actors = probe_actors
        else:
            for a in probe_actors:
                ray.kill(a)
            self.gate = _remote("gate").remote(settings["gate"].get("limit"))
            settings = {**settings, "prepare": False, "gate": {"kind": "ray", "actor": self.gate}}
            self.actors = [cls.remote(settings) for _ in range(self.size)]
        for w in range(self.size):
            self._spawn_task(self._poll(w))

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, w: int) -> None:
        actor = self.actors[w]
        while not self.closing:
            try:
                events = await actor.next_events.remote()
            except Exception:  # noqa: BLE001 - the actor is gone: its goals are reported by run_goal
                return
            for event in events:
                await self.events.put((w, event))

    def submit(self, w: int, spec: dict[str, Any]) -> None:
        self._spawn_task(self._run(w, spec))

    async def _run(self, w: int, spec: dict[str, Any]) -> None:
        folder = self.out / spec["dir"]
        if not self.shared_fs:
            index = int(spec["goal"]["index"])
            goal = Goal.from_json(index, spec["goal"])
            await asyncio.to_thread(folders.prepare_goal, self.out, goal, spec["run_id"], spec["dir"])
            spec = {**spec, "tar": await asyncio.to_thread(pack, folder)}
        try:
            result = await self.actors[w].run_goal.remote(spec)
        except Exception as exc:  # noqa: BLE001 - an actor that died (or a node lost): the goal goes back to the queue
            await self.events.put((w, {"event": "died", "error": str(exc)}))
            return
        data = result.pop("tar", None)
        if data is not None:
            await asyncio.to_thread(unpack, data, folder)
        await self.events.put((w, {"event": "ended", **result}))

    def respawn(self, w: int) -> bool:
        if self.closing:
            return True
        self.respawns += 1
        if self.respawns > 10:
            return False
        settings = {**self.settings, "batch_id": secrets.token_hex(4), "prepare": bool(self.shared_fs)}
        if self.gate is not None:
            settings["gate"] = {"kind": "ray", "actor": self.gate}
        self.actors[w] = _remote("worker").remote(settings)
        self._spawn_task(self._poll(w))
        return True

    def pause_all(self, reason: str) -> None:
        for a in self.actors:
            a.pause_all.remote(reason)

    async def close(self, timeout: float = 10.0) -> None:
        self.closing = True
        ray = _ray()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(a.close.remote() for a in self.actors)), timeout)
        for a in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(a)
        if self.gate is not None:
            with contextlib.suppress(Exception):
                ray.kill(self.gate)
        for task in list(self._tasks):
            task.cancel()
        if self.started_ray:
            ray.shutdown()

    def kill(self) -> None:
        self.closing = True
        ray = _ray()
        for a in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(a)
