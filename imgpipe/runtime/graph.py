"""In-memory graph edits made before a session is built: expose an internal tensor as a graph output.

This is how an unmodified upstream file yields an embedding that only exists inside the graph, e.g.
MobileNetV2-int8's pooled features ``472_quantized`` (uint8), dequantized with ``464_scale``/``464_zero_point``.
The file on disk is never changed; the edited model lives only in the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imgpipe.errors import ModelError, did_you_mean

if TYPE_CHECKING:
    import onnx

# onnx is imported only by the functions that edit a graph: its import costs more than an edit (see
# ``graph_cache``), and the drivers and workers of a run after the first load the edited model from the cache.

#: DequantizeLinear exists from opset 10 in the default domain.
_MIN_OPSET = 10

#: Name given to an internal tensor exposed as a graph output.
EXPOSED_PREFIX = "imgpipe_exposed:"


@dataclass(frozen=True)
class ExposedTensor:
    """An internal tensor to add as a graph output, dequantized when ``scale``/``zero_point`` are given."""

    tensor: str
    scale: str | None = None
    zero_point: str | None = None

    @property
    def output_name(self) -> str:
        return EXPOSED_PREFIX + self.tensor


def expose_tensors(name: str, data: bytes, exposed: Sequence[ExposedTensor]) -> bytes:
    """``data`` (a serialized model) with each tensor in ``exposed`` added as an output."""
    import onnx

    model = onnx.load_from_string(data)
    for item in exposed:
        _expose(name, model, item)
    return bytes(model.SerializeToString())


def tensor_names(graph: onnx.GraphProto) -> set[str]:
    names = {out for node in graph.node for out in node.output}
    names.update(i.name for i in graph.input)
    names.update(i.name for i in graph.initializer)
    return names


def _expose(name: str, model: onnx.ModelProto, item: ExposedTensor) -> None:
    import onnx
    from onnx import helper

    graph = model.graph
    known = tensor_names(graph)
    for tensor in (item.tensor, item.scale, item.zero_point):
        if tensor is not None and tensor not in known:
            raise ModelError(
                f"model {name!r}: expected a tensor named {tensor!r} in the graph, but there is none"
                + did_you_mean(tensor, known, n=3)
            )
    if item.scale is not None and item.zero_point is not None:
        _check_opset(name, model)
        node = helper.make_node(
            "DequantizeLinear", [item.tensor, item.scale, item.zero_point], [item.output_name]
        )
        graph.node.append(node)
        elem_type: int = onnx.TensorProto.FLOAT
    else:
        graph.node.append(helper.make_node("Identity", [item.tensor], [item.output_name]))
        elem_type = _elem_type(model, item.tensor)
    graph.output.append(helper.make_tensor_value_info(item.output_name, elem_type, None))


def _check_opset(name: str, model: onnx.ModelProto) -> None:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < _MIN_OPSET:
        raise ModelError(
            f"model {name!r}: expected opset >= {_MIN_OPSET} to dequantize a tensor, but got opset {opset}"
        )


def _elem_type(model: onnx.ModelProto, tensor: str) -> int:
    """The tensor's element type from shape inference; float when inference cannot tell."""
    import onnx

    for init in model.graph.initializer:
        if init.name == tensor:
            return int(init.data_type)
    inferred = onnx.shape_inference.infer_shapes(model)
    for info in list(inferred.graph.value_info) + list(inferred.graph.output):
        if info.name == tensor and info.type.tensor_type.elem_type:
            return int(info.type.tensor_type.elem_type)
    return onnx.TensorProto.FLOAT

