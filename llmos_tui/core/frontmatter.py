"""YAML front matter (`---` … `---` at the top of a markdown file), with errors that name a line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from llmos_tui.core.errors import FileFormatError

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ValueProblems = (ValueError, TypeError, OverflowError)

# Bounds on any YAML document llmos-tui reads (every input file is untrusted): how deep it may
# nest, and how far aliases may expand it (a 2 KB "billion laughs" is 10^9 strings once expanded).
MAX_DEPTH = 100
EXPANSION_FACTOR = 10  # aliases may make a document at most this many times its own size …
EXPANSION_FLOOR = 1_000_000  # … or this many characters, whichever is more


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """yaml's safe loader; a value its constructors refuse (`2026-13-45`, `!!float abc`) is a YAML
    error with the line it is on, like any other."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except _ValueProblems as exc:
            raise yaml.constructor.ConstructorError(None, None, f"bad value: {exc}", node.start_mark) from None


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line strings as literal `|` blocks: readable, and editable by hand. Never anchors
    and aliases: llmos-tui's own files have none, so a reader may refuse them."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


class _PyDumper(yaml.SafeDumper):
    """The pure-Python dumper, for text libyaml would escape: libyaml writes characters outside
    the Basic Multilingual Plane (an emoji) as `\\U0001F680` even with allow_unicode."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_PyDumper.add_representer(str, _str)


@dataclass(frozen=True)
class FrontMatter:
    data: dict[str, Any]
    body: str
    first_line: int  # line number (1-based) of the first YAML line in the file


def split(text: str, path: str, *, aliases: bool = True) -> FrontMatter:
    """Split `text` into its front matter mapping and body; raise FileFormatError naming a line.
    A byte-order mark at the start is dropped. `aliases=False` refuses YAML anchors/aliases."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise FileFormatError(path, 1, "expected YAML front matter starting with '---'")
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") in ("---", "..."):
            end = i
            break
    else:
        raise FileFormatError(path, len(lines), "front matter has no closing '---'")
    yaml_text = "".join(lines[1:end])
    data = load_yaml(yaml_text, path, line_offset=1, aliases=aliases)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FileFormatError(path, 2, "front matter must be a YAML mapping (key: value lines)")
    return FrontMatter(data=data, body="".join(lines[end + 1 :]), first_line=2)


def has_front_matter(text: str) -> bool:
    """The text starts with a `---` line (after a byte-order mark, if any)."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return first.strip() == "---"


def load_yaml(text: str, path: str, *, line_offset: int = 0, aliases: bool = True) -> Any:
    """yaml.safe_load, bounded, with any error turned into one line: `path:line: problem`.

    Bounded: nesting deeper than MAX_DEPTH is refused, and so are aliases that would expand the
    document past EXPANSION_FACTOR times its size (a "billion laughs"); `aliases=False` refuses
    anchors and aliases altogether (files llmos-tui writes itself never have them).
    """
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            budget = max(EXPANSION_FLOOR, EXPANSION_FACTOR * len(text))
            _check_graph(node, path, line_offset, aliases=aliases, budget=budget)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 + line_offset if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        cmark = getattr(exc, "context_mark", None)
        opened = ""
        if cmark is not None and cmark.line + 1 + line_offset != line:
            opened = f" (it starts on line {cmark.line + 1 + line_offset})"
        msg = f"invalid YAML: {context + ', ' if context else ''}{problem}{opened}"
        raise FileFormatError(path, line, msg) from None
    except RecursionError:
        raise FileFormatError(path, None, f"invalid YAML: nested deeper than {MAX_DEPTH} levels") from None


def _check_graph(root: yaml.Node, path: str, line_offset: int, *, aliases: bool, budget: int) -> None:
    """Walk the composed nodes (iteratively: no recursion on hostile depth) before anything is
    constructed: refuse aliases (or their cycles and blow-ups) and too deep a nesting."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) → (expanded characters, height)
    open_ids: set[int] = set()
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]

    def fail(node: yaml.Node, problem: str) -> None:
        raise FileFormatError(path, node.start_mark.line + 1 + line_offset, f"invalid YAML: {problem}")

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        return []

    while todo:
        node, done = todo.pop()
        key = id(node)
        if done:
            open_ids.discard(key)
            kids = children(node)
            size = (len(node.value) if isinstance(node, yaml.ScalarNode) else 0) + 1
            size += sum(sizes[id(k)][0] for k in kids)
            height = 1 + max((sizes[id(k)][1] for k in kids), default=0)
            if height > MAX_DEPTH:
                fail(node, f"nested deeper than {MAX_DEPTH} levels")
            if size > budget:
                fail(node, f"aliases expand it past {budget:,} characters (refused: a YAML bomb?)")
            sizes[key] = (size, height)
            continue
        if key in open_ids:
            fail(node, "an alias refers to the value that contains it")
        if key in sizes:
            if not aliases:
                fail(node, "anchors and aliases (&name, *name) are not accepted in this file")
            continue
        open_ids.add(key)
        todo.append((node, True))
        todo.extend((k, False) for k in children(node))


def dump_yaml(data: Any) -> str:
    """Block-style YAML in key order, Unicode kept readable (an emoji as itself)."""
    opts: dict[str, Any] = {"sort_keys": False, "allow_unicode": True, "width": 100, "default_flow_style": False}
    text: str = yaml.dump(data, Dumper=_Dumper, **opts)
    if "\\U" in text:  # libyaml escaped a character beyond U+FFFF: the slower dumper keeps it
        text = yaml.dump(data, Dumper=_PyDumper, **opts)
    return text


def key_line(text: str, key: str, *, default: int | None = None) -> int | None:
    """The 1-based line where a top-level `key:` stands in a front-matter file (for messages)."""
    prefix = f"{key}:"
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith(prefix):
            return i
    return default
