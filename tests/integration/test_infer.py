"""``imgpipe.spark.infer`` from the caller's own Spark code: same results as ``imgpipe run``, the caller's columns
kept, bad images as error rows, and clear errors for a DataFrame it cannot take."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from imgpipe import batch as B
from imgpipe.errors import ConfigError, ModelError
from imgpipe.spark import infer
from tests.helpers import MODELS_YAML, files_config, photo_count
from tests.spark_helpers import own_process_env, read_rows, run_config

CALLER = Path(__file__).with_name("infer_caller.py")


def test_infer_in_the_callers_own_session_matches_imgpipe_run(
    spark: SparkSession, shared_images: Path, tmp_path: Path
) -> None:
    """The caller runs in its own process: its own SparkSession with Spark's defaults, not this run's shared one."""
    config = tmp_path / "infer.yaml"
    config.write_text(MODELS_YAML)
    out = tmp_path / "caller-out"
    env = own_process_env()
    done = subprocess.run(
        [sys.executable, str(CALLER), str(shared_images), str(config), str(out)],
        capture_output=True, text=True, timeout=900, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["conf_unchanged"], "infer must not change the caller's session conf"
    assert facts["jobs_during_infer"] == [], "infer is lazy: nothing runs until the caller acts"
    assert facts["columns"][:2] == ["path", "sku"], "the key under the caller's name, then the caller's columns"

    got = {r["path"]: r for r in read_rows(out)}
    run_config(spark, files_config(shared_images, tmp_path / "run-out") + MODELS_YAML)
    expected = {r[B.KEY]: r for r in read_rows(tmp_path / "run-out" / "results")}
    assert len(expected) == photo_count()
    assert sorted(got) == sorted([*expected, "file:/uploads/corrupt.jpg"])
    for key, want in expected.items():
        row = got[key]
        assert row["sku"] == row["sku_in"] == "SKU-" + key.rsplit("/", 1)[-1].upper(), key
        assert row[B.STATUS] == B.STATUS_OK, key
        assert (row[B.WIDTH], row[B.HEIGHT]) == (want[B.WIDTH], want[B.HEIGHT]), key
        assert row[B.OBJECTS] == want[B.OBJECTS], key
        assert row[B.IMAGE_EMBEDDING] == want[B.IMAGE_EMBEDDING], key
    corrupt = got["file:/uploads/corrupt.jpg"]
    assert (corrupt["sku"], corrupt[B.STATUS], corrupt[B.ERROR_STAGE]) == ("SKU-CORRUPT", B.STATUS_ERROR, "decode")
    assert corrupt[B.ERROR_REASON] == B.REASON_UNDECODABLE and corrupt[B.OBJECTS] is None


@pytest.fixture(scope="module")
def tiny(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([("a", b"\x89PNG", 1, 2.5)], "key string, image binary, sku int, price double")


DETECT = {"detect": {"model": "yolox-nano"}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "id"}, "expected a key column 'id', but the DataFrame has only 'key', 'image', 'sku', 'price'; pass key=<column>"),
        ({"image": "img"}, "expected a image column 'img', but the DataFrame has only 'key', 'image', 'sku', 'price'"),
        ({"key": "price"}, "expected the key column 'price' to be string, binary or an integer type, but it is double"),
        ({"image": "key"}, "expected the image column 'key' to be binary (the encoded image bytes), but it is string"),
    ],
)
def test_a_missing_or_mistyped_column_is_named_with_the_columns(tiny: DataFrame, kwargs: Any, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        infer(tiny, DETECT, **kwargs)
    assert str(exc.value).startswith(message)


def test_a_column_named_like_a_result_column_is_refused(tiny: DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"but the DataFrame has 'status', 'objects': rename them"):
        infer(tiny.selectExpr("*", "'x' AS status", "'y' AS objects", "'z' AS read_error"), DETECT)


def test_any_key_name_and_type_and_any_other_column_pass_through(spark: SparkSession, shared_images: Path) -> None:
    photo = (shared_images / "dog.jpg").read_bytes()
    schema = "`item id` long, `the.image` binary, `a.b` string, tags array<int>, key string, image string, read_error int"
    df = spark.createDataFrame([(7, photo, "x", [1, 2], "k", "i", 0)], schema)
    results = infer(df, DETECT, key="item id", image="the.image", run_id="r1")
    assert results.columns[:6] == ["item id", "a.b", "tags", "key", "image", "read_error"]
    row = results.collect()[0]
    assert tuple(row[:6]) == (7, "x", [1, 2], "k", "i", 0)
    assert (row[B.STATUS], row[B.RUN_ID]) == ("ok", "r1")
    assert {o["label_name"] for o in row[B.OBJECTS]} >= {"dog"}


def test_a_model_problem_is_raised_before_anything_runs(spark: SparkSession, tiny: DataFrame) -> None:
    spark.sparkContext.setJobGroup("bad-model", "nothing may run")
    with pytest.raises(ModelError, match="the inference config: detect.model: .*Did you mean 'yolox-nano'"):
        infer(tiny, {"detect": {"model": "yolox-nan"}})
    assert list(spark.sparkContext.statusTracker().getJobIdsForGroup("bad-model")) == []
