"""What went wrong, in one line, from whatever a Spark job raised.

Py4J's own first line (``An error occurred while calling o112.create.``) says nothing; the root Java
exception does (``ParentNotDirectoryException: Parent path is not a directory: /data/out``). An exception
raised in a Python worker comes back wrapped in the worker's traceback; its last line is the one to show.
"""

from __future__ import annotations

from typing import Any

from imgpipe.errors import ImgpipeError, first_line

_TRACEBACK = "Traceback (most recent call last)"


def describe_failure(exc: BaseException) -> str:
    """``ExceptionType: message`` of the root cause of ``exc`` (an imgpipe error: its own message)."""
    if isinstance(exc, ImgpipeError):
        return str(exc)[:2000] or type(exc).__name__
    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    text = str(exc)
    if _TRACEBACK in text:
        return _last_python_line(text) or first_line(exc)
    if java is not None:
        root = _root_cause(java)
        if root is not None:
            return root
    return f"{type(exc).__name__}: {first_line(exc)}"


def _root_cause(throwable: Any) -> str | None:
    try:
        seen = 0
        while throwable.getCause() is not None and seen < 20:
            throwable, seen = throwable.getCause(), seen + 1
        name = str(throwable.getClass().getName())
        message = throwable.getMessage()
    except Exception:  # noqa: BLE001 - a dead gateway cannot describe anything
        return None
    return f"{name}: {str(message).splitlines()[0][:500]}" if message else name


def _last_python_line(text: str) -> str | None:
    """The ``Type: message`` line that ends the worker's traceback (before the JVM's stack lines resume)."""
    tail = text[text.rindex(_TRACEBACK) :].splitlines()
    candidates = [line.strip() for line in tail[1:] if line.strip() and not line.startswith((" ", "\t"))]
    return candidates[0][:500] if candidates else None
