"""``imgpipe search`` in-process with tiny ONNX embedders: queries go through the index's own pass, best first."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pytest
from click.testing import CliRunner, Result
from index_files import write_index
from onnx_models import pooled_embedder, sha256

from imgpipe.cli import cli
from imgpipe.config import parse_config
from imgpipe.preflight import build_pipeline
from imgpipe.report import inference_config
from imgpipe.vectors import columns as C
from tests.helpers import encode

COLOURS = {"red.png": (0, 0, 250), "green.png": (0, 250, 0), "blue.png": (250, 0, 0), "teal.png": (200, 180, 0)}


def solid(bgr: tuple[int, int, int]) -> bytes:
    return encode(np.full((12, 16, 3), bgr, np.uint8))


def embed_config(model: Path) -> str:
    return f"""
source: {{type: files, path: .}}
sink: {{type: parquet, path: out}}
embed:
  model: {model}
  spec:
    adapter: embedding
    input: {{size: [8, 8], channels: bgr, resize: exact}}
    embedding: {{output: features}}
"""


@pytest.fixture
def colour_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An image-level index of four solid colours, embedded by a tiny mean-colour model."""
    return build_colour_index(tmp_path, monkeypatch, list(COLOURS))


def build_colour_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: list[str]) -> Path:
    """The four colours under ``keys``, in ``COLOURS``' order."""
    monkeypatch.setenv("IMGPIPE_MODEL_DIRS", str(tmp_path))
    model = pooled_embedder(tmp_path / "mean-colour.onnx")
    loaded = parse_config(embed_config(model))
    pipeline = build_pipeline(loaded)
    out = pipeline.process(pa.RecordBatch.from_pydict({"key": keys, "image": [solid(c) for c in COLOURS.values()]}))
    found = C.entries(out, C.IMAGE)
    models = {"embed": {"name": "mean-colour", "sha256": sha256(model)}}
    write_index(
        tmp_path / "index", found.column("key").to_pylist(), C.to_matrix(found.column(C.VECTOR)),
        shards=2, models=models, inference=inference_config(loaded.job),
    )  # fmt: skip
    return tmp_path / "index"


def test_search_finds_the_nearest_colours(colour_index: Path, tmp_path: Path) -> None:
    query = tmp_path / "dark-red.png"
    query.write_bytes(solid((0, 60, 180)))  # cosine: red 0.95, green 0.32, teal 0.21, blue 0
    result = CliRunner().invoke(cli, ["search", str(colour_index), str(query), "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.output)["results"]
    assert [h["key"] for h in found["hits"]] == ["red.png", "green.png"]
    assert abs(found["hits"][0]["similarity"] - 0.949) < 0.01 and found["object_index"] is None
    text = CliRunner().invoke(cli, ["search", str(colour_index), str(query), "-k", "1"])
    assert text.exit_code == 0 and "4 image vectors (flat), mean-colour" in text.output
    assert "    1  0.94" in text.output and "red.png" in text.output


def test_a_key_with_a_newline_keeps_its_hit_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A files source keys each image by its path, and a file name may hold a newline or a tab.
    keys = ["red\nshade.png", "green\t.png", "blue.png", "teal.png"]
    index = build_colour_index(tmp_path, monkeypatch, keys)
    query = tmp_path / "dark\nred.png"
    query.write_bytes(solid((0, 60, 180)))
    text = CliRunner().invoke(cli, ["search", str(index), str(query), "-k", "2"])
    assert text.exit_code == 0, text.output
    query_line, first, second = text.output.splitlines()[2:]
    assert query_line == f"{tmp_path}/dark\\nred.png"
    assert first.startswith("    1  0.94") and first.endswith("  red\\nshade.png")
    assert second.startswith("    2  0.3") and second.endswith("  green\\t.png")
    found = CliRunner().invoke(cli, ["search", str(index), str(query), "-k", "2", "--json"])
    assert [h["key"] for h in json.loads(found.output)["results"][0]["hits"]] == keys[:2]


def test_search_refuses_a_query_embedded_by_another_model(colour_index: Path, tmp_path: Path) -> None:
    other = onnx.load(str(pooled_embedder(tmp_path / "base.onnx")))
    other.doc_string = "same graph, other bytes: another model as far as sha256 goes"
    onnx.save(other, str(tmp_path / "other.onnx"))
    query = tmp_path / "q.png"
    query.write_bytes(solid((0, 0, 250)))
    args = ["search", str(colour_index), str(query), "--set", f"embed.model={tmp_path / 'other.onnx'}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "built from vectors of mean-colour" in result.output and "embedded with other (sha256" in result.output


def test_unreadable_query_is_named(colour_index: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    result = CliRunner().invoke(cli, ["search", str(colour_index), str(tmp_path / "missing.png")])
    assert result.exit_code == 1 and "query image" in result.output and "missing.png" in result.output
    result = CliRunner().invoke(cli, ["search", str(colour_index), str(tmp_path / "empty.png")])
    assert result.exit_code == 1 and "empty.png: empty" in result.output


def test_a_query_that_is_no_regular_file_is_refused_without_waiting(colour_index: Path, tmp_path: Path) -> None:
    # Reading a FIFO blocks until something writes to it, and /dev/zero never ends: name them instead.
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome: list[Result] = []
    args = ["search", str(colour_index), str(fifo)]
    searching = threading.Thread(target=lambda: outcome.append(CliRunner().invoke(cli, args)))
    searching.start()
    searching.join(60)
    if searching.is_alive():
        with open(fifo, "wb"):  # let the blocked read end, so the test fails instead of hanging
            pass
        searching.join()
        pytest.fail("search waited on a FIFO")
    assert outcome[0].exit_code == 1 and f"query image {fifo}: not a regular file" in outcome[0].output
    result = CliRunner().invoke(cli, ["search", str(colour_index), str(tmp_path)])
    assert result.exit_code == 1 and f"query image {tmp_path}: a folder, not an image file" in result.output


def test_inference_config_makes_model_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = inference_config(parse_config(embed_config(Path("models/e.onnx"))).job)
    assert data["embed"]["model"] == str(tmp_path / "models" / "e.onnx")
    assert set(data) == {"decode", "embed"} and data["embed"]["spec"]["input"]["size"] == [8, 8]


def test_an_index_without_the_runs_config_cannot_be_searched_by_image(tmp_path: Path) -> None:
    write_index(tmp_path / "index", ["a", "b"], np.eye(2, dtype=np.float32), inference={})
    (tmp_path / "q.png").write_bytes(solid((0, 0, 250)))
    result = CliRunner().invoke(cli, ["search", str(tmp_path / "index"), str(tmp_path / "q.png")])
    assert result.exit_code == 2 and "--config RUN.yaml" in result.output


def test_an_index_whose_config_was_redacted_says_how_to_rebuild(tmp_path: Path) -> None:
    """summary.json hides ${ENV} values; a model path built from one cannot be used to embed queries."""
    inference = {"embed": {"model": "***/models/e.onnx"}}
    write_index(tmp_path / "index", ["a", "b"], np.eye(2, dtype=np.float32), inference=inference)
    (tmp_path / "q.png").write_bytes(solid((0, 0, 250)))
    result = CliRunner().invoke(cli, ["search", str(tmp_path / "index"), str(tmp_path / "q.png")])
    assert result.exit_code == 2 and "hidden there as ***" in result.output and "--config RUN.yaml" in result.output
