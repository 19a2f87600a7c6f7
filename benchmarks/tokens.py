"""Benchmark the native runtime's token economy: prompt-cache reads, and a context that stays bounded.

Runs are driven in-process by the real engine (Runner + NativeRuntime on the anthropic SDK, streamed)
against FakeAnthropic (tests/fakeapi.py), a loopback Messages API that models the prompt cache: a
prefix is read from cache only if an earlier request wrote it (a breakpoint at or after it, prefix
≥ 1,024 tokens), and token counts are a deterministic estimate (about 4 characters a token). The
model's replies are a fixed script, the tools are the real ones on real files in a temporary
project (approval "never", execute mode), so every figure is the same on every run.

  A "typical"  20 tool-calling turns and a final text turn: plan, Glob, Bash ls/wc/head, Read,
               Grep, Edit, Write on a small project; tool outputs of ordinary size (a few hundred
               characters to a few KB). Per turn: input (after the last breakpoint), cache
               creation, cache read and total prompt tokens. The figure: the share of prompt
               tokens read from cache, Σ cache_read / Σ (input + creation + read); aim ≥ 95 %.
               Shown beside it: the same run by a runtime with no breakpoint on the messages
               (system + tools only), the best share any breakpoint placement could reach in this
               conversation (every token has to be sent uncached once), and the cost with and
               without caching (claude-sonnet-4-6 prices from core/pricing.py). Without caching
               every prompt token is billed as input; the fake's estimate ignores cache_control,
               so that cost is computed from the same token counts.
  B "large"    20 turns whose tool results are all large (Read of 60-120 KB logs, Bash `cat`,
               Grep over them: each capped at 30,000 characters by the tools). Prompt tokens per
               step for the runtime as shipped (trim_high 60k, trim_low 24k on the whole prompt,
               keep_recent 4: results cut to their start first, then the oldest exchanges left
               out with a one-line-a-call summary) and
               for a no-trim variant (trim_high huge), with the cache-read share of both and the
               trim batches. Aims: the shipped maximum ≤ trim_high + the largest single result,
               and the no-trim variant's last step ≥ 3x the shipped one.

    /work/venv/bin/python benchmarks/tokens.py            # both scenarios, per-turn tables, long check
    /work/venv/bin/python benchmarks/tokens.py --quick    # no per-turn tables, no "no message
                                                          # breakpoints" comparison run

No network: the API is on 127.0.0.1, ANTHROPIC_API_KEY is removed from the environment,
XDG_CONFIG_HOME points at a temporary folder, projects live in temporary folders.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # FakeAnthropic is test support code

from llmos_tui.core.config import load_agent_config  # noqa: E402
from llmos_tui.core.pricing import price_for  # noqa: E402
from llmos_tui.core.registry import ToolRegistry  # noqa: E402
from llmos_tui.core.runner import Runner, RunOptions  # noqa: E402
from llmos_tui.core.runtime.base import TurnRequest  # noqa: E402
from llmos_tui.core.runtime.native import NativeRuntime  # noqa: E402
from llmos_tui.core.scaffold import init_project  # noqa: E402
from llmos_tui.core.state import Usage  # noqa: E402
from llmos_tui.core.toolmap import load_toolmap  # noqa: E402
from llmos_tui.core.workspace import Workspace  # noqa: E402

from fakeapi import FakeAnthropic, Reply, estimate_tokens, message, prompt_pieces, text, tool_use  # noqa: E402

MODEL = "claude-sonnet-4-6"
MIN_CACHE_TOKENS = 1024
SHARE_AIM = 0.95
GROWTH_AIM = 3.0
GOAL_A = (
    "Review the inventory project: check the code and the data, add a restock helper, write a "
    "small report script and a summary of what you found in notes/summary.md."
)
GOAL_B = "Find out why the service crashed last night: go through every log file and summarise the errors."


def isolate_env() -> None:
    """No real key, no real settings: the fake API is given to the runtime explicitly."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        os.environ.pop(name, None)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="llmos-bench-config-")
    os.environ["TEXTUAL_ANIMATIONS"] = "none"


# ====================================================================== the two projects and scripts

README = """# inventory

A tiny stock-keeping module for the shop: it loads `data/items.csv` (sku, name, qty, unit price,
reorder level) and answers simple questions about it.

## Usage

    from src.inventory import load, low_stock
    items = load("data/items.csv")
    for item in low_stock(items):
        print(item.sku, item.name, item.qty)

## Notes

- Prices are in euros, quantities in units.
- TODO: a restock helper that says how many units to order.
- TODO: a report of the stock value per category.
"""

INVENTORY_PY = '''"""Load the shop's stock list and answer simple questions about it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    category: str
    qty: int
    price: float
    reorder_level: int

    @property
    def value(self) -> float:
        """What the units in stock are worth."""
        return round(self.qty * self.price, 2)


def load(path: str | Path) -> list[Item]:
    """Read the CSV file; a bad row raises ValueError naming its line."""
    items = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            try:
                items.append(Item(row["sku"], row["name"], row["category"], int(row["qty"]),
                                  float(row["price"]), int(row["reorder_level"])))
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: bad row ({exc})") from None
    return items


def low_stock(items: list[Item]) -> list[Item]:
    """Items at or below their reorder level, fewest first."""
    return sorted((i for i in items if i.qty <= i.reorder_level), key=lambda i: i.qty)


def by_category(items: list[Item]) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for item in items:
        out.setdefault(item.category, []).append(item)
    return out


def total_value(items: list[Item]) -> float:
    # TODO: round per category too
    return round(sum(i.value for i in items), 2)
'''

RESTOCK_FN = '''

def restock(items: list[Item], cover: int = 2) -> dict[str, int]:
    """Units to order per SKU so that each low item holds `cover` times its reorder level."""
    return {i.sku: cover * i.reorder_level - i.qty for i in low_stock(items)}
'''

REPORT_PY = '''"""Print the stock value per category and the items to restock."""

import sys

from inventory import by_category, load, restock, total_value


def main(path: str) -> None:
    items = load(path)
    print(f"{len(items)} items, stock value {total_value(items):.2f} EUR")
    for category, group in sorted(by_category(items).items()):
        print(f"  {category:<12} {len(group):>3} items  {sum(i.value for i in group):>10.2f} EUR")
    orders = restock(items)
    print(f"{len(orders)} items to restock:")
    for sku, units in sorted(orders.items()):
        print(f"  {sku}: order {units} units")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/items.csv")
'''

SUMMARY_MD = """# Inventory review

- `src/inventory.py` loads `data/items.csv` (80 items, 5 categories) and answers low-stock
  questions; the code is small and clear, with one TODO (rounding per category).
- Added `restock(items, cover=2)`: units to order so each low item holds twice its reorder level.
- Added `src/report.py`: stock value per category and the restock list.
- Data: every row parses; 16 items are at or below their reorder level.
- README's TODOs: the restock helper is done, the per-category report is done.

Next: a test for `restock`, and a check that prices are never negative.
"""


def items_csv() -> str:
    cats = ("tools", "garden", "kitchen", "paint", "electrical")
    words = ("hammer", "rake", "kettle", "brush", "cable", "spade", "ladle", "roller", "socket", "saw")
    lines = ["sku,name,category,qty,price,reorder_level"]
    for i in range(80):
        qty = (i * 37) % 50
        lines.append(
            f"SKU-{1000 + i},{words[i % 10]} {['small', 'medium', 'large', 'pro'][i % 4]},"
            f"{cats[i % 5]},{qty},{(i * 7919) % 9000 / 100 + 1:.2f},{5 + i % 11}"
        )
    return "\n".join(lines) + "\n"


def setup_a(root: Path) -> None:
    (root / "src").mkdir()
    (root / "data").mkdir()
    (root / "README.md").write_text(README, encoding="utf-8")
    (root / "src" / "inventory.py").write_text(INVENTORY_PY, encoding="utf-8")
    (root / "data" / "items.csv").write_text(items_csv(), encoding="utf-8")


def plan(*statuses: str) -> dict[str, Any]:
    titles = (
        "Explore the project files",
        "Read the code and the data",
        "Add a restock helper",
        "Write src/report.py",
        "Write notes/summary.md",
    )
    return {"steps": [{"title": t, "status": s} for t, s in zip(titles, statuses)]}


def script_a(steps: int) -> list[Reply]:
    """20 ordinary tool turns (cycled if asked for more), then a final text turn."""
    calls = [
        ("I'll plan first.", "UpdatePlan", plan("in_progress", "pending", "pending", "pending", "pending")),
        ("Let me see what is in the project.", "Glob", {"pattern": "**/*"}),
        (None, "Bash", {"command": "ls src data", "description": "list the folders"}),
        (None, "Read", {"file_path": "README.md"}),
        ("The README mentions two TODOs. Now the module.", "Read", {"file_path": "src/inventory.py"}),
        (None, "Grep", {"pattern": r"^def \w+", "path": "src", "output_mode": "content", "-n": True}),
        (None, "Bash", {"command": "wc -l data/items.csv src/*.py", "description": "count lines"}),
        ("Let me look at the data.", "Read", {"file_path": "data/items.csv", "limit": 40}),
        (None, "UpdatePlan", plan("completed", "completed", "in_progress", "pending", "pending")),
        (
            "I'll add the restock helper after total_value.",
            "Edit",
            {
                "file_path": "src/inventory.py",
                "old_string": "    return round(sum(i.value for i in items), 2)\n",
                "new_string": "    return round(sum(i.value for i in items), 2)\n" + RESTOCK_FN,
            },
        ),
        (None, "Read", {"file_path": "src/inventory.py", "offset": 45, "limit": 20}),
        ("Now the report script.", "Write", {"file_path": "src/report.py", "content": REPORT_PY}),
        (
            None,
            "Bash",
            {"command": "head -n 6 data/items.csv && wc -c data/items.csv", "description": "peek at the data"},
        ),
        (None, "Grep", {"pattern": "TODO", "-i": True, "output_mode": "files_with_matches"}),
        (
            "Both README TODOs are done now; I'll update it.",
            "Edit",
            {
                "file_path": "README.md",
                "old_string": "- TODO: a restock helper that says how many units to order.\n",
                "new_string": "- restock(items) says how many units to order (done).\n",
            },
        ),
        (None, "Write", {"file_path": "notes/summary.md", "content": SUMMARY_MD}),
        (None, "Read", {"file_path": "notes/summary.md"}),
        (None, "Glob", {"pattern": "src/*.py"}),
        (None, "Bash", {"command": "ls -1 notes src && grep -c , data/items.csv", "description": "check"}),
        (
            "Everything is in place.",
            "UpdatePlan",
            plan("completed", "completed", "completed", "completed", "completed"),
        ),
    ]
    out = []
    for i in range(steps):
        words, name, inputs = calls[i % len(calls)]
        out.append(message(*([text(words)] if words else []), tool_use(name, inputs)))
    out.append(
        message(
            text(
                "Done. I reviewed `src/inventory.py` and `data/items.csv`, added `restock()` to the module, "
                "wrote `src/report.py` (stock value per category and what to reorder) and summarised the "
                "review in `notes/summary.md`. The README's restock TODO is marked done."
            )
        )
    )
    return out


def log_file(n: int, size: int) -> str:
    """A deterministic service log of about `size` characters."""
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "INFO", "ERROR", "INFO")
    parts, used, i = [], 0, 0
    while used < size:
        lvl = levels[(i * 7 + n) % len(levels)]
        line = (
            f"2026-03-{1 + n:02d}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.{(i * 37) % 1000:03d}Z "
            f"{lvl:<5} worker-{(i * 13 + n) % 8} req={n:02d}{i:06d} "
            + (
                f"db pool exhausted after 30s wait; retrying (attempt {1 + i % 5} of 5)"
                if lvl == "ERROR"
                else f"GET /api/orders/{(i * 131) % 99991} 200 in {(i * 17) % 900} ms"
            )
        )
        parts.append(line)
        used += len(line) + 1
        i += 1
    return "\n".join(parts) + "\n"


def setup_b(root: Path) -> None:
    (root / "logs").mkdir()
    for n in range(1, 9):
        (root / "logs" / f"app-{n:02d}.log").write_text(log_file(n, 60_000 + n * 7_500), encoding="utf-8")


def script_b(steps: int) -> list[Reply]:
    """Every turn one call whose result is large (capped by the tools at 30,000 characters)."""
    out = []
    for i in range(steps):
        n = 1 + i % 8
        kind = i % 5
        if kind in (0, 2):
            call = tool_use("Read", {"file_path": f"logs/app-{n:02d}.log"})
        elif kind == 1:
            call = tool_use("Bash", {"command": f"cat logs/app-{n:02d}.log", "description": "show the log"})
        elif kind == 3:
            call = tool_use("Grep", {"pattern": "ERROR|WARN", "path": "logs", "output_mode": "content"})
        else:
            call = tool_use("Read", {"file_path": f"logs/app-{n:02d}.log", "offset": 400})
        out.append(message(text(f"Looking at the logs ({i + 1})."), call))
    out.append(
        message(
            text(
                "The crash follows a run of 'db pool exhausted' errors on every worker; "
                "raise the pool size or lower the request concurrency."
            )
        )
    )
    return out


# ====================================================================== runtimes


class Measured(NativeRuntime):
    """The runtime as shipped; only records its trim horizon after each request (no change)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.horizons: list[int] = []

    def build_params(self, request: TurnRequest) -> dict[str, Any]:
        params = super().build_params(request)
        self.horizons.append(self._trim_horizon)
        return params


class NoMessageBreakpoints(Measured):
    """Benchmark-only comparison: breakpoints on the tools and system prompt, none on messages."""

    def build_params(self, request: TurnRequest) -> dict[str, Any]:
        params = super().build_params(request)
        params["messages"] = [
            {**m, "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]]}
            for m in params["messages"]
        ]
        return params


# ====================================================================== one run


@dataclass
class Turn:
    input: int
    creation: int
    read: int
    output: int
    largest_result: int  # tokens of the largest tool_result in this request (fake's estimate)
    messages: int  # tokens of the messages alone (no tools/system)
    horizon: int = 0

    @property
    def prompt(self) -> int:
        return self.input + self.creation + self.read


@dataclass
class RunResult:
    label: str
    status: str
    turns: list[Turn]
    prefix: int  # tools + system tokens
    ideal_reads: list[int]  # per request, the most any breakpoint placement could read from cache
    seconds: float
    trim_batches: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_prompt(self) -> int:
        return sum(t.prompt for t in self.turns)

    @property
    def share(self) -> float:
        return sum(t.read for t in self.turns) / max(1, self.total_prompt)

    @property
    def ideal_uncached(self) -> int:
        """Tokens no breakpoint placement could avoid sending uncached."""
        return self.total_prompt - sum(self.ideal_reads)

    @property
    def ideal_share(self) -> float:
        return 1 - self.ideal_uncached / max(1, self.total_prompt)

    def usage(self) -> Usage:
        return Usage(
            input_tokens=sum(t.input for t in self.turns),
            output_tokens=sum(t.output for t in self.turns),
            cache_read_input_tokens=sum(t.read for t in self.turns),
            cache_creation_input_tokens=sum(t.creation for t in self.turns),
        )

    def cost(self) -> float:
        price = price_for(MODEL)
        assert price is not None
        return price.cost(self.usage())

    def cost_uncached(self) -> float:
        """Every prompt token billed as plain input (what a run without any breakpoint pays)."""
        price = price_for(MODEL)
        assert price is not None
        return price.cost(Usage(input_tokens=self.total_prompt, output_tokens=sum(t.output for t in self.turns)))


def _ideal_reads(bodies: list[dict]) -> list[int]:
    """Per request, the longest prefix (≥ the cache minimum) an earlier request sent: what a cache
    read could cover at best under the fake's cache model, whatever the breakpoint placement."""
    seen: set[str] = set()
    out = []
    for body in bodies:
        h = hashlib.sha256(("model:" + str(body.get("model"))).encode()).hexdigest()
        hashes, cum, running = [], [], 0
        for ident, piece, _ in prompt_pieces(body):
            h = hashlib.sha256(
                (h + "\x00" + ident + "\x00" + json.dumps(piece, sort_keys=True, ensure_ascii=False)).encode()
            ).hexdigest()
            running += estimate_tokens(piece)
            hashes.append(h)
            cum.append(running)
        out.append(max((cum[i] for i, hh in enumerate(hashes) if hh in seen and cum[i] >= MIN_CACHE_TOKENS), default=0))
        seen.update(hashes)
    return out


def drive(
    label: str, setup: Callable[[Path], None], replies: list[Reply], goal: str, make_runtime: Callable[[str], Measured]
) -> RunResult:
    with (
        tempfile.TemporaryDirectory(prefix="llmos-bench-tokens-") as tmp,
        FakeAnthropic(replies, min_cache_tokens=MIN_CACHE_TOKENS) as api,
    ):
        init_project(Path(tmp))
        ws = Workspace.locate(tmp)
        setup(ws.root)
        config = dataclasses.replace(
            load_agent_config(ws.system / "SystemAgent.md"),
            model=MODEL,
            approval="never",
            max_turns=len(replies) + 10,
            max_cost_usd=None,
        )
        registry = ToolRegistry(load_toolmap(ws.system / "ClaudeCodeToolMap.md"))
        rt = make_runtime(api.base_url)
        runner = Runner.start(
            ws,
            goal,
            config=config,
            registry=registry,
            runtime=rt,
            runtime_name="native",
            mode="execute",
            options=RunOptions(poll_interval=0.01),
        )
        t0 = time.perf_counter()
        status = asyncio.run(runner.drive())
        seconds = time.perf_counter() - t0
        reqs = api.message_requests
        failed = [s for s in runner.ledger.steps if s.status != "done"]
        turns = []
        for i, r in enumerate(reqs):
            u = r.usage or {}
            results = [
                b
                for m in r.body["messages"]
                if isinstance(m.get("content"), list)
                for b in m["content"]
                if b.get("type") == "tool_result"
            ]
            turns.append(
                Turn(
                    input=u.get("input_tokens", 0),
                    creation=u.get("cache_creation_input_tokens", 0),
                    read=u.get("cache_read_input_tokens", 0),
                    output=u.get("output_tokens", 0),
                    largest_result=max(
                        (estimate_tokens({k: v for k, v in b.items() if k != "cache_control"}) for b in results),
                        default=0,
                    ),
                    messages=sum(
                        estimate_tokens(p) for ident, p, _ in prompt_pieces(r.body) if ident.startswith("msg")
                    ),
                    horizon=rt.horizons[i] if i < len(rt.horizons) else 0,
                )
            )
        first = reqs[0].body
        prefix = sum(estimate_tokens(p) for ident, p, _ in prompt_pieces(first) if not ident.startswith("msg"))
        batches = sum(1 for a, b in zip([0, *rt.horizons], rt.horizons) if b > a)
        return RunResult(
            label,
            status,
            turns,
            prefix,
            _ideal_reads([r.body for r in reqs]),
            seconds,
            trim_batches=batches,
            extra={
                "failed_steps": [(s.n, s.tool, s.status) for s in failed],
                "requests": len(reqs),
                "pending": api.pending,
            },
        )


def check_run(r: RunResult, expected_requests: int) -> None:
    if r.status != "completed" or r.extra["requests"] != expected_requests or r.extra["pending"]:
        raise SystemExit(
            f"{r.label}: the run ended {r.status!r} after {r.extra['requests']} requests "
            f"({r.extra['pending']} replies unused); expected completed after {expected_requests}"
        )
    if r.extra["failed_steps"]:
        print(f"  note ({r.label}): steps that did not end `done`: {r.extra['failed_steps']}")


# ====================================================================== report


def pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def turn_table(r: RunResult) -> None:
    print(f"  {'turn':>4} {'input':>7} {'creation':>9} {'read':>8} {'prompt':>8} {'read %':>7}")
    for i, t in enumerate(r.turns, 1):
        print(
            f"  {i:>4} {t.input:>7} {t.creation:>9} {t.read:>8} {t.prompt:>8} {t.read / max(1, t.prompt) * 100:>6.1f}%"
        )
    print(
        f"  {'Σ':>4} {sum(t.input for t in r.turns):>7} {sum(t.creation for t in r.turns):>9} "
        f"{sum(t.read for t in r.turns):>8} {r.total_prompt:>8} {r.share * 100:>6.1f}%"
    )


def scenario_a(steps: int, quick: bool) -> list[str]:
    print(f"\nA. typical: {steps} tool turns + a final text turn, ordinary outputs")
    shipped = drive(
        "A shipped",
        setup_a,
        script_a(steps),
        GOAL_A,
        lambda url: Measured(api_key="test-key", base_url=url, model=MODEL, max_retries=0),
    )
    check_run(shipped, steps + 1)
    if not quick:
        turn_table(shipped)
    nomsg = None
    if not quick:
        nomsg = drive(
            "A no message breakpoints",
            setup_a,
            script_a(steps),
            GOAL_A,
            lambda url: NoMessageBreakpoints(api_key="test-key", base_url=url, model=MODEL, max_retries=0),
        )
        check_run(nomsg, steps + 1)
    last = shipped.turns[-1].prompt
    print(
        f"  prefix (tools + system prompt): {shipped.prefix} tokens; last prompt {last} tokens; "
        f"Σ prompt {shipped.total_prompt} tokens over {len(shipped.turns)} requests; run {shipped.seconds:.2f} s"
    )
    ok = shipped.share >= SHARE_AIM
    print(
        f"  cache-read share, as shipped:             {pct(shipped.share):>8}   (aim ≥ {SHARE_AIM * 100:.0f} %)"
        + ("" if ok else "  ← MISSED")
    )
    print(
        f"  best any breakpoint placement could do:   {pct(shipped.ideal_share):>8}   "
        f"(each token sent uncached once: Σ {shipped.ideal_uncached} tokens)"
    )
    if nomsg is not None:
        print(f"  no breakpoint on the messages:            {pct(nomsg.share):>8}")
    print(
        f"  cost (claude-sonnet-4-6): ${shipped.cost():.4f} as shipped"
        + (f", ${nomsg.cost():.4f} without message breakpoints" if nomsg else "")
        + f", ${shipped.cost_uncached():.4f} with no caching at all "
        f"(caching cuts the cost to {shipped.cost() / shipped.cost_uncached():.0%})"
    )
    missed = []
    if not ok:
        gap_placement = shipped.ideal_share - shipped.share
        print(
            f"  why under the aim: the run reads {pct(shipped.share)} of {pct(shipped.ideal_share)} possible "
            f"({gap_placement * 100:.2f} points lost to breakpoint placement); the rest is the first "
            f"write of the prefix and of each turn's new blocks ({shipped.ideal_uncached} of "
            f"{shipped.total_prompt} tokens), which no placement can avoid: a {len(shipped.turns)}-request "
            f"run with a {shipped.prefix}-token prefix reaches 95 % only if it is longer or its prefix larger."
        )
        missed.append(
            f"A: cache share {pct(shipped.share)} < {SHARE_AIM * 100:.0f} % "
            f"(ceiling for this conversation {pct(shipped.ideal_share)})"
        )
    return missed


def scenario_b(steps: int, quick: bool) -> list[str]:
    print(f"\nB. large outputs: {steps} tool turns, each result capped at 30,000 characters")
    shipped = drive(
        "B shipped",
        setup_b,
        script_b(steps),
        GOAL_B,
        lambda url: Measured(api_key="test-key", base_url=url, model=MODEL, max_retries=0),
    )
    check_run(shipped, steps + 1)
    notrim = drive(
        "B no trim",
        setup_b,
        script_b(steps),
        GOAL_B,
        lambda url: Measured(
            api_key="test-key", base_url=url, model=MODEL, max_retries=0, trim_high=10**12, trim_low=10**12
        ),
    )
    check_run(notrim, steps + 1)
    probe = NativeRuntime(api_key="test-key", base_url="http://127.0.0.1:9")
    high, low = probe.trim_high, probe.trim_low
    if not quick:
        print(
            f"  {'turn':>4} | {'shipped: prompt':>15} {'read':>7} {'creation':>8} {'msgs':>7} {'trim':>5} "
            f"| {'no trim: prompt':>15} {'read':>7} {'creation':>8} | {'largest result':>14}"
        )
        prev_h = 0
        for i, (a, b) in enumerate(zip(shipped.turns, notrim.turns), 1):
            mark = f"✂{a.horizon}" if a.horizon > prev_h else ""
            prev_h = a.horizon
            print(
                f"  {i:>4} | {a.prompt:>15} {a.read:>7} {a.creation:>8} {a.messages:>7} {mark:>5} "
                f"| {b.prompt:>15} {b.read:>7} {b.creation:>8} | {a.largest_result:>14}"
            )
    largest = max(t.largest_result for t in shipped.turns)
    peak = max(t.prompt for t in shipped.turns)
    peak_msgs = max(t.messages for t in shipped.turns)
    bound = high + largest
    last_a, last_b = shipped.turns[-1].prompt, notrim.turns[-1].prompt
    growth = last_b / max(1, last_a)
    # the plateau: shipped prompts after the first trim
    after = [t.prompt for t in shipped.turns if t.horizon > 0]
    print(
        f"  prefix (tools + system prompt): {shipped.prefix} tokens; largest single result {largest} tokens; "
        f"trim_high {high}, trim_low {low} (counted on the whole prompt)"
    )
    ok_bound = peak <= bound
    print(
        f"  shipped max prompt: {peak} tokens (messages {peak_msgs})   aim ≤ trim_high + largest result "
        f"= {bound}" + ("" if ok_bound else "  ← MISSED")
    )
    if after:
        print(
            f"  shipped after the first trim: {min(after)}–{max(after)} tokens (sawtooth), "
            f"{shipped.trim_batches} trim batches in {len(shipped.turns)} requests"
        )
    ok_growth = growth >= GROWTH_AIM
    print(
        f"  last request: shipped {last_a}, no trim {last_b} tokens = {growth:.1f}x   aim ≥ {GROWTH_AIM:.0f}x"
        + ("" if ok_growth else "  ← MISSED")
    )
    per_step = (notrim.turns[-1].prompt - notrim.turns[0].prompt) / max(1, len(notrim.turns) - 1)
    print(f"  no trim grows linearly: {notrim.turns[0].prompt} → {last_b} tokens (≈ {per_step:.0f} per step)")
    batches = [
        (t.read, ideal)
        for t, ideal, h0 in zip(shipped.turns, shipped.ideal_reads, [0] + [t.horizon for t in shipped.turns])
        if t.horizon > h0
    ]
    if batches:
        lost = [i - r for r, i in batches if i > r]
        print(
            f"  a trim batch's request reads {', '.join(str(r) for r, _ in batches)} tokens from cache, of "
            f"{', '.join(str(i) for _, i in batches)} unchanged since an earlier request"
            + (f" ({sum(lost)} tokens written again)" if lost else " (all of it)")
        )
    print(
        f"  cache-read share: shipped {pct(shipped.share)} (ceiling {pct(shipped.ideal_share)}), "
        f"no trim {pct(notrim.share)} (ceiling {pct(notrim.ideal_share)})"
    )
    print(
        f"  Σ prompt tokens: shipped {shipped.total_prompt}, no trim {notrim.total_prompt}; cost "
        f"${shipped.cost():.4f} vs ${notrim.cost():.4f} (no caching at all: ${shipped.cost_uncached():.4f} "
        f"vs ${notrim.cost_uncached():.4f}); runs {shipped.seconds:.2f} s, {notrim.seconds:.2f} s"
    )
    missed = []
    if not ok_bound:
        missed.append(f"B: max prompt {peak} > {bound}")
    if not ok_growth:
        missed.append(f"B: no-trim last step only {growth:.1f}x the shipped one")
    return missed


def scenario_b_long(steps: int) -> list[str]:
    """An extra check beyond the 20-step aim: the same large outputs over a long run, as shipped."""
    print(f"\nB, long (extra check): the same large outputs for {steps} tool turns, runtime as shipped")
    r = drive(
        "B long",
        setup_b,
        script_b(steps),
        GOAL_B,
        lambda url: Measured(api_key="test-key", base_url=url, model=MODEL, max_retries=0),
    )
    check_run(r, steps + 1)
    high = NativeRuntime(api_key="test-key", base_url="http://127.0.0.1:9").trim_high
    largest = max(t.largest_result for t in r.turns)
    peak = max(t.prompt for t in r.turns)
    bound = high + largest
    n = len(r.turns)
    marks = [t.horizon > h for t, h in zip(r.turns, [0] + [t.horizon for t in r.turns])]
    tail = r.turns[-20:]
    tail_batches = sum(marks[-20:])
    ok = peak <= bound
    print(
        f"  max prompt {peak} tokens (aim ≤ {bound})"
        + ("" if ok else "  ← MISSED")
        + f"; last requests grow by ≈ {(tail[-1].prompt - tail[0].prompt) / (len(tail) - 1):.0f} tokens/step"
    )
    print(
        f"  trim batches: {r.trim_batches} in {n} requests, {tail_batches} of the last {len(tail)}; "
        f"a batch's request reads only {min(t.read for t, m in zip(r.turns, marks) if m) if any(marks) else 0} "
        f"tokens from cache"
    )
    print(
        f"  cache-read share {pct(r.share)} (ceiling {pct(r.ideal_share)}); cost ${r.cost():.2f} vs "
        f"${r.cost_uncached():.2f} with no caching at all; last 20 requests: "
        f"{pct(sum(t.read for t in tail) / sum(t.prompt for t in tail))} read from cache"
    )
    return [] if ok else [f"B long (extra): max prompt {peak} > {bound} after {steps} steps"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="no per-turn tables and no 'no message breakpoints' comparison run"
    )
    ap.add_argument("--steps", type=int, default=20, help="tool turns per run (default 20)")
    ap.add_argument(
        "--long",
        type=int,
        default=150,
        help="tool turns of the extra long-run check of B (default 150; 0: skip; --quick skips it)",
    )
    args = ap.parse_args(argv)
    isolate_env()
    t0 = time.perf_counter()
    import anthropic

    print(
        f"llmos-tui token economy — NativeRuntime on anthropic {anthropic.__version__} against FakeAnthropic "
        f"(prompt-cache model, min {MIN_CACHE_TOKENS} tokens), model {MODEL}, Python {sys.version.split()[0]}"
    )
    print(
        "(tokens are the fake's estimate, about 4 characters each; prompt = input + cache creation + cache read; "
        "input = what follows the last breakpoint)"
    )
    missed = scenario_a(args.steps, args.quick) + scenario_b(args.steps, args.quick)
    if args.long and not args.quick:
        missed += scenario_b_long(args.long)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    print("verdict: all aims met" if not missed else "verdict: missed — " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
