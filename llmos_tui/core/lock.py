"""One driver per workspace: an flock on workspace/.llmos-driver.lock.

The kernel drops the lock when its process dies (kill -9 included), so a dead driver never
leaves a stale lock behind. The file also says who holds it, for the error message.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from llmos_tui.core.errors import WorkspaceLocked
from llmos_tui.core.state import utcnow

LOCK_NAME = ".llmos-driver.lock"


class WorkspaceLock:
    def __init__(self, workspace: Path) -> None:
        self.path = Path(workspace) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, run_id: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = holder_info(self.path.parent) or {}
            who = f"pid {holder.get('pid', '?')}, run {holder.get('run_id', '?')}"
            raise WorkspaceLocked(
                f"workspace {self.path.parent} is already driven by another process ({who}); "
                f"watch it with `llmos-tui watch`, or stop that process first"
            ) from None
        self._fd = fd
        self.relabel(run_id)

    def relabel(self, run_id: str) -> None:
        """Say in the lock file which run the holder drives now (for `approve` and watchers)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps({"pid": os.getpid(), "run_id": run_id, "since": utcnow()}).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "WorkspaceLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder_info(workspace: Path) -> dict[str, Any] | None:
    """Who holds the driver lock, or None when no live process holds it."""
    path = Path(workspace) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # (non-blocking: a fifo in its place never hangs us)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.read(fd, 4096) or b"{}")
                return info if isinstance(info, dict) else {}
            except (ValueError, RecursionError, OSError):
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def driver_of(workspace: Path, run_id: str) -> dict[str, Any] | None:
    """What the lock says (pid, run_id, since) when a live process drives `run_id`, else None.
    (A run recorded through Claude Code's hooks is driven by that session between its events,
    without the lock: core/source.py says so.)"""
    holder = holder_info(workspace)
    return holder if holder and holder.get("run_id") == run_id else None
