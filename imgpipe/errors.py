"""The exceptions imgpipe raises, and the exit code each one maps to.

    ImgpipeError                 exit 1: the job could not run or failed
    ├── ConfigError              exit 2: the YAML (or a --set) is invalid; names the YAML path and line
    ├── ModelError               exit 2: a model is missing, fails its sha256, or does not match its spec
    ├── SourceError              exit 1: a source could not be planned or read (names the table, path)
    ├── SinkError                exit 1: a sink could not be prepared or committed
    ├── PackError                exit 1: ``imgpipe pack`` could not build its archive, or would overwrite a file
    └── ErrorRateExceeded        exit 3: the job finished but too many images failed

Bad *images* are not exceptions: they become rows with ``status="error"``. Only ``imgpipe.cli``
turns these exceptions into messages and exit codes. The two helpers at the end keep every message's
"Did you mean" and first-line rendering the same.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ImgpipeError(Exception):
    """Base of every error imgpipe reports to a user."""

    exit_code: int = 1


class ConfigError(ImgpipeError):
    """The configuration is invalid. ``problems`` holds one line per problem."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(message)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  {p}" for p in self.problems)


class ModelError(ImgpipeError):
    """A model cannot be used: missing, wrong checksum, or not matching its declared spec."""

    exit_code = 2


class SourceError(ImgpipeError):
    """A source could not be planned or read."""


class SinkError(ImgpipeError):
    """A sink could not be prepared, written or committed."""


class PackError(ImgpipeError):
    """The archive could not be built, or its path holds a file imgpipe did not write."""


class ErrorRateExceeded(ImgpipeError):
    """The job completed but the share of failed images exceeded ``run.max_error_rate``."""

    exit_code = 3


def did_you_mean(word: str, choices: Iterable[str], n: int = 1) -> str:
    """``". Did you mean 'x'?"`` for the closest of ``choices`` (up to ``n`` of them), or ``""``."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=n)
    return f". Did you mean {', '.join(map(repr, close))}?" if close else ""


def first_line(exc: BaseException, limit: int = 500) -> str:
    """The first non-blank line of an exception's message (its type name when it has none)."""
    for line in str(exc).strip().splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(exc).__name__
