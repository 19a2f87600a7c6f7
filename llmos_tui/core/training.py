"""TrainingDataCollector.md (export settings) and redaction: secrets never reach a trace or an export.

The redactor replaces, in every string of a JSON-like value (keys left alone), the values of the
configured environment variables and every match of the configured patterns with [REDACTED].
Some secrets are always redacted, whatever the file says: the Anthropic key and token variables,
`sk-ant-…` keys and bearer tokens.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_tui.core import frontmatter
from llmos_tui.core.errors import FileFormatError

REDACTED = "[REDACTED]"
FORMATS = ("seed", "anthropic", "openai", "sharegpt", "preference")
STATUSES = ("completed", "failed", "cancelled")
MODES = ("execute", "simulate")
ALWAYS_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
ALWAYS_PATTERNS = (r"sk-ant-[A-Za-z0-9_-]{10,}", r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{10,}")
MIN_SECRET_LEN = 8  # an environment value shorter than this is not treated as a secret


@dataclass(frozen=True)
class CollectorSettings:
    formats: tuple[str, ...] = FORMATS[:4]
    default_format: str = "anthropic"
    output_dir: str = "exports"
    status: tuple[str, ...] = ("completed",)
    mode: tuple[str, ...] = MODES
    human_reviewed: bool = False
    since: dt.date | None = None
    env_vars: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    include_simulated: bool = True
    path: str = ""


def load_collector_settings(path: Path) -> CollectorSettings:
    """Read TrainingDataCollector.md's front matter; a bad value names its file and line.
    A missing file gives the defaults."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return CollectorSettings(path=str(path))
    p = str(path)
    d = frontmatter.split(text, p).data

    def fail(key: str, problem: str) -> None:
        raise FileFormatError(p, frontmatter.key_line(text, key, default=2), problem)

    def names(value: Any, key: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail(key, f"{key} must be a list of names")
        bad = [v for v in value if allowed is not None and v not in allowed]
        if bad:
            fail(key, f"{key}: {', '.join(map(repr, bad))} is not one of {', '.join(allowed or ())}")
        return tuple(value)

    formats = names(d.get("formats", list(FORMATS[:4])), "formats", FORMATS)
    default = d.get("default_format", "anthropic")
    if default not in FORMATS:
        fail("default_format", f"default_format must be one of {', '.join(FORMATS)}, not {default!r}")
    if formats and default not in formats:
        fail("default_format", f"default_format {default!r} is not in formats ({', '.join(formats)})")
    filters = d.get("filters") or {}
    if not isinstance(filters, dict):
        fail("filters", "filters must be a mapping")
    since = filters.get("since")
    if since is not None and not isinstance(since, dt.date):
        try:
            since = dt.date.fromisoformat(str(since))
        except ValueError:
            fail("since", f"filters.since must be a date (YYYY-MM-DD) or null, not {since!r}")
    if isinstance(since, dt.datetime):
        since = since.date()
    reviewed = filters.get("human_reviewed", False)
    if not isinstance(reviewed, bool):
        fail("human_reviewed", "filters.human_reviewed must be true or false")
    red = d.get("redaction") or {}
    if not isinstance(red, dict):
        fail("redaction", "redaction must be a mapping with env_vars and patterns")
    patterns = names(red.get("patterns"), "patterns")
    for pat in patterns:
        try:
            re.compile(pat)
        except re.error as exc:
            fail("patterns", f"redaction pattern {pat!r} is not a valid regex: {exc}")
    sim = d.get("include_simulated", True)
    if not isinstance(sim, bool):
        fail("include_simulated", "include_simulated must be true or false")
    out = d.get("output_dir", "exports")
    if not isinstance(out, str) or not out:
        fail("output_dir", "output_dir must be a folder name")
    return CollectorSettings(
        formats=formats,
        default_format=default,
        output_dir=out,
        status=names(filters.get("status", ["completed"]), "status", STATUSES),
        mode=names(filters.get("mode", list(MODES)), "mode", MODES),
        human_reviewed=reviewed,
        since=since,
        env_vars=names(red.get("env_vars"), "env_vars"),
        patterns=patterns,
        include_simulated=sim,
        path=p,
    )


@dataclass
class Redactor:
    """Replaces secrets in every string of a JSON-like value."""

    env_vars: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    environ: dict[str, str] | None = None
    _regex: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        env = os.environ if self.environ is None else self.environ
        values = {env[name] for name in (*ALWAYS_ENV, *self.env_vars) if len(env.get(name) or "") >= MIN_SECRET_LEN}
        # each pattern on its own: a pattern may carry its own global flags, e.g. (?i)
        regexes = [re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))] if values else []
        regexes += [re.compile(p) for p in dict.fromkeys((*ALWAYS_PATTERNS, *self.patterns))]
        self._regex = regexes or None

    @classmethod
    def from_settings(cls, settings: CollectorSettings, environ: dict[str, str] | None = None) -> "Redactor":
        return cls(settings.env_vars, settings.patterns, environ)

    def text(self, s: str) -> str:
        if self._regex is None or not s:
            return s
        for rx in self._regex:
            s = rx.sub(REDACTED, s)
        return s

    def __call__(self, value: Any) -> Any:
        if self._regex is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        return value


def redactor_for(system_dir: Path) -> Redactor:
    """The redactor a workspace's traces are written with (its TrainingDataCollector.md); a file
    that does not parse still leaves the built-in redaction on."""
    try:
        return Redactor.from_settings(load_collector_settings(system_dir / "TrainingDataCollector.md"))
    except FileFormatError:
        return Redactor()
