"""Spark plumbing shared by the sources, the sinks and the job: the session, Hadoop filesystem helpers, the
fused ``mapInArrow`` operator, models shipped to the executors (``files``) and where a run's tasks ran
(``status``). With ``imgpipe.sources``, ``imgpipe.sinks`` and ``imgpipe.job``, the only code that imports pyspark.
"""
