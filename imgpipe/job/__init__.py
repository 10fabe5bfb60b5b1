"""The run on Spark: plan chunks, run the fused pass per chunk, commit each chunk, then report.

    run.py        the chunk loop (``run_job`` builds the session; ``run_on`` uses the caller's)
    manifest.py   the chunk plan and which chunks are committed, for ``--resume``
    ledger.py     counts, duplicate keys and the errors dataset, read back after commit
"""

from imgpipe.job.run import run_job, run_on

__all__ = ["run_job", "run_on"]
