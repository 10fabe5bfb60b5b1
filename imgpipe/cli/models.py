"""``imgpipe models list|pull|verify``: the model registry from the command line, mounted by ``imgpipe.cli``.

Problems are raised as ``ModelError`` (exit 2); ``imgpipe.cli`` prints them.
"""

from __future__ import annotations

import click

from imgpipe.cli.options import common_options
from imgpipe.errors import ModelError
from imgpipe.runtime.checks import check_model
from imgpipe.runtime.fetch import cache_dir, cached_path, fetch, sha256_of, verified
from imgpipe.runtime.model import ResolvedModel
from imgpipe.runtime.registry import Registry, load_registry, registry_path


@click.group("models")
@common_options
def models() -> None:
    """List, download and verify the models of the registry (shipped with imgpipe; $IMGPIPE_REGISTRY for another)."""


@models.command("list")
@common_options
def list_models() -> None:
    """Show each registry model, its file and whether the cache holds a verified copy."""
    registry = load_registry()
    click.echo(f"registry: {registry_path()}\ncache:    {cache_dir()}")
    for name, entry in registry.models.items():
        state = _cache_state(entry.file, entry.sha256)
        click.echo(f"{name:28} {entry.spec.adapter:9} {entry.file:36} {entry.sha256[:12]}  {state}")


@models.command("pull")
@common_options
@click.argument("names", nargs=-1)
def pull(names: tuple[str, ...]) -> None:
    """Fetch models (all when no NAMES) and their label files into the cache, verifying sha256."""
    registry = load_registry()
    for name in _names(registry, names):
        entry = registry.models[name]
        path = fetch(name, entry)
        labels = entry.spec.labels
        if isinstance(labels, str) and labels in registry.files:
            fetch(f"{name} labels {labels}", registry.files[labels], model=name)
        click.echo(f"{name}: {path}")


@models.command("verify")
@common_options
@click.argument("names", nargs=-1)
def verify(names: tuple[str, ...]) -> None:
    """Check models (all when no NAMES) as run finds them: sha256, and graph inputs/outputs against the spec.

    A model missing from the cache is fetched as run would fetch it (mirror, then URL); with nowhere to fetch it
    from, the message says what to do. A cached copy with the wrong sha256 is reported, not replaced.
    """
    registry = load_registry()
    problems = []
    for name in _names(registry, names):
        try:
            _verify_one(registry, name)
            click.echo(f"{name}: ok")
        except ModelError as exc:
            problems.append(str(exc))
    if problems:
        raise ModelError(f"{len(problems)} of the models failed verification:\n  " + "\n  ".join(problems))


def _verify_one(registry: Registry, name: str) -> None:
    entry = registry.models[name]
    path = cached_path(entry)
    if path.is_file():
        try:
            verified(name, path, entry.sha256)
        except ModelError as exc:
            raise ModelError(f"{exc}; `imgpipe models pull {name}` fetches it again") from exc
    else:
        path = fetch(name, entry)
    check_model(ResolvedModel(name, str(path), entry.sha256, entry.spec, file=entry.file, url=entry.url), registry)


def _names(registry: Registry, names: tuple[str, ...]) -> list[str]:
    unknown = [n for n in names if n not in registry.models]
    if unknown:
        known = ", ".join(registry.models)
        raise ModelError(f"Expected registry model names ({known}), but got {', '.join(unknown)}")
    return list(names) or list(registry.models)


def _cache_state(file: str, sha256: str) -> str:
    path = cache_dir() / file
    if not path.is_file():
        return "not cached"
    return "cached" if sha256_of(path) == sha256 else "cached, WRONG sha256"
