"""Bash's confinement and the processes its calls start, for one run.

The runner hands Bash a policy (core/tools/bash.py: the sandbox, its network, the writable paths,
the variables to drop), journals each call's process group as it starts (`step_process`), and, when
a run is reopened, stops a command that outlived its driver before anyone decides about its step
(core/tools/procs.py). What a person should know — Bash runs unconfined here, a command was found
still running — goes to the journal and to `notices`, for a face to show once.
"""

from __future__ import annotations

from typing import Any

from llmos_tui.core.engine.recorder import RunRecorder
from llmos_tui.core.ledger import StepRecord
from llmos_tui.core.tools import procs
from llmos_tui.core.tools.bash import BashPolicy, sandbox_notice
from llmos_tui.core.tools.sandbox import Sandbox


class BashProcesses:
    def __init__(self, rec: RunRecorder, sandbox: Sandbox, notices: list[str]) -> None:
        self.rec = rec
        self.sandbox = sandbox
        self.notices = notices
        self.executing: StepRecord | None = None  # the step whose tool runs now (set by the driver)

    def policy(self) -> BashPolicy:
        """SystemAgent.md's `bash_network`, the ToolMap entry's `network` and `sandbox`, the extra
        writable paths, llmos-tui's own files read-only, and the variables TrainingDataCollector.md
        redacts removed from the environment."""
        spec = self.rec.registry.specs.get("Bash")
        config, root = self.rec.config, self.rec.ws.root
        return BashPolicy(
            sandbox=spec.sandbox if spec is not None else True,
            network=config.bash_network or (spec.network if spec is not None else False),
            write_roots=tuple(str(root / p) for p in config.allow_write),
            read_only=tuple(str(root / name) for name in sorted(self.sandbox.reserved)),
            hide_env=tuple(self.rec.redact.env_vars),
        )

    def announce(self, policy: BashPolicy) -> None:
        """Once at run start (and at each resume: another driver, perhaps another machine): a note
        when Bash is meant to be sandboxed but this machine cannot (no working bubblewrap)."""
        if self.rec.registry.get("Bash") is None:
            return
        notice = sandbox_notice(policy)
        if notice:
            self.notices.append(notice)
            self.rec.note(notice)

    def started(self, info: dict[str, Any]) -> None:
        """The Bash call running now started its process group: journaled, so that `resume` can
        find it if this driver dies first. (Not flushed to the state file at once: bubblewrap is
        binding that file read-only at this very moment, and replacing it then fails its mount.)"""
        if self.executing is not None:
            self.rec.record("step_process", step=self.executing.n, data=info)

    def stop_survivor(self, step: StepRecord) -> str | None:
        """A command the step started that outlived its driver: stopped now (SIGTERM, then
        SIGKILL), before anyone decides about the step; what was found, or None."""
        if not step.process:
            return None
        found = procs.stop(step.process)
        if not found:
            return None
        what = (
            f"its command was still running (pgid {step.process.get('pgid')}, {len(found)} "
            f"process{'es' if len(found) != 1 else ''}) and was stopped at resume"
        )
        self.rec.note(f"step {step.n}: {what}", step=step.n)
        self.notices.append(f"step {step.n} ({step.tool}): {what}")
        return what
