"""A data engineer's own PySpark program, submitted to a cluster with spark-submit: photos read with ``binaryFile``,
``imgpipe.spark.infer``, the result written with the program's own ``df.write.parquet``. The session is all
spark-submit's (master, ``--archives``, ``spark.pyspark.python``). Run by test_spark_cluster.py; its last stdout
line is the application's id.

    spark-submit --master spark://HOST:PORT --archives env.tar.gz#environment \\
        --conf spark.pyspark.python=./environment/bin/python infer_on_cluster.py IMAGES CONFIG OUT
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession

from imgpipe.spark import infer


def main(images: str, config: str, out: str) -> None:
    spark = SparkSession.builder.appName("infer-on-cluster").getOrCreate()
    photos = spark.read.format("binaryFile").load(images).select("path", "content")
    infer(photos, config, key="path", image="content").write.parquet(out)
    print(spark.sparkContext.applicationId)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
