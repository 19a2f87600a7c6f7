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
    try:
        return _main(argv)
    except BrokenPipeError:  # `llmos-tui init | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    except SystemExit:  # argparse's --help and --version, into a closed pipe too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_stdout()
        raise


def _quiet_stdout() -> None:
    """stdout's reader is gone: point it at /dev/null, so the flush at exit says nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.own_process = argv is None  # the command line's own process: a command may tune it (gc)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe is handled in main()
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
    except BrokenPipeError:
        raise  # main() ends quietly
    except OSError as exc:  # a file in the way (a folder where a file should be, no permission): one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"llmos-tui: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 3
