"""The API used politely by every worker of a batch together: one backoff, one limit on calls.

A native run's runtime talks to the SDK through its `client` (core/runtime/native.py takes any
object with the SDK's `messages.create` and `close`; a turn is `create(stream=True)`); a batch hands it a
`GatedClient`, which wraps the worker's one AsyncAnthropic client:

- before each request it takes a slot from the gate (at most `--max-calls` model calls in flight
  across every worker) and waits until the gate's "no call before T" has passed;
- a 429 or 529 answer moves T for everyone: `retry-after-ms`, `retry-after` (seconds or a date)
  and the `anthropic-ratelimit-*-reset` times of an exhausted limit are honoured, and without
  them the wait doubles with each answer in a row (0.5 s … 60 s); a success answer that says a
  limit is used up (`anthropic-ratelimit-*-remaining: 0`) moves T to its reset too;
- other failures before the reply begins (408, 409, 5xx, a dropped connection) are retried here
  with a backoff of this call's own; the SDK client itself makes no retries (max_retries=0), so
  every 429 is seen by the gate. When the retries run out, the SDK's error goes to the runtime,
  which pauses the run (`runtime`), resumable.

Two gates: `FileGate` for processes on one machine (or a filesystem they share with working
flock), files in the batch folder: `gate/backoff` holds T and the count of throttles in a row
(written under an exclusive flock, read under a shared one), `gate/slot-<i>` are the call slots
(an exclusive flock each; the kernel drops it when a worker dies, so a killed worker never keeps
a slot). A Ray cluster without a shared filesystem uses the same logic in a Ray actor
(core/batch/ray_glue.py).
"""

from __future__ import annotations

import asyncio
import email.utils
import fcntl
import json
import os
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
THROTTLE_STATUSES = frozenset({429, 529})
MAX_WAIT = 60.0  # the longest backoff taken without a header asking for more
RECORD = 96  # the backoff file's fixed size (a record padded with blanks)
LIMIT_NAMES = ("requests", "tokens", "input-tokens", "output-tokens")


class Gate(Protocol):
    """What the gated client needs: FileGate, or RayGateClient (the gate held by a Ray actor)."""

    async def acquire(self) -> Any: ...

    def release(self, token: Any) -> None: ...

    async def throttle(self, delay: float) -> None: ...

    async def calm(self) -> None: ...


def delay_from_headers(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """How long the API asks us to wait: retry-after-ms, retry-after (seconds or an HTTP date),
    else the latest reset of a rate limit it says is used up. None when it says nothing."""
    if not headers:
        return None
    now = time.time() if now is None else now
    h = {k.lower(): v for k, v in headers.items()}
    ms = h.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = h.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(ra)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError):
                pass
    return exhausted_until(h, now)


def exhausted_until(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the last of the limits the headers say are used up resets, or None."""
    from llmos_tui.core.text import parse_iso

    waits = []
    for name in LIMIT_NAMES:
        remaining = headers.get(f"anthropic-ratelimit-{name}-remaining")
        reset = headers.get(f"anthropic-ratelimit-{name}-reset")
        if remaining is None or reset is None:
            continue
        try:
            if int(remaining) > 0:
                continue
        except ValueError:
            continue
        at = parse_iso(reset)
        if at is not None:
            waits.append(at.timestamp() - now)
    return max(0.0, max(waits)) if waits else None


def backoff(strikes: int) -> float:
    """The wait after `strikes` throttles in a row when the API named none: 0.5 s doubling, ≤ 60 s."""
    return float(min(MAX_WAIT, 0.5 * 2.0 ** max(0, strikes - 1)))


class FileGate:
    """The gate as files in `folder`, shared by every process that opens the same folder."""

    def __init__(self, folder: Path, limit: int | None, *, poll: float = 0.005) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.limit = limit if limit and limit > 0 else None
        self.poll = poll
        self._fd = os.open(self.folder / "backoff", os.O_RDWR | os.O_CREAT, 0o644)
        self._slots: dict[int, int] = {}  # slot → this process's fd for it (opened once)
        self._held: set[int] = set()  # slots this process holds now (flock would let it take one twice)

    # -- T, "no call before" --------------------------------------------------------------

    def _read(self) -> tuple[float, int]:
        raw = os.pread(self._fd, RECORD, 0)
        try:
            data = json.loads(raw.decode("ascii").strip() or "{}")
            return float(data.get("not_before", 0.0)), int(data.get("strikes", 0))
        except (ValueError, UnicodeDecodeError, AttributeError):
            return 0.0, 0

    def _write(self, not_before: float, strikes: int) -> None:
        text = json.dumps({"not_before": round(not_before, 3), "strikes": strikes}).encode("ascii")
        os.pwrite(self._fd, text.ljust(RECORD - 1) + b"\n", 0)

    def not_before(self) -> float:
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            return self._read()[0]
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def throttle(self, delay: float) -> None:
        """The API said wait (a 429/529, or a used-up limit): no call from any worker before
        now + delay (or the doubling backoff, when delay is negative: nothing was named)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            not_before, strikes = self._read()
            strikes += 1
            wait = delay if delay >= 0 else backoff(strikes)
            self._write(max(not_before, time.time() + wait), strikes)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def calm(self) -> None:
        """A call went through: the next throttle starts the doubling again."""
        if self._read()[1]:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                not_before, _ = self._read()
                self._write(not_before, 0)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    # -- slots ----------------------------------------------------------------------------

    def _try_slot(self) -> int | None:
        assert self.limit is not None
        start = random.randrange(self.limit)
        for k in range(self.limit):
            i = (start + k) % self.limit
            if i in self._held:
                continue
            fd = self._slots.get(i)
            if fd is None:
                fd = self._slots[i] = os.open(self.folder / f"slot-{i}", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self._held.add(i)
            return i
        return None

    async def acquire(self) -> int | None:
        """A slot (None without a limit), once T has passed."""
        while True:
            wait = self.not_before() - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0) + random.uniform(0, 0.01))
                continue
            if self.limit is None:
                return None
            slot = self._try_slot()
            if slot is None:
                await asyncio.sleep(self.poll * random.uniform(1, 3))
                continue
            if self.not_before() > time.time():  # a throttle came while we waited for the slot
                self.release(slot)
                continue
            return slot

    def release(self, token: Any) -> None:
        if token is None or token not in self._held:
            return
        self._held.discard(token)
        fcntl.flock(self._slots[token], fcntl.LOCK_UN)

    def close(self) -> None:
        for fd in self._slots.values():
            os.close(fd)
        self._slots.clear()
        self._held.clear()
        os.close(self._fd)


class RayGateClient:
    """The gate held by a Ray actor (ray_glue.py), as a worker calls it."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    async def acquire(self) -> Any:
        return await self.actor.acquire.remote()

    def release(self, token: Any) -> None:
        if token is not None:
            self.actor.release.remote(token)

    async def throttle(self, delay: float) -> None:
        await self.actor.throttle.remote(delay)

    async def calm(self) -> None:
        self.actor.calm.remote()


# ====================================================================== the gated client


class GatedClient:
    """An AsyncAnthropic client whose every request passes the gate (see the module's doc)."""

    def __init__(self, client: Any, gate: Gate, *, retries: int = 8, on_throttle: Any = None) -> None:
        self.client = client
        self.gate = gate
        self.retries = retries
        self.on_throttle = on_throttle  # called with (status, delay) on each 429/529 (the progress shows it)
        self.messages = _Messages(self)
        self.throttled = 0

    async def close(self) -> None:
        await self.client.close()

    async def attempt_failed(self, exc: BaseException, attempt: int) -> bool:
        """True when the call may be tried again (after the wait this failure asks for)."""
        import anthropic

        if attempt > self.retries:
            return False
        if isinstance(exc, anthropic.APIStatusError):
            headers = exc.response.headers if exc.response is not None else {}
            should = (headers.get("x-should-retry") or "").lower()
            if should == "false" or (exc.status_code not in RETRY_STATUSES and should != "true"):
                return False
            delay = delay_from_headers(headers)
            if exc.status_code in THROTTLE_STATUSES:
                self.throttled += 1
                await self.gate.throttle(-1.0 if delay is None else delay)
                if self.on_throttle is not None:
                    self.on_throttle(exc.status_code, delay)
                return True
            await asyncio.sleep(delay if delay is not None else _own_backoff(attempt))
            return True
        if isinstance(exc, anthropic.APIConnectionError):
            await asyncio.sleep(_own_backoff(attempt))
            return True
        return False

    async def after_success(self, headers: Mapping[str, str] | None) -> None:
        await self.gate.calm()
        if headers:
            wait = exhausted_until({k.lower(): v for k, v in headers.items()}, time.time())
            if wait:
                await self.gate.throttle(wait)


def _own_backoff(attempt: int) -> float:
    return float(min(8.0, 0.5 * 2.0 ** (attempt - 1))) * random.uniform(0.8, 1.2)


class _Messages:
    def __init__(self, owner: GatedClient) -> None:
        self.owner = owner

    async def create(self, **params: Any) -> Any:
        """`messages.create`; with `stream=True` the slot is held from the request to the end of
        the reply (the stream's last event, or its close)."""
        owner = self.owner
        attempt = 0
        while True:
            attempt += 1
            token = await owner.gate.acquire()
            try:
                raw = await owner.client.messages.with_raw_response.create(**params)
                message = await raw.parse()
            except Exception as exc:  # (the SDK's errors: retried here, or handed back as they are)
                owner.gate.release(token)
                if await owner.attempt_failed(exc, attempt):
                    continue
                raise
            except BaseException:
                owner.gate.release(token)
                raise
            await owner.after_success(raw.headers)
            if params.get("stream"):
                return _HeldStream(message, owner.gate, token)
            owner.gate.release(token)
            return message


class _HeldStream:
    """The SDK's event stream, holding the gate's slot until it is read to the end or closed."""

    def __init__(self, stream: Any, gate: Gate, token: Any) -> None:
        self.stream, self._gate, self._token = stream, gate, token
        self.response = getattr(stream, "response", None)

    def _release(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            self._gate.release(token)

    def __aiter__(self) -> Any:
        return self._events()

    async def _events(self) -> Any:
        try:
            async for event in self.stream:
                yield event
        finally:
            self._release()

    async def close(self) -> None:
        try:
            await self.stream.close()
        finally:
            self._release()
