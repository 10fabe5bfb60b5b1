"""The inference stages, in flow order: decode -> detect -> crop -> embed.

Plain functions and frozen, picklable callables over NumPy images; no Spark, no I/O. ``pipeline.py`` runs
them over Arrow batches. Helpers: ``header`` (format sniffing), ``resize`` (model input tensors),
``adapters`` (raw detector outputs -> candidates), ``nms``, ``model`` (what detect and embed share).
"""
