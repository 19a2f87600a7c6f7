"""`llmos-tui serve`: the same app in a web browser, through textual-serve.

Each browser connection starts `llmos-tui watch` on the workspace (keys go to the run's
control.jsonl, exactly as in a terminal). Bound to 127.0.0.1 unless a host is given explicitly.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


def serve_command(workspace: Path, theme: str | None = None) -> str:
    """The command textual-serve runs per browser session."""
    parts = [sys.executable, "-m", "llmos_tui", "watch", str(workspace)]
    if theme:
        parts += ["--theme", theme]
    return shlex.join(parts)


def warning_for(host: str) -> str | None:
    if host in (LOOPBACK, "localhost", "::1"):
        return None
    return (
        f"warning: serving on {host}: whoever reaches this port can approve, edit and deny this workspace's tool calls"
    )


def serve(workspace: Path, *, host: str = LOOPBACK, port: int = 8000, theme: str | None = None) -> None:
    try:
        from textual_serve.server import Server
    except ImportError:
        from llmos_tui.core.errors import BadInput

        raise BadInput("llmos-tui serve needs textual-serve: pip install 'llmos-tui[serve]'") from None

    class _Server(Server):
        async def handle_index(self, request: Any) -> Any:
            # The page names the URLs of its script and websocket. textual-serve builds them from
            # one fixed public_url, which for a wildcard bind (0.0.0.0, ::) names an address no
            # browser can reach; the Host the browser itself used always works. (No await runs
            # between this assignment and its use, so concurrent requests cannot mix them up.)
            if request.host:
                self.public_url = f"http://{request.host}"
            return await super().handle_index(request)

    server = _Server(
        serve_command(workspace, theme), host=host, port=port, title="llmos-tui", public_url=public_url(host, port)
    )
    server.serve()


def public_url(host: str, port: int) -> str:
    """The address printed at start-up (an IPv6 literal in brackets)."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"
