"""Named counts that Spark tasks add up as they run: an accumulator of ``{key: n}``, summed key by key.

Spark applies the updates of successful tasks only, so a retried task counts once; the driver reads the
sums after the action that ran the tasks.
"""

from __future__ import annotations

from pyspark import Accumulator, AccumulatorParam
from pyspark.sql import SparkSession

Counts = dict[str, float]


def add(into: Counts, more: Counts) -> Counts:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n
    return into


class _Sum(AccumulatorParam[Counts]):
    def zero(self, value: Counts) -> Counts:
        return {}

    def addInPlace(self, value1: Counts, value2: Counts) -> Counts:  # noqa: N802 - pyspark's name
        return add(value1, value2)


def counter(spark: SparkSession) -> Accumulator[Counts]:
    return spark.sparkContext.accumulator({}, _Sum())
