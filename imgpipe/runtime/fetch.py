"""Model files on disk: the cache, the mirror, downloads, and the one sha256 check every path goes through.

A label file the package ships (``imgpipe/runtime/labels``) is used where it is. Any other file is looked for
in the cache (``~/.cache/imgpipe/models``, ``$IMGPIPE_MODEL_CACHE``), then copied from the
mirror (``$IMGPIPE_MODEL_MIRROR``, a folder or URL holding files under their upstream names), then downloaded
from its pinned URL; whatever the source, it is verified before it lands in the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from imgpipe.errors import ModelError
from imgpipe.locations import file_uri_path
from imgpipe.runtime.registry import PACKAGED_LABELS, RegistryFile

log = logging.getLogger("imgpipe.runtime")

CACHE_ENV = "IMGPIPE_MODEL_CACHE"
MIRROR_ENV = "IMGPIPE_MODEL_MIRROR"
DEFAULT_CACHE = Path("~/.cache/imgpipe/models")
DOWNLOAD_TIMEOUT_S = 120


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def cached_path(entry: RegistryFile) -> Path:
    return cache_dir() / entry.file


def model_mirror() -> str | None:
    """``$IMGPIPE_MODEL_MIRROR`` as a folder path or a URL, None when unset. A ``file:`` URI of this machine is
    read as urllib reads it (``file:///a``, ``file://localhost/a``, Hadoop's ``file:/a``; %-escapes unquoted)
    and given as the folder's path: the cache copies from it and a model given by path may be loaded from it
    (``resolve.allowed_model_roots``), so both read the variable here."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value.startswith("file:"):
        return value or None
    if urllib.parse.urlsplit(value).netloc not in ("", "localhost"):
        return value  # another host's file: urllib's error names it
    return file_uri_path(value)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(name: str, where: str | Path, expected: str, actual: str) -> None:
    """Raise the one ``ModelError`` every sha256 mismatch produces, naming the model and the file."""
    if actual != expected:
        raise ModelError(f"model {name!r}: expected sha256 {expected}, but {where} has {actual}")


def verified(name: str, path: Path, sha256: str) -> Path:
    """``path`` itself, after checking it is a file with the pinned sha256."""
    if not path.is_file():
        raise ModelError(f"model {name!r}: expected a file at {path}, but there is none")
    verify_sha256(name, path, sha256, sha256_of(path))
    return path


def fetch(name: str, entry: RegistryFile, local: str | None = None, *, model: str | None = None) -> Path:
    """The verified file for ``entry``: a local path, else the package's copy, else the cache, else mirror or URL
    into the cache.

    ``name`` is what messages call the file; ``model`` the registry model it belongs to (default ``name``), which
    a failure's hint tells the user to pull.
    """
    if local is not None:
        return verified(name, Path(local).expanduser(), entry.sha256)
    if (PACKAGED_LABELS / entry.file).is_file():
        return verified(name, PACKAGED_LABELS / entry.file, entry.sha256)
    target = cached_path(entry)
    if target.exists():
        if sha256_of(target) == entry.sha256:
            return target
        log.warning("cached %s has the wrong sha256; fetching it again", target)
    try:
        for source in _sources(entry):
            if _copy(name, source, target, entry.sha256):
                return target
    except _Unreachable as exc:
        raise ModelError(f"{exc}. {_ways_out(name, entry, model or name)}") from exc.__cause__
    raise ModelError(f"{_not_found(name, entry)}. {_ways_out(name, entry, model or name)}")


class _Unreachable(Exception):
    """A mirror or URL that exists but could not be read (no network, DNS, refused, HTTP error): reported with the
    ways out, where a source that merely lacks the file (a 404, a folder without it) lets the next one be tried."""


def _sources(entry: RegistryFile) -> list[str]:
    folder = model_mirror()
    sources = [f"{folder.rstrip('/')}/{entry.file}"] if folder else []
    return sources + ([entry.url] if entry.url else [])


def _copy(name: str, source: str, target: Path, sha256: str) -> bool:
    """Copy ``source`` (path or URL) to ``target`` atomically; False when the source has no such file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if not _stream(name, source, out):
                return False
        verify_sha256(name, source, sha256, sha256_of(tmp))
        os.replace(tmp, target)
        log.info("fetched %s from %s", target.name, source)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _stream(name: str, source: str, out: BinaryIO) -> bool:
    if "://" not in source:
        path = Path(source).expanduser()
        if not path.is_file():
            return False
        with path.open("rb") as src:
            shutil.copyfileobj(src, out)
        return True
    try:
        with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S) as resp:  # noqa: S310 - pinned URLs
            shutil.copyfileobj(resp, out)
        return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise _Unreachable(f"model {name!r}: cannot download {source}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _Unreachable(f"model {name!r}: cannot download {source}: {exc.reason}") from exc
    except OSError as exc:
        raise _Unreachable(f"model {name!r}: cannot download {source}: {exc}") from exc


def _not_found(name: str, entry: RegistryFile) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    where = [f"not in the cache {cache_dir()}"]
    where.append(f"not in the mirror {mirror}" if mirror else f"no mirror (${MIRROR_ENV} is unset)")
    where.append("no download URL" if entry.url is None else f"not at {entry.url}")
    return f"model {name!r}: {entry.file} not found: " + ", ".join(where)


def _ways_out(name: str, entry: RegistryFile, model: str) -> str:
    """The three ways to get a file this machine cannot fetch, each naming what to set or run."""
    mirror = os.environ.get(MIRROR_ENV)
    from_mirror = (
        f"put {entry.file} in the mirror {mirror}, or point ${MIRROR_ENV} at a folder or URL holding it"
        if mirror
        else f"set {MIRROR_ENV} to a folder or URL holding {entry.file}"
    )
    local = (
        f"`path: /local/{entry.file}` in the detect: or embed: section that names {model!r}"
        if name == model
        else f"`labels: /local/{entry.file}` in the spec of {model!r}"
    )
    return (
        f"Either {from_mirror}; or run `imgpipe models pull {model}` on a machine with access and copy its cache "
        f"(~/.cache/imgpipe/models) to {cache_dir()}; or give a local path in the config: {local}"
    )
