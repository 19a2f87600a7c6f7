"""The processes a Bash call starts: who they are, and what becomes of them when the driver dies.

Each Bash call runs in a session of its own; its first process's pid is the group id (pgid).
Three things keep that group from outliving the driver that started it:

- Under the sandbox, bubblewrap's `--die-with-parent` and its own pid namespace: when the
  driver dies, bwrap dies, and the kernel ends every process of the namespace.
- The reaper: one small process per driver, started with its first Bash call, told each group as
  it starts. When the driver's end of the reaper's pipe closes — the kernel closes it when the
  driver dies, kill -9 included — the reaper SIGKILLs every group still alive. (PR_SET_PDEATHSIG
  reaches a direct child only, and would need a wrapper per call; one reaper per driver costs
  nothing per call and also ends what a call left running in the background.)
- The journal: a call's identity (`identity()`: pgid, the leader's start time, the boot, and a
  marker in its environment) is recorded when it starts, so that `resume` finds a survivor both
  missed (the driver died in the instant between starting the call and telling the reaper, or
  the reaper was killed too) and stops it (`stop()`) before the step is shown `uncertain`.

A recorded process is only ever signalled when it is really the one recorded: same boot, and
either the group's leader has the recorded start time, or the process carries the call's marker
(a random value in its environment). A pid reused since is left alone.

This module imports only the standard library at its top: the reaper runs it as a script
(`python -I -S procs.py`), which starts in ~10 ms and reads no site-packages.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

MARK_VAR = "LLMOS_BASH_CALL"  # in every Bash call's environment: its marker (random hex)
_STOP_POLL = 0.02


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, pgid, start time in clock ticks since boot) of a live pid, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    try:
        return fields[0].decode(), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def identity(pid: int, mark: str) -> dict[str, Any]:
    """What the journal records of a call whose first process is `pid` (its group's leader)."""
    st = _stat(pid)
    return {"pgid": pid, "start": st[2] if st else None, "boot": boot_id(), "mark": mark}


def _has_mark(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return needle in fh.read().split(b"\0")
    except OSError:
        return False


def _pids() -> list[int]:
    try:
        return [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []


def survivors(info: dict[str, Any]) -> list[int]:
    """The live processes of a recorded call: the members of its group while the group is still
    the one recorded, and any process carrying its marker. [] after a reboot."""
    pgid, start, mark = info.get("pgid"), info.get("start"), info.get("mark")
    if not isinstance(pgid, int) or pgid <= 1 or info.get("boot") != boot_id():
        return []
    needle = f"{MARK_VAR}={mark}".encode() if isinstance(mark, str) and mark else None
    leader = _stat(pgid)
    leader_ours = leader is not None and start is not None and leader[2] == start
    me = os.getpid()
    members: list[int] = []
    marked: list[int] = []
    for pid in _pids():
        if pid == me:
            continue
        st = _stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue  # a zombie is dead, merely unreaped
        if st[1] == pgid:
            members.append(pid)
        elif needle is not None and _has_mark(pid, needle):
            marked.append(pid)
    if members and not leader_ours and not (needle is not None and any(_has_mark(p, needle) for p in members)):
        members = []  # the group id was reused by someone else's processes
    return sorted({*members, *marked})


def _signal(pids: list[int], groups: set[int], sig: int) -> None:
    for g in groups:
        try:
            os.killpg(g, sig)
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def stop(info: dict[str, Any], *, grace: float = 1.0) -> list[int]:
    """End what is left of a recorded call: SIGTERM, then SIGKILL after `grace` seconds (0:
    SIGKILL at once). Returns the pids found alive (empty: nothing was running)."""
    found = survivors(info)
    if not found:
        return []
    # the groups the found processes are in: sessions and groups their call created (a process
    # can only join a group of its own session), so a child forked meanwhile is reached too
    groups = {st[1] for p in found if (st := _stat(p)) is not None and st[1] > 1}
    if grace > 0:
        _signal(found, groups, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and survivors(info):
            time.sleep(_STOP_POLL)
    left = survivors(info)
    if left:
        _signal(left, groups, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and survivors(info):
            time.sleep(_STOP_POLL)
    return found


# ---------------------------------------------------------------------------------- the reaper


def reaper_main() -> None:
    """The reaper's loop: read `pgid start mark` lines from stdin (the driver's pipe) until it
    closes, then SIGKILL every group that is still the one it was told about."""
    boot = boot_id()
    groups: dict[int, dict[str, Any]] = {}
    buffer = b""
    while True:
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            continue
        except OSError:
            break
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            parts = line.decode("ascii", "replace").split()
            if len(parts) == 3 and parts[0].isdigit():
                start = int(parts[1]) if parts[1].isdigit() else None
                groups[int(parts[0])] = {"pgid": int(parts[0]), "start": start, "boot": boot, "mark": parts[2]}
        for pgid in list(groups):  # forget the groups that have ended
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                del groups[pgid]
            except OSError:
                pass
    for info in groups.values():
        stop(info, grace=0)


class Reaper:
    """The driver's side: start the reaper once, tell it each group as it starts."""

    def __init__(self) -> None:
        self._proc: Any = None  # subprocess.Popen, imported lazily

    def watch(self, info: dict[str, Any]) -> bool:
        """Tell the reaper about a call's group; False if no reaper could be started."""
        line = f"{info['pgid']} {info.get('start') or '-'} {info.get('mark') or '-'}\n".encode()
        for _ in range(2):
            proc = self._ensure()
            if proc is None:
                return False
            try:
                os.write(proc.stdin.fileno(), line)
                return True
            except OSError:  # the reaper died (someone killed it): reap it and start another
                self._drop()
        return False

    def _ensure(self) -> Any:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._drop()
        import subprocess

        if not sys.executable:
            return None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # out of reach of the terminal's Ctrl-C and of any group kill
            )
        except OSError:
            self._proc = None
        return self._proc

    def _drop(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            self._proc.poll()
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None


REAPER = Reaper()

if __name__ == "__main__":
    reaper_main()
