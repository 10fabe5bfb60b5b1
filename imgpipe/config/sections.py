"""Core config sections: spark, sources, decode, sinks, run."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from imgpipe.config.base import Section, parse_size

ByteSize = Annotated[int, BeforeValidator(parse_size)]

#: The executors' Python; ``spark.pack`` sets it to the archive's interpreter.
PYSPARK_PYTHON = "spark.pyspark.python"

#: The file extensions of every format the decode stage reads (OpenCV: JPEG, PNG, GIF, BMP, TIFF, WebP,
#: JPEG 2000, AVIF); tests/unit/test_decode.py keeps the two in step.
DEFAULT_EXTENSIONS = (
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "dib", "tif", "tiff", "webp", "jp2", "j2k", "jpf", "jpx", "avif",
)  # fmt: skip


class SparkConfig(Section):
    master: str = "local[*]"
    app_name: str = "imgpipe"
    #: Any Spark property, passed through as is (``spark.executor.memory: 4g``).
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    #: Rows per Arrow batch handed to the Python workers; images are big, Spark's 10000 is not.
    max_records_per_batch: int = Field(default=32, ge=1, le=10_000)
    #: ...and at most this many bytes of encoded images per batch, whichever comes first: a batch of
    #: 32 huge TIFFs must not hold gigabytes.
    max_bytes_per_batch: ByteSize = 64 << 20
    #: An archive built by ``imgpipe pack`` (a local path or a Hadoop-filesystem URI). On a cluster the job ships
    #: it (``spark.archives``) and the executors run the Python inside it; local masters ignore it.
    pack: str | None = None
    #: Memory one task's Python worker may use outside the JVM (ONNX sessions, decoded pixels); on a cluster
    #: ``spark.executor.memoryOverhead`` defaults to task slots x this + 384m. Measured peak: 350-550 MiB.
    python_memory_per_task: ByteSize = 768 << 20

    @field_validator("pack")
    @classmethod
    def _pack_named(cls, pack: str | None, info: ValidationInfo) -> str | None:
        if pack is None:
            return None
        if not pack.strip():
            raise ValueError("expected the path of an archive built by `imgpipe pack`, but got an empty string")
        if PYSPARK_PYTHON in info.data.get("conf", {}):
            raise ValueError(
                f"spark.pack points the executors' Python into the archive, but spark.conf also sets "
                f"{PYSPARK_PYTHON}; remove one of them"
            )
        return pack

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, conf: dict[str, object]) -> dict[str, object]:
        bad = [k for k in conf if not k.startswith("spark.")]
        if bad:
            raise ValueError(f"Spark properties start with 'spark.', but got {', '.join(map(repr, bad))}")
        return conf


class FilesSourceConfig(Section):
    """Image files in a folder or glob, on any Hadoop filesystem, read with Spark's ``binaryFile``."""

    type: Literal["files"]
    path: str
    recursive: bool = True
    #: Lower-case extensions to keep; an empty list keeps every file.
    extensions: list[str] = Field(default_factory=lambda: list(DEFAULT_EXTENSIONS))
    limit: int | None = Field(default=None, ge=1)
    max_bytes_per_partition: ByteSize = 64 << 20

    @field_validator("extensions")
    @classmethod
    def _normalise(cls, exts: list[str]) -> list[str]:
        return [e.lower().lstrip(".") for e in exts]

    @property
    def passthrough_columns(self) -> tuple[str, ...]:
        """Input columns copied to the output unchanged: none for files."""
        return ()


class ParquetSourceConfig(Section):
    """A Parquet dataset holding encoded image bytes, read with ``spark.read.parquet``."""

    type: Literal["parquet"]
    path: str | list[str]
    key_column: str = "key"
    image_column: str = "image"
    #: Columns copied unchanged from the input row to the output row.
    passthrough: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)
    max_bytes_per_partition: ByteSize = 64 << 20

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def passthrough_columns(self) -> tuple[str, ...]:
        return tuple(self.passthrough)


class DecodeConfig(Section):
    #: Images whose header declares more pixels are refused as ``too_large`` before any pixel is decoded.
    max_pixels: int = Field(default=100_000_000, ge=1)
    #: Images with a side shorter than this are refused as ``too_small``.
    min_side: int = Field(default=1, ge=1)
    #: Large JPEGs are decoded at 1/2, 1/4 or 1/8 size in the DCT domain (2-4x faster) as long as the
    #: long side stays at least this many pixels; crops are cut from that. ``null`` always decodes full size.
    reduced_decode_min_side: int | None = Field(default=1024, ge=32)


class ParquetSinkConfig(Section):
    """Results as Parquet: ``<path>/results``, ``<path>/errors`` and ``<path>/summary.json``."""

    type: Literal["parquet"]
    path: str
    mode: Literal["error", "overwrite", "append"] = "error"
    partition_by: list[str] = Field(default_factory=list)
    #: One row per detected object instead of one row per image.
    explode: bool = False

    @property
    def default_report_dir(self) -> str:
        """summary.json, errors/ and the manifest sit beside results/ unless run.report_dir says otherwise."""
        return self.path


class RunConfig(Section):
    #: Exit code 3 when more than this share of images failed.
    max_error_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    #: Defaults to a UTC timestamp; persisted in every output row.
    run_id: str | None = None
    #: Unit of resumption: input files per chunk (files and parquet sources). Each chunk is committed on
    #: its own, so ``imgpipe run --resume`` after a crash recomputes only unfinished chunks.
    chunk_files: int = Field(default=2000, ge=1)
    #: Unit of resumption for the HBase source: region splits per chunk.
    chunk_splits: int = Field(default=64, ge=1)
    #: Where summary.json, errors/ and the resume manifest go. Defaults to ``sink.path`` for the Parquet
    #: sink and ``./imgpipe-runs/<table>`` for the HBase sink.
    report_dir: str | None = None
    #: Decoded pixels a task holds before running the models on them: bounds memory by bytes, whatever
    #: the row count or the image sizes.
    max_batch_bytes: ByteSize = 128 << 20
