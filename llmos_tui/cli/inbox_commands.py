"""`llmos-tui inbox [DIR …]`: one TUI screen over every step waiting for a person in many
workspaces (docs/design.md §8, the inbox)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmos_tui.core.text import plural


def add_parsers(sub: Any) -> None:
    ib = sub.add_parser(
        "inbox",
        help="every step waiting for a person across workspaces and batches, decided in one screen",
        description="Open the TUI on every step waiting for a person (awaiting approval or uncertain) in the "
        "workspaces named, oldest first: a approve, d deny, e edit, s skip, r retry — sent through each "
        "run's control.jsonl, as `llmos-tui approve` does; Enter opens the run's own screen (Esc comes "
        "back); v shows the board of every run, with a batch's progress. The bell rings when a new step "
        "starts waiting.",
    )
    ib.add_argument(
        "dirs",
        nargs="*",
        metavar="DIR",
        help="a workspace or project folder, or a batch folder (every goal's workspace); default: ./workspace",
    )
    ib.add_argument("--theme", help="colour theme: llmos-dark, llmos-light, llmos-high-contrast (remembered)")
    ib.set_defaults(func=cmd_inbox)


def cmd_inbox(args: argparse.Namespace) -> int:
    from llmos_tui.core.inbox import places_from
    from llmos_tui.tui.app import AppSettings, LlmosApp

    places = places_from(args.dirs)  # BadInput (exit 2) before any screen for a folder with no workspace
    first = next((p.ws.root for p in places if p.ws is not None), places[0].path)
    app = LlmosApp(AppSettings(workspace=Path(first), theme=args.theme, watch=True, inbox=tuple(places)))
    app.run()
    left = app.inbox_screen.last.waiting if app.inbox_screen is not None else ()
    if left:
        where = sorted({w.where for w in left})
        more = f", +{len(where) - 5} more" if len(where) > 5 else ""
        print(f"inbox: {plural(len(left), 'step')} still wait for a person ({', '.join(where[:5])}{more})")
    return 0
