"""Typed configuration: YAML -> ``JobConfig``, every problem reported at once with its YAML path and line.

    >>> cfg = load_config("configs/demo.yaml", overrides=["source.path=./photos"])  # doctest: +SKIP
    >>> sections = load_inference({"detect": {"model": "yolox-nano"}})  # imgpipe.spark.infer's config

``check_section`` validates any one section the same way (``imgpipe-hbase``'s options as ``HBaseSourceConfig``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from imgpipe.config.job import InferenceConfig, JobConfig
from imgpipe.config.loader import RawConfig, load_raw, parse_raw
from imgpipe.config.safe_yaml import Loc, format_loc
from imgpipe.errors import ConfigError, did_you_mean

__all__ = [
    "InferenceConfig", "JobConfig", "LoadedConfig", "LoadedInference", "check_section", "load_config",
    "load_inference", "parse_config", "format_loc",
]  # fmt: skip

_Model = TypeVar("_Model", bound=BaseModel)

#: Rendering stops here so one broken file cannot print pages of errors.
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class LoadedConfig:
    job: JobConfig
    raw: RawConfig

    def where(self, loc: Loc) -> str:
        return self.raw.where(loc)

    def problem(self, loc: Loc, message: str) -> str:
        return f"{self.where(loc)}: {format_loc(loc)}: {message}"


@dataclass(frozen=True)
class LoadedInference:
    """The inference sections alone; ``path`` is the YAML file they came from (its folder may hold models)."""

    config: InferenceConfig
    raw: RawConfig
    path: str | None = None

    def where(self, loc: Loc) -> str:
        return self.raw.where(loc)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedConfig:
    """Read, interpolate, override and validate a config file. Raises ``ConfigError``."""
    raw = load_raw(path, overrides)
    return LoadedConfig(job=_validate(raw, JobConfig), raw=raw)


def parse_config(text: str, source: str = "<config>", overrides: tuple[str, ...] = ()) -> LoadedConfig:
    raw = parse_raw(text, source, overrides)
    return LoadedConfig(job=_validate(raw, JobConfig), raw=raw)


def load_inference(config: str | Path | Mapping[str, Any] | InferenceConfig) -> LoadedInference:
    """The decode/detect/crop/embed sections from a YAML file (read like ``load_config``: ``${ENV}``, lines in
    errors), a mapping (taken as is) or an ``InferenceConfig``. Raises ``ConfigError`` listing every problem."""
    if isinstance(config, InferenceConfig):
        raw = RawConfig(data=config.model_dump(exclude_unset=True), source=type(config).__name__)
        return LoadedInference(config, raw)
    if isinstance(config, Mapping):
        raw = RawConfig(data=dict(config), source="the inference config")
        return LoadedInference(_validate(raw, InferenceConfig), raw)
    raw = load_raw(config)
    return LoadedInference(_validate(raw, InferenceConfig), raw, path=str(config))


def check_section(model: type[_Model], data: Mapping[str, Any], source: str) -> _Model:
    """One section from plain values (``source`` names where they came from in messages). Raises ``ConfigError``."""
    return _validate(RawConfig(data=dict(data), source=source), model)


def _validate(raw: RawConfig, model: type[_Model]) -> _Model:
    try:
        return model.model_validate(raw.data)
    except ValidationError as exc:
        problems = sorted((_render(raw, err, model) for err in exc.errors()), key=_line_of)
        raise config_error(raw.source, problems) from None


def _line_of(problem: str) -> int:
    """Sort key: problems read top to bottom in the file; --set and file-level ones go last."""
    head = problem.split(": ", 1)[0]
    tail = head.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 1 << 30


def config_error(source: str, problems: list[str]) -> ConfigError:
    shown = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return ConfigError(f"{source} is invalid ({count}):", shown)


def _render(raw: RawConfig, err: Any, model: type[BaseModel]) -> str:
    loc = _yaml_loc(raw.data, tuple(err["loc"]))
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "union_tag_invalid":
        loc = loc + ("type",)
        tag, expected = err["ctx"]["tag"], err["ctx"]["expected_tags"]
        msg = f"unknown type {tag!r}; expected one of {expected}{did_you_mean(str(tag), _tags(expected))}"
    elif kind == "union_tag_not_found":
        loc = loc + ("type",)
        msg = f"missing 'type'; expected one of {err['ctx']['expected_tags']}"
    elif kind == "extra_forbidden":
        msg = f"unknown key{did_you_mean(str(loc[-1]), _known_keys(model, raw.data, loc))}"
    elif kind == "missing":
        msg = "field required"
    elif kind == "value_error":
        msg = str(err["ctx"]["error"])  # our own sentence, without pydantic's "Value error, " in front
    return f"{raw.where(loc)}: {format_loc(loc)}: {msg}"


def _yaml_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """Pydantic puts union tags (``'parquet'``) and validator names in ``loc``; keep only real YAML keys."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif last and isinstance(part, str) and isinstance(node, dict) and not part.startswith("function-"):
            if node.get("type") != part:  # a model-level error of a tagged section ends in its tag
                out.append(part)  # a missing key
    return tuple(out)


def _tags(expected: str) -> list[str]:
    return [t.strip().strip("'") for t in expected.split(",")]


def _known_keys(root: type[BaseModel], data: Any, loc: Loc) -> list[str]:
    """Field names of the section holding ``loc[-1]``, to suggest a spelling."""
    model: type[BaseModel] | None = root
    node: Any = data
    for part in loc[:-1]:
        if model is None:
            return []
        node = node.get(part) if isinstance(node, dict) else None
        model = _field_model(model, str(part), node)
    return list(model.model_fields) if model is not None else []


def _field_model(model: type[BaseModel], name: str, node: Any) -> type[BaseModel] | None:
    field = model.model_fields.get(name)
    if field is None:
        return None
    candidates = _models_in(field.annotation)
    if len(candidates) > 1 and isinstance(node, dict):
        for cand in candidates:
            tag = cand.model_fields.get("type")
            if tag is not None and node.get("type") in getattr(tag.annotation, "__args__", ()):
                return cand
    return candidates[0] if candidates else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    return found
