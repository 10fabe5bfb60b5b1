"""The core job on a real local Spark: files and Parquet sources, bad input, outputs, chunks and resume."""

from __future__ import annotations

import json
from collections import Counter
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.errors import ConfigError, ImgpipeError
from tests.helpers import MODELS_YAML, SHARED_IMAGES, files_config, photo_count
from tests.integration.conftest import read_rows, run_config
from tests.integration.faults import driver_dies_at_chunk



def by_key(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r[B.KEY]: r for r in rows}


@pytest.fixture(scope="module")
def files_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("files-run")
    report = run_config(spark, files_config(SHARED_IMAGES, out, MODELS_YAML))
    return report, out


def test_files_run_has_one_row_per_image_and_a_summary(files_run: tuple[Any, Path]) -> None:
    report, out = files_run
    rows = read_rows(out / "results")
    assert len(rows) == photo_count() == report.images_read == report.images_ok
    assert {Path(r[B.KEY]).name for r in rows} == {p.name for p in SHARED_IMAGES.iterdir() if p.suffix != ".md"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_read"] == photo_count() and summary["images_failed"] == 0 and summary["status"] == "succeeded"
    assert summary["models"]["detect"]["sha256"].startswith("695e750a")
    assert summary["inference"]["embed"]["model"] == "mobilenetv2-int8" and summary["inference"]["crop"]["top_k"] == 5
    # Local mode: the driver is the only executor; every read task finished there, none was retried.
    assert [name.rsplit(":", 1)[1] for name in summary["executors"]] == ["driver"]
    assert sum(summary["executors"].values()) == summary["read_tasks"] and summary["tasks_retried"] == 0
    dog = next(r for r in rows if r[B.KEY].endswith("dog.jpg"))
    assert (dog[B.WIDTH], dog[B.HEIGHT]) == (768, 576)
    assert {"dog", "bicycle", "car"} <= {o["label_name"] for o in dog[B.OBJECTS]}
    assert read_rows(out / "errors") == []


def test_parquet_copy_gives_identical_results(
    spark: SparkSession, files_run: tuple[Any, Path], tmp_path: Path
) -> None:
    _, out = files_run
    files_rows = by_key(read_rows(out / "results"))
    keys = sorted(files_rows)
    table = pa.table(
        {
            "id": keys,
            "jpeg": [Path(k.removeprefix("file:")).read_bytes() for k in keys],
            "sku": [f"sku-{i}" for i in range(len(keys))],
        }
    )
    src = tmp_path / "images.parquet"
    pq.write_table(table, src, row_group_size=5)
    config = (  # splits smaller than the row groups: sized up to them, so no read task is empty
        f"source: {{type: parquet, path: '{src}', key_column: id, image_column: jpeg, passthrough: [sku], "
        "max_bytes_per_partition: 256k}\n"
        f"sink: {{type: parquet, path: '{tmp_path / 'out'}'}}\n" + MODELS_YAML
    )
    report = run_config(spark, config)
    assert report.images_ok == photo_count() and 1 < report.read_tasks <= pq.read_metadata(src).num_row_groups
    parquet_rows = by_key(read_rows(tmp_path / "out" / "results"))
    assert sorted(parquet_rows) == keys
    for key in keys:
        a, b = files_rows[key], parquet_rows[key]
        assert b["sku"].startswith("sku-")
        for col in (B.WIDTH, B.HEIGHT, B.STATUS, B.OBJECTS, B.IMAGE_EMBEDDING):
            assert a[col] == b[col], f"{key}: {col} differs between the files and the Parquet source"


def test_bad_files_are_recorded_and_the_job_goes_on(spark: SparkSession, tmp_path: Path) -> None:
    src = tmp_path / "mixed"
    src.mkdir()
    for name in ("dog.jpg", "person.jpg", "skimage_coffee.png"):
        shutil.copy(SHARED_IMAGES / name, src / name)
    (src / "zero.jpg").write_bytes(b"")
    dog = (SHARED_IMAGES / "dog.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(dog[: len(dog) // 2])
    (src / "notes.jpg").write_text("this is a text file, not a photo\n")
    (src / "ignored.txt").write_text("not an image extension, never read")

    report = run_config(spark, files_config(src, tmp_path / "out", "run: {max_error_rate: 0.6}\n"))
    assert (report.images_read, report.images_ok, report.images_failed) == (6, 3, 3)
    assert report.errors_by_reason == {"empty": 1, "undecodable": 1, "unsupported_format": 1}
    assert not report.error_rate_exceeded
    errors = {Path(r[B.KEY]).name: r for r in read_rows(tmp_path / "out" / "errors")}
    assert {n: e[B.ERROR_REASON] for n, e in errors.items()} == {
        "zero.jpg": "empty",
        "truncated.jpg": "undecodable",
        "notes.jpg": "unsupported_format",
    }
    assert all(e[B.ERROR_STAGE] == "decode" and e[B.ERROR] for e in errors.values())
    results = by_key(read_rows(tmp_path / "out" / "results"))
    assert sum(r[B.STATUS] == "ok" for r in results.values()) == 3

    strict = run_config(spark, files_config(src, tmp_path / "out2", "run: {max_error_rate: 0.1}\n"))
    assert strict.error_rate_exceeded and strict.images_failed == 3


def test_explode_gives_one_row_per_object(spark: SparkSession, tmp_path: Path) -> None:
    src = tmp_path / "two"
    src.mkdir()
    shutil.copy(SHARED_IMAGES / "dog.jpg", src)
    (src / "zero.png").write_bytes(b"")
    extra = MODELS_YAML + "run: {max_error_rate: 1.0}\n"
    report = run_config(spark, files_config(src, tmp_path / "out", extra), ("sink.explode=true",))
    rows = read_rows(tmp_path / "out" / "results")
    dog_rows = [r for r in rows if r[B.KEY].endswith("dog.jpg")]
    assert len(dog_rows) >= 3 and {r["object_index"] for r in dog_rows} == set(range(len(dog_rows)))
    assert all(len(r["embedding"]) == 1280 and r["label_name"] for r in dog_rows)
    zero = [r for r in rows if r[B.KEY].endswith("zero.png")]
    assert len(zero) == 1 and zero[0]["object_index"] is None and zero[0][B.STATUS] == "error"
    assert report.images_read == 2 and report.images_failed == 1


def test_partition_by_and_append(spark: SparkSession, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = files_config(SHARED_IMAGES, out, "source: {type: files, path: '%s', limit: 4}\n" % SHARED_IMAGES)
    config = config.replace(f"source: {{type: files, path: '{SHARED_IMAGES}'}}\n", "", 1)
    run_config(spark, config, ("sink.partition_by=[status]", "run.run_id=first"))
    run_config(spark, config, ("sink.partition_by=[status]", "sink.mode=append", "run.run_id=second"))
    assert (out / "results").exists()
    partitions = {p.name for p in (out / "results").glob("chunk=*/status=*")}
    assert partitions == {"status=ok"}
    rows = read_rows(out / "results")
    assert sorted({r[B.RUN_ID] for r in rows}) == ["first", "second"] and len(rows) == 8


def test_interrupted_run_resumes_without_recomputing(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    config = files_config(SHARED_IMAGES, out, "run: {chunk_files: 5}\n")
    with driver_dies_at_chunk(monkeypatch, 3), pytest.raises(ImgpipeError, match="the job failed: RuntimeError: driver lost"):
        run_config(spark, config)
    report = run_config(spark, config, resume=True)
    assert report.chunks_total == 4 and report.chunks_skipped == 2
    rows = read_rows(out / "results")
    keys = [r[B.KEY] for r in rows]
    assert len(keys) == len(set(keys)) == photo_count() == report.images_read
    assert len({r[B.RUN_ID] for r in rows}) == 1


def test_resume_refuses_a_changed_config(spark: SparkSession, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_config(spark, files_config(SHARED_IMAGES, out, "run: {chunk_files: 8}\n"))
    with pytest.raises(ConfigError, match=r"started with other settings.*sink\.explode \(now true\)"):
        run_config(spark, files_config(SHARED_IMAGES, out, "run: {chunk_files: 8}\n"), ("sink.explode=true",), True)


def test_embeddings_are_unit_vectors(files_run: tuple[Any, Path]) -> None:
    _, out = files_run
    for row in read_rows(out / "results"):
        assert abs(np.linalg.norm(np.array(row[B.IMAGE_EMBEDDING])) - 1) < 1e-4


def test_duplicate_keys_are_processed_and_listed(spark: SparkSession, tmp_path: Path) -> None:
    dog = (SHARED_IMAGES / "dog.jpg").read_bytes()
    src = tmp_path / "dups.parquet"
    pq.write_table(pa.table({"key": ["a", "a", "b"], "image": [dog, dog, dog]}), src)
    out = tmp_path / "out"
    report = run_config(spark, f"source: {{type: parquet, path: '{src}'}}\nsink: {{type: parquet, path: '{out}'}}\n")
    assert report.images_read == 3 and report.images_ok == 3 and report.duplicate_keys == 1
    assert [r[B.KEY] for r in read_rows(out / "results")].count("a") == 2
    errors = read_rows(out / "errors")
    assert [(e[B.KEY], e[B.ERROR_STAGE], e[B.ERROR_REASON]) for e in errors] == [("a", "source", "duplicate_key")]
    assert json.loads((out / "summary.json").read_text())["duplicate_keys"] == 1


def test_null_keys_are_error_rows_and_not_repeats_of_one_key(spark: SparkSession, tmp_path: Path) -> None:
    dog = (SHARED_IMAGES / "dog.jpg").read_bytes()
    src = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"key": ["a", None, None, "None"], "image": [dog, dog, dog, dog]}), src)
    out = tmp_path / "out"
    config = f"source: {{type: parquet, path: '{src}'}}\nsink: {{type: parquet, path: '{out}'}}\nrun: {{max_error_rate: 1.0}}\n"
    report = run_config(spark, config)
    assert (report.images_read, report.images_ok, report.images_failed) == (4, 2, 2)
    assert report.errors_by_reason == {"no_key": 2} and report.duplicate_keys == 0
    errors = read_rows(out / "errors")
    assert sorted((e[B.KEY] is None, e[B.ERROR_REASON]) for e in errors) == [(True, "no_key"), (True, "no_key")]


def test_summary_has_stage_times_that_add_up_and_counts_that_match_the_results(files_run: tuple[Any, Path]) -> None:
    """Collected by the tasks while they ran, no second pass (issue 11)."""
    _, out = files_run
    summary = json.loads((out / "summary.json").read_text())
    stages = summary["stages"]
    assert set(stages) == {"read", "decode", "detect", "crop", "embed", "write", "other"}
    named = sum(v["seconds"] for stage, v in stages.items() if stage != "other")
    assert abs(named - summary["task_seconds"]) <= 0.10 * summary["task_seconds"]
    assert stages["detect"]["seconds"] > 0 and stages["embed"]["seconds"] > 0
    rows = read_rows(out / "results")
    labels = Counter(o["label_name"] for r in rows for o in r[B.OBJECTS] or [])
    assert summary["objects_by_label"] == dict(labels)
    longest = Counter(max(r[B.WIDTH], r[B.HEIGHT]) >= 512 for r in rows)
    small = sum(n for bucket, n in summary["images_by_size"].items() if bucket in ("<256", "256-511"))
    assert small == longest[False] and sum(summary["images_by_size"].values()) == len(rows)
    assert summary["spark_app_id"].startswith("local-")
