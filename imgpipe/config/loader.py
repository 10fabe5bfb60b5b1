"""YAML text -> plain dict, with line numbers, ``${ENV}`` interpolation and ``--set`` overrides.

Only ``yaml.safe_load``-level constructs are accepted (``yaml.compose`` with the safe loader): a config
can never name a Python class or run code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imgpipe.config import secrets
from imgpipe.errors import ConfigError

Loc = tuple[str | int, ...]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

#: Tags the safe loader constructs, plus the merge key (``<<``, resolved before construction). Any other tag
#: names a Python object or an application type: a config must never be able to do that.
_SAFE_TAGS = {tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None} | {"tag:yaml.org,2002:merge"}
_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"


@dataclass
class RawConfig:
    """The parsed YAML plus what is needed to point at a line and to hide secrets."""

    data: dict[str, Any]
    source: str
    lines: dict[Loc, int] = field(default_factory=dict)
    overridden: set[Loc] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)

    def where(self, loc: Loc) -> str:
        """``file.yaml:14`` for a YAML location, ``--set`` for an override, the file alone otherwise."""
        if any(loc[:n] in self.overridden for n in range(1, len(loc) + 1)):
            return "--set"
        for n in range(len(loc), -1, -1):
            prefix = loc[:n]
            if prefix in self.lines:
                return f"{self.source}:{self.lines[prefix]}"
        return self.source


    def redact(self, text: str) -> str:
        """Hide every value that came from ``${ENV}``: hosts behind auth, credentials in ``spark.conf``."""
        return secrets.redact(text, self.secrets)


def load_raw(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RawConfig:
    """Read a YAML config file and apply ``--set`` overrides, without validating the schema."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
    return parse_raw(text, str(p), overrides)


def parse_raw(text: str, source: str, overrides: list[str] | tuple[str, ...] = ()) -> RawConfig:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if node is None:
        raise ConfigError(f"{source}: the file is empty; expected a mapping with source/sink sections")
    unsafe = _unsafe_tags(node, source)
    if unsafe:
        raise ConfigError(f"{source} is invalid ({_count(unsafe)}):", unsafe)
    lines: dict[Loc, int] = {}
    _record_lines(node, (), lines)
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:  # e.g. an unhashable mapping key: compose accepts it, construction not
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {exc.problem or exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping at the top level, but got {type(data).__name__}")
    raw = RawConfig(data=data, source=source, lines=lines)
    problems: list[str] = []
    raw.data = _interpolate(data, (), raw, problems)
    for item in overrides:
        _apply_override(raw, item, problems)
    secrets.remember(raw.secrets)
    if problems:
        raise ConfigError(f"{source} is invalid ({_count(problems)}):", problems)
    return raw


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


def _short_tag(tag: str) -> str:
    """``!!python/name:x`` as written, rather than the resolved ``tag:yaml.org,2002:python/name:x``."""
    return "!!" + tag.removeprefix(_STANDARD_TAG_PREFIX) if tag.startswith(_STANDARD_TAG_PREFIX) else tag


def _count(problems: list[str]) -> str:
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


def _interpolate(value: Any, loc: Loc, raw: RawConfig, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, loc + (k,), raw, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, loc + (i,), raw, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None:
            if default is None:
                problems.append(
                    f"{raw.where(loc)}: {format_loc(loc)}: environment variable {name} is not set "
                    f"(write ${{{name}:-default}} to give a default)"
                )
                return ""
            return default
        if len(found) >= secrets.MIN_LENGTH:
            raw.secrets.add(found)
        return found

    return _ENV.sub(substitute, value)


def _apply_override(raw: RawConfig, item: str, problems: list[str]) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        problems.append(f"--set {item}: expected KEY.PATH=VALUE, e.g. --set source.path=./photos")
        return
    parts: list[str] = key.strip().split(".")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    if parts[:1] == ["spark"] and len(parts) > 2 and parts[1] == "conf":
        # Spark keys contain dots themselves: spark.conf.spark.executor.memory=4g
        parts = ["spark", "conf", ".".join(parts[2:])]
    node: Any = raw.data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            problems.append(f"--set {item}: {'.'.join(parts[: depth + 1])} is not a mapping")
            return
        node = child
    last = parts[-1]
    # ${VAR} inside an override is replaced (and redacted) as it is in the file; a problem points at --set.
    raw.overridden.add(tuple(parts))
    value = _interpolate(value, tuple(parts), raw, problems)
    if last == "type" and node.get("type") != value:
        # A new type starts the section afresh: options of the old type would not fit the new one.
        node.clear()
        section = tuple(parts[:-1])
        raw.lines = {k: v for k, v in raw.lines.items() if k[: len(section)] != section}
        raw.overridden.add(section)
    node[last] = value
