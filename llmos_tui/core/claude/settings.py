"""`llmos-tui init --claude`: llmos-tui's hooks in a project's `.claude/settings.json`."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop")
DEFAULT_WAIT_S = 120.0


def hook_command(wait: float = DEFAULT_WAIT_S) -> str:
    """The command Claude Code runs: this interpreter, so a virtualenv needs no activation."""
    return f"{shlex.quote(sys.executable)} -m llmos_tui hook --wait {wait:g}"


def install_claude_hooks(project: Path, wait: float = DEFAULT_WAIT_S) -> tuple[str, str]:
    """Add llmos-tui's hooks to `<project>/.claude/settings.json`, keeping everything else in it.
    Returns (path, 'created' | 'updated' | 'kept'). A file that does not parse is left alone."""
    from llmos_tui.core.errors import BadInput
    from llmos_tui.core.fsutil import atomic_write

    path = Path(project) / ".claude" / "settings.json"
    rel = ".claude/settings.json"
    settings: dict[str, Any] = {}
    existed = path.exists()
    if existed:
        from llmos_tui.core.inputs import read_text

        try:  # an untrusted input: a regular file, bounded, UTF-8
            settings = json.loads(read_text(path, limit=16 * 1_048_576) or "{}")
        except (ValueError, RecursionError) as exc:
            raise BadInput(
                f"{path}:{getattr(exc, 'lineno', 1)}: not valid JSON ({exc}); fix it, then "
                f"run `llmos-tui init --claude` again"
            ) from None
        if not isinstance(settings, dict) or not isinstance(settings.get("hooks", {}), dict):
            raise BadInput(f"{path}: expected a JSON object with `hooks` an object; left unchanged")
    hooks = settings.setdefault("hooks", {})
    command = hook_command(wait)
    changed = False
    for event in EVENTS:
        entries = hooks.setdefault(event, [])
        if not isinstance(entries, list):
            raise BadInput(f"{path}: hooks.{event} must be a list; left unchanged")
        ours = [
            h
            for e in entries
            if isinstance(e, dict)
            for h in e.get("hooks", [])
            if isinstance(h, dict)
            and "llmos_tui hook" in str(h.get("command", ""))
            or isinstance(h, dict)
            and "llmos-tui hook" in str(h.get("command", ""))
        ]
        if ours:
            continue
        entry: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "timeout": int(wait) + 30}]}
        if event != "Stop":
            entry = {"matcher": "*", **entry}
        entries.append(entry)
        changed = True
    if not changed:
        return rel, "kept"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    return rel, "updated" if existed else "created"
