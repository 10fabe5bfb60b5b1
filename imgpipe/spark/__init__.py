"""Spark plumbing shared by the sources, the sinks and the job: the session, Hadoop filesystem helpers, the
fused ``mapInArrow`` operator, models shipped to the executors (``files``) and where a run's tasks ran
(``status``). With ``imgpipe.sources``, ``imgpipe.sinks`` and ``imgpipe.job``, the only code that imports pyspark.

Also imgpipe as a library, from the caller's own Spark code:

    infer(df, config)       the fused pass over any DataFrame of encoded images (``imgpipe.spark.infer``)
    register(spark)         ``spark.read.format("imgpipe-hbase")`` in that session (``imgpipe.spark.hbase_datasource``)
"""

from imgpipe.config.job import InferenceConfig
from imgpipe.spark.hbase_datasource import ReadCounters, register
from imgpipe.spark.infer import infer

__all__ = ["InferenceConfig", "ReadCounters", "infer", "register"]
