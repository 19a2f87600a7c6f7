"""A streamed Messages-API reply put together from its raw events.

The SDK's stream helper (`messages.stream`) keeps a typed snapshot of the whole message and
re-parses a tool call's input JSON from its start on every `input_json_delta`: quadratic in the
input's length, and most of a quick turn's client-side cost. The native runtime reads the raw
events (`messages.create(stream=True)`) and joins each block's pieces once, when the block ends.

What comes out is plain data: the content blocks as the API would return them in a whole message
(thinking blocks with their signature, byte for byte, since they must go back unchanged), the stop
reason, the usage (message_start's, updated by message_delta's) and the model's own name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


class StreamEndedEarly(Exception):
    """The event stream ended (cleanly, as far as HTTP goes) before `message_stop`."""


def _dump(model: Any) -> dict[str, Any]:
    if isinstance(model, dict):
        return {k: v for k, v in model.items() if v is not None}
    out: dict[str, Any] = model.model_dump(exclude_none=True)
    return out


@dataclass
class ReplyBuilder:
    blocks: list[dict[str, Any] | None] = field(default_factory=list)
    stop_reason: str | None = None
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    ended: bool = False
    # the pieces of each open block: index -> {"text"|"thinking"|"signature"|"json": [str, ...]}
    _parts: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, event: Any) -> str | None:
        """Take one raw event; returns the text it adds to the reply (for listeners), if any."""
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            dkind = delta.type
            parts = self._parts.setdefault(event.index, {})
            if dkind == "text_delta":
                parts.setdefault("text", []).append(delta.text)
                return str(delta.text)
            if dkind == "input_json_delta":
                parts.setdefault("json", []).append(delta.partial_json)
            elif dkind == "thinking_delta":
                parts.setdefault("thinking", []).append(delta.thinking)
            elif dkind == "signature_delta":
                parts.setdefault("signature", []).append(delta.signature)
            elif dkind == "citations_delta":
                block = self._block(event.index)
                if block is not None:
                    block.setdefault("citations", []).append(_dump(delta.citation))
            return None
        if kind == "content_block_start":
            while len(self.blocks) <= event.index:
                self.blocks.append(None)
            self.blocks[event.index] = _dump(event.content_block)
            self._parts[event.index] = {}
        elif kind == "content_block_stop":
            self._close(event.index)
        elif kind == "message_start":
            message = event.message
            self.model = getattr(message, "model", None) or None
            self._take_usage(getattr(message, "usage", None))
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            self._take_usage(getattr(event, "usage", None))
        elif kind == "message_stop":
            self.ended = True
        return None

    def content(self) -> list[dict[str, Any]]:
        """The reply's blocks, each closed (a block cut off by max_tokens is closed here)."""
        for index in list(self._parts):
            self._close(index)
        return [b for b in self.blocks if b is not None]

    def _block(self, index: int) -> dict[str, Any] | None:
        return self.blocks[index] if 0 <= index < len(self.blocks) else None

    def _close(self, index: int) -> None:
        parts = self._parts.pop(index, None)
        block = self._block(index)
        if not parts or block is None:
            return
        for key in ("text", "thinking", "signature"):
            if key in parts:
                block[key] = block.get(key, "") + "".join(parts[key])
        if "json" in parts:
            raw = "".join(parts["json"])
            block["input"] = _parse_input(raw) if raw.strip() else {}

    def _take_usage(self, usage: Any) -> None:
        if usage is None:
            return
        for name in _USAGE_FIELDS:
            value = getattr(usage, name, None)
            if value is not None:
                self.usage[name] = int(value)


def _parse_input(raw: str) -> Any:
    """A tool call's input JSON. Cut off (max_tokens mid-call): what parses of it, as the SDK's
    helper would have it (the runner never runs such a call)."""
    import json

    try:
        return json.loads(raw)
    except ValueError:
        from jiter import from_json  # the SDK's own dependency: partial JSON, parsed once

        try:
            return from_json(raw.encode("utf-8"), partial_mode=True)
        except ValueError:
            return {}
