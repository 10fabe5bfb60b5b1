"""The exceptions imgpipe raises, and the exit code each one maps to.

    ImgpipeError                 exit 1: the job could not run or failed
    ├── ConfigError              exit 2: the YAML (or a --set) is invalid; names the YAML path and line
    ├── ModelError               exit 2: a model is missing, fails its sha256, or does not match its spec
    ├── SourceError              exit 1: a source could not be planned or read (names the table, path)
    ├── SinkError                exit 1: a sink could not be prepared or committed
    └── ErrorRateExceeded        exit 3: the job finished but too many images failed

Bad *images* are not exceptions: they become rows with ``status="error"``. Only ``cli.py``
turns these exceptions into messages and exit codes.
"""

from __future__ import annotations


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


class ErrorRateExceeded(ImgpipeError):
    """The job completed but the share of failed images exceeded ``run.max_error_rate``."""

    exit_code = 3
