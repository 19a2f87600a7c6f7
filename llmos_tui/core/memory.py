"""SmartMemory's log (system/memory_log.md): experiences as YAML front-matter blocks.

Each experience is a block between two lines of exactly `---`, followed by its "Key learnings"
text up to the next block. Text before the first block is the file's own explanation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmos_tui.core import frontmatter
from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.inputs import MEMORY_LOG_MAX, read_text
from llmos_tui.core.state import cost_text


def parse_memory(text: str, path: str = "memory_log.md") -> list[dict[str, Any]]:
    lines = text.splitlines()
    fences = [i for i, line in enumerate(lines) if line.rstrip() == "---"]
    entries: list[dict[str, Any]] = []
    k = 0
    while k + 1 < len(fences):
        start, end = fences[k], fences[k + 1]
        if not any(line.strip() for line in lines[start + 1 : end]):
            # a `---` with nothing before the next one opens no entry: a dangling line (LLMunix's
            # empty log ends with one; older llmos-tui appended its first entry right after it)
            k += 1
            continue
        data = frontmatter.load_yaml("\n".join(lines[start + 1 : end]), path, line_offset=start + 1)
        if not isinstance(data, dict):
            raise FileFormatError(path, start + 2, "an experience must be a YAML mapping")
        nxt = fences[k + 2] if k + 2 < len(fences) else len(lines)
        entry = dict(data)
        entry["learnings"] = "\n".join(lines[end + 1 : nxt]).strip()
        entry["line"] = start + 1
        entries.append(entry)
        k += 2
    return entries


def read_memory(path: Path) -> list[dict[str, Any]]:
    """The experiences of a memory log (an untrusted input: a regular file of at most
    MEMORY_LOG_MAX bytes, UTF-8); none when there is no log."""
    try:
        text = read_text(path, limit=MEMORY_LOG_MAX)
    except FileNotFoundError:
        return []
    return parse_memory(text, str(path))


_WORD = None


def _words(text: str) -> list[str]:
    global _WORD
    if _WORD is None:
        import re

        _WORD = re.compile(r"[a-z0-9]+")
    return [w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP]


_STOP = frozenset(
    "the and for with from that this into then than are was were has have had not "
    "but you your its our out get got use used using save saved file files".split()
)


def relevant(entries: list[dict[str, Any]], goal: str, k: int) -> list[dict[str, Any]]:
    """The `k` experiences most relevant to `goal`, most relevant first.

    BM25 over each experience's goal (weighted double), tags and learnings; experiences sharing no
    word with the goal are left out. Among equals the newer one wins."""
    import math

    if k <= 0 or not entries:
        return []
    query = set(_words(goal))
    if not query:
        return []
    docs = []
    for e in entries:
        tags = e.get("tags") or []
        words = (
            _words(str(e.get("goal", ""))) * 2
            + _words(" ".join(map(str, tags)) if isinstance(tags, list) else str(tags))
            + _words(str(e.get("learnings", "")))
        )
        docs.append(words)
    n = len(docs)
    avg = sum(len(d) for d in docs) / n or 1.0
    df = {w: sum(1 for d in docs if w in d) for w in query}
    scored = []
    for i, (e, d) in enumerate(zip(entries, docs)):
        score = 0.0
        for w in query:
            tf = d.count(w)
            if tf:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(d) / avg))
        if score > 0:
            scored.append((score, i, e))
    scored.sort(key=lambda t: (-t[0], -t[1]))
    return [e for _, _, e in scored[:k]]


def memory_prompt(chosen: list[dict[str, Any]]) -> str:
    """The experiences as the system prompt shows them."""
    if not chosen:
        return ""
    parts = ["Relevant experiences from earlier runs (SmartMemory), most relevant first:"]
    for e in chosen:
        head = f"- {e.get('goal', '?')} → {e.get('outcome', '?')}"
        tools = e.get("tools_used")
        if isinstance(tools, list) and tools:
            head += f" (tools: {', '.join(map(str, tools))})"
        if e.get("learnings_by"):  # whose words they are
            head += f" [learnings written by {e['learnings_by']}]"
        parts.append(head)
        learn = str(e.get("learnings", "")).strip()
        if learn:
            parts.extend("  " + line for line in learn.splitlines()[:12])
    return "\n".join(parts)


# ---------------------------------------------------------------- appending experiences

TOOL_TAGS = {
    "WebFetch": "web",
    "Bash": "shell",
    "Write": "files",
    "Edit": "files",
    "Task": "sub-agent",
    "Grep": "search",
    "Glob": "search",
}


def tags_for(goal: str, tools: list[str], k: int = 5) -> list[str]:
    """Short lowercase topic words: the goal's own words first, then what kind of work it was."""
    words = list(dict.fromkeys(w for w in _words(goal) if len(w) > 3 and not w.isdigit()))[:k]
    kinds = list(dict.fromkeys(TOOL_TAGS[t] for t in tools if t in TOOL_TAGS))
    return list(dict.fromkeys(words + kinds))[: k + 3]


def derived_learnings(led: Any) -> str:
    """What the run itself says: outcome, tools, failures, people's decisions, the last words."""
    lines = []
    n = len(led.steps)
    verb = {"completed": "Completed", "failed": "Failed", "cancelled": "Cancelled"}.get(led.status, led.status)
    lines.append(
        f"{verb} after {n} tool call{'s' if n != 1 else ''} and {led.turns} model "
        f"turn{'s' if led.turns != 1 else ''} ({cost_text(led.usage)})."
    )
    if led.error and led.error.get("message"):
        lines.append(f"Stopped because: {led.error['message']}")
    for s in led.steps:
        human = s.human or {}
        what = f"{s.tool}({_short_inputs(s.inputs)})"
        if s.status == "denied" and human.get("by") != "toolmap":
            lines.append(f"A person denied {what}: {human.get('feedback') or 'no reason given'}")
        elif s.status == "denied":
            lines.append(f"{s.tool} is refused by the ToolMap: use another tool.")
        elif human.get("edited") or human.get("decision") == "edited":
            lines.append(f"A person corrected the inputs of {what} before it ran.")
        elif s.status == "skipped":
            lines.append(f"A person skipped {what}.")
        elif s.status == "failed":
            first = str(s.result_preview() or "").strip().splitlines()
            lines.append(f"{what} failed: {first[0][:160] if first else 'no message'}")
    if led.last_text:
        lines.append(f"Final answer: {' '.join(led.last_text.split())[:300]}")
    return "\n".join(lines[:20])


def _short_inputs(inputs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={str(v)[:40]!r}" for k, v in list(inputs.items())[:2])


def experience_block(entry: dict[str, Any], learnings: str) -> str:
    """One experience as memory_log.md holds it: a YAML block between `---` lines, then its text."""
    from llmos_tui.core.frontmatter import dump_yaml

    body = "\n".join("- - -" if ln.strip() == "---" else ln for ln in learnings.strip().splitlines())
    head = dump_yaml(entry).rstrip("\n")
    return f"\n---\n{head}\n---\nKey learnings: {body}\n"


def append_experience(path: Path, entry: dict[str, Any], learnings: str) -> None:
    """Append (never rewrite: a person may be editing the file) and sync.

    The append repairs what it follows, so that every entry parses, and never cuts anything: a
    last line without its newline gets one, and a dangling `---` at the end (LLMunix's empty log
    is a header and a lone `---` with no newline: the opening line of the first entry) becomes
    this entry's opening line instead of an empty entry of its own."""
    import os

    block = experience_block(entry, learnings)
    import stat

    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileFormatError(str(path), None, "is not a regular file; nothing appended")
        size = st.st_size
        tail = os.pread(fd, min(size, 4096), max(0, size - 4096)).decode("utf-8", "replace") if size else ""
        if _dangling_fence(path, tail, size):
            block = block.removeprefix("\n---")  # the `---` already there opens this entry
            if not tail.endswith("\n"):
                block = "\n" + block.lstrip("\n")
        elif tail and not tail.endswith("\n"):
            block = "\n" + block
        os.write(fd, block.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _dangling_fence(path: Path, tail: str, size: int) -> bool:
    """The log ends with a `---` line that opens no entry (nothing after it, and an odd number of
    fences before: the line is an opening one)."""
    lines = tail.rstrip("\n").split("\n")
    if lines[-1].rstrip() != "---":
        return False
    try:
        text = read_text(path, limit=MEMORY_LOG_MAX)
    except (OSError, FileFormatError):
        return False
    fences = sum(1 for line in text.splitlines() if line.rstrip() == "---")
    return fences % 2 == 1


def new_experience(led: Any, now: Any, duration_s: float | None, learnings_by: str | None = None) -> dict[str, Any]:
    """An experience's YAML block. `model`: the run's model (as its server named itself, when that
    differs); `learnings_by`: the model that wrote the key learnings (none when they were derived
    from the run's own record)."""
    import secrets

    tools = list(dict.fromkeys(s.tool for s in led.steps))
    entry = {
        "experience_id": f"exp-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "goal": led.goal,
        "outcome": led.status,
        "cost_usd": round(led.usage.cost_usd, 6) if led.usage.cost_known else None,  # null: unknown
        "duration_s": round(duration_s, 1) if duration_s is not None else None,
        "tools_used": tools,
        "tags": tags_for(led.goal, tools),
        "run_id": led.run_id,
    }
    if led.model and led.runtime != "scripted":
        served = str(led.served_model).rstrip("/").rsplit("/", 1)[-1]  # (a .gguf path: its file name)
        entry["model"] = f"{led.model} (served as {served})" if served else led.model
    if learnings_by:
        entry["learnings_by"] = learnings_by
    return entry
