"""Breakpoints: a call that would run at once waits for a person instead, and the step says which
breakpoint stopped it (docs/design.md §10.1).

One spec is one string, the same everywhere (SystemAgent.md `breakpoints:`, `--break`, the
`breakpoints` control command):

- `Write` — a ToolMap tool name: every call of that tool;
- `path:GLOB` — a call whose file path (Write/Edit/Read `file_path`, NotebookEdit `notebook_path`,
  Glob/Grep `path`) matches GLOB. The path is taken relative to the workspace (`./x` is `x`, an
  absolute path inside the workspace is made relative, one outside stays absolute), then matched
  as Python 3.13's `PurePath.full_match` does: `*` and `?` within one path segment, `[abc]` a
  class, `**` as a whole segment any number of segments (none included). A GLOB without a `/`
  is matched against the file's name, at any depth (`path:*.env`);
- `bash:REGEX` — a Bash call whose `command` matches REGEX (`re.search`);
- `step:N` — the step numbered N (steps are tool calls, numbered from 1);
- `cost:USD` — the first step gated after the run's cost went above USD (it stops once, when the
  cost crosses it, not before every later step);
- `failed` — the step after a step that failed.

`hit` runs at every step: the specs are compiled once per tuple of specs, and nothing is done for
a run without breakpoints.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmos_tui.core.errors import BadInput

if TYPE_CHECKING:
    from llmos_tui.core.ledger import Ledger, StepRecord
    from llmos_tui.core.registry import ToolRegistry

KINDS = "a tool name (Write), path:GLOB, bash:REGEX, step:N, cost:USD or failed"
# the file-path input of each tool a path: breakpoint looks at
PATH_INPUTS = {
    "Write": "file_path",
    "Edit": "file_path",
    "Read": "file_path",
    "NotebookEdit": "notebook_path",
    "Glob": "path",
    "Grep": "path",
}
_PREFIXED = ("path", "bash", "step", "cost")


@dataclass(frozen=True)
class Breakpoint:
    spec: str  # as written (less surrounding blanks)
    kind: str  # tool | path | bash | step | cost | failed
    tool: str = ""
    pattern: re.Pattern[str] | None = None  # path: the glob as a regex; bash: the regex
    basename: bool = False  # path: a glob without "/" matches the file's name
    number: float = 0.0  # step: N; cost: USD

    def matches(self, step: StepRecord, ledger: Ledger, root: str | None) -> bool:
        kind = self.kind
        if kind == "tool":
            return step.tool == self.tool
        if kind == "step":
            return step.n == self.number
        if kind == "failed":
            return step.n >= 2 and ledger.steps[step.n - 2].status == "failed"
        if kind == "bash":
            command = step.inputs.get("command") if step.tool == "Bash" else None
            return isinstance(command, str) and self.pattern is not None and self.pattern.search(command) is not None
        if kind == "path":
            key = PATH_INPUTS.get(step.tool)
            if key is None or self.pattern is None:
                return False
            raw = step.inputs.get(key)
            if not isinstance(raw, str) or not raw:
                if step.tool not in ("Glob", "Grep") or raw not in (None, ""):
                    return False
                raw = "."  # Glob and Grep search the workspace by default
            rel = relative_path(raw, root)
            return self.pattern.fullmatch(posixpath.basename(rel) if self.basename else rel) is not None
        if kind == "cost":
            return _crossed(self.number, step, ledger)
        return False


def parse_breakpoint(text: Any, registry: ToolRegistry | None = None) -> Breakpoint:
    """One spec → Breakpoint; BadInput with a one-line reason when it is not one. Without a
    registry a tool name is taken as written (SystemAgent.md is read before the ToolMap)."""
    if not isinstance(text, str):
        raise BadInput(f"a breakpoint is text ({KINDS}), not {text!r}")
    spec = text.lstrip()
    if not spec.startswith("bash:"):  # (a regex may end in a blank on purpose)
        spec = spec.rstrip()
    if not spec:
        raise BadInput(f"a breakpoint is empty; use {KINDS}")
    if "\n" in spec or "\r" in spec:
        raise BadInput(f"breakpoint {spec!r} spans lines; a breakpoint is one line")
    if spec == "failed":
        return Breakpoint(spec, "failed")
    prefix, colon, rest = spec.partition(":")
    if not colon:
        if registry is not None and spec not in registry.specs:
            raise BadInput(
                f"breakpoint {spec!r}: no tool {spec!r} in the ToolMap (tools: {', '.join(sorted(registry.specs))}); "
                f"a breakpoint is {KINDS}"
            )
        return Breakpoint(spec, "tool", tool=spec)
    if prefix not in _PREFIXED:
        raise BadInput(f"breakpoint {spec!r}: unknown kind {prefix + ':'!r}; a breakpoint is {KINDS}")
    if prefix == "bash":
        if not rest:
            raise BadInput(
                f"breakpoint {spec!r}: bash: needs a regular expression (bash:REGEX; `Bash` stops every call)"
            )
        try:
            return Breakpoint(spec, "bash", pattern=re.compile(rest))
        except re.error as exc:
            raise BadInput(f"breakpoint {spec!r}: not a regular expression ({exc})") from None
    value = rest.strip()
    if prefix == "step":
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            raise BadInput(f"breakpoint {spec!r}: step: needs a step number ≥ 1 (step:N)")
        return Breakpoint(spec, "step", number=int(value))
    if prefix == "cost":
        try:
            usd = float(value)
        except ValueError:
            usd = math.nan
        if not math.isfinite(usd) or usd <= 0:
            raise BadInput(f"breakpoint {spec!r}: cost: needs a number of USD > 0 (cost:USD)")
        return Breakpoint(spec, "cost", number=usd)
    glob = value
    while glob.startswith("./"):
        glob = glob[2:]
    if len(glob) > 1:
        glob = glob.rstrip("/")
    if not glob or glob == ".":
        raise BadInput(f"breakpoint {spec!r}: path: needs a glob (path:GLOB, e.g. path:src/**/*.py)")
    return Breakpoint(spec, "path", pattern=re.compile(glob_regex(glob)), basename="/" not in glob)


def check_all(specs: Sequence[Any], registry: ToolRegistry | None) -> tuple[str, ...]:
    """Each spec checked (BadInput on the first bad one); the specs as written, without repeats."""
    out: list[str] = []
    for text in specs:
        spec = parse_breakpoint(text, registry).spec
        if spec not in out:
            out.append(spec)
    return tuple(out)


def merged(current: Sequence[str], more: Sequence[str]) -> tuple[str, ...]:
    """`current` with the specs of `more` it lacks added at the end."""
    out = list(current)
    out.extend(s for s in more if s not in out)
    return tuple(out)


def hit(breakpoints: Sequence[str], step: StepRecord, ledger: Ledger, *, root: str | None = None) -> str | None:
    """The first of the run's breakpoints that stops `step` (as the run's list spells it), or None.
    `root`: the workspace, for path: breakpoints."""
    if not breakpoints:
        return None
    for original, bp in _compiled(breakpoints):
        if bp.matches(step, ledger, root):
            return original
    return None


_CACHE: dict[tuple[Any, ...], tuple[tuple[str, Breakpoint], ...]] = {}


def _compiled(breakpoints: Sequence[str]) -> tuple[tuple[str, Breakpoint], ...]:
    key = tuple(breakpoints)
    try:
        return _CACHE[key]
    except KeyError:
        pass
    except TypeError:  # (a journal written by hand: something unhashable in the list)
        return _compile(key)
    if len(_CACHE) > 64:
        _CACHE.clear()
    out = _CACHE[key] = _compile(key)
    return out


def _compile(specs: tuple[Any, ...]) -> tuple[tuple[str, Breakpoint], ...]:
    out = []
    for text in specs:
        try:
            out.append((text, parse_breakpoint(text)))
        except BadInput:
            continue  # checked when it was set; one a journal holds anyway stops nothing
    return tuple(out)


def relative_path(raw: str, root: str | None) -> str:
    """A call's path as a path: breakpoint sees it: relative to the workspace when inside it,
    normalised (`./a/../b` is `b`); absolute when outside."""
    if raw.startswith("/"):
        path = posixpath.normpath(raw)
        if root:
            if path == root:
                return "."
            if path.startswith(root.rstrip("/") + "/"):
                return path[len(root.rstrip("/")) + 1 :]
        return path
    return posixpath.normpath(raw)


def glob_regex(glob: str) -> str:
    """A glob as a regex for `fullmatch`, with PurePath.full_match's rules (see the module)."""
    out = ""
    sep = False  # a "/" is due before the next segment
    parts = glob.split("/")
    for i, part in enumerate(parts):
        if part == "**":
            if i == len(parts) - 1:
                out += "(?:/.*)?" if sep else ".*"
            else:
                out += ("/" if sep else "") + "(?:[^/]+/)*"
                sep = False
            continue
        out += ("/" if sep else "") + _segment_regex(part)
        sep = True
    return out


def _segment_regex(part: str) -> str:
    out, i, n = "", 0, len(part)
    while i < n:
        c = part[i]
        i += 1
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = i
            if j < n and part[j] in "!^":
                j += 1
            if j < n and part[j] == "]":
                j += 1
            while j < n and part[j] != "]":
                j += 1
            if j >= n:
                out += re.escape(c)  # an unclosed [ is itself
                continue
            body = part[i:j]
            i = j + 1
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
        else:
            out += re.escape(c)
    return out


def _crossed(usd: float, step: StepRecord, ledger: Ledger) -> bool:
    """The run's cost is above `usd` now, and was not when the step before this one was gated:
    the cost went over it since (the model turns after that step's, and that step's own calls)."""
    total = ledger.usage.cost_usd
    if total <= usd:
        return False
    if step.n < 2:
        return True
    prev = ledger.steps[step.n - 2]
    since = prev.extra_cost + sum(ledger.turn_costs[prev.turn + 1 : step.turn + 1])
    return total - since <= usd + 1e-12
