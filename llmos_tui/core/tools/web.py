"""WebFetch: Claude Code's tool for reading a web page, as markdown or as an answer to a prompt.

The page is fetched with httpx (the `httpx2` fork that the anthropic SDK depends on, or plain
`httpx` when an older SDK brought that instead), imported lazily so starting llmos-tui does not
pay for it. Redirects are followed by hand, one hop at a time, so that a redirect to another
host can be reported instead of followed (as Claude Code does) and so that a loop stops after
MAX_REDIRECTS hops. Unlike Claude Code, http is *not* upgraded to https: local servers and
demo pages on 127.0.0.1 speak plain http.

HTML becomes markdown with html2text (pure Python; scripts, styles, SVG and templates are
dropped); JSON and text come back as text; anything else is refused with its content type.

If the runtime puts an async `webfetch_answer(prompt, markdown, url) -> str` in `ctx.extra`
(a small model answering the prompt against the page), its answer is returned; otherwise, or
when it fails, the page markdown itself is returned, capped to the output budget. Converted
pages are kept for 15 minutes in a small in-process cache keyed by URL.

Every failure is a one-line ToolError the model can act on.
"""

from __future__ import annotations

import asyncio
import codecs
import html
import inspect
import json
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

from llmos_tui import __version__
from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput, cap_text

DEFAULT_TIMEOUT = 30.0  # seconds for the whole fetch (connect, redirects, body)
MAX_REDIRECTS = 10  # same-host hops followed before giving up
MAX_BYTES = 10 * 1024 * 1024  # body bytes read (after content decoding) before refusing
MAX_URL_LENGTH = 2000
MAX_ANSWER_INPUT = 100_000  # markdown characters handed to the answering model
INLINE_HTML = 256 * 1024  # larger HTML is converted in a thread (keeps the TUI live)
PRETTY_JSON = 2 * 1024 * 1024  # JSON up to this size is re-indented for reading
SNIFF = 8192  # bytes checked for NUL to call an untyped body binary

CACHE_TTL = 15 * 60  # seconds, like Claude Code
CACHE_ENTRIES = 50
CACHE_CHARS = 20_000_000  # total markdown characters kept across entries

USER_AGENT = f"Mozilla/5.0 (compatible; llmos-tui/{__version__}; WebFetch) AppleWebKit/537.36 (KHTML, like Gecko)"
ACCEPT = "text/html,application/xhtml+xml,application/json;q=0.9,text/markdown;q=0.9,text/plain;q=0.8,*/*;q=0.5"

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/x-sh",
        "application/sql",
        "application/graphql",
        "application/x-ndjson",
        "application/csv",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_BLANKS = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A fetched page reduced to what the model reads."""

    url: str  # the URL finally read (after same-host redirects)
    content_type: str  # the media type, without parameters
    markdown: str  # markdown for HTML, the text itself for JSON and text


@dataclass(frozen=True)
class CrossHostRedirect:
    """A redirect to another host: reported to the model, not followed."""

    url: str
    target: str
    status: int
    reason: str


class PageCache:
    """Pages by requested URL for `ttl` seconds; least recently used go first past the bounds."""

    def __init__(self, ttl: float = CACHE_TTL, entries: int = CACHE_ENTRIES, chars: int = CACHE_CHARS) -> None:
        self.ttl = ttl
        self.entries = entries
        self.chars = chars
        self._items: OrderedDict[str, tuple[float, Page]] = OrderedDict()
        self._used = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, url: str) -> Page | None:
        item = self._items.get(url)
        if item is None:
            return None
        stored, page = item
        if time.monotonic() - stored > self.ttl:
            self._drop(url)
            return None
        self._items.move_to_end(url)
        return page

    def put(self, url: str, page: Page) -> None:
        size = len(page.markdown)
        if size > self.chars:
            return
        self._drop(url)
        self._items[url] = (time.monotonic(), page)
        self._used += size
        while self._items and (len(self._items) > self.entries or self._used > self.chars):
            self._drop(next(iter(self._items)))

    def clear(self) -> None:
        self._items.clear()
        self._used = 0

    def _drop(self, url: str) -> None:
        item = self._items.pop(url, None)
        if item is not None:
            self._used -= len(item[1].markdown)


_SHARED_CACHE = PageCache()


# -- URL checks -----------------------------------------------------------------------------------


def _check_url(url: str) -> str:
    """The URL to fetch, or a ToolError saying why it cannot be fetched."""
    url = url.strip()
    if not url:
        raise ToolError("url is empty; give a full http:// or https:// URL.")
    if len(url) > MAX_URL_LENGTH:
        raise ToolError(f"URL is too long ({len(url)} characters; at most {MAX_URL_LENGTH}).")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ToolError(f"Malformed URL {url!r}: it contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ToolError(f"Malformed URL {url!r}: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ToolError(
            f"WebFetch fetches http:// and https:// URLs only, not {shown} ({url}); use Read for local files."
        )
    if not parts.hostname:
        raise ToolError(f"Malformed URL {url!r}: it has no host.")
    if parts.username is not None or parts.password is not None:
        raise ToolError(f"URLs with a user name or password are refused ({parts.hostname}).")
    if port == 0:
        raise ToolError(f"Malformed URL {url!r}: port 0.")
    return url


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return scheme, host, parts.port or DEFAULT_PORTS.get(scheme, 0)


def _same_site(current: str, target: str) -> bool:
    """Whether a redirect from `current` to `target` may be followed without asking.

    Same host (give or take `www.`), same scheme and port, no credentials; an http -> https
    upgrade on the default ports counts as the same site too.
    """
    if urlsplit(target).username is not None:
        return False
    a, b = _origin(current), _origin(target)
    if a[1] != b[1]:
        return False
    if (a[0], a[2]) == (b[0], b[2]):
        return True
    return a == ("http", a[1], 80) and b == ("https", b[1], 443)


# -- fetching -------------------------------------------------------------------------------------


def _httpx() -> Any:
    import importlib

    for name in ("httpx2", "httpx"):  # httpx2: the fork the anthropic SDK depends on
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ToolError("WebFetch is unavailable: neither httpx2 nor httpx is installed.")


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def _reason(status: int, phrase: str) -> str:
    if phrase:
        return phrase
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _network_error(httpx: Any, exc: Exception, url: str, timeout: float) -> ToolError:
    """One line for a failed request: refused, unresolved host, timeout, or the error itself."""
    host = urlsplit(url).netloc
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return ToolError(f"Timed out after {timeout:g} s fetching {url}.")
    chain = list(_causes(exc))
    text = " ".join(str(e) for e in chain).lower()
    if (
        any(isinstance(e, ConnectionRefusedError) for e in chain)
        or "connection refused" in text
        or "errno 111" in text
        or "errno 61" in text
    ):
        return ToolError(f"Connection refused by {host} (nothing is listening there): {url}")
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        s in text
        for s in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "no address associated",
            "getaddrinfo failed",
        )
    ):
        return ToolError(f"Could not resolve host {urlsplit(url).hostname!r} (DNS lookup failed): {url}")
    detail = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return ToolError(f"Could not connect to {host}: {detail} ({url})")
    if isinstance(exc, httpx.DecodingError):
        return ToolError(f"Could not decode the response from {url}: {detail}")
    if isinstance(exc, httpx.InvalidURL):
        return ToolError(f"Malformed URL {url!r}: {detail}")
    return ToolError(f"Network error fetching {url}: {type(exc).__name__}: {detail}")


async def _read_capped(response: Any, url: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ToolError(
            f"Response too large (too_large): {url} is {_size(int(declared))}; "
            f"WebFetch reads at most {_size(max_bytes)}."
        )
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise ToolError(
                f"Response too large (too_large): {url} sent more than {_size(max_bytes)}; "
                f"WebFetch reads at most {_size(max_bytes)}."
            )
    return bytes(body)


@dataclass(frozen=True)
class _Body:
    url: str
    content_type: str  # the raw Content-Type header
    data: bytes


async def _fetch(httpx: Any, url: str, max_bytes: int, timeout: float) -> _Body | CrossHostRedirect:
    """GET `url`, following same-host redirects by hand; raises ToolError on any failure."""
    current = url
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Language": "en;q=0.9, *;q=0.5"}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            async with client.stream("GET", current) as response:
                status = response.status_code
                if response.is_redirect:
                    target = urljoin(current, response.headers["location"].strip())
                    scheme = urlsplit(target).scheme.lower()
                    if scheme not in DEFAULT_PORTS:
                        raise ToolError(f"{current} redirects to {target}, which is not an http(s) URL; not followed.")
                    if not _same_site(current, target):
                        return CrossHostRedirect(current, target, status, _reason(status, response.reason_phrase))
                    current = target
                    continue
                if status >= 400:
                    reason = _reason(status, response.reason_phrase)
                    shown = f"{status} {reason}" if reason else str(status)
                    raise ToolError(f"HTTP {shown} for {current}")
                data = await _read_capped(response, current, max_bytes)
                return _Body(current, response.headers.get("content-type", ""), data)
    raise ToolError(
        f"too many redirects (more than {MAX_REDIRECTS}) starting at {url}; "
        "the page probably redirects in a loop (redirect_loop)."
    )


# -- content ---------------------------------------------------------------------------------------


def _media(content_type: str) -> tuple[str, str | None]:
    """('text/html', 'utf-8') from 'text/html; charset=UTF-8'."""
    parts = content_type.split(";")
    mime = parts[0].strip().lower()
    charset = None
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return mime, charset


def _kind(mime: str, data: bytes) -> str:
    """'html', 'json', 'text' or 'binary'."""
    if mime in HTML_TYPES:
        return "html"
    if mime == "application/json" or mime.endswith("+json"):
        return "json"
    if mime.startswith("text/") or mime in TEXT_TYPES or mime.endswith("+xml"):
        return "text"
    if mime and mime not in ("application/octet-stream", "binary/octet-stream"):
        return "binary"
    # No type, or the catch-all type: judge by the bytes themselves.
    head = data[:SNIFF]
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sniff boundary
            return "binary"
    start = head.lstrip()[:15].lower()
    return "html" if start.startswith((b"<!doctype html", b"<html")) else "text"


def _decode(data: bytes, charset: str | None, kind: str) -> str:
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            charset = name
            break
    else:
        if charset is None and kind == "html":
            m = _META_CHARSET.search(data[:4096])
            if m:
                charset = m.group(1).decode("ascii", "replace")
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = None
    return data.decode(charset or "utf-8", errors="replace")


def _html_to_markdown(source: str, url: str) -> str:
    try:
        import html2text
    except ImportError:
        raise ToolError("WebFetch cannot convert HTML: the html2text package is not installed.") from None

    class _Converter(html2text.HTML2Text):
        """html2text that also drops SVG drawings and <template> content."""

        def handle_tag(self, tag: str, attrs: Any, start: bool) -> None:
            if tag in ("svg", "template"):
                self.quiet = self.quiet + 1 if start else max(self.quiet - 1, 0)
                return
            super().handle_tag(tag, attrs, start)

    conv = _Converter(baseurl=url)
    conv.body_width = 0  # no hard wrapping: lines stay whole
    conv.unicode_snob = True  # keep non-ASCII characters as they are
    conv.images_to_alt = True  # alt text instead of (possibly huge data:) image URLs
    conv.single_line_break = False
    markdown = conv.handle(source)
    title_match = _TITLE.search(source, 0, 200_000)
    title = " ".join(html.unescape(title_match.group(1)).split()) if title_match else ""
    markdown = _BLANKS.sub("\n\n", markdown).strip()
    if title:
        markdown = f"Title: {title}\n\n{markdown}"
    return markdown


async def _to_page(body: _Body) -> Page:
    mime, charset = _media(body.content_type)
    kind = _kind(mime, body.data)
    if kind == "binary":
        raise ToolError(
            f"{body.url} is {mime or 'binary data'} ({_size(len(body.data))}); WebFetch reads HTML, JSON and text only."
        )
    if not body.data:
        return Page(body.url, mime, "(the page is empty: 0 bytes)")
    text = _decode(body.data, charset, kind)
    if kind == "html":
        if len(text) > INLINE_HTML:
            markdown = await asyncio.to_thread(_html_to_markdown, text, body.url)
        else:
            markdown = _html_to_markdown(text, body.url)
        return Page(body.url, mime, markdown or "(the page has no readable text)")
    if kind == "json" and len(text) <= PRETTY_JSON:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # not valid JSON after all: show it as sent
    return Page(body.url, mime, text)


# -- the tool ---------------------------------------------------------------------------------------


def _positive(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return default
    return float(value)


class WebFetchTool:
    """Fetch a URL, turn it into markdown, and answer a prompt about it (or show it)."""

    name = "WebFetch"
    description = (
        "Fetch a web page (http:// or https:// URL) and read it: HTML is converted to markdown, "
        "JSON and plain text come back as text. Use it only when the goal needs information "
        "from the network, such as documentation or an API response. `prompt` says what you "
        "want from the page; the result may be an answer or summary made from the page by "
        "a smaller model rather than the page itself, or the page text cut to fit. "
        "It only reads (GET); it never submits forms or changes anything. Redirects within "
        "the same host are followed; a redirect to another host is reported instead, and you "
        "may call WebFetch again with the new URL. Binary files (images, PDFs, archives) and "
        "pages over 10 MB are refused. Results are cached for 15 minutes."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "url": {
                "type": "string",
                "format": "uri",
                "description": "The URL to fetch (http:// or https://).",
            },
            "prompt": {
                "type": "string",
                "description": "What to find out from the page.",
            },
        },
        "required": ["url", "prompt"],
        "additionalProperties": False,
    }

    def __init__(self, cache: PageCache | None = None) -> None:
        self.cache = _SHARED_CACHE if cache is None else cache

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        url = inputs.get("url")
        prompt = inputs.get("prompt")
        if not isinstance(url, str):
            raise ToolError("url is required and must be a string.")
        if not isinstance(prompt, str):
            raise ToolError("prompt is required and must be a string.")
        url = _check_url(url)
        cap = max(ctx.output_cap, 1)

        page = self.cache.get(url)
        if page is None:
            fetched = await self._fetch(url, ctx)
            if isinstance(fetched, CrossHostRedirect):
                return ToolOutput(cap_text(_redirect_message(fetched, url, prompt), cap))
            try:
                page = await _to_page(fetched)
            except ToolError:
                raise
            except Exception as exc:  # noqa: BLE001 - a converter bug must not crash the run
                raise ToolError(f"Could not convert {fetched.url} to text: {type(exc).__name__}: {exc}") from None
            self.cache.put(url, page)

        answer = await _answer(ctx.extra.get("webfetch_answer"), prompt, page)
        if answer is not None:
            return ToolOutput(cap_text(f"Answer from {page.url}:\n\n{answer}", cap))
        header = f"Content of {page.url} (no model available to answer the prompt; the raw page follows):"
        return ToolOutput(cap_text(f"{header}\n\n{page.markdown}", cap))

    async def _fetch(self, url: str, ctx: ToolContext) -> _Body | CrossHostRedirect:
        httpx = _httpx()
        timeout = _positive(ctx.extra.get("webfetch_timeout"), DEFAULT_TIMEOUT)
        max_bytes = int(_positive(ctx.extra.get("webfetch_max_bytes"), MAX_BYTES))
        try:
            async with asyncio.timeout(timeout):
                return await _fetch(httpx, url, max_bytes, timeout)
        except ToolError:
            raise
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise _network_error(httpx, exc, url, timeout) from None
        except Exception as exc:  # noqa: BLE001 - httpx, ssl, socket, h11 … : the model hears one line
            raise _network_error(httpx, exc, url, timeout) from None


async def _answer(fn: Any, prompt: str, page: Page) -> str | None:
    """The runtime's answer to `prompt` about the page, or None (none available, or it failed)."""
    if fn is None or not callable(fn):
        return None
    try:
        result = fn(prompt, cap_text(page.markdown, MAX_ANSWER_INPUT), page.url)
        if inspect.isawaitable(result):
            result = await result
    except Exception:  # noqa: BLE001 - the small model's answer is optional
        return None  # the raw page is the fallback
    if not isinstance(result, str) or not result.strip():
        return None
    return result.strip()


def _redirect_message(r: CrossHostRedirect, url: str, prompt: str) -> str:
    status = f"{r.status} {r.reason}".strip()
    origin = url if r.url == url else f"{url} (then {r.url})"
    return (
        f"REDIRECT DETECTED: the URL redirects to a different host, which WebFetch does not "
        f"follow on its own.\n\n"
        f"Original URL: {origin}\n"
        f"Redirect URL: {r.target}\n"
        f"Status: {status}\n\n"
        f"If you want that page, call WebFetch again with url {json.dumps(r.target)} "
        f"and prompt {json.dumps(prompt, ensure_ascii=False)}."
    )
