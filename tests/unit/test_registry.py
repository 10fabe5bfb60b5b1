"""The registry: its inline COCO names match the label file the model was published with; a user's registry is read
as strictly as a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe.errors import ModelError
from imgpipe.runtime.registry import DEFAULT_REGISTRY, load_registry
from tests.helpers import SHARED_MODELS


def test_inline_coco_names_match_the_label_file() -> None:
    registry = load_registry()
    published = [n for n in (SHARED_MODELS / "coco_classes.txt").read_text().split("\n") if n]
    for name in ("yolox-nano", "yolox-nano-dynbatch"):
        assert registry.models[name].spec.labels == published, name


def test_a_model_named_twice_in_a_registry_is_refused_with_both_lines(tmp_path: Path) -> None:
    """A user's registry (``$IMGPIPE_REGISTRY``) pins sha256s: a second entry must not replace the first silently."""
    shipped = DEFAULT_REGISTRY.read_text(encoding="utf-8")
    entry = "  yolox-nano:\n    file: other.onnx\n    sha256: " + "0" * 64 + "\n    spec: *yolox\n"
    path = tmp_path / "registry.yaml"
    path.write_text(shipped.replace("\nfiles:\n", "\n" + entry + "files:\n", 1), encoding="utf-8")
    at = path.read_text(encoding="utf-8").splitlines().index("    file: other.onnx")  # the line above, from 1
    first = shipped.splitlines().index("  yolox-nano:") + 1
    with pytest.raises(ModelError) as exc:
        load_registry(path)
    assert f"{path}:{at}: models.yolox-nano is given twice (first at line {first})" in str(exc.value)
