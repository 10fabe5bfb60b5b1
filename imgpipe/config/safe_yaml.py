"""YAML text -> data and the line of every location, refusing what a config must never hold.

Only ``yaml.safe_load``-level constructs are accepted (``yaml.compose`` with the safe loader), so a config can
never name a Python class or run code. And the checks plain YAML does not make: a key given twice in one
mapping (the last would win without a word), an alias of a value inside itself, aliases that expand to more
values than any config holds. The job config and a user's model registry are read this way.
"""

from __future__ import annotations

from typing import Any

import yaml

from imgpipe.errors import ConfigError

Loc = tuple[str | int, ...]

#: Tags the safe loader constructs, plus the merge key (``<<``, resolved before construction). Any other tag
#: names a Python object or an application type: a config must never be able to do that.
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SAFE_TAGS = {tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None} | {_MERGE_TAG}
_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"
#: Values a YAML may expand to through its aliases. A config or a model registry holds hundreds to a few
#: thousand; every step after parsing walks the expanded tree.
MAX_VALUES = 100_000


def read_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    """The YAML's data and each location's line (none when the text holds no document, only comments or
    nothing), or a ``ConfigError`` naming the lines of what a config must not hold: a tag the safe loader
    refuses, an alias of a value inside itself, a key given twice in one mapping, aliases that expand to more
    than ``MAX_VALUES`` values, nesting too deep to walk."""
    try:
        return _read_yaml(text, source)
    except RecursionError as exc:  # PyYAML composes and constructs recursively, and so does the bookkeeping
        raise ConfigError(
            f"{source}: nested too deeply (hundreds of levels of lists or mappings); a config's sections are a "
            "few levels deep"
        ) from exc


def _read_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    # One loader composes the node tree that the checks walk, then builds the data from that same tree: the text
    # is parsed once (``yaml.compose`` and then ``yaml.safe_load`` would parse it twice).
    loader = yaml.SafeLoader(text)
    try:
        return _checked_data(loader, source)
    finally:
        loader.dispose()


def _checked_data(loader: yaml.SafeLoader, source: str) -> tuple[Any, dict[Loc, int]]:
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if node is None:
        return None, {}
    unsafe = _unsafe_tags(node, source)
    if unsafe:
        raise ConfigError(f"{source} is invalid ({count_problems(unsafe)}):", unsafe)
    structure = _recursive_aliases(node, (), source, set(), set()) or _repeated_keys(node, (), source, set())
    if not structure and (size := _expanded_size(node, {})) > MAX_VALUES:
        structure = [
            f"{source}: its aliases expand it to {size:,} values, over the {MAX_VALUES:,} a config may hold; look "
            "for an alias (*name) that repeats a large value many times"
        ]
    if structure:
        raise ConfigError(f"{source} is invalid ({count_problems(structure)}):", structure)
    lines: dict[Loc, int] = {}
    _record_lines(node, (), lines)
    try:
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:  # e.g. an unhashable mapping key: compose accepts it, construction not
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {exc.problem or exc}") from exc


def _unsafe_tags(root: yaml.Node, source: str) -> list[str]:
    """One problem per node whose tag the safe loader would refuse, top to bottom, each with its line."""
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias repeats a node (or makes a cycle)
            continue
        seen.add(id(node))
        if node.tag not in _SAFE_TAGS:
            found.append((node.start_mark.line + 1, _short_tag(node.tag)))
        if isinstance(node, yaml.MappingNode):
            stack += [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return [
        f"{source}:{line}: the YAML tag {tag!r} is not allowed: configs are read as safe YAML only (mappings, "
        "lists, strings, numbers, booleans, null), so a config can never name a Python object; remove the tag"
        for line, tag in sorted(found)
    ]


def _recursive_aliases(node: yaml.Node, loc: Loc, source: str, inside: set[int], done: set[int]) -> list[str]:
    """One problem per alias that points at a node containing it (``a: &x [*x]``): a recursive structure,
    which no section can hold and which the line bookkeeping below would walk forever. ``inside``: the nodes
    on the path to ``node``; ``done``: nodes already walked, which an alias may repeat any number of times."""
    if id(node) in inside:
        return [
            f"{source}:{node.start_mark.line + 1}: the value anchored on this line holds an alias of itself (at "
            f"{format_loc(loc)}), so the config would contain itself; write out the values it should hold instead"
        ]
    if id(node) in done:
        return []
    problems: list[str] = []
    inside.add(id(node))
    for child_loc, child in _children(node, loc):
        problems += _recursive_aliases(child, child_loc, source, inside, done)
    inside.discard(id(node))
    done.add(id(node))
    return problems


def _repeated_keys(node: yaml.Node, loc: Loc, source: str, seen: set[int]) -> list[str]:
    """One problem per key a mapping repeats, top to bottom: YAML keeps the last value without a word, so a
    section pasted twice or a setting edited in two places would silently lose one of them.

    Keys a merge (``<<: *defaults``) brings in are not repeats: overriding them is what merging is for. A node an
    alias repeats is looked at once, where its anchor is."""
    if id(node) in seen:
        return []
    seen.add(id(node))
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        times: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1  # 1 and "1" are two keys
            times[key] = times.get(key, 0) + 1
            if key not in first:
                first[key] = line
                continue
            count = "twice" if times[key] == 2 else f"{times[key]} times"
            problems.append(
                f"{source}:{line}: {format_loc(loc + (key[1],))} is given {count} (first at line {first[key]}): YAML "
                "would keep only the last one and ignore the other without a word; remove or merge one of them"
            )
    for child_loc, child in _children(node, loc):
        problems += _repeated_keys(child, child_loc, source, seen)
    return problems


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the YAML holds once every alias is written out (each node counted once per path to it),
    without writing them out: a few lines of aliases of aliases can stand for billions of values."""
    if id(node) not in sizes:
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for _, child in _children(node, ()))
    return sizes[id(node)]


def _children(node: yaml.Node, loc: Loc) -> list[tuple[Loc, yaml.Node]]:
    """A mapping's values under their keys (a key that is not a scalar is skipped: safe_load refuses it with its
    line), a list's items under their index."""
    if isinstance(node, yaml.MappingNode):
        return [(loc + (k.value,), v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
    if isinstance(node, yaml.SequenceNode):
        return [(loc + (i,), item) for i, item in enumerate(node.value)]
    return []


def _short_tag(tag: str) -> str:
    """``!!python/name:x`` as written, rather than the resolved ``tag:yaml.org,2002:python/name:x``."""
    return "!!" + tag.removeprefix(_STANDARD_TAG_PREFIX) if tag.startswith(_STANDARD_TAG_PREFIX) else tag


def count_problems(problems: list[str]) -> str:
    """``1 problem``, ``3 problems``: the count in a ``ConfigError``'s first line."""
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


def _record_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping as a key: safe_load refuses it below, with its line
            key = key_node.value
            lines[loc + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, loc + (key,), lines)
            lines[loc + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_lines(item, loc + (i,), lines)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"
