"""The registry's inline COCO names must match the label file the model was published with."""

from __future__ import annotations

from imgpipe.runtime.registry import load_registry
from tests.helpers import SHARED_MODELS


def test_inline_coco_names_match_the_label_file() -> None:
    registry = load_registry()
    published = [n for n in (SHARED_MODELS / "coco_classes.txt").read_text().split("\n") if n]
    for name in ("yolox-nano", "yolox-nano-dynbatch"):
        assert registry.models[name].spec.labels == published, name
