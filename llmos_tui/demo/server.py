"""A tiny local web site for the demo, on 127.0.0.1 only (the weather page the agent fetches)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGES = {
    "/weather/london": (
        "text/html; charset=utf-8",
        """<!doctype html>
<html><head><title>London weather — Demo Met Office</title>
<style>body { font-family: sans-serif }</style><script>trackVisitor()</script></head>
<body>
<h1>London, United Kingdom</h1>
<p>Updated 09:00 local time.</p>
<h2>Now</h2>
<table>
<tr><th>Temperature</th><td>15 °C</td></tr>
<tr><th>Condition</th><td>Cloudy</td></tr>
<tr><th>Wind</th><td>12 km/h from the west</td></tr>
<tr><th>Humidity</th><td>72 %</td></tr>
</table>
<h2>Later today</h2>
<p>Light rain from 16:00, clearing overnight. Low 9 °C.</p>
<p><a href="/weather/paris">Paris</a> · <a href="/weather/berlin">Berlin</a></p>
</body></html>
""",
    ),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = PAGES.get(self.path)
        if page is None:
            self.send_error(404, "Not Found")
            return
        ctype, body = page
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass  # keep the terminal clean: the TUI owns it


class DemoSite:
    """Serves PAGES on 127.0.0.1 at a free port in a daemon thread."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def __enter__(self) -> "DemoSite":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
