"""YAML text -> plain dict, with line numbers, ``${ENV}`` interpolation and ``--set`` overrides.

The YAML itself is read by ``safe_yaml``: safe-loader constructs only, so a config can never name a Python
class or run code, and no key given twice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imgpipe.config import secrets
from imgpipe.config.safe_yaml import Loc, count_problems, format_loc, read_yaml
from imgpipe.errors import ConfigError
from imgpipe.textfiles import NotUtf8Error, read_utf8

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
        text = read_utf8(p)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
    except NotUtf8Error as exc:
        raise ConfigError(str(exc)) from exc
    return parse_raw(text, str(p), overrides)


def parse_raw(text: str, source: str, overrides: list[str] | tuple[str, ...] = ()) -> RawConfig:
    data, lines = read_yaml(text, source)
    if not lines:
        raise ConfigError(f"{source}: the file is empty; expected a mapping with source/sink sections")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping at the top level, but got {type(data).__name__}")
    raw = RawConfig(data=data, source=source, lines=lines)
    problems: list[str] = []
    raw.data = _interpolate(data, (), raw, problems)
    for item in overrides:
        _apply_override(raw, item, problems)
    secrets.remember(raw.secrets)
    if problems:
        raise ConfigError(f"{source} is invalid ({count_problems(problems)}):", problems)
    return raw


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
