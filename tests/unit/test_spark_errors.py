"""One line that says what went wrong, from what a Spark job raises (imgpipe.spark.errors)."""

from __future__ import annotations

from imgpipe.errors import SourceError
from imgpipe.spark.errors import describe_failure


class JavaClass:
    def __init__(self, name: str) -> None:
        self.name = name

    def getName(self) -> str:  # noqa: N802 - Java's name
        return self.name


class Throwable:
    """Quacks like a Py4J proxy of a java.lang.Throwable."""

    def __init__(self, name: str, message: str | None, cause: Throwable | None = None) -> None:
        self.name, self.message, self.cause = name, message, cause

    def getCause(self) -> Throwable | None:  # noqa: N802
        return self.cause

    def getClass(self) -> JavaClass:  # noqa: N802
        return JavaClass(self.name)

    def getMessage(self) -> str | None:  # noqa: N802
        return self.message


class Py4JJavaError(Exception):
    def __init__(self, java_exception: Throwable) -> None:
        super().__init__("An error occurred while calling o112.create.\n: java.io.IOException ...")
        self.java_exception = java_exception


def test_a_jvm_error_is_described_by_its_root_cause() -> None:
    root = Throwable("org.apache.hadoop.fs.ParentNotDirectoryException", "Parent path is not a directory: /data/x\nat ...")
    exc = Py4JJavaError(Throwable("java.io.IOException", "wrapper", Throwable("java.lang.RuntimeException", "mid", root)))
    assert describe_failure(exc) == "org.apache.hadoop.fs.ParentNotDirectoryException: Parent path is not a directory: /data/x"


def test_a_python_worker_error_is_described_by_its_last_traceback_line() -> None:
    text = (
        "\n  An exception was thrown from the Python worker. Please see the stack trace below.\n"
        "Traceback (most recent call last):\n  File \"/x/scan.py\", line 9, in read\n    raise SourceError(m)\n"
        "imgpipe.errors.SourceError: hbase source 't' (h:9090): gave up after 5 retries\n"
        "\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(...)\n"
    )
    assert describe_failure(RuntimeError(text)) == (
        "imgpipe.errors.SourceError: hbase source 't' (h:9090): gave up after 5 retries"
    )


def test_imgpipe_errors_and_plain_ones_keep_their_message() -> None:
    assert describe_failure(SourceError("files source 'x': no files found")) == "files source 'x': no files found"
    assert describe_failure(KeyError("k")) == "KeyError: 'k'"
