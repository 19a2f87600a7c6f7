"""Following a run another process drives: fold its journal, then take new records as they land.

Only complete lines are read (a line still being written is left for the next read), so a
follower never sees half a record. Followers only read: commands go through control.jsonl.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.records import JournalRecord, parse_record


class JournalFollower:
    def __init__(self, path: Path, *, keep_messages: bool = False) -> None:
        self.path = Path(path)
        self.offset = 0
        self.line = 0
        self.ledger = Ledger(keep_messages=keep_messages)

    def read_new(self) -> list[JournalRecord]:
        """Fold and return the records appended since the last call."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return []
        out: list[JournalRecord] = []
        with fh:
            fh.seek(self.offset)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # still being written
                self.offset += len(raw)
                self.line += 1
                if not raw.strip():
                    continue
                try:
                    rec = parse_record(json.loads(raw))
                    self.ledger.apply(rec)
                except Exception as exc:  # noqa: BLE001 - any damage is reported with its line
                    raise FileFormatError(str(self.path), self.line, f"cannot follow the journal: {exc}") from None
                out.append(rec)
        return out
