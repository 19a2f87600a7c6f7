"""What a model call costs: usage × a per-model price table kept as data (data/prices.yaml),
overridable per model in SystemAgent.md's `prices:`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from llmos_tui.core.state import Usage

KEYS = ("input", "output", "cache_write", "cache_read")


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, u: Usage) -> float:
        return round(
            (
                u.input_tokens * self.input
                + u.output_tokens * self.output
                + u.cache_creation_input_tokens * self.cache_write
                + u.cache_read_input_tokens * self.cache_read
            )
            / 1_000_000,
            8,
        )


@lru_cache(maxsize=1)
def default_table() -> dict[str, dict[str, float]]:
    text = resources.files("llmos_tui.core").joinpath("data/prices.yaml").read_text(encoding="utf-8")
    table: dict[str, dict[str, float]] = yaml.safe_load(text)
    return table


def _price(entry: dict[str, Any]) -> Price:
    inp = float(entry.get("input", 0.0))
    return Price(
        input=inp,
        output=float(entry.get("output", inp * 5)),
        cache_write=float(entry.get("cache_write", inp * 1.25)),
        cache_read=float(entry.get("cache_read", inp * 0.1)),
    )


def price_for(model: str, overrides: dict[str, dict[str, float]] | None = None) -> Price | None:
    """The model's price: SystemAgent.md's override first, then the table; exact name, then the
    longest known prefix. None when the model is unknown: its cost is unknown (never $0)."""
    for table in (overrides or {}, default_table()):
        found = _lookup(table, model)
        if found is not None:
            return found
    return None


def _lookup(table: dict[str, dict[str, float]], model: str) -> Price | None:
    if model in table:
        return _price(table[model])
    best = max((name for name in table if model.startswith(name)), key=len, default=None)
    return _price(table[best]) if best is not None else None


def served_price(
    served: str, requested: str | None = None, overrides: dict[str, dict[str, float]] | None = None
) -> Price | None:
    """The price of a reply from `served` (the name the server answered with) to a request for
    `requested`: SystemAgent.md's price for either name (a local server answers with its own
    name, e.g. its .gguf path, for the model the profile names), else the built-in table's for
    the served name only — a reply is priced as Claude only when the server says it is Claude."""
    for name in (served, requested):
        found = _lookup(overrides or {}, name) if name else None
        if found is not None:
            return found
    return _lookup(default_table(), served)


def with_cost(
    usage: Usage, model: str, overrides: dict[str, dict[str, float]] | None = None, *, requested: str | None = None
) -> Usage:
    """`usage` with its cost; a reply no price covers is marked `cost_known=False` (its cost is
    counted as 0 in `cost_usd`, a lower bound, and shown as unknown)."""
    price = served_price(model, requested, overrides)
    return Usage(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
        price.cost(usage) if price else 0.0,
        cost_known=price is not None,
    )
