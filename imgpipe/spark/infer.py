"""``infer``: the fused pass over a DataFrame the caller owns, inside the caller's SparkSession (imgpipe as a library).

The same models, stages, result columns and quarantine as ``imgpipe run``; models are resolved and verified on the
driver first and, on a cluster, shipped to the executors as ``imgpipe run`` ships them (``SparkContext.addFile``).
Nothing runs until the caller acts on the result, and the caller's session conf is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, DataType, IntegralType, StringType

from imgpipe import batch as B
from imgpipe.config import load_inference
from imgpipe.config.job import InferenceConfig
from imgpipe.errors import ConfigError
from imgpipe.preflight import build_pipeline
from imgpipe.preflight.paths import RESERVED
from imgpipe.report import new_run_id
from imgpipe.spark import files
from imgpipe.spark.fused import fused_pass

#: The columns the pass adds after the caller's.
_RESULTS = RESERVED - {B.KEY, B.IMAGE}


def infer(
    df: DataFrame,
    config: str | Path | Mapping[str, Any] | InferenceConfig,
    *,
    key: str = B.KEY,
    image: str = B.IMAGE,
    run_id: str | None = None,
) -> DataFrame:
    """Decode, detect, crop and embed the encoded images of ``df``, lazily: one result row per input row.

    A corrupt, empty or oversized image, or a row whose key is null, becomes a row with ``status = "error"`` and
    its reason; the task goes on. Arrow batches follow the session's
    ``spark.sql.execution.arrow.maxRecordsPerBatch`` and ``maxBytesPerBatch`` (encoded bytes per batch: 64 MiB by
    default in Spark 4.3, 256 MiB in 4.0), which ``infer`` does not change; decoded pixels per task stay under
    ``run.max_batch_bytes``' default (128 MiB).

    Args:
        df: the caller's rows: an identifying column, encoded image bytes, and any other columns.
        config: the decode/detect/crop/embed sections, as a YAML file (errors name its lines), a mapping, or
            an ``InferenceConfig``.
        key: the identifying column (string, binary or integer); kept under its own name in the result.
        image: the column of encoded image bytes (binary); not in the result.
        run_id: stamped in every row's ``run_id``; the current UTC time by default.

    Returns:
        ``key``, every other column of ``df`` unchanged, then ``imgpipe run``'s result columns (``width``,
        ``height``, ``status``, ``error_stage``, ``error_reason``, ``error``, ``objects``, ``image_embedding``,
        ``detect_model``, ``embed_model``, ``run_id``, as the sections ask for them).

    Raises:
        ConfigError: the config is invalid; ``df`` lacks ``key`` or ``image`` or has one of the wrong type; or
            another column of ``df`` is named like a result column.
        ModelError: a model is missing, fails its sha256, or does not match its spec.
    """
    passthrough = _passthrough(df, key, image)
    loaded = load_inference(config)
    # The pass sees the caller's columns under plain names (pyspark's mapInArrow cannot take a name with a dot)
    # and the result gets the caller's names back, by position.
    plain = tuple(f"_{i}" for i in range(len(passthrough)))
    pipeline = replace(build_pipeline(loaded, run_id or new_run_id()), passthrough=plain)
    pipeline = files.for_executors(df.sparkSession, pipeline)
    inputs = df.select(
        _col(key).alias(B.KEY), _col(image).alias(B.IMAGE), *(_col(name).alias(p) for name, p in zip(passthrough, plain))
    )
    results = fused_pass(inputs, pipeline)
    return results.toDF(key, *passthrough, *results.columns[1 + len(passthrough) :])


def _passthrough(df: DataFrame, key: str, image: str) -> list[str]:
    """The columns carried through unchanged, after checking ``key`` and ``image``."""
    types = {field.name: field.dataType for field in df.schema.fields}
    _require(types, key, "key", (StringType, BinaryType, IntegralType), "string, binary or an integer type")
    _require(types, image, "image", (BinaryType,), "binary (the encoded image bytes)")
    if key == image:
        raise ConfigError(f"expected different key and image columns, but both are {key!r}")
    passthrough = [name for name in df.columns if name not in (key, image)]
    clashes = [name for name in passthrough if name in _RESULTS]
    if clashes:
        them = "it" if len(clashes) == 1 else "them"
        raise ConfigError(
            f"expected no column named like a result column ({_names(sorted(_RESULTS))}), but the DataFrame has "
            f"{_names(clashes)}: rename {them} (withColumnRenamed) or drop {them} before infer"
        )
    return passthrough


def _require(types: dict[str, DataType], name: str, role: str, allowed: tuple[type, ...], wanted: str) -> None:
    columns = _names(list(types))
    if name not in types:
        raise ConfigError(f"expected a {role} column {name!r}, but the DataFrame has only {columns}; pass {role}=<column>")
    if not isinstance(types[name], allowed):
        raise ConfigError(
            f"expected the {role} column {name!r} to be {wanted}, but it is {types[name].simpleString()} "
            f"(the DataFrame's columns: {columns})"
        )


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names) or "no columns"


def _col(name: str) -> Column:
    """A column by its exact name: dots and spaces are part of the name, not struct access."""
    return F.col("`" + name.replace("`", "``") + "`")
