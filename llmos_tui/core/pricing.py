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
    longest known prefix. None when the model is unknown (its calls are then counted at $0)."""
    for table in (overrides or {}, default_table()):
        if model in table:
            return _price(table[model])
        best = max((name for name in table if model.startswith(name)), key=len, default=None)
        if best is not None:
            return _price(table[best])
    return None


def with_cost(usage: Usage, model: str, overrides: dict[str, dict[str, float]] | None = None) -> Usage:
    price = price_for(model, overrides)
    cost = price.cost(usage) if price else 0.0
    return Usage(
        usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens, cost
    )
