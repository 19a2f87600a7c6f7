"""The `llmos-tui` command line (the contract is in docs/design.md §7): a thin face on core.

`parser` declares the commands and their flags; `run_commands` drives runs (headless or in the
TUI), `commands` looks at runs and steers them from outside, `output` is what a headless run
prints. Every command asks core and formats the answer; none reads a run's files itself.

Exit codes: 0 completed, 1 failed/cancelled, 2 bad usage or bad input (one-line reason),
3 paused, or stopped at a decision with --no-wait.
"""

from __future__ import annotations

import os
import sys

from llmos_tui.cli.parser import build_parser
from llmos_tui.core.errors import LlmosError

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        if argv is None and getattr(args, "fast_exit", False):
            # A headless run on Claude has closed its journal, state file, trace and lock; tearing
            # the anthropic SDK's ~2,000 modules down at exit would add ~0.3 s for nothing.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    except LlmosError as exc:
        print(f"llmos-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 3
