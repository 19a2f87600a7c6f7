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
from llmos_tui.core.inputs import open_regular
from llmos_tui.core.records import JournalRecord, Kind, RecordError, make_record, parse_record
from llmos_tui.core.state import utcnow

LINE_MAX = 256 * 1_048_576  # a longer line is damage, not a record (records hold capped results)


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
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return 0
        start = max(0, size - 1_048_576)
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
    before it raises, with its line: a line that is not a record, a first record that is not
    `run_started`, or a `seq` that does not follow the one before (1, 2, 3 … without gaps: a
    duplicate, a gap or a step back). A journal without a record raises too (it is empty)."""
    with open_regular(path) as fh:
        line_no = 0
        last = 0
        while raw := fh.readline(LINE_MAX + 1):
            line_no += 1
            if len(raw) > LINE_MAX:
                raise FileFormatError(str(path), line_no, f"journal line is longer than {LINE_MAX // 1_048_576} MB")
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError):
                if not raw.endswith(b"\n") and not fh.read(1):
                    return  # torn tail: the write never completed, so its effect never happened
                raise FileFormatError(str(path), line_no, "journal line is not valid JSON") from None
            try:
                rec = parse_record(obj)
            except RecordError as exc:
                raise FileFormatError(str(path), line_no, f"journal line is not a record ({exc})") from None
            if last == 0 and rec["kind"] != "run_started":
                raise FileFormatError(str(path), line_no, "the journal does not start with run_started")
            check_seq(last, rec["seq"], str(path), line_no)
            last = rec["seq"]
            yield rec
        if last == 0:
            raise FileFormatError(str(path), None, "the journal is empty (the run never started)")


REWOUND_MARK = b'"kind":"rewound"'


def rewind_cuts(path: Path) -> list[tuple[int, int]]:
    """The spans of seqs rewinds took out of the history: (at_seq, seq of the `rewound` record),
    both ends kept, for the rewinds that are themselves in the history. Cheap for the usual journal, which holds no rewind (one scan for a marker)."""
    with open_regular(path) as fh:
        data = fh.read()
    if REWOUND_MARK not in data:
        return []
    cuts: list[tuple[int, int]] = []
    for raw in data.split(b"\n"):
        if REWOUND_MARK not in raw:
            continue
        try:
            rec = parse_record(json.loads(raw))
        except (ValueError, RecursionError):
            continue  # (a torn tail; damage elsewhere is iter_records' to report)
        if rec["kind"] == "rewound" and isinstance(rec["data"].get("at_seq"), int):
            cuts.append((rec["data"]["at_seq"], rec["seq"]))
    # a later rewind that took an earlier one out of the history (an undo, or a rewind to before
    # it) cancels that one's cut: walk from the latest, keeping the cuts still in the history
    kept: list[tuple[int, int]] = []
    for lo, hi in sorted(cuts, key=lambda c: -c[1]):
        if not any(klo < hi < khi for klo, khi in kept):
            kept.append((lo, hi))
    return kept


def iter_effective(path: Path) -> Iterator[JournalRecord]:
    """The history that counts: every record, less those a rewind took out (the journal itself
    is never cut; a rewind appends a `rewound` record naming where the history goes on from)."""
    cuts = rewind_cuts(path)
    for rec in iter_records(path):
        if cuts and any(lo < rec["seq"] < hi for lo, hi in cuts):
            continue
        yield rec


def check_seq(last: int, seq: int, path: str, line: int) -> None:
    """A record's `seq` must be the one after `last` (1 for the first)."""
    if seq == last + 1:
        return
    if seq <= last:
        what = f"repeats seq {seq}" if seq == last else f"goes back to seq {seq} after {last}"
    else:
        what = f"skips from seq {last} to {seq}"
    raise FileFormatError(path, line, f"journal damaged: this record {what} (a journal is never edited)")


def tail_records(path: Path, *, after_seq: int, max_bytes: int = 4 * 1_048_576) -> list[JournalRecord] | None:
    """The records after `after_seq`, read from the journal's end; None when they are not all
    within its last `max_bytes` or do not read as records."""
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            start = max(0, size - max_bytes)
            fh.seek(start)
            lines = fh.read().split(b"\n")
    except (OSError, FileFormatError):
        return None
    out: list[JournalRecord] = []
    # the first piece may be cut by the window, the last is empty or a torn line: neither counts
    for raw in reversed(lines[1 if start else 0 : -1]):
        if not raw.strip():
            continue
        try:
            rec = parse_record(json.loads(raw))
        except (ValueError, RecursionError):
            return None
        if rec["seq"] <= after_seq:
            out.reverse()
            return out
        out.append(rec)
    return None


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
