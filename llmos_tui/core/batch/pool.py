"""Workers as local processes: `python -m llmos_tui.core.batch.worker`, one JSON object a line
on its stdin (orders) and stdout (events), its stderr in `<out>/.batch/worker-<n>.log`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

LINE_LIMIT = 1 << 28  # an order or an event may carry a goal's inline files
MAX_RESPAWNS = 10  # workers started again after dying, in one run of the batch


class LocalPool:
    """`size` worker processes; `events` yields (worker, event) — `{"event": "died"}` when one ends."""

    kind = "local"

    def __init__(self, size: int, settings: dict[str, Any], log_dir: Path) -> None:
        self.size = size
        self.settings = settings
        self.log_dir = Path(log_dir)
        self.events: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self._readers: dict[int, asyncio.Task[None]] = {}
        self._spawning: set[asyncio.Task[None]] = set()
        self.closing = False
        self.respawns = 0

    async def start(self) -> None:
        await asyncio.gather(*(self.spawn(w) for w in range(self.size)))

    async def spawn(self, w: int) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"worker-{w}.log", "ab")  # (handed to the child, closed below)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "llmos_tui.core.batch.worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, "LLMOS_BATCH_PARENT": str(os.getpid())},
                limit=LINE_LIMIT,
            )
        finally:
            log.close()
        self.procs[w] = proc
        self._send(w, {"op": "init", "settings": self.settings})
        self._readers[w] = asyncio.create_task(self._read(w, proc))

    def respawn(self, w: int) -> bool:
        """A worker died (its goals are handed to others): start another in its place. False when
        workers died too often to go on (a worker that cannot start: its log says why)."""
        if self.closing:
            return True
        self.respawns += 1
        if self.respawns > MAX_RESPAWNS:
            return False
        task = asyncio.create_task(self.spawn(w))
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)
        return True

    async def _read(self, w: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                line = b""
            if not line:
                await proc.wait()
                await self.events.put((w, {"event": "died", "code": proc.returncode}))
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue
            await self.events.put((w, event))

    def _send(self, w: int, msg: dict[str, Any]) -> None:
        proc = self.procs.get(w)
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            proc.stdin.write((json.dumps(msg, ensure_ascii=False, default=str) + "\n").encode("utf-8"))

    def submit(self, w: int, spec: dict[str, Any]) -> None:
        self._send(w, {"op": "run", "spec": spec})

    def pause_all(self, reason: str) -> None:
        for w in list(self.procs):
            self._send(w, {"op": "pause", "reason": reason})

    async def close(self, timeout: float = 10.0) -> None:
        """Ask each worker to finish and exit; one that does not in time is killed."""
        self.closing = True
        for w in list(self.procs):
            self._send(w, {"op": "close"})
        for proc in list(self.procs.values()):
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._readers.values():
            task.cancel()
        self.procs.clear()

    def kill(self) -> None:
        """Stop every worker now (their runs resume later, as after a kill -9)."""
        self.closing = True
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
