"""Spark plumbing shared by the sources, the sinks and the job: the session, Hadoop filesystem helpers, and the
fused ``mapInArrow`` operator. With ``imgpipe.sources``, ``imgpipe.sinks`` and ``imgpipe.job``, the only code that
imports pyspark.
"""
