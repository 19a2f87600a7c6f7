"""`llmos-tui hook`: the entry point Claude Code runs on each hook event of a person's session.

It parses the event JSON, hands it to the hook driver (core/claude/hook.py) and prints the
decision. A hook never blocks Claude Code by accident: it exits 0 (or 1 with a one-line reason on
stderr, which Claude Code shows and ignores), never 2.
"""

from __future__ import annotations

import asyncio
import json
import sys

from llmos_tui.core.claude.hook import handle
from llmos_tui.core.claude.settings import install_claude_hooks
from llmos_tui.core.errors import LlmosError

__all__ = ["install_claude_hooks", "main"]


def main(stdin: str, *, wait: float) -> int:
    """`llmos-tui hook`: exit 0 (decision on stdout, or none), 1 with a reason on stderr. Never 2,
    which Claude Code would take as "block this call"."""
    try:
        data = json.loads(stdin or "{}")
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        print(f"llmos-tui hook: stdin is not Claude Code's hook JSON ({exc})", file=sys.stderr)
        return 1
    try:
        out = asyncio.run(handle(data, wait=wait))
    except LlmosError as exc:
        print(f"llmos-tui hook: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a hook must never take Claude Code down
        print(f"llmos-tui hook: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if out is not None:
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0
