"""What an app is asked to do: a workspace, a run to start or resume, how to show it. Read once,
by the CLI or a test, and passed down to the screens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AppSettings:
    workspace: Path
    request: Any = None  # a core.session.RunRequest to start at once
    resume_run_id: str | None = None  # resume this run at once
    default_request: Any = None  # the RunRequest a typed goal runs with (runtime, script…)
    theme: str | None = None
    clock: bool = True  # times and spinners (off for snapshot tests)
    watch_files: bool = True  # follow execution_state.md on disk
    note: str = ""  # a line for the header (e.g. the demo's hint)
    watch: bool = False  # follow runs other processes drive (llmos-tui watch)
    playback: bool = False  # replay --recorded: a recording played back; nothing may be decided or run
    inbox: tuple[Any, ...] | None = None  # llmos-tui inbox: the places (core.inbox.Place) it looks at
    extra: dict[str, Any] = field(default_factory=dict)
