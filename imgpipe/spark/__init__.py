"""Spark plumbing shared by the sources, the sinks and the job: the session, Hadoop filesystem helpers, the
fused ``mapInArrow`` operator, models shipped to the executors (``files``) and where a run's tasks ran
(``status``). With ``imgpipe.sources``, ``imgpipe.sinks`` and ``imgpipe.job``, the only code that imports pyspark.

Also imgpipe as a library, from the caller's own Spark code:

    infer(df, config)       the fused pass over any DataFrame of encoded images (``imgpipe.spark.infer``)
    register(spark)         ``spark.read.format("imgpipe-hbase")`` in that session (``imgpipe.spark.hbase_datasource``)

Those names are imported on first use: Spark's worker daemon (``imgpipe.spark.daemon``) imports this package
before it forks every worker, and needs none of them (the HBase reader and the config's models would add 0.1 s
to each run's start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgpipe.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from imgpipe.config.job import InferenceConfig
    from imgpipe.spark.hbase_datasource import ReadCounters, register
    from imgpipe.spark.infer import infer

__all__ = ["InferenceConfig", "ReadCounters", "infer", "register"]

_MODULES = {
    "InferenceConfig": "imgpipe.config.job",
    "ReadCounters": "imgpipe.spark.hbase_datasource",
    "register": "imgpipe.spark.hbase_datasource",
    "infer": "imgpipe.spark.infer",
}

__getattr__ = lazy_exports(__name__, _MODULES)
