"""A model graph checked against its spec before Spark starts: input layout and size, output names, class count,
embedding length. Returns the model with its labels, fixed batch size and embedding size filled in.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from imgpipe.config.inference import ModelSpec
from imgpipe.errors import ModelError
from imgpipe.runtime.fetch import fetch
from imgpipe.runtime.model import ResolvedModel
from imgpipe.runtime.registry import Registry, load_registry
from imgpipe.runtime.sessions import CPU, input_shape, load_session
from imgpipe.textfiles import NotUtf8Error, read_utf8


def check_model(model: ResolvedModel, registry: Registry | None = None) -> ResolvedModel:
    """``model`` with labels, batch and embedding size filled in, after checking the graph matches its spec."""
    labels = load_labels(model.name, model.spec, registry or load_registry())
    session = load_session(
        model.name, model.path, model.sha256, providers=(CPU,), threads=1, expose=model.exposed
    )
    input_name = model.spec.input.name or session.get_inputs()[0].name
    batch = _check_input(model, input_shape(session, input_name))
    outputs: dict[str, list[int | str | None]] = {o.name: list(o.shape) for o in session.get_outputs()}
    dim = None
    if model.spec.adapter == "embedding":
        dim = _embedding_dim(model, session, input_name, outputs)
    else:
        _check_detector_outputs(model, outputs, labels)
    return replace(model, labels=labels, batch=batch, dim=dim)


def _check_input(model: ResolvedModel, shape: list[int | str | None]) -> int | None:
    spec = model.spec.input
    want: list[int | str | None] = (
        ["batch", 3, spec.height, spec.width] if spec.layout == "nchw" else ["batch", spec.height, spec.width, 3]
    )
    if len(shape) != 4 or any(isinstance(g, int) and g != w for g, w in zip(shape[1:], want[1:], strict=True)):
        raise ModelError(
            f"model {model.name!r}: expected input {spec.layout.upper()} {_dims(want)} from its spec, "
            f"but the graph input is {_dims(shape)}"
        )
    return shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None


def _dims(shape: list[int | str | None]) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in shape) + "]"


def _check_detector_outputs(
    model: ResolvedModel, outputs: dict[str, list[int | str | None]], labels: tuple[str, ...]
) -> None:
    out = model.spec.outputs
    needed = [out.boxes, out.scores, out.classes] if model.spec.adapter == "boxes" else [out.raw]
    for name in needed:
        if name is not None and name not in outputs:
            raise ModelError(
                f"model {model.name!r}: expected a graph output named {name!r}, but the outputs are {list(outputs)}"
            )
    classes = _class_count(model.spec.adapter, outputs[out.raw or next(iter(outputs))])
    if labels and classes is not None and classes != len(labels):
        raise ModelError(
            f"model {model.name!r}: expected {len(labels)} classes from its labels, but the graph predicts {classes}"
        )


def _class_count(adapter: str, shape: list[int | str | None]) -> int | None:
    if len(shape) != 3:
        return None
    if adapter in ("yolox", "yolov5") and isinstance(shape[2], int):
        return shape[2] - 5
    if adapter == "yolov8" and isinstance(shape[1], int):
        return shape[1] - 4
    return None


def _embedding_dim(
    model: ResolvedModel, session: object, input_name: str, outputs: dict[str, list[int | str | None]]
) -> int:
    """Run one blank image through the graph: internal tensors have no declared shape to read."""
    emb = model.spec.embedding
    assert emb is not None  # ModelSpec guarantees it for the embedding adapter
    name = emb.output or model.exposed[0].output_name
    if name not in outputs:
        raise ModelError(
            f"model {model.name!r}: expected a graph output named {name!r}, but the outputs are {list(outputs)}"
        )
    spec = model.spec.input
    shape = (1, 3, spec.height, spec.width) if spec.layout == "nchw" else (1, spec.height, spec.width, 3)
    (value,) = session.run([name], {input_name: np.zeros(shape, np.float32)})  # type: ignore[attr-defined]
    return int(np.asarray(value).reshape(1, -1).shape[1])


def load_labels(model: str, spec: ModelSpec, registry: Registry) -> tuple[str, ...]:
    labels = spec.labels
    if labels is None:
        return ()
    if isinstance(labels, list):
        return tuple(labels)
    if labels in registry.files:
        path = fetch(f"{model} labels {labels}", registry.files[labels], model=model)
    else:
        path = Path(labels).expanduser()
        if not path.is_file():
            raise ModelError(
                f"model {model!r}: expected labels as a registry file ({', '.join(registry.files)}) "
                f"or a text file, but got {labels!r}"
            )
    try:
        text = read_utf8(path)
    except OSError as exc:
        raise ModelError(f"model {model!r}: cannot read labels {path}: {exc.strerror or exc}") from exc
    except NotUtf8Error as exc:
        raise ModelError(f"model {model!r}: labels {exc}") from exc
    return tuple(line.strip() for line in text.splitlines() if line.strip())
