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
from llmos_tui.core.records import JournalRecord, Kind, RecordError, make_record, parse_record
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
            repair_tail(self.path)
            self.seq = _last_seq(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(
        self,
        kind: Kind,
        *,
        step: int | None = None,
        frm: str | None = None,
        to: str | None = None,
        data: dict[str, Any] | None = None,
        sync: bool = False,
    ) -> JournalRecord:
        self.seq += 1
        rec = make_record(self.seq, utcnow(), kind, step=step, frm=frm, to=to, data=data)
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


def _last_seq(path: Path) -> int:
    """The seq of the last record, read from the file's end (no need to parse the whole run)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    start = max(0, size - 1_048_576)
    with open(path, "rb") as fh:
        fh.seek(start)
        lines = fh.read().splitlines()
    for raw in reversed(lines):
        if raw.strip():
            try:
                return int(json.loads(raw)["seq"])
            except (ValueError, KeyError, TypeError):
                if start > 0:  # a last record longer than the window: read it all
                    last = 0
                    for rec in iter_records(path):
                        last = rec["seq"]
                    return last
                raise FileFormatError(str(path), None, "the journal's last line is not a record") from None
    return 0


def iter_records(path: Path) -> Iterator[JournalRecord]:
    """Records in order, streamed. A torn last line (a crash mid-write) is ignored; damage
    before it raises."""
    with open(path, "rb") as fh:
        line_no = 0
        for raw in fh:
            line_no += 1
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                if not raw.endswith(b"\n") and not fh.read(1):
                    return  # torn tail: the write never completed, so its effect never happened
                raise FileFormatError(str(path), line_no, "journal line is not valid JSON") from None
            try:
                yield parse_record(obj)
            except RecordError as exc:
                raise FileFormatError(str(path), line_no, f"journal line is not a record ({exc})") from None


def read_records(path: Path, *, repair: bool = False) -> list[JournalRecord]:
    """All records; with `repair`, a torn last line is cut off so appends start on a clean line."""
    records = list(iter_records(path))
    if repair:
        repair_tail(path)
    return records


def repair_tail(path: Path) -> None:
    """Cut a torn last line off, so the next append starts on a clean line."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb") as fh:
        pos = size
        while pos > 0:
            step = min(65536, pos)
            fh.seek(pos - step)
            chunk = fh.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                good = pos - step + nl + 1
                break
            pos -= step
        else:
            good = 0
    if good != size:
        os.truncate(path, good)
