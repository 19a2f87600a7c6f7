"""Every goal's runs of a batch as one source for the exporter (`llmos-tui export --batch DIR`).

core/export.py and core/dataset.py read runs through a workspace's `run_ids()`, `run_dir()`,
`journal_path()`, `root` and `system`; `BatchRuns` answers them for the whole batch: its runs are
every goal's top-level runs in goal order (each followed by its sub-agent runs, as usual), each
found in its goal's workspace. Run ids are unique across a batch (the coordinator fixes them), so
a run id says which goal it is from. `root` is the batch folder (the default export output is
`<out>/<output_dir>/…`), and `system` the project's system/ as the batch copied it: its
TrainingDataCollector.md gives the filters, formats and redaction.
"""

from __future__ import annotations

from pathlib import Path

from llmos_tui.core.batch import folders
from llmos_tui.core.batch.journal import BatchJournal
from llmos_tui.core.errors import BadInput
from llmos_tui.core.workspace import CONTROL_NAME, JOURNAL_NAME, TRACE_NAME, Workspace


class BatchRuns:
    def __init__(self, out: Path) -> None:
        out = Path(out).expanduser().resolve()
        if not (out / folders.BATCH_JOURNAL).exists():
            raise BadInput(
                f"{out} is not a batch folder (no {folders.BATCH_JOURNAL}); give the folder `llmos-tui batch` made"
            )
        self.root = out
        self.system = folders.template(out) / "system"
        state = BatchJournal(out / folders.BATCH_JOURNAL).state
        self._where: dict[str, Workspace] = {}
        self._order: list[str] = []
        for index in sorted(state.goals):
            g = state.goals[index]
            if not g.dir or not g.run_id:
                continue
            ws = folders.goal_workspace(out / g.dir)
            if (ws.journal_path(g.run_id)).exists():
                self._where[g.run_id] = ws
                self._order.append(g.run_id)

    def run_ids(self) -> list[str]:
        return list(self._order)

    def _ws(self, run_id: str) -> Workspace:
        ws = self._where.get(run_id.split("/", 1)[0])
        if ws is None:
            raise BadInput(f"no run {run_id!r} in the batch {self.root}")
        return ws

    def resolve_run_id(self, run_id: str | None) -> str:
        if run_id in self._where:
            return run_id
        matches = [r for r in self._order if run_id and (r.startswith(run_id) or r.endswith(run_id))]
        if len(matches) == 1:
            return matches[0]
        raise BadInput(
            f"no run {run_id!r} in the batch {self.root}" if not matches else f"run id {run_id!r} is ambiguous"
        )

    def run_dir(self, run_id: str) -> Path:
        return self._ws(run_id).run_dir(run_id)

    def journal_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / JOURNAL_NAME

    def control_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / CONTROL_NAME

    def trace_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / TRACE_NAME


def batch_runs(out: Path) -> BatchRuns:
    return BatchRuns(out)
