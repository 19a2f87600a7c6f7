"""A fake Anthropic Messages API on 127.0.0.1, for tests and benchmarks.

Point the real SDK at it::

    with FakeAnthropic([message(text("hi"), tool_use("Read", {"path": "a"}))]) as api:
        client = anthropic.AsyncAnthropic(base_url=api.base_url, api_key="test-key", max_retries=0)
        msg = await client.messages.create(model="m", max_tokens=10, messages=[...])

It speaks plain JSON (``"stream": false``) and SSE (``"stream": true``) framed like the real API, so
``messages.create``, ``messages.create(stream=True)`` and ``messages.stream`` all parse it. Replies are
queued in order (one per ``POST /v1/messages``); a reply may be a callable ``Recorded -> Reply``.

Usage figures come from a deterministic token estimate and a model of the prompt cache:

* ``estimate_tokens(x) = max(1, len(json.dumps(x, sort_keys=True, ensure_ascii=False)) // 4)``,
  computed per prompt piece with its ``cache_control`` key removed (so moving a breakpoint never
  changes a piece's size or identity).
* Pieces, in API order: each tool definition, each system block (a string system is one piece), each
  content block of each message (a string content is one piece).
* A piece carrying ``cache_control`` is a breakpoint (more than 4 -> 400). Each breakpoint whose
  prefix holds >= ``min_cache_tokens`` is written to the cache (key: model + hash chain of the pieces).
  The longest earlier-written prefix ending at or before the last breakpoint is read
  (``cache_read_input_tokens``); the rest up to the last breakpoint is ``cache_creation_input_tokens``;
  what follows the last breakpoint is ``input_tokens``. Prefixes below ``min_cache_tokens`` are plain
  input. ``lookback`` (default unlimited) restricts reads to entries at most that many pieces before a
  breakpoint, like the real API's ~20-block look-back.

Standard library only: a ``ThreadingHTTPServer`` in a daemon thread, so it works while the test runs
its own asyncio loop. JSON answers carry ``Content-Length``; SSE answers use chunked encoding, so a
cut stream is seen by the client as an incomplete body (with ``Connection: close`` framing the SDK
could not tell a cut stream from a finished one).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeAnthropic",
    "Recorded",
    "Reply",
    "message",
    "text",
    "tool_use",
    "error",
    "drop",
    "stream_cut",
    "stream_error",
    "estimate_tokens",
    "prompt_pieces",
    "ERROR_TYPES",
    "is_side_request",
]

MAX_BREAKPOINTS = 4

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


# ---------------------------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What the server does with one request. Build with message()/error()/drop()/stream_cut()."""

    kind: str  # "message" | "error" | "drop" | "stream_cut" | "stream_error"
    blocks: tuple[dict, ...] = ()
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: dict | None = None  # overrides of the computed usage
    model: str | None = None
    status: int = 200
    error_type: str | None = None
    error_message: str = ""
    headers: dict | None = None


ReplyLike = Reply | Callable[["Recorded"], Reply]


def text(s: str) -> dict:
    return {"type": "text", "text": s}


def tool_use(name: str, input: dict, id: str | None = None) -> dict:
    """A tool_use block. Without ``id`` the server assigns ``toolu_fake_<n>`` (n counts per server,
    so ids, and with them the token counts of later requests, are deterministic)."""
    block: dict = {"type": "tool_use", "name": name, "input": input}
    if id is not None:
        block = {"type": "tool_use", "id": id, "name": name, "input": input}
    return block


def _norm_blocks(blocks: Iterable[Any]) -> tuple[dict, ...]:
    out = []
    for b in blocks:
        if isinstance(b, str):
            b = text(b)
        if not isinstance(b, dict) or "type" not in b:
            raise TypeError(f"content block must be a dict with a 'type' (or a str), got {b!r}")
        out.append(json.loads(json.dumps(b)))  # private deep copy
    return tuple(out)


def message(
    *blocks: Any,
    stop_reason: str | None = None,
    usage: dict | None = None,
    model: str | None = None,
    stop_sequence: str | None = None,
) -> Reply:
    """A successful assistant message. Blocks: text(...), tool_use(...), any dict block, or a str.

    stop_reason defaults to "tool_use" when a tool_use block is present, else "end_turn"; any value
    ("max_tokens", "pause_turn", "refusal", "stop_sequence", ...) is passed through."""
    bs = _norm_blocks(blocks)
    if stop_reason is None:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in bs) else "end_turn"
    return Reply(
        "message",
        bs,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        usage=dict(usage) if usage else None,
        model=model,
    )


def error(status: int, kind: str | None = None, message: str = "Fake API error", headers: dict | None = None) -> Reply:
    """An HTTP error in the API's shape. Sends ``retry-after-ms: 1`` unless ``headers`` sets
    ``retry-after-ms`` or ``retry-after`` (a value of None removes a header)."""
    return Reply(
        "error",
        status=status,
        error_type=kind or _error_type(status),
        error_message=message,
        headers=dict(headers) if headers else None,
    )


def drop() -> Reply:
    """Read the request, then close the connection without any response."""
    return Reply("drop")


def stream_cut(*blocks: Any) -> Reply:
    """SSE: send message_start, the start and part of the first block, then close mid-stream (the
    chunked body is left unterminated). For a non-streaming request: send the headers and half of
    the JSON body, then close."""
    return Reply("stream_cut", _norm_blocks(blocks or (text("This reply is cut off midway."),)))


def stream_error(*blocks: Any, kind: str = "overloaded_error", message: str = "Overloaded") -> Reply:
    """SSE: start the message as stream_cut does, then send an ``event: error`` and end the stream
    cleanly, as the real API does when it fails after the 200 was sent. Non-streaming: a 529/500."""
    return Reply(
        "stream_error",
        _norm_blocks(blocks or (text("This reply fails midway."),)),
        error_type=kind,
        error_message=message,
    )


# ---------------------------------------------------------------------------------------------
# Recording and token/cache model
# ---------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict  # the parsed JSON request ({} if none / not JSON)
    number: int = 0  # 1-based position in FakeAnthropic.requests
    status: int | None = None  # status answered (None for drop/cut before headers)
    usage: dict | None = None  # usage answered, for a message
    peer_port: int = 0  # client's port: equal ports = one reused connection

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def api_key(self) -> str | None:
        """The credential sent: ``x-api-key``, else the ``Authorization: Bearer`` token (anthropic 2.14
        sends its api_key that way)."""
        if self.headers.get("x-api-key"):
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization") or ""
        return auth[7:] if auth.lower().startswith("bearer ") else (auth or None)


def is_side_request(rec: Recorded) -> bool:
    """A request outside the agent's conversation: a small model and no tools (Claude Code asks for
    a session title or a summary that way)."""
    return "haiku" in rec.model and not rec.body.get("tools")


def estimate_tokens(x: Any) -> int:
    return max(1, len(json.dumps(x, sort_keys=True, ensure_ascii=False)) // 4)


def _strip_cc(piece: Any) -> Any:
    if isinstance(piece, dict) and "cache_control" in piece:
        return {k: v for k, v in piece.items() if k != "cache_control"}
    return piece


def prompt_pieces(body: dict) -> list[tuple[str, Any, bool]]:
    """The request's prompt pieces in API order: (identity, piece without cache_control, is_breakpoint).

    The identity tells tools, system and the messages' roles/boundaries apart for the cache key."""
    pieces: list[tuple[str, Any, bool]] = []
    for t in body.get("tools") or []:
        pieces.append(("tool", _strip_cc(t), isinstance(t, dict) and bool(t.get("cache_control"))))
    system = body.get("system")
    if isinstance(system, str):
        if system:
            pieces.append(("system", system, False))
    elif isinstance(system, list):
        for b in system:
            pieces.append(("system", _strip_cc(b), isinstance(b, dict) and bool(b.get("cache_control"))))
    for i, m in enumerate(body.get("messages") or []):
        if not isinstance(m, dict):
            continue
        ident = f"msg{i}:{m.get('role')}"
        content = m.get("content")
        if isinstance(content, list):
            for b in content:
                pieces.append((ident, _strip_cc(b), isinstance(b, dict) and bool(b.get("cache_control"))))
        elif content is not None:
            pieces.append((ident, content, False))
    return pieces


class _CacheModel:
    def __init__(self, min_tokens: int, ttl_s: float | None, lookback: int | None):
        self.min_tokens = min_tokens
        self.ttl_s = ttl_s
        self.lookback = lookback
        self.entries: dict[str, float] = {}  # prefix hash -> expiry (monotonic; inf without TTL)

    def _alive(self, h: str, now: float) -> bool:
        exp = self.entries.get(h)
        if exp is None:
            return False
        if exp < now:
            del self.entries[h]
            return False
        return True

    def usage(self, model: str, pieces: list[tuple[str, Any, bool]], enabled: bool) -> dict:
        sizes = [estimate_tokens(p) for _, p, _ in pieces]
        total = sum(sizes)
        breakpoints = [i for i, (_, _, bp) in enumerate(pieces) if bp]
        plain = {"input_tokens": total, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not enabled or not breakpoints:
            return plain
        cum, hashes = [], []
        running, h = 0, hashlib.sha256(("model:" + model).encode()).hexdigest()
        for (ident, piece, _), size in zip(pieces, sizes):
            running += size
            cum.append(running)
            h = hashlib.sha256(
                (h + "\x00" + ident + "\x00" + json.dumps(piece, sort_keys=True, ensure_ascii=False)).encode()
            ).hexdigest()
            hashes.append(h)
        last = breakpoints[-1]
        if cum[last] < self.min_tokens:
            return plain
        now = time.monotonic()
        if self.lookback is None:
            candidates: Iterable[int] = range(last, -1, -1)
        else:
            cand = set()
            for b in breakpoints:
                cand.update(range(max(0, b - self.lookback), b + 1))
            candidates = sorted(cand, reverse=True)
        read_at = next((p for p in candidates if self._alive(hashes[p], now)), None)
        read = cum[read_at] if read_at is not None else 0
        expiry = now + self.ttl_s if self.ttl_s is not None else float("inf")
        if read_at is not None:
            self.entries[hashes[read_at]] = expiry  # a hit refreshes the entry
        for b in breakpoints:
            if cum[b] >= self.min_tokens:
                self.entries[hashes[b]] = expiry
        return {
            "input_tokens": total - cum[last],
            "cache_creation_input_tokens": cum[last] - read,
            "cache_read_input_tokens": read,
        }


# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: "FakeAnthropic"


class _Dropped(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # no Nagle: small header/body/event writes would otherwise meet the client's delayed ACK (~40 ms each)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    # -- plumbing ----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send_json(self, status: int, obj: Any, headers: dict | None = None) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            if v is not None:
                self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(payload)

    def _send_error(self, rec: Recorded, status: int, kind: str, msg: str, headers: dict | None = None) -> None:
        rec.status = status
        body = {"type": "error", "error": {"type": kind, "message": msg}, "request_id": self._request_id}
        self._send_json(status, body, {"request-id": self._request_id, **(headers or {})})

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _event(self, name: str, data: dict) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        delay = self.server.fake.stream_delay_s
        if delay:
            time.sleep(delay)

    # -- routing -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        fake = self.server.fake
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec = Recorded(
            path=path, headers=headers, body=body if isinstance(body, dict) else {}, peer_port=self.client_address[1]
        )
        rec.number = fake._record(rec)
        self._request_id = f"req_fake_{rec.number}"
        try:
            self._route(fake, rec, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except _Dropped:
            self._hang_up()

    def _route(self, fake: "FakeAnthropic", rec: Recorded, body: Any) -> None:
        if self.command != "POST" or rec.path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return self._send_error(rec, 404, "not_found_error", f"Not found: {self.command} {self.path}")
        if not rec.api_key:  # the SDK (2.14) sends api_key as "Authorization: Bearer"; accept both
            return self._send_error(rec, 401, "authentication_error", "x-api-key header is required")
        if not rec.headers.get("anthropic-version"):
            return self._send_error(rec, 400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return self._send_error(rec, 400, "invalid_request_error", "request body must be a JSON object")
        required = ("model", "messages") if rec.path.endswith("count_tokens") else ("model", "max_tokens", "messages")
        for key in required:
            if key not in body:
                return self._send_error(rec, 400, "invalid_request_error", f"{key}: Field required")
        pieces = prompt_pieces(body)
        n_bp = sum(1 for _, _, bp in pieces if bp)
        if n_bp > MAX_BREAKPOINTS:
            return self._send_error(
                rec,
                400,
                "invalid_request_error",
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {n_bp}.",
            )
        if rec.path.endswith("count_tokens"):
            rec.status = 200
            return self._send_json(
                200, {"input_tokens": sum(estimate_tokens(p) for _, p, _ in pieces)}, {"request-id": self._request_id}
            )
        try:
            reply = fake._next_reply(rec)
        except LookupError as e:
            return self._send_error(rec, 500, "api_error", str(e), {"x-should-retry": "false"})
        except Exception as e:  # noqa: BLE001 - a reply callable failed: say so, and don't let the SDK retry it
            return self._send_error(
                rec,
                500,
                "api_error",
                f"FakeAnthropic: reply callable failed for request #{rec.number}: {e!r}",
                {"x-should-retry": "false"},
            )
        if reply.kind == "drop":
            raise _Dropped
        if reply.kind == "error":
            hdrs = dict(reply.headers or {})
            if not any(k.lower() in ("retry-after-ms", "retry-after") for k in hdrs):
                hdrs["retry-after-ms"] = "1"
            return self._send_error(
                rec, reply.status, reply.error_type or _error_type(reply.status), reply.error_message, hdrs
            )
        if reply.kind == "stream_error" and not rec.stream:
            status = 529 if reply.error_type == "overloaded_error" else 500
            return self._send_error(
                rec, status, reply.error_type or "api_error", reply.error_message, {"retry-after-ms": "1"}
            )
        self._answer(fake, rec, reply, pieces)

    def _answer(self, fake: "FakeAnthropic", rec: Recorded, reply: Reply, pieces: list) -> None:
        msg_id, blocks = fake._assign_ids(reply.blocks)
        usage = fake._usage(rec.model, pieces)
        usage["output_tokens"] = max(1, sum(estimate_tokens(b) for b in blocks))
        if reply.usage:
            usage.update(reply.usage)
        model = reply.model or rec.model
        full = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": reply.stop_reason,
            "stop_sequence": reply.stop_sequence,
            "usage": usage,
        }
        if reply.kind == "message":
            rec.usage = dict(usage)
            fake._log_usage(usage)
        if not rec.stream:
            if reply.kind == "stream_cut":
                payload = json.dumps(full).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2])
                rec.status = 200
                raise _Dropped
            rec.status = 200
            return self._send_json(200, full, {"request-id": self._request_id})
        # -- SSE --
        rec.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", self._request_id)
        self.end_headers()
        start_usage = {**{k: v for k, v in usage.items() if k != "output_tokens"}, "output_tokens": 1}
        self._event(
            "message_start",
            {
                "type": "message_start",
                "message": {**full, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage},
            },
        )
        self._event("ping", {"type": "ping"})
        if reply.kind in ("stream_cut", "stream_error"):
            first = blocks[0]
            self._event(
                "content_block_start", {"type": "content_block_start", "index": 0, "content_block": _start_block(first)}
            )
            deltas = _deltas(first)
            if deltas:
                self._event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": deltas[0]})
            if reply.kind == "stream_cut":
                raise _Dropped
            self._event("error", {"type": "error", "error": {"type": reply.error_type, "message": reply.error_message}})
            self._chunk(b"")
            return
        for i, b in enumerate(blocks):
            self._event(
                "content_block_start", {"type": "content_block_start", "index": i, "content_block": _start_block(b)}
            )
            for d in _deltas(b):
                self._event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            self._event("content_block_stop", {"type": "content_block_stop", "index": i})
        self._event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": usage,
            },
        )
        self._event("message_stop", {"type": "message_stop"})
        self._chunk(b"")  # end of the chunked body


def _split(s: str, parts: int = 3) -> list[str]:
    if not s:
        return []
    step = max(1, -(-len(s) // parts))
    return [s[i : i + step] for i in range(0, len(s), step)]


def _start_block(b: dict) -> dict:
    if b["type"] == "text":
        return {**b, "text": ""}
    if b["type"] in ("tool_use", "server_tool_use"):
        return {**b, "input": {}}
    if b["type"] == "thinking":
        return {**b, "thinking": "", "signature": ""}
    return b


def _deltas(b: dict) -> list[dict]:
    if b["type"] == "text":
        return [{"type": "text_delta", "text": part} for part in _split(b["text"])]
    if b["type"] in ("tool_use", "server_tool_use"):
        return [
            {"type": "input_json_delta", "partial_json": part} for part in _split(json.dumps(b.get("input", {})), 3)
        ]
    if b["type"] == "thinking":
        out: list[dict] = [{"type": "thinking_delta", "thinking": p} for p in _split(b.get("thinking", ""))]
        if b.get("signature"):
            out.append({"type": "signature_delta", "signature": b["signature"]})
        return out
    return []


class FakeAnthropic:
    """The fake API server. ``with FakeAnthropic([...]) as api:`` starts and stops it."""

    def __init__(
        self,
        replies: Iterable[ReplyLike] = (),
        *,
        cache: bool = True,
        min_cache_tokens: int = 1024,
        default: ReplyLike | None = None,
        ttl_s: float | None = None,
        lookback: int | None = None,
        stream_delay_s: float = 0.0,
        side: ReplyLike | None = None,
    ):
        self._lock = threading.Lock()
        self._queue: list[ReplyLike] = list(replies)
        self.default = default
        # Claude Code's side requests (a title, a summary: a small model, no tools) take this reply
        # instead of the next queued one, when it is set
        self.side = side
        self.cache = cache
        self.stream_delay_s = stream_delay_s
        self._cache = _CacheModel(min_cache_tokens, ttl_s, lookback)
        self.requests: list[Recorded] = []
        self._usage_log: list[dict] = []
        self._msg_ids = itertools.count(1)
        self._tool_ids = itertools.count(1)
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "FakeAnthropic":
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=f"FakeAnthropic:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # wake keep-alive handler threads blocked in recv
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeAnthropic":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- public helpers ----------------------------------------------------------------------

    def add(self, *replies: ReplyLike) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Replies queued and not yet consumed."""
        with self._lock:
            return len(self._queue)

    @property
    def usage_log(self) -> list[dict]:
        with self._lock:
            return [dict(u) for u in self._usage_log]

    @property
    def message_requests(self) -> list[Recorded]:
        """The recorded POST /v1/messages requests (not count_tokens or stray paths)."""
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/messages"]

    def async_client(self, max_retries: int = 0, **kw: Any) -> Any:
        """An ``anthropic.AsyncAnthropic`` pointed at this server (close it: ``async with``).

        Same as ``AsyncAnthropic(base_url=..., api_key="test-key", max_retries=...)`` but with an
        http client that skips building a TLS context (~40 ms per client otherwise; loopback is
        plain HTTP anyway)."""
        import anthropic

        kw.setdefault("api_key", "test-key")
        kw.setdefault("timeout", 10)
        kw.setdefault("http_client", anthropic.DefaultAsyncHttpxClient(verify=False))
        return anthropic.AsyncAnthropic(base_url=self.base_url, max_retries=max_retries, **kw)

    def sync_client(self, max_retries: int = 0, **kw: Any) -> Any:
        """The synchronous counterpart of async_client (close it: ``with``)."""
        import anthropic

        kw.setdefault("api_key", "test-key")
        kw.setdefault("timeout", 10)
        kw.setdefault("http_client", anthropic.DefaultHttpxClient(verify=False))
        return anthropic.Anthropic(base_url=self.base_url, max_retries=max_retries, **kw)

    def claude_code_env(self, home: Any) -> dict[str, str]:
        """Environment for Claude Code's CLI: this server for its API, `home` for its ~/.claude (the
        real one is never read or written), and none of its non-essential traffic (telemetry,
        update checks, feature flags), so that it never leaves 127.0.0.1."""
        home = str(home)
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": "test-key",
            "HOME": home,
            "CLAUDE_CONFIG_DIR": f"{home}/.claude",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_BUG_COMMAND": "1",
            "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.entries.clear()

    # -- used by the handler -----------------------------------------------------------------

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def _record(self, rec: Recorded) -> int:
        with self._lock:
            self.requests.append(rec)
            return len(self.requests)

    def _next_reply(self, rec: Recorded) -> Reply:
        with self._lock:
            if self.side is not None and is_side_request(rec):
                reply: Any = self.side
                source = "side reply"
            elif self._queue:
                reply: Any = self._queue.pop(0)
                source = "queued reply"
            elif self.default is not None:
                reply = self.default
                source = "default"
            else:
                raise LookupError(
                    f"FakeAnthropic: no reply queued for request #{rec.number} (POST {rec.path}, model "
                    f"{rec.model!r}, {len(rec.body.get('messages') or [])} messages) and no default set"
                )
        for _ in range(10):
            if isinstance(reply, Reply):
                return reply
            if callable(reply):
                reply = reply(rec)
                continue
            break
        raise TypeError(f"{source} for request #{rec.number} is not a Reply: {reply!r}")

    def _assign_ids(self, blocks: tuple[dict, ...]) -> tuple[str, list[dict]]:
        with self._lock:
            msg_id = f"msg_fake_{next(self._msg_ids)}"
            out = []
            for b in blocks:
                b = json.loads(json.dumps(b))
                if b["type"] in ("tool_use", "server_tool_use") and not b.get("id"):
                    b = {
                        "type": b["type"],
                        "id": f"toolu_fake_{next(self._tool_ids)}",
                        **{k: v for k, v in b.items() if k not in ("type", "id")},
                    }
                out.append(b)
            return msg_id, out

    def _usage(self, model: str, pieces: list) -> dict:
        with self._lock:
            return self._cache.usage(model, pieces, self.cache)

    def _log_usage(self, usage: dict) -> None:
        with self._lock:
            self._usage_log.append(dict(usage))
