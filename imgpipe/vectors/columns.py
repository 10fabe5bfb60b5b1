"""Result rows -> index entries: one vector per object (``objects[].embedding``) or per image (``image_embedding``).

Reads both layouts the Parquet sink writes (nested ``objects``, or one row per object with ``explode: true``)
and both vector encodings (float32 lists, float16 packed bytes). Failed images and rows without a vector
give no entry. Vectors travel onwards as packed little-endian float32 bytes (``VECTOR``): compact in Arrow
and in Spark, and a zero-copy NumPy view on the other side.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from imgpipe import batch as B
from imgpipe.errors import ImgpipeError

IMAGE = "image"
OBJECT = "object"
LEVELS = (IMAGE, OBJECT)

#: The entry id in an index: (shard << 32) | position in the shard.
ID = "id"
VECTOR = "vector"
LABEL, LABEL_NAME, SCORE, BOX = "label", "label_name", "score", "box"


def entry_fields(key_type: pa.DataType) -> list[pa.Field]:
    """What an index keeps about each vector (its id -> this mapping), in order; ``VECTOR`` is added in flight."""
    return [
        pa.field(B.KEY, key_type),
        pa.field(B.OBJECT_INDEX, pa.int32()),
        pa.field(LABEL, pa.int32()),
        pa.field(LABEL_NAME, pa.string()),
        pa.field(SCORE, pa.float32()),
        pa.field(BOX, B.BOX_TYPE),
        pa.field(B.WIDTH, pa.int32()),
        pa.field(B.HEIGHT, pa.int32()),
    ]


def entries_schema(key_type: pa.DataType) -> pa.Schema:
    return pa.schema([*entry_fields(key_type), pa.field(VECTOR, pa.binary())])


def default_level(schema: pa.Schema) -> str:
    """Whole images when the run embedded them, objects otherwise."""
    return IMAGE if B.IMAGE_EMBEDDING in schema.names else OBJECT


def check_level(schema: pa.Schema, level: str, where: str) -> None:
    """Raise a clear error when the results hold no vectors at ``level``."""
    if level not in LEVELS:
        raise ImgpipeError(f"Expected a level in {LEVELS}, but got {level!r}")
    if level == IMAGE and B.IMAGE_EMBEDDING not in schema.names:
        raise ImgpipeError(
            f"{where}: expected image embeddings (column {B.IMAGE_EMBEDDING}), but the results have none; "
            "run with crop.whole_image: true (or without detect), or use --level object"
        )
    if level == OBJECT and not _has_object_vectors(schema):
        raise ImgpipeError(
            f"{where}: expected object embeddings (objects[].embedding), but the results have none; "
            "run with detect and embed, or use --level image"
        )


def _has_object_vectors(schema: pa.Schema) -> bool:
    if B.OBJECT_INDEX in schema.names:
        return "embedding" in schema.names
    if B.OBJECTS not in schema.names:
        return False
    item = schema.field(B.OBJECTS).type.value_type
    return bool(item.get_field_index("embedding") >= 0)


def entries(batch: pa.RecordBatch, level: str) -> pa.RecordBatch:
    """One row per vector at ``level``, with the fields of ``entries_schema``."""
    ok = batch.filter(pc.equal(batch.column(B.STATUS), B.STATUS_OK))
    if level == IMAGE:
        return _image_entries(ok)
    if B.OBJECT_INDEX in ok.schema.names:
        return _exploded_object_entries(ok)
    return _nested_object_entries(ok)


def _image_entries(batch: pa.RecordBatch) -> pa.RecordBatch:
    keep = pc.is_valid(batch.column(B.IMAGE_EMBEDDING))
    if B.OBJECT_INDEX in batch.schema.names:
        # Exploded results repeat the image's vector on each of its object rows: keep the first.
        index = batch.column(B.OBJECT_INDEX)
        keep = pc.and_(keep, pc.fill_null(pc.equal(index, 0), True))
    rows = batch.filter(keep)
    n = rows.num_rows
    return _assemble(
        rows.column(B.KEY),
        {
            B.OBJECT_INDEX: pa.nulls(n, pa.int32()),
            LABEL: pa.nulls(n, pa.int32()),
            LABEL_NAME: pa.nulls(n, pa.string()),
            SCORE: pa.nulls(n, pa.float32()),
            BOX: pa.nulls(n, B.BOX_TYPE),
            B.WIDTH: rows.column(B.WIDTH),
            B.HEIGHT: rows.column(B.HEIGHT),
        },
        rows.column(B.IMAGE_EMBEDDING),
    )


def _exploded_object_entries(batch: pa.RecordBatch) -> pa.RecordBatch:
    rows = batch.filter(pc.is_valid(batch.column("embedding")))
    fields = {name: rows.column(name) for name in (B.OBJECT_INDEX, LABEL, LABEL_NAME, SCORE, BOX, B.WIDTH, B.HEIGHT)}
    return _assemble(rows.column(B.KEY), fields, rows.column("embedding"))


def _nested_object_entries(batch: pa.RecordBatch) -> pa.RecordBatch:
    objects = batch.column(B.OBJECTS)
    parent = pc.list_parent_indices(objects)
    flat = pc.list_flatten(objects)
    first = np.searchsorted(parent.to_numpy(), parent.to_numpy(), side="left")
    position = pa.array(np.arange(len(flat)) - first, pa.int32())
    keep = pc.is_valid(flat.field("embedding"))
    flat, parent, position = flat.filter(keep), parent.filter(keep), position.filter(keep)
    fields = {
        B.OBJECT_INDEX: position,
        LABEL: flat.field(LABEL),
        LABEL_NAME: flat.field(LABEL_NAME),
        SCORE: flat.field(SCORE),
        BOX: flat.field(BOX),
        B.WIDTH: batch.column(B.WIDTH).take(parent),
        B.HEIGHT: batch.column(B.HEIGHT).take(parent),
    }
    return _assemble(batch.column(B.KEY).take(parent), fields, flat.field("embedding"))


def _assemble(keys: pa.Array, fields: dict[str, pa.Array], vectors: pa.Array) -> pa.RecordBatch:
    schema = entries_schema(keys.type)
    columns = {B.KEY: keys, **fields, VECTOR: packed(vectors)}
    return pa.RecordBatch.from_arrays(
        [columns[f.name].cast(f.type) for f in schema], schema=schema
    )


def packed(vectors: pa.Array) -> pa.Array:
    """float32 lists or float16 bytes (no nulls) -> binary values of packed little-endian float32."""
    if pa.types.is_binary(vectors.type) or pa.types.is_large_binary(vectors.type):
        matrix = _fixed_width(vectors, np.dtype("<f2")).astype("<f4")
    else:
        lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
        values = pc.list_flatten(vectors).to_numpy(zero_copy_only=False).astype("<f4", copy=False)
        dim = int(lengths[0]) if len(lengths) else 0
        _check_lengths(lengths, dim)
        matrix = values.reshape(len(lengths), dim)
    return from_matrix(matrix)


def from_matrix(matrix: NDArray[np.float32]) -> pa.Array:
    """An (n, dim) float32 matrix as n packed binary values, without a per-row copy."""
    n, dim = matrix.shape
    width = dim * 4
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int64) * width).astype(np.int32).tobytes())
    data = pa.py_buffer(np.ascontiguousarray(matrix, dtype="<f4").tobytes())
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, data])


def to_matrix(vectors: pa.Array) -> NDArray[np.float32]:
    """Packed float32 binary values (no nulls) -> an (n, dim) float32 matrix."""
    return _fixed_width(vectors, np.dtype("<f4")).astype(np.float32, copy=False)


def _fixed_width(values: pa.Array, dtype: np.dtype[np.generic]) -> NDArray[np.generic]:
    if values.null_count:
        raise ImgpipeError(f"Expected no missing vectors, but got {values.null_count}")
    if len(values) == 0:
        return np.zeros((0, 0), dtype)
    values = values.cast(pa.binary())
    offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset : values.offset + len(values) + 1]
    lengths = np.diff(offsets) // dtype.itemsize
    _check_lengths(lengths, int(lengths[0]))
    data = np.frombuffer(values.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.view(dtype).reshape(len(values), int(lengths[0]))


def _check_lengths(lengths: NDArray[np.integer], dim: int) -> None:
    odd = np.flatnonzero(lengths != dim)
    if len(odd):
        raise ImgpipeError(
            f"Expected every vector to have {dim} values, but vector {int(odd[0])} of a batch has {int(lengths[odd[0]])}"
        )
