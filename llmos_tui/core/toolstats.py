"""Observed tool figures: latency, error rate and cost per tool, kept across runs.

`system/tool_stats.json` (beside the ToolMap it is compared with) is updated when a run ends (by its driver, under the workspace lock)
and shown beside the ToolMap's declared figures by `llmos-tui tools`. Latency percentiles come
from the most recent SAMPLE durations per tool; counts and totals cover every run recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLE = 500


def _empty() -> dict[str, Any]:
    return {"calls": 0, "errors": 0, "denied": 0, "simulated": 0, "cost_usd": 0.0, "durations": []}


def load_stats(path: Path) -> dict[str, Any]:
    """The stats file, or an empty one; a damaged file is reported, never silently replaced."""
    from llmos_tui.core.errors import FileFormatError
    from llmos_tui.core.inputs import read_bytes

    try:  # an untrusted input: a regular file, bounded
        data = json.loads(read_bytes(path, limit=64 * 1_048_576))
    except FileNotFoundError:
        return {"version": 1, "runs": [], "tools": {}}
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(str(path), getattr(exc, "lineno", None), f"not JSON: {exc}") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("tools"), dict)
        or not isinstance(data.get("runs", []), list)
    ):
        raise FileFormatError(str(path), 1, "expected {version, runs, tools}")
    for tool, figures in data["tools"].items():
        numbers = ("calls", "errors", "denied", "simulated", "cost_usd")
        if (
            not isinstance(figures, dict)
            or not all(isinstance(figures.get(k, 0), (int, float)) for k in numbers)
            or not isinstance(figures.get("durations", []), list)
        ):
            raise FileFormatError(
                str(path), None, f"tools.{tool} must be {{calls, errors, denied, simulated, cost_usd, durations}}"
            )
    return data


def record_run(path: Path, led: Any) -> bool:
    """Fold one ended run's steps into the stats (once per run id). False if already recorded."""
    from llmos_tui.core.workspace import write_json_atomic

    data = load_stats(path)
    runs = data.setdefault("runs", [])
    if led.run_id in runs:
        return False
    for s in led.steps:
        t = data["tools"].setdefault(s.tool, _empty())
        if s.status == "denied" or s.status == "skipped":
            t["denied"] += 1
            continue
        if s.status not in ("done", "failed"):
            continue
        t["calls"] += 1
        t["errors"] += s.status == "failed"
        t["simulated"] += bool(s.simulated)
        t["cost_usd"] = round(t["cost_usd"] + led.step_cost(s), 8)
        if s.duration_s is not None and not s.simulated:
            t["durations"] = (t["durations"] + [round(s.duration_s, 4)])[-SAMPLE:]
    runs.append(led.run_id)
    data["runs"] = runs[-5000:]  # enough to refuse a second count of any recent run
    write_json_atomic(path, data)
    return True


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def table(specs: dict[str, Any], stats: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per tool the ToolMap declares (and any other tool seen): declared beside observed."""
    rows = []
    names = list(specs) + [n for n in stats.get("tools", {}) if n not in specs]
    for name in names:
        spec = specs.get(name)
        t = stats.get("tools", {}).get(name) or _empty()
        calls = t["calls"]
        rows.append(
            {
                "tool": name,
                "declared_cost": spec.cost if spec else "?",
                "declared_latency": spec.latency if spec else "?",
                "side_effects": spec.side_effects if spec else "?",
                "approval": spec.approval if spec else "?",
                "calls": calls,
                "error_rate": (t["errors"] / calls) if calls else None,
                "p50_s": percentile(t["durations"], 50),
                "p95_s": percentile(t["durations"], 95),
                "cost_per_call": (t["cost_usd"] / calls) if calls else None,
                "denied": t["denied"],
            }
        )
    return rows
