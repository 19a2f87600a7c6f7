"""The native runtime: Claude through the anthropic SDK's Messages API.

One conversation per run; the runner owns it (the journal), this runtime turns each request into
a streamed Messages-API call and the reply into a ModelTurn. What it adds on the way:

- prompt caching: breakpoints on the stable prefix (the last tool, the system prompt) and on the
  newest message block, so every turn reads what the turn before it wrote;
- a bounded context: once the prompt grows past `trim_high` tokens (estimated), large tool results
  older than the last `keep_recent` messages are cut to their head in one go, down to
  `trim_low`; trimming in rare batches keeps the cached prefix valid between them; both follow
  the model's context window (core/profile.py: 60k/24k for Claude's 200k);
- cost: usage × the price table (core/pricing.py), SystemAgent.md's `prices:` first; a reply no
  price covers (a local model's .gguf name) is marked cost unknown, never counted as $0;
- retries: the SDK's own (429, 5xx, 529, dropped connections, with backoff); a stream that breaks
  after it began is retried here; when retries are exhausted RuntimeUnavailable pauses the run;
  an answer that asking again cannot mend (400, a context overflow, 404, 401/403) is
  ModelRefused, one line saying what to change;
- simulate mode: a tool's result is produced by a model call guided by its ToolMap entry;
- WebFetch's answer and SmartMemory's summary: by the profile's small model (`small_model`:
  claude-haiku-4-5 for a Claude model, the model itself for any other).

The client is a hook: `client=` takes any object with the SDK's `messages.create` (turns stream
with `stream=True`: raw events, put together by core/runtime/reply.py) and `close`. A batch's worker gives every run its one SDK client behind the
batch's shared rate gate (core/batch/ratelimit.py: `GatedClient`, with `owns_client=False`); the
retries are then the gate's, shared by every worker.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from llmos_tui.core.pricing import with_cost
from llmos_tui.core.profile import default_context_window, default_max_tokens, default_small_model, trim_limits
from llmos_tui.core.runtime.base import ModelRefused, ModelTurn, RuntimeUnavailable, TurnRequest
from llmos_tui.core.runtime.reply import ReplyBuilder, StreamEndedEarly
from llmos_tui.core.state import Usage
from llmos_tui.core.tools.base import ToolOutput

CACHE = {"type": "ephemeral"}
TRIMMED_NOTE = (
    "[trimmed from {n} characters to keep the conversation small: the start is above; "
    "run the tool again if you need the rest]"
)

TextListener = Callable[[str], None]
RETRYABLE_IN_STREAM = ("overloaded_error", "api_error", "rate_limit_error", "timeout_error")


def estimate_tokens(obj: Any) -> int:
    """A cheap, deterministic token estimate (about 4 characters a token) for context budgeting."""
    if isinstance(obj, str):
        return len(obj) // 4 + 1
    return len(json.dumps(obj, ensure_ascii=False)) // 4 + 1


def _result_text_len(block: dict[str, Any]) -> int:
    c = block.get("content")
    if isinstance(c, str):
        return len(c)
    if isinstance(c, list):
        return sum(len(b.get("text", "")) for b in c if isinstance(b, dict) and b.get("type") == "text")
    return 0


def _trim_block(block: dict[str, Any], keep: int) -> dict[str, Any]:
    c = block.get("content")
    text = (
        c
        if isinstance(c, str)
        else "\n".join(b.get("text", "") for b in c or [] if isinstance(b, dict) and b.get("type") == "text")
    )
    if len(text) <= keep:
        return block
    out = dict(block)
    out["content"] = text[:keep] + "\n" + TRIMMED_NOTE.format(n=len(text))  # images go too
    return out


class NativeRuntime:
    name = "native"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any = None,
        max_retries: int = 4,
        timeout: float = 600.0,
        prices: dict[str, dict[str, float]] | None = None,
        small_model: str | None = None,
        stream_retries: int = 2,
        trim_high: int | None = None,
        trim_low: int | None = None,
        keep_recent: int = 4,
        trim_keep_chars: int = 1_500,
        simulate_model: str | None = None,
        model: str = "claude-sonnet-4-6",
        owns_client: bool = True,
        context_window: int | None = None,
        max_tokens: int | None = None,
    ) -> None:
        """`small_model`, `context_window` and `max_tokens` (the profile, core/profile.py) default
        to the model's; the trim thresholds follow the context window and max_tokens."""
        if client is None:
            from anthropic import AsyncAnthropic

            # api_key None: the SDK's own lookup (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, profiles);
            # base_url None: ANTHROPIC_BASE_URL, then the public endpoint
            client = AsyncAnthropic(
                api_key=api_key or None, base_url=base_url, max_retries=max_retries, timeout=timeout
            )
        self.owns_client = owns_client
        self.client = client
        self.prices = prices or {}
        self.model = model
        self.small_model = small_model or default_small_model(model)
        self.simulate_model = simulate_model or model  # the run's model imagines the results
        self.stream_retries = stream_retries
        self.context_window = context_window or default_context_window(model)
        high, low = trim_limits(self.context_window, max_tokens or default_max_tokens(self.context_window))
        self.trim_high, self.trim_low = trim_high or high, trim_low or low
        self.keep_recent = keep_recent
        self.trim_keep_chars = trim_keep_chars
        self.text_listeners: list[TextListener] = []
        self._trim_horizon = 0  # messages before this index have their large results trimmed
        self._drop_upto = 0  # messages[1:this] are left out, summarised after the goal
        self.last_request: dict[str, Any] | None = None

    # ------------------------------------------------------------------ the conversation

    def build_params(self, request: TurnRequest) -> dict[str, Any]:
        """The Messages-API parameters for one turn, cache breakpoints and trimming applied."""
        tools = [dict(t) for t in request.tools]
        if tools:
            tools[-1]["cache_control"] = CACHE
        system = [{"type": "text", "text": request.system, "cache_control": CACHE}]
        prefix = estimate_tokens(request.tools) + estimate_tokens(request.system)
        messages, stable = self._bounded(request.messages, prefix)
        messages = _with_breakpoints(messages, stable)
        return {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "system": system,
            "tools": tools,
            "messages": messages,
        }

    def _bounded(self, messages: list[dict[str, Any]], prefix: int) -> tuple[list[dict[str, Any]], int]:
        """The conversation as sent: bounded by trim_high (the whole prompt, tools and system
        included), cut down to trim_low in rare batches so the cached prefix holds between them.

        Stage 1 cuts large tool results older than the recent messages to their start; when that
        is not enough, stage 2 drops the oldest exchanges, leaving a one-line-a-call summary
        after the goal. Returns the messages and how many of them are stable until the next
        batch (the place for a breakpoint of their own, so a batch re-reads them)."""
        horizon, drop = min(self._trim_horizon, len(messages)), min(self._drop_upto, len(messages))
        shaped = self._shape(messages, horizon, drop)
        if prefix + estimate_tokens(shaped) > self.trim_high:
            limit = max(0, len(messages) - self.keep_recent)
            while horizon < limit and prefix + estimate_tokens(shaped) > self.trim_low:
                horizon = min(limit, horizon + 2)
                shaped = self._shape(messages, horizon, drop)
            d = max(drop, 1)
            while prefix + estimate_tokens(shaped) > self.trim_low:
                nxt = next((i for i in range(d + 1, limit + 1) if messages[i]["role"] == "assistant"), None)
                if nxt is None:
                    break
                d = nxt
                shaped = self._shape(messages, horizon, d)
            if d > 1:
                drop = d
            self._trim_horizon, self._drop_upto = horizon, drop
        stable = horizon - (drop - 1 if drop > 1 else 0)
        return shaped, stable

    def _shape(self, messages: list[dict[str, Any]], horizon: int, drop: int) -> list[dict[str, Any]]:
        out = self._trim(messages, horizon)
        if drop > 1:
            goal = messages[0]
            note = {"type": "text", "text": _summary(messages[1:drop])}
            out = [{"role": goal["role"], "content": [*_blocks(goal["content"]), note]}, *out[drop:]]
        return out

    def _trim(self, messages: list[dict[str, Any]], horizon: int) -> list[dict[str, Any]]:
        if horizon <= 0:
            return messages
        out = []
        for i, m in enumerate(messages):
            if (
                i < horizon
                and m["role"] == "user"
                and isinstance(m["content"], list)
                and any(
                    b.get("type") == "tool_result" and _result_text_len(b) > self.trim_keep_chars for b in m["content"]
                )
            ):
                m = {
                    "role": "user",
                    "content": [
                        _trim_block(b, self.trim_keep_chars) if b.get("type") == "tool_result" else b
                        for b in m["content"]
                    ],
                }
            out.append(m)
        return out

    async def next_turn(self, request: TurnRequest) -> ModelTurn:
        import anthropic

        params = self.build_params(request)
        self.last_request = params
        self._said_text = False
        attempts = 0
        while True:
            try:
                message = await self._stream(params)
                break
            except anthropic.APIStatusError as exc:
                refused = refusal(exc, request.model, request.max_tokens, self.context_window)
                if refused is not None:  # asking again cannot mend it: say what to change
                    raise refused from exc
                # an `error` event inside a stream that had begun (status 200): overloaded or a
                # server error mid-reply is retried here, since the SDK cannot
                attempts += 1
                if (
                    exc.status_code != 200
                    or _error_type(exc) not in RETRYABLE_IN_STREAM
                    or attempts > self.stream_retries
                ):
                    raise RuntimeUnavailable(_status_message(exc)) from exc
                self._say_retrying()
                await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempts - 1)))
            except (anthropic.APIConnectionError, anthropic.APIResponseValidationError) as exc:
                # the SDK already retried the connection; a stream that broke after it began
                # is retried here, since the SDK cannot
                attempts += 1
                if attempts > self.stream_retries or not getattr(exc, "_mid_stream", False):
                    raise RuntimeUnavailable(
                        f"the model could not be reached ({_describe(exc)}); resume the run to try again"
                    ) from exc
                self._say_retrying()
                await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempts - 1)))
        return self._to_turn(message, request.model)

    _said_text = False

    def _say_retrying(self) -> None:
        """A reply broke off after some of its words were shown: say so before they come again."""
        if self._said_text:
            self._said_text = False
            for listen in self.text_listeners:
                listen("\n[the reply broke off; asking again]\n")

    async def _stream(self, params: dict[str, Any]) -> ReplyBuilder:
        """One streamed call: its raw events put together (core/runtime/reply.py), the text passed
        to the listeners as it comes."""
        import anthropic

        started = False
        reply = ReplyBuilder()
        try:
            stream = await self.client.messages.create(stream=True, **params)
            try:
                async for event in stream:
                    started = True
                    said = reply.add(event)
                    if said and self.text_listeners:
                        self._said_text = True
                        for listen in self.text_listeners:
                            listen(said)
            finally:
                await stream.close()
            if not reply.ended:
                raise StreamEndedEarly("the stream ended before the reply did")
            return reply
        except anthropic.APIStatusError:
            raise
        except anthropic.APIConnectionError as exc:
            exc._mid_stream = started  # type: ignore[attr-defined]
            raise
        except (OSError, ValueError, StreamEndedEarly) as exc:  # a stream cut mid-event, or broken SSE
            err = anthropic.APIConnectionError(message=f"the stream broke: {_describe(exc)}", request=_dummy_request())
            err._mid_stream = True  # type: ignore[attr-defined]
            raise err from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("httpx", "httpcore", "h11")):
                err = anthropic.APIConnectionError(
                    message=f"the stream broke: {_describe(exc)}", request=_dummy_request()
                )
                err._mid_stream = True  # type: ignore[attr-defined]
                raise err from exc
            raise

    def _to_turn(self, reply: ReplyBuilder, model: str) -> ModelTurn:
        content = []
        for b in reply.content():
            if b.get("type") == "text":
                content.append({"type": "text", "text": b.get("text", "")})
            elif b.get("type") == "tool_use":
                content.append(
                    {
                        "type": "tool_use",
                        "id": b["id"],
                        "name": b["name"],
                        "input": b.get("input") if isinstance(b.get("input"), dict) else {},
                    }
                )
            elif b.get("type") in ("thinking", "redacted_thinking"):
                content.append(b)  # must go back to the API unchanged
            # server-tool blocks and others: not part of this engine's conversation
        stop = reply.stop_reason or "end_turn"
        if stop == "max_tokens" and content and content[-1].get("type") == "tool_use":
            # a tool call cut off mid-input: never run half a call; the runner asks to continue
            content.pop()
            if any(b.get("type") == "tool_use" for b in content):
                stop = "tool_use"
        if not any(b.get("type") in ("text", "tool_use") for b in content):
            content.append(
                {
                    "type": "text",
                    "text": "(no reply text)" if stop != "max_tokens" else "(the reply was cut off by max_tokens)",
                }
            )
        u = reply.usage
        usage = Usage(
            input_tokens=u.get("input_tokens", 0),
            output_tokens=u.get("output_tokens", 0),
            cache_read_input_tokens=u.get("cache_read_input_tokens", 0),
            cache_creation_input_tokens=u.get("cache_creation_input_tokens", 0),
        )
        used_model = reply.model or model
        return ModelTurn(
            content=content,
            stop_reason=stop,
            usage=with_cost(usage, used_model, self.prices, requested=model),
            model=used_model,
        )

    # ------------------------------------------------------------------ simulate mode

    async def simulate(
        self, tool: str, inputs: dict[str, Any], spec_line: str, turn_index: int, position: int
    ) -> ToolOutput:
        """The tool's result, imagined by the model from its inputs and ToolMap entry."""
        import anthropic

        system = (
            "You simulate the result of one tool call in an agent framework, for training data. "
            "Nothing is really run. Reply by calling `tool_result` once with `content`: exactly the "
            "text the real tool would return (for Read: numbered lines like '     1\\tline'; for Bash: "
            "the command's output; for Write/Edit: a one-line confirmation; for Grep/Glob: matching "
            "paths or lines; for WebFetch: a short answer to its prompt), realistic and plausible, "
            "and `is_error`: true only when the call would most likely fail. Keep it under 2,000 "
            "characters."
        )
        user = (
            f"Tool: {tool}\nToolMap entry: {spec_line}\nInputs (JSON): "
            f"{json.dumps(inputs, ensure_ascii=False)[:20_000]}"
        )
        params = {
            "model": self.simulate_model,
            "max_tokens": 2048,
            "system": system,
            "messages": [{"role": "user", "content": user}],
            "tools": [
                {
                    "name": "tool_result",
                    "description": "The simulated result of the tool call.",
                    "input_schema": {
                        "type": "object",
                        "properties": {"content": {"type": "string"}, "is_error": {"type": "boolean"}},
                        "required": ["content"],
                    },
                }
            ],
            "tool_choice": {"type": "tool", "name": "tool_result"},
        }
        try:
            message = await self.client.messages.create(**params)
        except anthropic.APIStatusError as exc:
            refused = refusal(exc, self.simulate_model, 2048, self.context_window, what="the simulation call")
            raise refused or RuntimeUnavailable(f"the simulation call failed: {_describe(exc)}") from exc
        except anthropic.APIError as exc:
            raise RuntimeUnavailable(f"the simulation call failed: {_describe(exc)}") from exc
        self._charge(message, self.simulate_model)
        for block in message.content:
            if getattr(block, "type", None) == "tool_use":
                data = block.input if isinstance(block.input, dict) else {}
                return ToolOutput(str(data.get("content", "")), is_error=bool(data.get("is_error")))
        texts = [b.text for b in message.content if getattr(b, "type", None) == "text"]
        return ToolOutput("\n".join(texts) or f"[simulated] {tool} returned nothing")

    # ------------------------------------------------------------------ WebFetch's answer

    async def webfetch_answer(self, prompt: str, markdown: str, url: str) -> str:
        """The page answered against the prompt by a small model, as Claude Code does."""
        import anthropic

        params = {
            "model": self.small_model,
            "max_tokens": 1024,
            "system": "Answer the request using only the web page given. Quote exact figures and "
            "names from it; say plainly when the page does not contain the answer.",
            "messages": [
                {"role": "user", "content": f"Web page {url} (as markdown):\n\n{markdown}\n\n---\nRequest: {prompt}"}
            ],
        }
        try:
            message = await self.client.messages.create(**params)
        except anthropic.APIError as exc:
            from llmos_tui.core.tools.base import ToolError

            refused = (
                refusal(exc, self.small_model, 1024, None, what="WebFetch's answer (small_model)")
                if isinstance(exc, anthropic.APIStatusError)
                else None
            )
            raise ToolError(
                f"the page was fetched but the model answering the prompt failed: {refused or _describe(exc)}"
            ) from exc
        self._charge(message, self.small_model)
        return "\n".join(b.text for b in message.content if getattr(b, "type", None) == "text").strip()

    async def learnings(self, goal: str, run_summary: str) -> str:
        """A few lines of key learnings for SmartMemory, by the small model."""
        params = {
            "model": self.small_model,
            "max_tokens": 400,
            "system": "You write the 'Key learnings' of an agent run for its memory log: 2 to 4 short "
            "lines on what worked, what failed and why, and what to do differently next "
            "time. Plain text, no preamble, no line of only '---'.",
            "messages": [{"role": "user", "content": f"Goal: {goal}\n\nWhat happened:\n{run_summary}"}],
        }
        import anthropic

        try:
            message = await self.client.messages.create(**params)
        except anthropic.APIStatusError as exc:  # (the run's note names the type: say what to change)
            refused = refusal(exc, self.small_model, 400, None, what="SmartMemory's summary (small_model)")
            if refused is not None:
                raise refused from exc
            raise
        self._charge(message, self.small_model)
        return "\n".join(b.text for b in message.content if getattr(b, "type", None) == "text").strip()

    # side calls (simulation, WebFetch answers) are charged to the next turn's usage
    pending_usage: Usage = Usage()

    def _charge(self, message: Any, model: str) -> None:
        u = message.usage
        usage = Usage(
            u.input_tokens or 0,
            u.output_tokens or 0,
            getattr(u, "cache_read_input_tokens", 0) or 0,
            getattr(u, "cache_creation_input_tokens", 0) or 0,
        )
        self.pending_usage = self.pending_usage + with_cost(
            usage, getattr(message, "model", None) or model, self.prices, requested=model
        )

    def take_side_usage(self) -> Usage:
        u, self.pending_usage = self.pending_usage, Usage()
        return u

    def spawn(self, index: int) -> "NativeRuntime":
        """A Task sub-agent's runtime: its own conversation on the same client; its words stream
        to the same listeners."""
        child = NativeRuntime(
            client=self.client,
            owns_client=False,
            prices=self.prices,
            small_model=self.small_model,
            stream_retries=self.stream_retries,
            trim_high=self.trim_high,
            trim_low=self.trim_low,
            keep_recent=self.keep_recent,
            trim_keep_chars=self.trim_keep_chars,
            simulate_model=self.simulate_model,
            model=self.model,
            context_window=self.context_window,
        )
        child.text_listeners = self.text_listeners
        return child

    async def aclose(self) -> None:
        if not self.owns_client:
            return
        try:
            await self.client.close()
        except Exception:  # noqa: BLE001 - closing an HTTP client at exit: nothing left to tell
            pass


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _with_breakpoints(messages: list[dict[str, Any]], stable: int) -> list[dict[str, Any]]:
    """A copy in one shape (string contents as text blocks, so a message reads the same on every
    turn) with cache breakpoints on the newest content block and on the last stable message
    (trimmed history that stays as it is until the next batch); the ledger's stay as they are."""
    if not messages:
        return messages
    out = [{"role": m["role"], "content": _blocks(m["content"])} for m in messages]
    marks = {len(out) - 1}
    if 0 < stable < len(out) - 1:
        marks.add(stable - 1)
    for i in marks:
        blocks = out[i]["content"]
        if blocks:
            out[i]["content"] = [*blocks[:-1], {**blocks[-1], "cache_control": CACHE}]
    return out


def _summary(dropped: list[dict[str, Any]], max_lines: int = 60) -> str:
    """What the dropped exchanges did, one line a tool call, for the model to keep its bearings."""
    results: dict[str, dict[str, Any]] = {}
    for m in dropped:
        if m["role"] == "user" and isinstance(m["content"], list):
            for b in m["content"]:
                if isinstance(b, dict) and b.get("type") == "tool_result":
                    results[b.get("tool_use_id", "")] = b
    lines = []
    for m in dropped:
        if m["role"] != "assistant":
            continue
        for b in _blocks(m["content"]):
            if b.get("type") != "tool_use":
                continue
            args = ", ".join(f"{k}={str(v)[:40]!r}" for k, v in list((b.get("input") or {}).items())[:2])
            r = results.get(b.get("id", ""), {})
            c = r.get("content")
            text = (
                c
                if isinstance(c, str)
                else " ".join(x.get("text", "") for x in (c or []) if isinstance(x, dict) and x.get("type") == "text")
            )
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:100]
            lines.append(f"- {b.get('name')}({args}) → {'ERROR: ' if r.get('is_error') else ''}{first}")
    shown = lines[-max_lines:]
    head = (
        f"[Earlier in this run: {len(lines)} tool calls, left out of this conversation to keep it "
        f"small (the run's journal has them all). Their results began:"
    )
    if len(lines) > len(shown):
        head += f" (the last {len(shown)} shown)"
    return "\n".join([head + "]", *shown])


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_type(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body["error"] if isinstance(body.get("error"), dict) else body
        return str(err.get("type") or "")
    return ""


RETRYABLE_STATUS = frozenset({408, 409, 429})  # and 5xx: the SDK retries them, then the run pauses
_OVERFLOW = re.compile(
    r"exceed\w*.{0,40}context|context.{0,40}(exceed|length|too (long|large|small)|size|overflow)|"
    r"prompt is too long|too many tokens|maximum context|input length and `?max_tokens`? exceed",
    re.IGNORECASE,
)


def refusal(
    exc: Any, model: str, max_tokens: int, context_window: int | None, *, what: str = "the model call"
) -> ModelRefused | None:
    """A ModelRefused for an answer that asking again cannot mend, with the one line that says
    what to change; None for one worth retrying (429, 408, 409, 5xx, 529; an error mid-stream
    that is overloaded or a server error)."""
    status = getattr(exc, "status_code", None)
    kind, detail, err = _error_type(exc), _error_detail(exc), _error_body(exc)
    first = detail.splitlines()[0][:300] if detail else "?"
    said = f"{what} was refused ({status} {kind or 'error'}: {first})"
    if kind == "exceed_context_size_error" or (status in (400, 413) and _OVERFLOW.search(detail)):
        n_prompt, n_ctx = err.get("n_prompt_tokens"), err.get("n_ctx")
        prompt = f"the prompt ({n_prompt} tokens)" if isinstance(n_prompt, int) else "the prompt"
        ctx = f"the server's {n_ctx}-token context" if isinstance(n_ctx, int) else "the model's context"
        need = f" (at least {n_prompt + max_tokens})" if isinstance(n_prompt, int) else ""
        told = (  # the profile's context_window, when it is not the server's: trimming follows it
            f" and set context_window: {n_ctx if isinstance(n_ctx, int) else '<the server context>'} there"
            f"{f' (it says {context_window})' if context_window else ''} so the conversation is trimmed to fit"
            if not (isinstance(n_ctx, int) and n_ctx == context_window)
            else ""
        )
        return ModelRefused(
            f"{said}: {prompt} and max_tokens ({max_tokens}) do not fit {ctx}; start the server with a larger "
            f"context{need} (llama-server -c, Ollama num_ctx), or lower max_tokens in SystemAgent.md (a long "
            f"reply grows the next prompt){told}"
        )
    if status == 404 or kind == "not_found_error":
        return ModelRefused(
            f"{said}: the server has no model {model!r}; name one it serves in SystemAgent.md's model: (or "
            "--model) and small_model: for the side calls, or make it available there (ollama pull)"
        )
    if status in (401, 403) or kind in ("authentication_error", "permission_error"):
        return ModelRefused(
            f"{said}: check ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) and that it may use {model!r}; a "
            "local server takes any key unless it was started with one"
        )
    if status == 200:  # an error event mid-stream: a refusal only when it says it is one
        if kind in ("invalid_request_error", "request_too_large"):
            return ModelRefused(f"{said}: change the request's settings in SystemAgent.md (the model profile)")
        return None
    if isinstance(status, int) and 400 <= status < 500 and status not in RETRYABLE_STATUS:
        return ModelRefused(
            f"{said}: the server does not take this request as it is; check SystemAgent.md's model profile "
            f"(model {model!r}, max_tokens {max_tokens}) against what it supports"
        )
    return None


def _error_body(exc: Any) -> dict[str, Any]:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return body["error"] if isinstance(body.get("error"), dict) else body
    return {}


def _error_detail(exc: Any) -> str:
    detail = str(_error_body(exc).get("message") or "")
    return detail or str(getattr(exc, "message", "") or exc)


def _status_message(exc: Any) -> str:
    status = getattr(exc, "status_code", "?")
    detail = ""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body["error"] if isinstance(body.get("error"), dict) else body
        detail = str(err.get("message") or "")
    detail = detail or str(getattr(exc, "message", "") or exc)
    hint = {
        401: "check ANTHROPIC_API_KEY",
        403: "the key may not have access to this model",
        404: "check the model name in SystemAgent.md",
        413: "the request is too large",
        429: "rate limited; wait, then resume",
        529: "the API is overloaded; resume later",
    }.get(
        status if isinstance(status, int) else 0,
        "the SDK's retries are exhausted; resume the run to try again"
        if isinstance(status, int) and status >= 500
        else "resume the run to try again",
    )
    return f"the model API answered {status}: {detail.splitlines()[0] if detail else '?'} ({hint})"


def _dummy_request() -> Any:
    import httpx2

    return httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
