"""A model's profile: what llmos-tui assumes about a model SystemAgent.md says nothing more about.

A Claude model (its name holds `claude`) has a 200,000-token context and `claude-haiku-4-5` for
the side calls (SmartMemory's summary, WebFetch's answer). Any other model — one served by
llama.cpp, Ollama or vLLM behind ANTHROPIC_BASE_URL — is assumed small: an 8,192-token context,
and itself for the side calls (a local server has no claude-haiku-4-5). `max_tokens` and the
native runtime's trim thresholds follow the context window, so the prompt and the reply fit in it.
"""

from __future__ import annotations

CLAUDE_SMALL_MODEL = "claude-haiku-4-5"
CLAUDE_CONTEXT_WINDOW = 200_000
OTHER_CONTEXT_WINDOW = 8_192
MAX_TOKENS_CAP = 8_192  # max_tokens' default is the smaller of this and a quarter of the context
TRIM_HIGH_CAP, TRIM_LOW_CAP = 60_000, 24_000  # (Claude's thresholds: a 200k context stays under them)


def is_claude(model: str) -> bool:
    return "claude" in model.lower()


def default_small_model(model: str) -> str:
    return CLAUDE_SMALL_MODEL if is_claude(model) else model


def default_context_window(model: str) -> int:
    return CLAUDE_CONTEXT_WINDOW if is_claude(model) else OTHER_CONTEXT_WINDOW


def default_max_tokens(context_window: int) -> int:
    return max(1, min(MAX_TOKENS_CAP, context_window // 4))


def trim_limits(context_window: int, max_tokens: int) -> tuple[int, int]:
    """The native runtime's trim thresholds, in estimated tokens of the whole prompt: trimming
    starts past `high` and cuts down to `low`. The estimate (about 4 characters a token) can run
    a third under a real tokenizer's count, so the prompt is kept to 60% of what the context
    leaves beside `max_tokens`; never above Claude's 60k/24k, which keep a long run's prompt (and
    its cost) small."""
    room = max(context_window - max_tokens, 0)
    high = max(min(TRIM_HIGH_CAP, room * 6 // 10), 1)
    return high, max(min(TRIM_LOW_CAP, high * 4 // 10), 1)
