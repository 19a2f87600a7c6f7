"""The older LLMunix layout of execution_state.md, read (never written) so such runs can be watched.

An agent following the LLMunix markdown template writes something like::

    # Execution State
    ## Metadata
    - **Goal**: Get weather for London and save to file
    - **Status**: In Progress
    - **Current Step**: 2
    ## Execution Plan
    ### Step 1: Fetch weather data
    - **Status**: Completed

Agents vary the template freely, so this reader is tolerant: `**Goal:**`, `**Goal**:`, `Goal:` and
`- goal:` are all key/value lines; statuses are matched in any case and spelling (`In Progress`,
`in-progress`, `IN_PROGRESS`, `done`, ✅ …); step headings may be `### Step 1: title`,
`### Step 1 — title`, `### 1. title` or a bare `### Step 1`; a plan may also be a checklist
(`- [x] Fetch weather`). The result is only for display: `to_run_state` turns it into a RunState
with runtime "external".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.state import PlanItem, RunState
from llmos_tui.core.statuses import RUN_STATUSES

__all__ = [
    "LegacyStep",
    "LegacyState",
    "is_legacy",
    "parse_legacy",
    "to_run_state",
    "normalise_step_status",
    "normalise_run_status",
]


@dataclass(frozen=True)
class LegacyStep:
    n: int
    title: str
    status: str  # pending | in_progress | completed | failed | skipped (llmos-tui's plan statuses)


@dataclass(frozen=True)
class LegacyState:
    goal: str
    status: str | None  # running | completed | failed | paused | awaiting_approval | planning, or None
    current_step: int | None
    steps: tuple[LegacyStep, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)  # every metadata key → its raw value


# ---------------------------------------------------------------- status words


def _table(groups: dict[str, str]) -> dict[str, str]:
    return {word: status for status, words in groups.items() for word in words.split()}


_STEP_WORDS = _table(
    {
        "completed": "done complete completed success successful succeeded finished ok passed pass "
        "accomplished achieved resolved",
        "in_progress": "in_progress inprogress progress running active ongoing started executing working "
        "current waiting awaiting awaiting_approval awaiting_input awaiting_confirmation "
        "awaiting_review needs_approval pending_approval waiting_for_approval "
        "requires_approval approval_required in_flight processing underway paused",
        "failed": "failed fail failure error errored errors aborted abort cancelled canceled denied "
        "rejected timeout timed_out crashed broken",
        "skipped": "skipped skip omitted not_applicable n_a na not_needed bypassed ignored",
        "pending": "pending not_started not_yet_started todo to_do queued planned scheduled tbd upcoming "
        "waiting_to_start ready new open next not_done incomplete",
    }
)

_RUN_WORDS = _table(
    {
        "running": "in_progress inprogress progress running active ongoing started executing working "
        "in_flight processing underway resumed",
        "completed": "done complete completed success successful succeeded finished ok passed accomplished",
        "failed": "failed fail failure error errored aborted cancelled canceled crashed timeout timed_out "
        "denied rejected terminated",
        "paused": "paused on_hold suspended stopped halted blocked interrupted",
        "awaiting_approval": "awaiting_approval awaiting waiting waiting_for_approval needs_approval "
        "pending_approval requires_approval approval_required awaiting_input "
        "awaiting_user waiting_for_user waiting_for_input awaiting_confirmation "
        "awaiting_review needs_review needs_input",
        "planning": "planning planned pending not_started not_yet_started initialized initialised "
        "initializing new created queued ready draft scheduled todo",
    }
)

_STEP_EMOJI = {
    **dict.fromkeys("✅✔☑✓🟢", "completed"),
    **dict.fromkeys("⏳⌛🔄🔃▶🏃🚧🟡⚙", "in_progress"),
    **dict.fromkeys("❌✖✗✘🔴⛔🛑💥", "failed"),
    **dict.fromkeys("⏭🚫➖", "skipped"),
    **dict.fromkeys("⬜☐◻🔲⏸🕐", "pending"),
}
_RUN_EMOJI = {
    **dict.fromkeys("✅✔☑✓🟢", "completed"),
    **dict.fromkeys("⏳⌛🔄🔃▶🏃🚧🟡⚙", "running"),
    **dict.fromkeys("❌✖✗✘🔴⛔🛑💥", "failed"),
    **dict.fromkeys("⏸", "paused"),
    **dict.fromkeys("✋🙋", "awaiting_approval"),
    **dict.fromkeys("⬜☐◻🔲🕐", "planning"),
}
_CHECKBOX = {
    "x": "completed",
    "X": "completed",
    " ": "pending",
    "": "pending",
    "~": "in_progress",
    "/": "in_progress",
    ">": "in_progress",
    "-": "skipped",
    "!": "failed",
}

# Emoji and pictographs (arrows and dashes are left alone: they belong to titles).
_EMOJI = re.compile(
    "[\u2300-\u23ff\u25a0-\u25ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff\ufe0e\ufe0f\u200d\u20e3]"
)
_CUT = re.compile(r"\(|\[|\s[-–—]\s|[,;:.]")


def _strip_emoji(s: str) -> str:
    return re.sub(r"\s{2,}", " ", _EMOJI.sub("", s)).strip()


def _norm(s: str) -> str:
    """`In-Progress **` → `in_progress`: lower case, emoji and markup gone, words joined by `_`."""
    s = _EMOJI.sub("", s).lower().replace("*", "").replace("`", "")
    s = re.sub(r"[\s_\-/]+", "_", s)
    return re.sub(r"[^a-z0-9_]", "", s).strip("_")


# An ending qualified by a failure is a failure: LLMunix's `COMPLETED_FAILURE` (its
# ExecutionStateTemplate: PLANNING | IN_PROGRESS | COMPLETED_SUCCESS | COMPLETED_FAILURE | PAUSED),
# "completed with errors", "Completed (failure)" — but not "completed, no errors".
_FAILURE_QUALIFIERS = frozenset(
    "failure failures failed fail error errors errored unsuccessful unsuccessfully aborted".split()
)
_NEGATIONS = frozenset("no not without zero 0 never".split())


def _qualified_failure(raw: str) -> bool:
    tokens = [t for t in _norm(raw).split("_") if t][:8]
    return any(t in _FAILURE_QUALIFIERS and tokens[i - 1] not in _NEGATIONS for i, t in enumerate(tokens) if i)


def _match(raw: str, words: dict[str, str], emoji: dict[str, str]) -> str | None:
    """The status a free-text value names: its leading words first, then any status emoji in it."""
    cut = _CUT.split(_EMOJI.sub("", raw).replace("*", ""), maxsplit=1)[0]
    for candidate in (cut, raw):
        tokens = [t for t in _norm(candidate).split("_") if t]
        for k in range(min(len(tokens), 4), 0, -1):
            status = words.get("_".join(tokens[:k]))
            if status:
                return "failed" if status == "completed" and _qualified_failure(raw) else status
    for ch in raw:
        if ch in emoji:
            return emoji[ch]
    return None


def normalise_step_status(raw: str) -> str:
    """A step status in any spelling → pending | in_progress | completed | failed | skipped."""
    return _match(raw, _STEP_WORDS, _STEP_EMOJI) or "pending"


def normalise_run_status(raw: str) -> str | None:
    """A run status in any spelling → one of llmos-tui's run statuses, or None when unrecognised."""
    return _match(raw, _RUN_WORDS, _RUN_EMOJI)


# ---------------------------------------------------------------- lines

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]++(.*))?$")  # closing #s are cut in _heading()
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_KV = re.compile(r"^\s*+(?:[-*+•]\s++|\d+[.)]\s++)?(?:>\s*+)?(?P<key>[^:|\[\]]{1,60}+):(?!//)\s*+(?P<val>.*)$")
_KEY_OK = re.compile(r"^[A-Za-z][A-Za-z0-9 _/()&'.#-]{0,40}$")
_TABLE_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_LIST_ITEM = re.compile(r"^(?P<indent>\s*)(?:[-*+•]|(?P<num>\d+)[.)])\s+(?P<text>.*)$")
_BOX = re.compile(r"^\[(?P<mark>[ xX~/>!-]?)\]\s*(?P<rest>.*)$")
_STEP_WORD = re.compile(
    r"^step\s*#?\s*(?P<n>\d+)\b(?:\s*(?:of|/)\s*\d+)?\s*[:.)\-–—|]*\s*(?P<title>.*)$", re.IGNORECASE
)
_NUMBERED = re.compile(r"^(?P<n>\d+)\s*[.):\-–—]\s*(?P<title>.+)$")
_PLAN = re.compile(
    r"^(the_)?((current|execution|action|task|work|overall|planned|detailed)_)?(plan|steps)"
    r"(_(of_action|and_progress|progress|status|overview))?$"
)
_METADATA_NAMES = {"run_info", "run_information", "execution_info", "execution_details", "run_details"}
_GOAL_NAMES = {"goal", "the_goal", "user_goal", "main_goal", "objective", "task", "mission", "request", "user_request"}
_GENERIC_TITLES = re.compile(
    r"^(llmunix_|llm_os_|llmos_|agent_|run_)?(execution_state|state|execution_log|"
    r"execution_state_md|execution)$"
)

_GOAL_KEYS = ("goal", "user_goal", "main_goal", "objective", "task", "mission", "request", "user_request", "prompt")
_RUN_STATUS_KEYS = ("status", "run_status", "overall_status", "execution_status", "current_status", "state")
_STEP_STATUS_KEYS = {"status", "state", "step_status", "current_status"}
_CURRENT_KEYS = ("current_step", "current_step_number", "active_step", "current", "on_step", "step")
_TITLE_KEYS = ("title", "name", "action", "description", "task", "objective", "goal", "summary", "purpose", "what")
_EMPTY_VALUES = {"", "none", "n_a", "na", "null", "nil", "no", "nothing", "tbd"}


def _heading(line: str) -> tuple[int, str] | None:
    """`### Step 1: Fetch ##` → (3, "Step 1: Fetch"); None for a line that is not an ATX heading."""
    m = _HEADING.match(line)
    if m is None:
        return None
    text = (m.group(2) or "").strip()
    closed = text.rstrip("#")
    if closed != text and (not closed or closed[-1] in " \t"):
        text = closed.strip()
    return len(m.group(1)), text


def _unmark(s: str) -> str:
    """Bold/italic markers and stray emphasis around a value or title removed."""
    s = s.replace("**", "").replace("__", "").strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "*_\"'`":
        s = s[1:-1].strip()
    return s.strip()


def _kv(line: str) -> tuple[str, str] | None:
    """`- **Goal**: x`, `**Goal:** x`, `Goal: x`, `| Goal | x |` → ("Goal", "x"); else None."""
    row = _TABLE_ROW.match(line)
    if row:
        if "-" in line and not set(line.strip()) - set("|:- \t"):  # |---|---|
            return None
        cells = [c.strip() for c in row.group(1).split("|")]
        if len(cells) >= 2:
            key = _strip_emoji(_unmark(cells[0])).rstrip(":").strip()
            if _KEY_OK.match(key) and _norm(key) not in {"key", "field", "property", "name", "item"}:
                return key, cells[1]
        return None
    if _heading(line):
        return None
    m = _KV.match(line)
    if not m:
        return None
    raw_key, val = _strip_emoji(m.group("key")), m.group("val").strip()
    key = raw_key.strip("*_`").strip()
    if not _KEY_OK.match(key) or len(key.split()) > 6 or "`" in raw_key:
        return None
    if raw_key.lstrip().startswith(("**", "__")) and not raw_key.rstrip().endswith(("**", "__")):
        val = re.sub(r"^(\*\*|__)\s*", "", val)  # `**Goal:** value`
    return key, val.strip()


@dataclass
class _Heading:
    idx: int
    level: int
    raw: str
    kind: str  # metadata | plan | goal | step | numbered | other
    n: int | None = None
    title: str = ""


def _front_matter_end(lines: list[str]) -> int | None:
    """Index of the closing `---` when the file opens with YAML front matter."""
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            first = next((ln for ln in lines[1:i] if ln.strip()), "")
            return i if re.match(r"^[A-Za-z_][\w-]*\s*:", first) else None
    return None


def _blank_comments(text: str) -> str:
    """HTML comments removed, their line breaks kept (an unclosed one is left as text)."""
    out, pos = [], 0
    while True:
        start = text.find("<!--", pos)
        end = text.find("-->", start + 4) if start >= 0 else -1
        if end < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:start])
        out.append("\n" * text.count("\n", start, end))
        pos = end + 3


def _prepare(text: str) -> tuple[list[str], int | None]:
    """The lines with front matter, fenced code and HTML comments blanked (numbering kept)."""
    text = text.lstrip("\ufeff")
    text = _blank_comments(text)
    lines = text.splitlines()
    fm_end = _front_matter_end(lines)
    out: list[str] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        if fm_end is not None and i <= fm_end:
            out.append("")
            continue
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1) == fence:
                fence = None
            out.append("")
        elif m:
            fence = m.group(1)
            out.append("")
        else:
            out.append(line)
    return out, fm_end


def _classify(idx: int, level: int, raw: str) -> _Heading:
    text = _strip_emoji(raw.replace("**", "").replace("__", "")).strip()
    text = _BOX.sub(lambda m: m.group("rest"), text) if _BOX.match(text) else text
    name = _norm(re.sub(r"^\d+\s*[.)]\s*", "", text))
    if "metadata" in name.replace("_", "") or name in _METADATA_NAMES:
        return _Heading(idx, level, raw, "metadata")
    if _PLAN.match(name):
        return _Heading(idx, level, raw, "plan")
    if name in _GOAL_NAMES:
        return _Heading(idx, level, raw, "goal")
    m = _STEP_WORD.match(text)
    if m:
        return _Heading(idx, level, raw, "step", int(m.group("n")))
    m = _NUMBERED.match(text)
    if m:
        return _Heading(idx, level, raw, "numbered", int(m.group("n")))
    return _Heading(idx, level, raw, "other")


def _title_and_status(raw: str) -> tuple[str, str | None]:
    """A step heading or list item → (title, the status it shows, if any)."""
    emoji_status = next((_STEP_EMOJI[ch] for ch in raw if ch in _STEP_EMOJI), None)
    s = _strip_emoji(raw.replace("**", "").replace("__", ""))
    status = None
    box = _BOX.match(s)
    if box:
        status, s = _CHECKBOX.get(box.group("mark"), "pending"), box.group("rest")
    m = _STEP_WORD.match(s) or _NUMBERED.match(s)
    if m:
        s = m.group("title")
    bracket = re.search(r"[(\[]([^()\[\]]{1,40})[)\]]\s*+$", s)
    if bracket:
        word = _match(bracket.group(1), _STEP_WORDS, {})
        if word:
            status, s = word, s[: bracket.start()]
    seps = list(re.finditer(r"(?<!\s)(?:\s++[-–—|]\s++|\s*+:\s++)", s))
    if seps and seps[-1].start() > 0:  # `Save to file — done`: a trailing status word
        word = _norm(s[seps[-1].end() :])
        if word in _STEP_WORDS:
            status, s = _STEP_WORDS[word], s[: seps[-1].start()]
    title = _unmark(s.strip().rstrip(":-–—|").strip())
    return title, status or emoji_status


# ---------------------------------------------------------------- reading


def _section_end(headings: list[_Heading], pos: int, n_lines: int, *, keep_steps: bool = False) -> int:
    """Line index where the section opened by headings[pos] ends."""
    level = headings[pos].level
    for h in headings[pos + 1 :]:
        if h.level <= level and not (keep_steps and h.kind == "step"):
            return h.idx
    return n_lines


def _scan(lines: list[str]) -> list[_Heading]:
    headings = []
    for i, line in enumerate(lines):
        h = _heading(line)
        if h:
            headings.append(_classify(i, *h))
    return headings


def is_legacy(text: str) -> bool:
    """True for the older LLMunix layout: no YAML front matter, and a plan, step or metadata heading."""
    lines, fm_end = _prepare(text)
    if fm_end is not None:
        return False
    return any(h.kind in ("plan", "step", "metadata") for h in _scan(lines))


def _block_details(lines: list[str], start: int, end: int) -> tuple[str | None, str]:
    """A step's body → (its status line's status or None, a title from its first useful line)."""
    status: str | None = None
    titled: dict[str, str] = {}
    first_other = ""
    for line in lines[start:end]:
        if not line.strip() or _heading(line):
            continue
        kv = _kv(line)
        if kv is not None:
            key, val = _norm(kv[0]), kv[1]
            if key in _STEP_STATUS_KEYS:
                if status is None and val:
                    status = _match(val, _STEP_WORDS, _STEP_EMOJI) or "pending"
                continue
            if val:
                titled.setdefault(key, val)
                first_other = first_other or val
            continue
        item = _LIST_ITEM.match(line)
        plain = item.group("text") if item else line.strip().lstrip(">").strip()
        first_other = first_other or plain
    title = next((titled[k] for k in _TITLE_KEYS if titled.get(k)), first_other)
    return status, _unmark(_strip_emoji(title))


def _heading_steps(
    lines: list[str], headings: list[_Heading], chosen: list[int], bound: dict[int, int]
) -> list[LegacyStep]:
    steps = []
    for pos in chosen:
        h = headings[pos]
        end = bound.get(pos, len(lines))
        for later in headings[pos + 1 :]:
            if later.idx >= end:
                break
            if later.level <= h.level or later.kind == "step" or (later.kind == "numbered" and later.level == h.level):
                end = later.idx
                break
        title, head_status = _title_and_status(h.raw)
        line_status, body_title = _block_details(lines, h.idx + 1, end)
        n = h.n or 0  # always set for step and numbered headings
        steps.append(LegacyStep(n, title or body_title or f"Step {n}", line_status or head_status or "pending"))
    return steps


def _list_steps(lines: list[str], start: int, end: int) -> list[LegacyStep]:
    """A plan written as a list: `- [x] Fetch`, `1. Fetch — done`, `- Step 2: Save (in progress)`."""
    found: list[tuple[int, str, str | None]] = []

    def status_of_last(line: str) -> None:  # a `status:` line under the last item
        kv = _kv(line) if line.strip() else None
        if found and kv and _norm(kv[0]) in _STEP_STATUS_KEYS and kv[1]:
            n, title, _ = found[-1]
            found[-1] = (n, title, _match(kv[1], _STEP_WORDS, _STEP_EMOJI) or "pending")

    for line in lines[start:end]:
        m = _LIST_ITEM.match(line)
        if m is None or len(m.group("indent").expandtabs(4)) > 3:
            status_of_last(line)
            continue
        text = _strip_emoji(m.group("text").replace("**", "").replace("__", ""))
        boxed = _BOX.match(text)
        worded = _STEP_WORD.match(boxed.group("rest") if boxed else text)
        if not (boxed or worded or m.group("num")):  # a plain bullet: not a step
            status_of_last(line)
            continue
        n = int(worded.group("n")) if worded else int(m.group("num")) if m.group("num") else len(found) + 1
        title, status = _title_and_status(m.group("text"))
        found.append((n, title or f"Step {n}", status))
    return [LegacyStep(n, title, status or "pending") for n, title, status in found]


def parse_legacy(text: str, path: str = "execution_state.md") -> LegacyState:
    """Read an LLMunix-layout state file; FileFormatError when neither a plan nor a goal is found."""
    raw_lines = text.lstrip("\ufeff").splitlines()
    lines, fm_end = _prepare(text)
    if fm_end is not None and any(re.match(r"^llmos_state\s*:", ln) for ln in raw_lines[1:fm_end]):
        raise FileFormatError(
            path, 1, "this is an llmos-tui state file (YAML front matter), not the older LLMunix layout"
        )
    headings = _scan(lines)
    n_lines = len(lines)

    # Sections: metadata, plan, goal.
    plan_ranges: list[tuple[int, int, int]] = []  # (heading position, start line, end line)
    meta_ranges: list[tuple[int, int]] = []
    goal_ranges: list[tuple[int, int]] = []
    for pos, h in enumerate(headings):
        if h.kind == "plan":
            plan_ranges.append((pos, h.idx + 1, _section_end(headings, pos, n_lines, keep_steps=True)))
        elif h.kind == "metadata":
            meta_ranges.append((h.idx + 1, _section_end(headings, pos, n_lines)))
        elif h.kind == "goal":
            goal_ranges.append((h.idx + 1, _section_end(headings, pos, n_lines)))

    # Steps: headings inside the plan, else a list inside the plan, else step headings anywhere.
    steps: list[LegacyStep] = []
    for ppos, start, end in plan_ranges:
        plan_level = headings[ppos].level
        chosen = [
            pos
            for pos, h in enumerate(headings)
            if start <= h.idx < end and (h.kind == "step" or (h.kind == "numbered" and h.level > plan_level))
        ]
        if chosen:
            steps += _heading_steps(lines, headings, chosen, {pos: end for pos in chosen})
        else:
            first_sub = next((h.idx for h in headings if start <= h.idx < end), end)
            steps += _list_steps(lines, start, first_sub)
    if not steps:
        steps = _heading_steps(lines, headings, [p for p, h in enumerate(headings) if h.kind == "step"], {})

    # Metadata: the metadata sections first, then key/value lines before the plan (first one wins).
    metadata: dict[str, str] = {}
    where: dict[str, int] = {}

    def collect(start: int, end: int) -> None:
        for i in range(start, end):
            kv = _kv(lines[i]) if lines[i].strip() else None
            if kv and kv[0] not in metadata:
                metadata[kv[0]] = kv[1]
                where[kv[0]] = i

    for start, end in meta_ranges:
        collect(start, end)
    plan_start = min([h.idx for h in headings if h.kind in ("plan", "step")], default=n_lines)
    preamble_skip: set[int] = set()
    for start, end in meta_ranges:
        preamble_skip.update(range(start, end))
    for i in range(plan_start):
        if i not in preamble_skip:
            collect(i, i + 1)
    by_key: dict[str, str] = {}
    for k in metadata:
        by_key.setdefault(_norm(k), k)

    def meta(keys: tuple[str, ...]) -> tuple[str, str] | None:
        for key in keys:
            if key in by_key:
                return by_key[key], metadata[by_key[key]]
        return None

    goal = ""
    for key in _GOAL_KEYS:
        if key not in by_key:
            continue
        k = by_key[key]
        value = metadata[k]
        if not value:  # `**Goal**:` with the goal on the next line
            nxt = next((ln for ln in lines[where[k] + 1 :] if ln.strip()), "")
            if nxt and not _heading(nxt) and _kv(nxt) is None:
                value = nxt.strip().lstrip(">-*+ ").strip()
        goal = _unmark(value)
        if goal:
            break
    if not goal:
        for start, end in goal_ranges:
            first = next((ln for ln in lines[start:end] if ln.strip()), "")
            goal = _unmark(first.strip().lstrip(">-*+ ").strip())
            if goal:
                break
    has_plan = bool(plan_ranges or steps)
    if not goal and has_plan:
        title = next((h for h in headings if h.level == 1), None)
        if title is not None:
            goal = _goal_from_title(title.raw)

    if not goal and not has_plan:
        raise FileFormatError(
            path, 1, "not an LLMunix execution state: no '## Execution Plan', '### Step N' heading or goal found"
        )

    run_status = None
    found = meta(_RUN_STATUS_KEYS)
    if found and found[1]:
        run_status = normalise_run_status(found[1])

    current: int | None = None
    found = meta(_CURRENT_KEYS)
    if found:
        digits = re.search(r"\d+", found[1])
        current = int(digits.group()) if digits else None
    if current is None:
        current = next((s.n for s in steps if s.status == "in_progress"), None)

    return LegacyState(goal=goal, status=run_status, current_step=current, steps=tuple(steps), metadata=metadata)


def _goal_from_title(raw: str) -> str:
    """`# Get weather` → the goal; `# Execution State` → none; `# Execution State: X` → X."""
    title = _unmark(_strip_emoji(raw))
    if _GENERIC_TITLES.match(_norm(title)):
        return ""
    m = re.match(r"^(.*?)\s*(?::|\s[-–—|]\s)\s*(.+)$", title)
    if m:
        head = _norm(m.group(1))
        if _GENERIC_TITLES.match(head) or head in _GOAL_NAMES:
            return _unmark(m.group(2))
    return title


# ---------------------------------------------------------------- display


def _meta_value(metadata: dict[str, str], keys: tuple[str, ...]) -> str:
    by_key = {_norm(k): v for k, v in reversed(list(metadata.items()))}
    return next((by_key[k].strip() for k in keys if by_key.get(k, "").strip()), "")


def to_run_state(legacy: LegacyState, run_id: str = "legacy") -> RunState:
    """A read-only RunState for display: the plan is the steps, the runtime "external"."""
    md = legacy.metadata
    status = legacy.status if legacy.status in RUN_STATUSES else "running"
    error_text = _meta_value(md, ("error", "last_error", "error_message", "failure", "errors"))
    error = None
    if error_text and _norm(error_text) not in _EMPTY_VALUES:
        error = {"step": legacy.current_step, "type": "error", "message": error_text}
    return RunState(
        run_id=run_id,
        goal=legacy.goal,
        mode="simulate" if "simulat" in _meta_value(md, ("mode", "execution_mode")).lower() else "execute",
        runtime="external",
        status=status,
        current_step=legacy.current_step,
        model=_meta_value(md, ("model", "llm", "model_name")),
        started_at=_meta_value(md, ("started", "started_at", "start_time", "start", "created", "created_at")),
        updated_at=_meta_value(md, ("last_updated", "updated", "updated_at", "last_update", "modified")),
        plan=tuple(PlanItem(s.title, s.status) for s in legacy.steps),
        error=error,
    )
