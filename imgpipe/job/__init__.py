"""The run on Spark: plan chunks, run the fused pass per chunk, commit each chunk, then report.

    run.py        the chunk loop (``run_job`` builds the session; ``run_on`` uses the caller's)
    manifest.py   the chunk plan and which chunks are committed, for ``--resume``
    ledger.py     counts, duplicate keys and the errors dataset, read back after commit
    index.py      ``imgpipe index``: a faiss index of a run's vectors, filled in Spark tasks
    dedup.py      ``imgpipe dedup``: near-duplicate groups from k-NN pairs and connected components

``spark_job`` gives the other commands a session of their own (``imgpipe index``, ``imgpipe dedup``).

These three names are imported on first use: every Python worker of a run imports ``imgpipe.job.tally`` (the
pass's counting wrapper), hence this package, and needs none of the driver's job stack (0.05 s each).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgpipe.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from imgpipe.job.run import run_job, run_on
    from imgpipe.spark.session import spark_job

__all__ = ["run_job", "run_on", "spark_job"]

_MODULES = {"run_job": "imgpipe.job.run", "run_on": "imgpipe.job.run", "spark_job": "imgpipe.spark.session"}

__getattr__ = lazy_exports(__name__, _MODULES)
