"""Result rows -> index entries: both layouts, both vector encodings, failed images skipped."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from imgpipe import batch as B
from imgpipe.errors import ImgpipeError
from imgpipe.vectors import columns as C

BOX = {"x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 40.0}


def vec(*values: float) -> list[float]:
    return [float(v) for v in values]


def results(dtype: str = "float32") -> pa.RecordBatch:
    """Three images: two objects, a failed image, no objects; each with an image embedding except the failed one."""
    def enc(v: list[float]) -> object:
        return np.array(v, "<f2").tobytes() if dtype == "float16" else v

    objects = [
        [
            {"label": 16, "label_name": "dog", "score": 0.9, "box": BOX, "embedding": enc(vec(1, 0, 0))},
            {"label": 1, "label_name": "bicycle", "score": 0.8, "box": BOX, "embedding": enc(vec(0, 1, 0))},
        ],
        None,
        [],
    ]
    schema = pa.schema(
        [
            pa.field(B.KEY, pa.string()),
            pa.field(B.WIDTH, pa.int32()),
            pa.field(B.HEIGHT, pa.int32()),
            pa.field(B.STATUS, pa.string()),
            pa.field(B.OBJECTS, pa.list_(B.object_type(True, dtype))),
            pa.field(B.IMAGE_EMBEDDING, B.embedding_type(dtype)),
        ]
    )
    return pa.RecordBatch.from_pylist(
        [
            {B.KEY: "a.jpg", B.WIDTH: 64, B.HEIGHT: 48, B.STATUS: "ok", B.OBJECTS: objects[0], B.IMAGE_EMBEDDING: enc(vec(0.6, 0.8, 0))},
            {B.KEY: "bad.jpg", B.STATUS: "error", B.OBJECTS: objects[1], B.IMAGE_EMBEDDING: None},
            {B.KEY: "c.jpg", B.WIDTH: 10, B.HEIGHT: 10, B.STATUS: "ok", B.OBJECTS: objects[2], B.IMAGE_EMBEDDING: enc(vec(0, 0, 1))},
        ],
        schema=schema,
    )


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_object_entries_from_nested_objects(dtype: str) -> None:
    found = C.entries(results(dtype), C.OBJECT)
    rows = found.drop_columns([C.VECTOR]).to_pylist()
    assert [(r[B.KEY], r[B.OBJECT_INDEX], r[C.LABEL_NAME], r[B.WIDTH]) for r in rows] == [
        ("a.jpg", 0, "dog", 64),
        ("a.jpg", 1, "bicycle", 64),
    ]
    assert rows[0][C.BOX] == BOX
    np.testing.assert_allclose(C.to_matrix(found.column(C.VECTOR)), [[1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_image_entries_skip_failed_images(dtype: str) -> None:
    found = C.entries(results(dtype), C.IMAGE)
    assert found.column(B.KEY).to_pylist() == ["a.jpg", "c.jpg"]
    assert found.column(B.OBJECT_INDEX).null_count == 2
    np.testing.assert_allclose(C.to_matrix(found.column(C.VECTOR)), [[0.6, 0.8, 0], [0, 0, 1]], atol=1e-3)


def exploded() -> pa.RecordBatch:
    """What ``sink.explode: true`` writes: one row per object, the image's vector repeated on each."""
    rows = [
        {B.KEY: "a.jpg", B.OBJECT_INDEX: 0, "embedding": vec(1, 0), B.IMAGE_EMBEDDING: vec(0, 1)},
        {B.KEY: "a.jpg", B.OBJECT_INDEX: 1, "embedding": vec(0, 1), B.IMAGE_EMBEDDING: vec(0, 1)},
        {B.KEY: "b.jpg", B.OBJECT_INDEX: None, "embedding": None, B.IMAGE_EMBEDDING: vec(1, 0)},
    ]
    for row in rows:
        row.update({B.WIDTH: 8, B.HEIGHT: 8, B.STATUS: "ok", "label": 0, "label_name": "x", "score": 0.5, "box": BOX})
    return pa.RecordBatch.from_pylist(rows)


def test_exploded_layout() -> None:
    objects = C.entries(exploded(), C.OBJECT)
    assert objects.column(B.OBJECT_INDEX).to_pylist() == [0, 1]
    images = C.entries(exploded(), C.IMAGE)
    assert images.column(B.KEY).to_pylist() == ["a.jpg", "b.jpg"]
    np.testing.assert_allclose(C.to_matrix(images.column(C.VECTOR)), [[0, 1], [1, 0]])


def test_levels_and_their_errors() -> None:
    schema = results().schema
    assert C.default_level(schema) == C.IMAGE
    assert C.default_level(schema.remove(schema.get_field_index(B.IMAGE_EMBEDDING))) == C.OBJECT
    without = pa.schema([f for f in schema if f.name != B.IMAGE_EMBEDDING])
    with pytest.raises(ImgpipeError, match="expected image embeddings.*crop.whole_image"):
        C.check_level(without, C.IMAGE, "out")
    no_objects = pa.schema([f for f in schema if f.name != B.OBJECTS])
    with pytest.raises(ImgpipeError, match="expected object embeddings"):
        C.check_level(no_objects, C.OBJECT, "out")


def test_vectors_of_different_lengths_are_refused() -> None:
    with pytest.raises(ImgpipeError, match="Expected every vector to have 2 values, but vector 1 .* has 3"):
        C.packed(pa.array([vec(1, 0), vec(1, 0, 0)], pa.list_(pa.float32())))


def test_packed_round_trip_of_a_slice() -> None:
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    packed = C.from_matrix(matrix)
    np.testing.assert_array_equal(C.to_matrix(packed.slice(1, 2)), matrix[1:3])
