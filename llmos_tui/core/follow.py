"""Following a run another process drives: fold its journal, then take new records as they land.

Only complete lines are read (a line still being written is left for the next read), so a
follower never sees half a record. Followers only read: commands go through control.jsonl.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.inputs import open_regular
from llmos_tui.core.journal import LINE_MAX, check_seq, iter_effective
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.records import JournalRecord, parse_record


class JournalFollower:
    def __init__(self, path: Path, *, keep_messages: bool = False) -> None:
        self.path = Path(path)
        self.offset = 0
        self.line = 0
        self.seq = 0  # the last record's seq: the next must follow it
        self.ledger = Ledger(keep_messages=keep_messages)

    def read_new(self, *, collect: bool = True) -> list[JournalRecord]:
        """Fold and return the records appended since the last call. `collect=False` folds them
        without keeping them: the first read of a long run (500,000 records of a 100,000-call run
        held at once took ~600 MB the process never gave back)."""
        try:
            fh = open_regular(self.path)  # a folder, a fifo or a /dev/zero symlink: refused
        except FileNotFoundError:
            return []
        out: list[JournalRecord] = []
        with fh:
            fh.seek(self.offset)
            while raw := fh.readline(LINE_MAX + 1):
                if not raw.endswith(b"\n"):
                    if len(raw) > LINE_MAX:
                        raise FileFormatError(str(self.path), self.line + 1, "journal line is too long")
                    break  # still being written
                self.offset += len(raw)
                self.line += 1
                if not raw.strip():
                    continue
                try:
                    rec = parse_record(json.loads(raw))
                    if self.seq == 0 and rec["kind"] != "run_started":
                        raise ValueError("the journal does not start with run_started")
                    check_seq(self.seq, rec["seq"], str(self.path), self.line)
                    if rec["kind"] == "rewound":
                        self.ledger = self._refold(rec["seq"])  # a rewind takes history out: fold anew
                    else:
                        self.ledger.apply(rec)
                except FileFormatError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any damage is reported with its line
                    raise FileFormatError(str(self.path), self.line, f"cannot follow the journal: {exc}") from None
                self.seq = rec["seq"]
                if collect:
                    out.append(rec)
        return out

    def _refold(self, upto: int) -> Ledger:
        led = Ledger(keep_messages=self.ledger.keep_messages)
        for rec in iter_effective(self.path):
            if rec["seq"] > upto:
                break
            led.apply(rec)
        return led
