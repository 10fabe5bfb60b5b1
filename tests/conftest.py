"""Fixtures shared by every tier: where the shared photos and models are."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SHARED_IMAGES, SHARED_MODELS


@pytest.fixture(scope="session", autouse=True)
def model_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models come from ../shared/models (the mirror) into a per-run cache: no network, no stale cache."""
    os.environ["IMGPIPE_MODEL_MIRROR"] = str(SHARED_MODELS)
    os.environ["IMGPIPE_MODEL_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))
    return SHARED_MODELS


@pytest.fixture(scope="session")
def shared_images() -> Path:
    if not SHARED_IMAGES.is_dir():
        pytest.fail(f"expected the shared photos at {SHARED_IMAGES}")
    return SHARED_IMAGES




@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One real local Spark session for every integration and system test of the run."""
    from tests.spark_helpers import local_session

    session = local_session()
    yield session
    session.stop()
