"""A data engineer's own PySpark program, run by test_infer.py in a process of its own.

It builds its own SparkSession with Spark's defaults (none of imgpipe's settings), reads photos with
``binaryFile``, adds a SKU and one corrupt image, calls ``imgpipe.spark.infer``, joins the result back on the
path and writes it with its own ``df.write.parquet``. Its last stdout line is JSON: what infer did to the session.

    python infer_caller.py IMAGES CONFIG OUT
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from imgpipe.spark import infer

CORRUPT = ("file:/uploads/corrupt.jpg", b"\xff\xd8\xff\xe0 this is no JPEG", "SKU-CORRUPT")


def main(images: str, config: str, out: str) -> None:
    spark = SparkSession.builder.master("local[2]").appName("caller").config("spark.ui.enabled", "false").getOrCreate()
    photos = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.{jpg,png,bmp}")
        .load(images)
        .select("path", "content", F.concat(F.lit("SKU-"), F.upper(F.substring_index(F.col("path"), "/", -1))).alias("sku"))
        .unionByName(spark.createDataFrame([CORRUPT], "path string, content binary, sku string"))
    )
    conf_before = spark.conf.getAll
    spark.sparkContext.setJobGroup("infer", "imgpipe.spark.infer must not run anything")
    results = infer(photos, config, key="path", image="content")
    jobs_during_infer = list(spark.sparkContext.statusTracker().getJobIdsForGroup("infer"))
    spark.sparkContext.setJobGroup("write", "the caller's own write")

    joined = photos.select("path", F.col("sku").alias("sku_in")).join(results, on="path")
    joined.write.parquet(out)
    print(json.dumps({
        "conf_unchanged": spark.conf.getAll == conf_before,
        "jobs_during_infer": jobs_during_infer,
        "columns": results.columns,
    }))  # fmt: skip
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
