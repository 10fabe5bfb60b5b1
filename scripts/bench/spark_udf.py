"""Spark's own path: a pandas UDF decodes and letterboxes, ``predict_batch_udf`` detects and embeds.

    python -m bench.spark_udf PARQUET_DIR OUT_DIR CORES

What a Spark user without imgpipe would write, on imgpipe's stage code where it exists (letterbox,
YOLOX decoding + NMS, crop preprocessing, the ONNX sessions): full JPEG decode; the 416x416 float
tensors go through Arrow into the JVM and back to the detector; the crop UDF decodes again (Spark
cannot carry the pixels along) and sends 224x224 float tensors to the embedder; one row per object is
written. The clock runs from after the session start to the written Parquet.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from bench.common import FULL_DECODE, build_pipeline_from, config_text, parquet_source

TOP_BOXES = 10  # detections handed to the crop UDF per image (top_k 3 of those at least min_size)


def build_job(spark: Any, pipeline: Any, parquet: Path, out: Path) -> None:
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from imgpipe.stages.adapters import decoder
    from imgpipe.stages.embed import l2_normalise
    from imgpipe.stages.resize import Transform, preprocess

    detector, embedder, crop = pipeline.detector.with_threads(1), pipeline.embedder.with_threads(1), pipeline.crop
    det_spec, emb_spec = detector.model.spec, embedder.model.spec.input
    det_shape = list(preprocess([np.zeros((8, 8, 3), np.uint8)], det_spec.input)[0].shape[1:])
    emb_shape = list(preprocess([np.zeros((8, 8, 3), np.uint8)], emb_spec)[0].shape[1:])

    def decode(data: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    letterboxed = T.StructType([T.StructField("tensor", T.ArrayType(T.FloatType())),
                                T.StructField("ratio", T.FloatType())])  # fmt: skip

    @F.pandas_udf(letterboxed)  # type: ignore[call-overload]
    def letterbox(images: pd.Series) -> pd.DataFrame:
        cv2.setNumThreads(1)
        tensors, ratios = [], []
        for data in images:
            tensor, (t,) = preprocess([decode(data)], det_spec.input)
            tensors.append(tensor.ravel())
            ratios.append(t.sx)
        return pd.DataFrame({"tensor": tensors, "ratio": ratios})

    def make_detect() -> Callable[[np.ndarray], np.ndarray]:
        session = detector._session()
        name = session.get_inputs()[0].name
        raw = det_spec.outputs.raw or session.get_outputs()[0].name
        decode_out = decoder(det_spec, detector.score_threshold)
        identity = Transform(1.0, 1.0)

        def predict(batch: np.ndarray) -> np.ndarray:
            rows = np.full((len(batch), TOP_BOXES * 6), -1.0, np.float32)
            for i, tensor in enumerate(batch):  # the model's batch is fixed at 1
                out = session.run([raw], {name: tensor[None]})
                (cand,) = decode_out({raw: out[0]}, raw)
                det = detector.postprocess(cand, identity, (det_shape[1], det_shape[2]))
                found = np.column_stack([det.boxes, det.scores, det.labels])[:TOP_BOXES]
                rows[i, : found.size] = found.ravel()
            return rows

        return predict

    detect = predict_batch_udf(make_detect, return_type=T.ArrayType(T.FloatType()), batch_size=8,
                               input_tensor_shapes=[det_shape])  # fmt: skip

    @F.pandas_udf(T.ArrayType(T.ArrayType(T.FloatType())))  # type: ignore[call-overload]
    def crops(images: pd.Series, ratios: pd.Series, boxes: pd.Series) -> pd.Series:
        cv2.setNumThreads(1)
        out = []
        for data, ratio, found in zip(images, ratios, boxes, strict=True):
            image, tensors = decode(data), []
            for x1, y1, x2, y2, score, _ in np.asarray(found, np.float32).reshape(-1, 6):
                x1, y1, x2, y2 = (v / ratio for v in (x1, y1, x2, y2))
                if score < 0 or min(x2 - x1, y2 - y1) < crop.min_size:
                    continue
                pixels = image[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))]
                tensors.append(preprocess([pixels], emb_spec)[0].ravel())
                if len(tensors) == crop.top_k:
                    break
            out.append(tensors)
        return pd.Series(out)

    def make_embed() -> Callable[[np.ndarray], np.ndarray]:
        session = embedder._session()
        name, output = session.get_inputs()[0].name, embedder._output_name()

        def predict(batch: np.ndarray) -> np.ndarray:
            (value,) = session.run([output], {name: batch.astype(np.float32)})
            return l2_normalise(np.asarray(value, np.float32).reshape(len(batch), -1))

        return predict

    embed = predict_batch_udf(make_embed, return_type=T.ArrayType(T.FloatType()), batch_size=32,
                              input_tensor_shapes=[emb_shape])  # fmt: skip

    df = spark.read.parquet(str(parquet))
    df = df.withColumn("lb", letterbox("image"))
    df = df.withColumn("boxes", detect(F.col("lb.tensor")))
    df = df.withColumn("crop", F.explode(crops("image", F.col("lb.ratio"), "boxes")))
    df = df.select("key", embed("crop").alias("embedding"))
    df.write.mode("overwrite").parquet(str(out))


def main(parquet: Path, out: Path, cores: int) -> None:
    from imgpipe.config.sections import SparkConfig
    from imgpipe.spark.session import build_session

    pipeline = build_pipeline_from(config_text(parquet_source(parquet), "/tmp/unused", FULL_DECODE))
    # 4g: with the 1g default driver heap the 2 MB tensor rows in flight ran the local JVM out of memory
    # at 1,000 images (an OutOfMemoryError in a task thread ends a local-mode JVM).
    # Spark's own path runs in Spark's own worker daemon: imgpipe's refuses pandas, which pandas UDFs need.
    conf = {
        "spark.sql.files.maxPartitionBytes": "64m",
        "spark.driver.memory": "4g",
        "spark.python.daemon.module": "pyspark.daemon",
    }
    spark = build_session(SparkConfig(master=f"local[{cores}]", conf=conf))
    try:
        start = time.monotonic()
        build_job(spark, pipeline, parquet, out)
        seconds = time.monotonic() - start
        objects = spark.read.parquet(str(out)).count()
        images = spark.read.parquet(str(parquet)).count()
    finally:
        spark.stop()
    print(json.dumps({"seconds": seconds, "images": images, "objects": objects}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
