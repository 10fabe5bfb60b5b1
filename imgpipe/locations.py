"""Where things are, as imgpipe compares them: a path or URI -> (scheme, authority, normalised absolute path).

Used before Spark starts to refuse outputs that overlap the input or that are a filesystem root, and by the
sinks before they replace anything: the pure path logic, with no filesystem access except resolving local
symlinks.
"""

from __future__ import annotations

import glob
import os
import posixpath
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Location:
    scheme: str  # "file" for local paths
    authority: str  # host[:port] or bucket; "" for local paths
    path: str  # absolute, normalised, no trailing slash ("/" for a root)

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def is_root(self) -> bool:
        return self.path == "/"

    def contains(self, other: Location) -> bool:
        """``other`` is this location or lies below it."""
        if (self.scheme, self.authority) != (other.scheme, other.authority):
            return False
        return other.path == self.path or other.path.startswith(self.path.rstrip("/") + "/")

    def overlaps(self, other: Location) -> bool:
        return self.contains(other) or other.contains(self)

    def __str__(self) -> str:
        return self.path if self.is_local else f"{self.scheme}://{self.authority}{self.path}"


def locate(path: str) -> Location:
    """A config path (``./out``, ``/data``, ``file:/data``, ``hdfs://nn/data``, ``s3a://bucket/x``) as a Location.

    Local paths are made absolute against the working directory and their symlinks resolved, so two spellings
    of one folder compare equal. A glob is located at its fixed leading folder (``/data/*/x.jpg`` -> ``/data``).
    """
    parts = urlsplit(path)
    scheme = parts.scheme.lower()
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter
        return _local(path)
    if scheme == "file":
        return _local(parts.path or "/")
    return Location(scheme, parts.netloc, _normal(_fixed_prefix(parts.path or "/")))


def local_path(path: str) -> str:
    """A local ``file:`` URI as the plain path it names (``file:///a/b``, Spark's form, and ``file:/a/b``,
    Hadoop's, both as ``/a/b``); any other text unchanged. For the OS's calls and for messages a user reads."""
    if not path.startswith("file:"):
        return path
    rest = path[len("file:") :]
    return "/" + rest.lstrip("/") if rest.startswith("//") else rest


def file_uri_path(uri: str) -> str:
    """The path a ``file:`` URI names, %-escapes unquoted: ``file:/a%20b``, ``file:///a%20b`` and
    ``file://localhost/a%20b`` are all ``/a b``. For URIs as a URI library or a person writes them (a files-source
    key, a mirror); the paths Spark and Hadoop print are not escaped, and ``local_path`` reads those. Any host
    is dropped: a caller that must refuse another machine's file checks it first."""
    return unquote(urlsplit(uri).path)


def _local(path: str) -> Location:
    fixed = _fixed_prefix(path) if path else ""
    absolute = os.path.realpath(os.path.abspath(os.path.expanduser(fixed or ".")))
    return Location("file", "", _normal(absolute))


def _fixed_prefix(path: str) -> str:
    """The part of ``path`` before its first glob segment."""
    if not glob.has_magic(path):
        return path
    kept: list[str] = []
    for segment in path.split("/"):
        if glob.has_magic(segment):
            break
        kept.append(segment)
    return "/".join(kept) or ("/" if path.startswith("/") else ".")


def _normal(path: str) -> str:
    normal = posixpath.normpath("/" + path.lstrip("/"))
    return "/" if normal in ("/", "//") else normal
