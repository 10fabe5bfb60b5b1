"""Spark plumbing shared by the sources, the sinks and the job: the session, Hadoop filesystem helpers, and the
fused ``mapInArrow`` operator. With ``imgpipe.sources``, ``imgpipe.sinks`` and ``imgpipe.job``, the only code that
imports pyspark.

Also imgpipe as a library, from the caller's own Spark code:

    infer(df, config)       the fused pass over any DataFrame of encoded images (``imgpipe.spark.infer``)
"""

from imgpipe.config.job import InferenceConfig
from imgpipe.spark.infer import infer

__all__ = ["InferenceConfig", "infer"]
