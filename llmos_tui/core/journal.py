"""journal.jsonl: the append-only history of a run, one JSON object per transition.

Records are written to the OS at once (a killed process loses nothing it appended) and fsync'd
at barriers — `sync()` — which the runner calls before any effect becomes visible: before a
side-effecting tool runs, before the state file is replaced, before it waits. Group commit keeps
the per-step cost low without weakening write-ahead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.state import utcnow


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.seq = 0
        self._dirty = False
        if self.path.exists():
            records = read_records(self.path, repair=True)
            self.seq = records[-1]["seq"] if records else 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, kind: str, *, step: int | None = None, frm: str | None = None,
               to: str | None = None, data: dict[str, Any] | None = None,
               sync: bool = False) -> dict[str, Any]:
        self.seq += 1
        rec: dict[str, Any] = {"seq": self.seq, "at": utcnow(), "kind": kind}
        if step is not None:
            rec["step"] = step
        if frm is not None or to is not None:
            rec["from"] = frm
            rec["to"] = to
        rec["data"] = data or {}
        os.write(self._fd, (_dumps(rec) + "\n").encode("utf-8"))
        self._dirty = True
        if sync:
            self.sync()
        return rec

    def sync(self) -> None:
        """Make every appended record durable (the write-ahead barrier)."""
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records in order. A torn last line (a crash mid-write) is ignored; damage before it raises."""
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    last = len(lines) - 1  # after the final "\n" split leaves b"" (or a torn tail)
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except ValueError:
            if i - 1 == last:
                return  # torn tail: the write never completed, so its effect never happened
            raise FileFormatError(str(path), i, "journal line is not valid JSON") from None
        if not isinstance(rec, dict) or "kind" not in rec or "seq" not in rec:
            raise FileFormatError(str(path), i, "journal line is not a record (needs seq and kind)")
        yield rec


def read_records(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """All records; with `repair`, a torn last line is cut off so appends start on a clean line."""
    records = list(iter_records(path))
    if repair:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            data = fh.read()
        good = data.rfind(b"\n") + 1
        if good != size:
            os.truncate(path, good)
    return records
