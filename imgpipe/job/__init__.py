"""The run on Spark: plan chunks, run the fused pass per chunk, commit each chunk, then report.

    run.py        the chunk loop (``run_job`` builds the session; ``run_on`` uses the caller's)
    manifest.py   the chunk plan and which chunks are committed, for ``--resume``
    ledger.py     counts, duplicate keys and the errors dataset, read back after commit
    index.py      ``imgpipe index``: a faiss index of a run's vectors, filled in Spark tasks
    dedup.py      ``imgpipe dedup``: near-duplicate groups from k-NN pairs and connected components

``spark_job`` gives the other commands a session of their own (``imgpipe index``, ``imgpipe dedup``).
"""

from imgpipe.job.run import run_job, run_on
from imgpipe.spark.session import spark_job

__all__ = ["run_job", "run_on", "spark_job"]
