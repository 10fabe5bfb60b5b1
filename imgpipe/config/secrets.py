"""Values that came from ``${ENV}`` (hosts behind auth, credentials in ``spark.conf``), hidden wherever
imgpipe writes text: log records, error messages, the run report and ``--dry-run`` output.

The set is per process: the driver fills it when it loads a config; executors fill it from the pipeline
they receive, before they log anything.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

MASK = "***"
#: Shorter values (a port, a flag) are not hidden: masking every "1" would garble every message.
MIN_LENGTH = 4
_known: set[str] = set()


def remember(values: Iterable[str]) -> None:
    _known.update(v for v in values if v)


def forget() -> None:
    """Drop every remembered value (tests, or a long-lived process loading another config)."""
    _known.clear()


def redact(text: str, values: Iterable[str] | None = None) -> str:
    # Longest first, so a secret that contains another is hidden whole.
    for secret in sorted(_known if values is None else set(values), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Renders the record's message, then hides every known secret in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


def redact_handlers(logger: logging.Logger) -> None:
    """Put the filter on every handler of ``logger`` (idempotent): handler filters see child loggers' records."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def executor_logging() -> None:
    """In a Python worker: imgpipe's warnings go to stderr (Spark collects it), redacted."""
    logger = logging.getLogger("imgpipe")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    redact_handlers(logger)
