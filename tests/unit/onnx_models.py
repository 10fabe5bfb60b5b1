"""Tiny ONNX models built at test time with ``onnx.helper`` (KB, not MB), and specs to go with them.

Detector stand-ins ignore their pixels and return canned outputs (broadcast to the batch), so a test knows
exactly which boxes must come out. Imported by the unit tests as a plain module (no conftest fixtures).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from imgpipe.config.inference import ModelSpec
from imgpipe.runtime.checks import check_model
from imgpipe.runtime.model import ResolvedModel
from imgpipe.runtime.registry import Registry

OPSET = 13
#: onnxruntime 1.32 reads IR 10; newer onnx writes a higher one by default.
IR_VERSION = 8


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def make_model(
    nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any], opset: int = OPSET
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)


def image_input(batch: int | None, height: int, width: int, layout: str = "nchw", name: str = "images") -> Any:
    b: int | str = batch if batch is not None else "batch"
    shape = [b, 3, height, width] if layout == "nchw" else [b, height, width, 3]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def canned_outputs(
    path: Path,
    outputs: dict[str, np.ndarray],
    *,
    batch: int | None = 1,
    size: tuple[int, int] = (64, 64),
    layout: str = "nchw",
) -> Path:
    """A model whose outputs are ``outputs`` (each with a leading batch dim of 1) repeated per image."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["zeros"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        value = np.asarray(value)
        rank = value.ndim
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_value"))
        inits.append(numpy_helper.from_array(np.array([-1] + [1] * (rank - 1), np.int64), f"{name}_shape"))
        nodes.append(helper.make_node("Reshape", ["zeros", f"{name}_shape"], [f"{name}_zeros"]))
        nodes.append(helper.make_node("Add", [f"{name}_zeros", f"{name}_value"], [name]))
        b: int | str = batch if batch is not None else "batch"
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [b, *value.shape[1:]]))
    model = make_model(nodes, [image_input(batch, *size, layout=layout)], outs, inits)
    return save(model, path)


def quantized_embedder(path: Path, scale: float, zero_point: int, batch: int | None = None, size: int = 8) -> Path:
    """pixels -> per-channel mean [B,3] -> QuantizeLinear -> ``feat_q`` (uint8) -> Dequantize -> MatMul -> logits.

    The embedding exists only as the internal uint8 tensor ``feat_q`` (like MobileNetV2-int8's 472_quantized).
    """
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("QuantizeLinear", ["pooled", "feat_scale", "feat_zp"], ["feat_q"]),
        helper.make_node("DequantizeLinear", ["feat_q", "feat_scale", "feat_zp"], ["feat"]),
        helper.make_node("MatMul", ["feat", "weights"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(scale, np.float32), "feat_scale"),
        numpy_helper.from_array(np.array(zero_point, np.uint8), "feat_zp"),
        numpy_helper.from_array(np.ones((3, 2), np.float32), "weights"),
    ]
    b: int | str = batch if batch is not None else "batch"
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [b, 2])
    return save(make_model(nodes, [image_input(batch, size, size)], [out], inits), path)


def pooled_embedder(path: Path, batch: int | None = None, size: int = 8) -> Path:
    """pixels -> GlobalAveragePool -> ``features`` [B,3,1,1] as a graph output."""
    nodes = [helper.make_node("GlobalAveragePool", ["images"], ["features"])]
    b: int | str = batch if batch is not None else "batch"
    out = helper.make_tensor_value_info("features", TensorProto.FLOAT, [b, 3, 1, 1])
    return save(make_model(nodes, [image_input(batch, size, size)], [out], []), path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spec(**fields: Any) -> ModelSpec:
    return ModelSpec.model_validate(fields)


def resolved(path: Path, model_spec: ModelSpec, name: str = "tiny") -> ResolvedModel:
    """What ``resolve_models`` would return for this file, without a registry."""
    return check_model(ResolvedModel(name, str(path), sha256(path), model_spec), Registry(models={}))
