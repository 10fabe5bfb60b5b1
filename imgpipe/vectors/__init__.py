"""Vectors after the run: index entries from results, the faiss index, search by image, near-duplicate pairs.

No Spark here (import-linter keeps pyspark out); ``imgpipe.job.index`` and ``imgpipe.job.dedup`` run
these functions in Spark tasks.
"""
