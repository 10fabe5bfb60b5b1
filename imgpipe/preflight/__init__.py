"""Everything checked on the driver before any Spark session starts; each problem names its YAML path and line.

    paths.py    the input is readable; the outputs are safe: not a filesystem root, not overlapping the input,
                creatable, and holding nothing imgpipe did not write; a local spark.pack archive exists
    models.py   models resolved and verified, and the Pipeline built from them
"""

from imgpipe.preflight.models import build_pipeline
from imgpipe.preflight.paths import check_paths

__all__ = ["build_pipeline", "check_paths"]
