"""imgpipe: read images (HBase, Parquet, folders) -> decode -> detect -> crop -> embed -> write, as one Spark job."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
