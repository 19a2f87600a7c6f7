"""SystemAgent.md: front matter = run configuration, body = the system prompt."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from llmos_tui.core import frontmatter
from llmos_tui.core.engine.breakpoints import KINDS, check_all
from llmos_tui.core.errors import BadInput, FileFormatError, LlmosError
from llmos_tui.core.inputs import SYSTEM_FILE_MAX, read_text
from llmos_tui.core.profile import (
    default_context_window,
    default_max_tokens,
    default_small_model,
    is_claude,
)

if TYPE_CHECKING:
    from llmos_tui.core.registry import ToolRegistry

APPROVAL_POLICIES = ("ask", "side-effects", "never")
PROFILE_KEYS = frozenset({"small_model", "context_window", "max_tokens"})  # derived from the model unless set


@dataclass(frozen=True)
class AgentConfig:
    name: str = "SystemAgent"
    # the model profile (core/profile.py): what is not set follows the model
    model: str = "claude-sonnet-4-6"
    max_tokens: int = 8192  # a reply's max_tokens (default: 8192, or a quarter of a smaller context)
    small_model: str = "claude-haiku-4-5"  # the side calls' model (SmartMemory's summary, WebFetch's answer)
    context_window: int = 200_000  # the model's context, in tokens: the prompt and max_tokens fit in it
    max_turns: int = 60
    approval: str = "side-effects"
    max_cost_usd: float | None = 2.0
    allow_read: tuple[str, ...] = ("../system",)
    allow_write: tuple[str, ...] = ()
    memory_top_k: int = 3
    max_task_depth: int = 2
    recent_steps: int = 20
    bash_network: bool = False  # Bash's sandbox lets it reach the network (ToolMap `network: allow` does too)
    breakpoints: tuple[str, ...] = ()  # specs (core/engine/breakpoints.py): calls that wait even under `never`
    checkpoints: bool = True  # the workspace's files recorded before each side effect (rewind, fork, diff)
    checkpoint_ignore: tuple[str, ...] | None = None  # gitignore patterns, after the defaults (None: defaults only)
    checkpoint_max_file_mb: float = 10.0  # a bigger file is left out of checkpoints (and said so)
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    system_prompt: str = ""
    path: str = ""
    notes: tuple[str, ...] = ()  # what a person should know about how the file was read (said at run start)
    explicit: tuple[tuple[str, Any], ...] = ()  # the PROFILE_KEYS SystemAgent.md (or a caller) set, as set
    profile_notes: tuple[str, ...] = ()  # the notes about the model profile among `notes` (redone on a change)

    def with_(self, **changes: Any) -> "AgentConfig":
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes.keys() & (PROFILE_KEYS | {"model", "prices", "max_cost_usd"}):
            return replace(self, **changes)
        explicit = {**dict(self.explicit), **{k: v for k, v in changes.items() if k in PROFILE_KEYS}}
        return replace(self, **changes, explicit=tuple(sorted(explicit.items()))).resolved()

    @property
    def cost_known(self) -> bool:
        """Whether the model and the side calls' model have a price (SystemAgent.md's, or the table's)."""
        from llmos_tui.core.pricing import price_for

        return all(price_for(m, self.prices) is not None for m in (self.model, self.small_model))

    def resolved(self) -> "AgentConfig":
        """The profile's derived values for this model (what SystemAgent.md does not set), and the
        notes a person should read at run start: a model without a price, a context window assumed."""
        claude, model, set_ = is_claude(self.model), self.model, dict(self.explicit)
        ctx = int(set_.get("context_window") or default_context_window(model))
        small = str(set_.get("small_model") or default_small_model(model))
        max_tokens = int(set_.get("max_tokens") or default_max_tokens(ctx))
        said: list[str] = []
        if max_tokens >= ctx:  # (both set: load_agent_config refuses the file)
            said.append(
                f"max_tokens {max_tokens} leaves no room for the prompt in the {ctx:,}-token context assumed "
                f"for {model}: {default_max_tokens(ctx)} is used; set context_window: (and max_tokens:) in "
                "SystemAgent.md"
            )
            max_tokens = default_max_tokens(ctx)
        elif not claude and "context_window" not in set_:
            said.append(
                f"model {model}: its context window is not known, {ctx:,} tokens are assumed (max_tokens "
                f"{max_tokens}, and the conversation trimmed to fit); set context_window: in SystemAgent.md"
            )
        from llmos_tui.core.pricing import price_for

        unpriced = list(dict.fromkeys(m for m in (model, small) if price_for(m, self.prices) is None))
        if unpriced:
            budget = "; max_cost_usd cannot be enforced" if self.max_cost_usd is not None else ""
            said.append(
                f"{' and '.join(unpriced)} {'has' if len(unpriced) == 1 else 'have'} no price: the run's cost "
                f"is unknown (shown as such, never $0){budget}; SystemAgent.md's prices: gives a model one"
            )
        elif claude and (url := _other_endpoint()):
            said.append(
                f"ANTHROPIC_BASE_URL is {url}, not Anthropic's API: replies naming {model} are priced as "
                "Claude; if that server runs another model, name it in model: (its cost is then unknown) or "
                "give it prices:"
            )
        kept = tuple(n for n in self.notes if n not in self.profile_notes)
        return replace(
            self,
            context_window=ctx,
            small_model=small,
            max_tokens=max_tokens,
            notes=kept + tuple(said),
            profile_notes=tuple(said),
        )


def _other_endpoint() -> str | None:
    """ANTHROPIC_BASE_URL when it names a server other than Anthropic's API."""
    import os
    from urllib.parse import urlsplit

    url = (os.environ.get("ANTHROPIC_BASE_URL") or "").strip()
    if not url:
        return None
    host = (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()
    return None if host == "anthropic.com" or host.endswith(".anthropic.com") else url


def load_agent_config(path: Path) -> AgentConfig:
    """Read and validate SystemAgent.md; a bad value names its file and line. A file without
    front matter (LLMunix's own SystemAgent.md) runs with the defaults, its text the prompt."""
    p = str(path)
    try:
        text = read_text(path, limit=SYSTEM_FILE_MAX)
    except FileNotFoundError:
        raise FileFormatError(p, None, "is missing; `llmos-tui init` writes the default") from None
    if not frontmatter.has_front_matter(text):
        if not text.strip():
            raise FileFormatError(p, None, "is empty: it needs a system prompt (`llmos-tui init` repairs a default)")
        return AgentConfig(
            system_prompt=text.strip() + "\n",
            path=p,
            notes=(
                f"{p} has no front matter (a `---` block of settings at its top): running with the "
                f"default settings (model {AgentConfig.model}, approval {AgentConfig.approval}, max cost "
                f"${AgentConfig.max_cost_usd}); its whole text is the system prompt",
            ),
        ).resolved()
    fm = frontmatter.split(text, p)
    d = fm.data

    def fail(key: str, problem: str) -> NoReturn:
        raise FileFormatError(p, frontmatter.key_line(text, key, default=2), problem)

    def get_int(key: str, default: int, minimum: int) -> int:
        v = d.get(key, default)
        if v is None and key in PROFILE_KEYS:  # (`context_window:` with no value: the model's default)
            v = default
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            fail(key, f"{key} must be a whole number ≥ {minimum}, not {v!r}")
        return v

    def section(key: str) -> dict[str, Any]:
        v = d.get(key) or {}
        if not isinstance(v, dict):
            fail(key, f"{key} must be a mapping")
        return v

    approval = d.get("approval", "side-effects")
    if approval not in APPROVAL_POLICIES:
        fail("approval", f"approval must be one of {', '.join(APPROVAL_POLICIES)}, not {approval!r}")
    model = d.get("model", AgentConfig.model)
    if not isinstance(model, str) or not model:
        fail("model", "model must be a model name")
    small_model = d.get("small_model")
    if small_model is not None and (not isinstance(small_model, str) or not small_model.strip()):
        fail("small_model", "small_model must be a model name (the side calls' model), or left out")
    explicit = {k: d[k] for k in PROFILE_KEYS if d.get(k) is not None}
    context_window = get_int("context_window", default_context_window(model), 256)
    max_tokens = get_int("max_tokens", default_max_tokens(context_window), 1)
    if {"context_window", "max_tokens"} <= explicit.keys() and max_tokens >= context_window:
        fail(
            "max_tokens",
            f"max_tokens ({max_tokens}) must be smaller than context_window ({context_window}): the prompt "
            "and the reply share the context",
        )
    cost = d.get("max_cost_usd", AgentConfig.max_cost_usd)
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost <= 0):
        fail("max_cost_usd", f"max_cost_usd must be a number > 0 or null, not {cost!r}")
    paths = section("paths")
    lists: dict[str, tuple[str, ...]] = {}
    for key, default in (("allow_read", AgentConfig.allow_read), ("allow_write", ())):
        v = paths.get(key, list(default))
        if v is None:
            v = []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            fail("paths", f"paths.{key} must be a list of paths")
        lists[key] = tuple(v)
    memory = section("memory")
    top_k = memory.get("top_k", 3)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
        fail("memory", "memory.top_k must be a whole number ≥ 0")
    state = section("state")
    recent = state.get("recent_steps", 20)
    if not isinstance(recent, int) or isinstance(recent, bool) or recent < 1:
        fail("state", "state.recent_steps must be a whole number ≥ 1")
    bash_network = d.get("bash_network", False)
    if not isinstance(bash_network, bool):
        fail("bash_network", f"bash_network must be true or false, not {bash_network!r}")
    breakpoints = d.get("breakpoints") or []
    if not isinstance(breakpoints, list):
        fail("breakpoints", f"breakpoints must be a list of breakpoints ({KINDS}), not {breakpoints!r}")
    try:
        breakpoints = check_all(breakpoints, None)  # (tool names: against the ToolMap, in check_breakpoints)
    except BadInput as exc:
        fail("breakpoints", f"breakpoints: {exc}")
    checkpoints = d.get("checkpoints", True)
    if not isinstance(checkpoints, bool):
        fail("checkpoints", f"checkpoints must be true or false, not {checkpoints!r}")
    ignore = d.get("checkpoint_ignore")
    if ignore is not None and (
        not isinstance(ignore, list) or not all(isinstance(x, str) and x.strip() for x in ignore)
    ):
        fail("checkpoint_ignore", "checkpoint_ignore must be a list of gitignore patterns (e.g. [data/, '*.log'])")
    cap = d.get("checkpoint_max_file_mb", 10)
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0:
        fail("checkpoint_max_file_mb", f"checkpoint_max_file_mb must be a number > 0, not {cap!r}")
    prices = section("prices")
    for m, table in prices.items():
        if not isinstance(table, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in table.values()
        ):
            fail("prices", f"prices.{m} must map input/output/cache_write/cache_read to numbers")
    if not fm.body.strip():
        raise FileFormatError(p, None, "the body (the system prompt) is empty")
    return AgentConfig(
        name=str(d.get("name", "SystemAgent")),
        model=model,
        max_turns=get_int("max_turns", 60, 1),
        max_tokens=max_tokens,
        small_model=small_model or default_small_model(model),
        context_window=context_window,
        explicit=tuple(sorted(explicit.items())),
        max_task_depth=get_int("max_task_depth", 2, 0),
        approval=approval,
        max_cost_usd=float(cost) if cost is not None else None,
        allow_read=lists["allow_read"],
        allow_write=lists["allow_write"],
        memory_top_k=top_k,
        recent_steps=recent,
        bash_network=bash_network,
        breakpoints=breakpoints,
        checkpoints=checkpoints,
        checkpoint_ignore=tuple(ignore) if ignore is not None else None,
        checkpoint_max_file_mb=float(cap),
        prices=prices,
        system_prompt=fm.body.strip() + "\n",
        path=p,
    ).resolved()


def check_breakpoints(config: AgentConfig, registry: ToolRegistry) -> None:
    """SystemAgent.md's breakpoints against the ToolMap (a tool breakpoint must name one of its
    tools): a bad one is reported with the file's line, like the other keys."""
    try:
        check_all(config.breakpoints, registry)
    except BadInput as exc:
        line = None
        try:
            line = frontmatter.key_line(read_text(Path(config.path), limit=SYSTEM_FILE_MAX), "breakpoints")
        except (OSError, LlmosError):
            pass
        raise FileFormatError(config.path, line, f"breakpoints: {exc}") from None
