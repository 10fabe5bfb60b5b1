"""Column names and Arrow types shared by every stage, source and sink.

These names are persisted in users' outputs and HBase tables: treat them as API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

# Input columns every source provides.
KEY = "key"
IMAGE = "image"
#: Optional input column: why the source could not read this key's bytes (the row fails at stage "read").
READ_ERROR = "read_error"

# Per-image result columns.
WIDTH = "width"
HEIGHT = "height"
STATUS = "status"
ERROR_STAGE = "error_stage"
ERROR_REASON = "error_reason"
ERROR = "error"
OBJECTS = "objects"
IMAGE_EMBEDDING = "image_embedding"
DETECT_MODEL = "detect_model"
EMBED_MODEL = "embed_model"
RUN_ID = "run_id"
#: With ``sink.explode: true``: the object's position in its image's ``objects`` list (null for an image without).
OBJECT_INDEX = "object_index"

#: The narrow per-image record the job reads back after commit for counts, errors and resume.
LEDGER = (KEY, STATUS, ERROR_STAGE, ERROR_REASON, ERROR, RUN_ID)

STATUS_OK = "ok"
STATUS_ERROR = "error"

# Reason classes for failed images; stable strings users filter on.
REASON_UNREADABLE = "unreadable"
REASON_NO_KEY = "no_key"
REASON_EMPTY = "empty"
REASON_UNDECODABLE = "undecodable"
REASON_UNSUPPORTED = "unsupported_format"
REASON_TOO_LARGE = "too_large"
REASON_TOO_SMALL = "too_small"
REASON_NO_OBJECTS = "no_objects"
REASON_DUPLICATE_KEY = "duplicate_key"
REASON_INTERNAL = "internal"

BOX_TYPE = pa.struct(
    [("x1", pa.float32()), ("y1", pa.float32()), ("x2", pa.float32()), ("y2", pa.float32())]
)


#: Embedding dtype -> the little-endian NumPy type its bytes hold (Arrow binary, HBase cells).
EMBEDDING_NUMPY = {"float32": "<f4", "float16": "<f2"}


def embedding_type(dtype: str) -> pa.DataType:
    """float32 vectors are lists; float16 ones are packed little-endian bytes (Spark has no half type)."""
    return pa.list_(pa.float32()) if dtype == "float32" else pa.binary()


def embedding_dtype(arrow_type: pa.DataType) -> str:
    """The inverse of ``embedding_type``."""
    return "float16" if pa.types.is_binary(arrow_type) else "float32"


def vector_array(vecs: Sequence[np.ndarray | None], dtype: str) -> pa.Array:
    """NumPy vectors (None for missing) -> an Arrow column of ``embedding_type(dtype)``."""
    if dtype == "float16":
        return pa.array([None if v is None else v.astype("<f2").tobytes() for v in vecs], pa.binary())
    lengths = [0 if v is None else len(v) for v in vecs]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    present = [np.asarray(v, np.float32) for v in vecs if v is not None]
    flat = np.concatenate(present) if present else np.zeros(0, np.float32)
    mask = pa.array([v is None for v in vecs], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float32()), type=embedding_type(dtype), mask=mask)


def vector_bytes(value: Any, dtype: str) -> bytes:
    """One vector as Arrow gives it back (a list of floats, or float16 bytes) -> little-endian raw bytes."""
    if value is None:
        return b""
    if dtype == "float16":
        return bytes(value)  # already packed little-endian float16
    return np.asarray(value, dtype="<f4").tobytes()


def object_type(with_embedding: bool, dtype: str = "float32") -> pa.DataType:
    fields = [
        ("label", pa.int32()),
        ("label_name", pa.string()),
        ("score", pa.float32()),
        ("box", BOX_TYPE),
    ]
    if with_embedding:
        fields.append(("embedding", embedding_type(dtype)))
    return pa.struct(fields)


def model_type() -> pa.DataType:
    return pa.struct([("name", pa.string()), ("sha256", pa.string())])


def result_fields(
    *, detect: bool, embed: bool, image_embedding: bool, dtype: str = "float32"
) -> list[pa.Field]:
    """The columns the fused pass adds after the passthrough columns."""
    fields = [
        pa.field(WIDTH, pa.int32()),
        pa.field(HEIGHT, pa.int32()),
        pa.field(STATUS, pa.string(), nullable=False),
        pa.field(ERROR_STAGE, pa.string()),
        pa.field(ERROR_REASON, pa.string()),
        pa.field(ERROR, pa.string()),
    ]
    if detect or embed:
        fields.append(pa.field(OBJECTS, pa.list_(object_type(embed, dtype))))
    if image_embedding:
        fields.append(pa.field(IMAGE_EMBEDDING, embedding_type(dtype)))
    if detect:
        fields.append(pa.field(DETECT_MODEL, model_type()))
    if embed:
        fields.append(pa.field(EMBED_MODEL, model_type()))
    return fields

