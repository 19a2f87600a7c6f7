"""WebFetch against a real HTTP server on 127.0.0.1 (started here; nothing else is contacted)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmos_tui.core.tools import web
from llmos_tui.core.tools.base import ToolContext, ToolError
from llmos_tui.core.tools.sandbox import Sandbox
from llmos_tui.core.tools.web import PageCache, WebFetchTool

PAGE = """<!DOCTYPE html>
<html><head><title>Test  Page &amp; Co</title>
<style>body { color: STYLE_RULE_MARK; }</style>
<script>var secret = "SCRIPT_TEXT_MARK";</script>
</head><body>
<h1>Main Heading</h1>
<p>Intro paragraph with <a href="/docs/guide.html">the guide link</a> inside.</p>
<h2>Sub Heading</h2>
<table><tr><th>Name</th><th>Value</th></tr><tr><td>alpha</td><td>42</td></tr></table>
<svg><text>SVG_TEXT_MARK</text></svg>
<script type="text/javascript">document.write("SECOND_SCRIPT_MARK")</script>
<p>Caf\u00e9 closing words.</p>
</body></html>"""

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
BIG = 11 * 1024 * 1024  # over WebFetch's 10 MB cap
SLOW = 3.0  # seconds the slow routes stall
SHORT_TIMEOUT = 0.5  # the timeout the tests give WebFetch for slow routes


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, ctype: str | None, body: bytes, *, length: bool = True) -> None:
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.hits[path] += 1
        self.server.agents.append(self.headers.get("User-Agent", ""))
        port = self.server.server_address[1]
        try:
            self._route(path, port)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (size cap, timeout): expected

    def _route(self, path: str, port: int) -> None:
        if path in ("/page.html", "/counted.html"):
            self._send(200, "text/html; charset=utf-8", PAGE.encode())
        elif path == "/latin1.html":
            body = "<html><body><p>Caf\u00e9 cr\u00e8me</p></body></html>".encode("latin-1")
            self._send(200, "text/html; charset=iso-8859-1", body)
        elif path == "/meta-charset.html":
            body = (
                '<html><head><meta charset="windows-1252"></head><body><p>\u201cquoted\u201d</p></body></html>'
            ).encode("cp1252")
            self._send(200, "text/html", body)
        elif path == "/data.json":
            body = json.dumps({"name": "llmos", "items": [1, 2, 3], "ok": True}).encode()
            self._send(200, "application/json", body)
        elif path == "/notes.txt":
            self._send(200, "text/plain; charset=utf-8", b"line one\nline two\n")
        elif path == "/untyped.txt":
            self._send(200, None, b"plain words, no content type\n")
        elif path == "/big.txt":
            self._send(200, "text/plain", b"".join(b"row %05d of filler text\n" % i for i in range(2000)))
        elif path == "/empty":
            self._send(200, "text/plain", b"")
        elif path == "/missing":
            self.send_error(404)
        elif path == "/boom":
            self.send_error(500)
        elif path == "/teapot":
            self._send(418, "text/plain", b"short and stout")
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{n - 1}" if n > 1 else "/page.html", 301 if n % 2 else 302)
        elif path == "/absolute-redirect":
            self._redirect(f"http://127.0.0.1:{port}/notes.txt", 307)
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/cross":
            self._redirect(f"http://localhost:{port}/page.html", 301)
        elif path == "/to-ftp":
            self._redirect("ftp://127.0.0.1/file")
        elif path == "/large":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self._stream(BIG)
        elif path == "/large-stream":  # no Content-Length: the body ends when the server closes
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self._stream(BIG)
        elif path == "/slow":
            time.sleep(SLOW)
            self._send(200, "text/plain", b"finally")
        elif path == "/slow-body":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"start ")
            self.wfile.flush()
            time.sleep(SLOW)
            self.wfile.write(b"x" * 94)
        elif path == "/image.png":
            self._send(200, "image/png", PNG)
        elif path == "/blob":
            self._send(200, "application/octet-stream", b"\x00\x01\x02binary\x00" * 10)
        else:
            self.send_error(404)

    def _stream(self, total: int) -> None:
        chunk = b"a" * 65536
        sent = 0
        while sent < total:
            self.wfile.write(chunk)
            sent += len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    hits: Counter[str]
    agents: list[str]


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), Handler)
    srv.hits = Counter()
    srv.agents = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def site(server: _Server) -> Iterator[str]:
    """The server's base URL, with its hit counters reset for this test."""
    server.hits.clear()
    server.agents.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy in the environment must not capture requests meant for 127.0.0.1.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(sandbox=Sandbox(tmp_path))


@pytest.fixture
def tool() -> WebFetchTool:
    return WebFetchTool(cache=PageCache())  # a fresh cache: tests do not see each other's pages


def with_extra(ctx: ToolContext, **extra: Any) -> ToolContext:
    return ToolContext(sandbox=ctx.sandbox, output_cap=ctx.output_cap, extra=extra)


async def fetch(tool: WebFetchTool, ctx: ToolContext, url: str, prompt: str = "Summarise") -> str:
    out = await tool.run({"url": url, "prompt": prompt}, ctx)
    assert not out.is_error
    return out.text


async def fails(tool: WebFetchTool, ctx: ToolContext, url: str) -> str:
    with pytest.raises(ToolError) as info:
        await tool.run({"url": url, "prompt": "Summarise"}, ctx)
    message = str(info.value)
    assert "\n" not in message  # one clear line
    return message


# -- schema ---------------------------------------------------------------------------------------


def test_schema() -> None:
    tool = WebFetchTool()
    assert tool.name == "WebFetch"
    schema = tool.input_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["url", "prompt"]
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"url": "http://127.0.0.1/", "prompt": "p"})
    assert not validator.is_valid({"url": "http://127.0.0.1/"})
    assert not validator.is_valid({"url": "http://127.0.0.1/", "prompt": "p", "extra": 1})
    assert "only reads" in tool.description.lower()


# -- content ---------------------------------------------------------------------------------------


async def test_html_becomes_markdown(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    text = await fetch(tool, ctx, f"{site}/page.html")
    assert text.startswith(
        f"Content of {site}/page.html (no model available to answer the prompt; the raw page follows):\n\n"
    )
    assert "Title: Test Page & Co" in text
    assert "# Main Heading" in text
    assert "## Sub Heading" in text
    assert f"[the guide link]({site}/docs/guide.html)" in text  # relative link made absolute
    assert "alpha" in text and "42" in text and "Name" in text
    assert "---" in text  # a markdown table rule
    assert "Caf\u00e9 closing words." in text
    for hidden in ("SCRIPT_TEXT_MARK", "SECOND_SCRIPT_MARK", "STYLE_RULE_MARK", "SVG_TEXT_MARK", "<script", "<p>"):
        assert hidden not in text


async def test_user_agent_names_llmos(tool: WebFetchTool, ctx: ToolContext, site: str, server: _Server) -> None:
    await fetch(tool, ctx, f"{site}/notes.txt")
    assert "llmos-tui" in server.agents[0] and server.agents[0].startswith("Mozilla/5.0")


async def test_charsets(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    assert "Caf\u00e9 cr\u00e8me" in await fetch(tool, ctx, f"{site}/latin1.html")
    assert "\u201cquoted\u201d" in await fetch(tool, ctx, f"{site}/meta-charset.html")


async def test_json_and_text(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    text = await fetch(tool, ctx, f"{site}/data.json")
    body = text.split("\n\n", 1)[1]
    assert json.loads(body) == {"name": "llmos", "items": [1, 2, 3], "ok": True}
    assert '"name": "llmos"' in body  # re-indented for reading
    text = await fetch(tool, ctx, f"{site}/notes.txt")
    assert text.endswith("line one\nline two\n")
    assert "plain words, no content type" in await fetch(tool, ctx, f"{site}/untyped.txt")
    assert "the page is empty" in await fetch(tool, ctx, f"{site}/empty")


async def test_binary_refused(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    message = await fails(tool, ctx, f"{site}/image.png")
    assert "image/png" in message and "HTML, JSON and text only" in message
    assert "application/octet-stream" in await fails(tool, ctx, f"{site}/blob")


# -- answering the prompt -------------------------------------------------------------------------


async def test_prompt_answered_by_runtime(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    calls: list[tuple[str, str, str]] = []

    async def answer(prompt: str, markdown: str, url: str) -> str:
        calls.append((prompt, markdown, url))
        return "The value of alpha is 42."

    text = await fetch(
        tool, with_extra(ctx, webfetch_answer=answer), f"{site}/page.html", prompt="What is alpha's value?"
    )
    assert text == f"Answer from {site}/page.html:\n\nThe value of alpha is 42."
    assert len(calls) == 1
    prompt, markdown, url = calls[0]
    assert prompt == "What is alpha's value?"
    assert url == f"{site}/page.html"
    assert "# Main Heading" in markdown and "SCRIPT_TEXT_MARK" not in markdown


async def test_failing_answer_falls_back_to_page(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    async def broken(prompt: str, markdown: str, url: str) -> str:
        raise RuntimeError("model unavailable")

    text = await fetch(tool, with_extra(ctx, webfetch_answer=broken), f"{site}/page.html")
    assert text.startswith(f"Content of {site}/page.html (no model available")
    assert "# Main Heading" in text


async def test_output_cap(tool: WebFetchTool, tmp_path: Path, site: str) -> None:
    small = ToolContext(sandbox=Sandbox(tmp_path), output_cap=600)
    text = await fetch(tool, small, f"{site}/big.txt")
    assert "characters cut" in text
    assert len(text) < 700
    assert text.startswith(f"Content of {site}/big.txt")
    assert text.rstrip().endswith("row 01999 of filler text")  # the tail is kept too


# -- redirects ------------------------------------------------------------------------------------


async def test_same_host_redirects_followed(tool: WebFetchTool, ctx: ToolContext, site: str, server: _Server) -> None:
    text = await fetch(tool, ctx, f"{site}/chain/4")
    assert text.startswith(f"Content of {site}/page.html ")
    assert "# Main Heading" in text
    assert [server.hits[f"/chain/{n}"] for n in (4, 3, 2, 1)] == [1, 1, 1, 1]
    text = await fetch(tool, ctx, f"{site}/absolute-redirect")
    assert "line one" in text


async def test_redirect_loop(tool: WebFetchTool, ctx: ToolContext, site: str, server: _Server) -> None:
    message = await fails(tool, ctx, f"{site}/loop")
    assert "too many redirects" in message and f"{site}/loop" in message
    assert server.hits["/loop"] == web.MAX_REDIRECTS + 1


async def test_cross_host_redirect_reported(tool: WebFetchTool, ctx: ToolContext, site: str, server: _Server) -> None:
    port = server.server_address[1]
    out = await tool.run({"url": f"{site}/cross", "prompt": "Find the heading"}, ctx)
    assert not out.is_error
    assert "REDIRECT DETECTED" in out.text
    assert f"Redirect URL: http://localhost:{port}/page.html" in out.text
    assert "301 Moved Permanently" in out.text
    assert f'url "http://localhost:{port}/page.html"' in out.text
    assert '"Find the heading"' in out.text
    assert server.hits["/page.html"] == 0  # reported, not followed


async def test_redirect_to_other_scheme_refused(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    assert "not an http(s) URL" in await fails(tool, ctx, f"{site}/to-ftp")


def test_same_site_rules() -> None:
    same = web._same_site
    assert same("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/b")
    assert same("https://example.com/", "https://www.example.com/x")
    assert same("http://example.com/", "https://example.com/")  # upgrade only
    assert not same("https://example.com/", "http://example.com/")
    assert not same("http://127.0.0.1:8000/", "http://localhost:8000/")
    assert not same("http://127.0.0.1:8000/", "http://127.0.0.1:8001/")
    assert not same("http://example.com/", "http://user:pw@example.com/")


# -- errors ---------------------------------------------------------------------------------------


async def test_http_errors(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    assert await fails(tool, ctx, f"{site}/missing") == f"HTTP 404 Not Found for {site}/missing"
    assert await fails(tool, ctx, f"{site}/boom") == f"HTTP 500 Internal Server Error for {site}/boom"
    assert (await fails(tool, ctx, f"{site}/teapot")).startswith("HTTP 418 ")


async def test_too_large(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    # The real 10 MB cap: refused from Content-Length, and while streaming when there is none.
    message = await fails(tool, ctx, f"{site}/large")
    assert "too large" in message.lower() and "11 MB" in message and "10 MB" in message
    message = await fails(tool, ctx, f"{site}/large-stream")
    assert "too large" in message.lower() and "more than 10 MB" in message


async def test_small_size_cap_from_extra(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    message = await fails(tool, with_extra(ctx, webfetch_max_bytes=1000), f"{site}/big.txt")
    assert "1000 bytes" in message


async def test_timeouts(tool: WebFetchTool, ctx: ToolContext, site: str) -> None:
    quick = with_extra(ctx, webfetch_timeout=SHORT_TIMEOUT)
    for path in ("/slow", "/slow-body"):
        started = time.monotonic()
        message = await fails(tool, quick, f"{site}{path}")
        assert message == f"Timed out after {SHORT_TIMEOUT:g} s fetching {site}{path}."
        assert time.monotonic() - started < SLOW - 1


async def test_connection_refused(tool: WebFetchTool, ctx: ToolContext) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    message = await fails(tool, ctx, f"http://127.0.0.1:{port}/")
    assert message.startswith(f"Connection refused by 127.0.0.1:{port}")


@pytest.mark.parametrize(
    "url, expected",
    [
        ("file:///etc/passwd", "not file://"),
        ("ftp://127.0.0.1/file", "not ftp://"),
        ("javascript:alert(1)", "not javascript://"),
        ("127.0.0.1/page", "not no scheme"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://127.0.0.1:99999/", "Malformed URL"),
        ("http://127.0.0.1/a b", "Malformed URL"),
        ("http://user:pw@127.0.0.1/", "user name or password"),
        ("", "url is empty"),
    ],
)
async def test_bad_urls(tool: WebFetchTool, ctx: ToolContext, url: str, expected: str) -> None:
    assert expected in await fails(tool, ctx, url)


async def test_non_string_inputs(tool: WebFetchTool, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="url is required"):
        await tool.run({"url": 3, "prompt": "p"}, ctx)
    with pytest.raises(ToolError, match="prompt is required"):
        await tool.run({"url": "http://127.0.0.1/"}, ctx)


# -- cache ----------------------------------------------------------------------------------------


async def test_cache_hit(tool: WebFetchTool, ctx: ToolContext, site: str, server: _Server) -> None:
    first = await fetch(tool, ctx, f"{site}/counted.html")
    second = await fetch(tool, ctx, f"{site}/counted.html")
    assert first == second
    assert server.hits["/counted.html"] == 1
    # The cached page is answered against afresh, with the new prompt.
    seen: list[str] = []

    async def answer(prompt: str, markdown: str, url: str) -> str:
        seen.append(prompt)
        return "cached answer"

    text = await fetch(tool, with_extra(ctx, webfetch_answer=answer), f"{site}/counted.html", prompt="second question")
    assert text.endswith("cached answer") and seen == ["second question"]
    assert server.hits["/counted.html"] == 1
    # Another cache (another process) fetches again; failures are never cached.
    await fetch(WebFetchTool(cache=PageCache()), ctx, f"{site}/counted.html")
    assert server.hits["/counted.html"] == 2
    await fails(tool, ctx, f"{site}/missing")
    await fails(tool, ctx, f"{site}/missing")
    assert server.hits["/missing"] == 2


def test_cache_expiry_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(web.time, "monotonic", lambda: now[0])
    cache = PageCache(ttl=900, entries=3, chars=100)
    page = web.Page("http://127.0.0.1/a", "text/plain", "x" * 10)
    cache.put("a", page)
    now[0] += 899
    assert cache.get("a") is page
    now[0] += 2
    assert cache.get("a") is None and len(cache) == 0
    for key in "abcd":
        cache.put(key, page)
    assert len(cache) == 3 and cache.get("a") is None and cache.get("d") is page
    cache.put("big", web.Page("u", "text/plain", "y" * 95))  # the char budget evicts the oldest
    assert cache.get("big") is not None and len(cache) == 1
    cache.put("huge", web.Page("u", "text/plain", "z" * 101))  # over the budget: not kept
    assert cache.get("huge") is None
