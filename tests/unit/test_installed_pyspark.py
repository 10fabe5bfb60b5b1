"""Which of Spark's ``PYTHONPATH`` entries the worker daemon drops: only files inside the installed PySpark."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from imgpipe.spark.installed_pyspark import drop_zipped_pyspark


def _zip(path: Path, *names: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name in names:
            z.writestr(name, "")
    return str(path)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site-packages with PySpark 4 and py4j 0.10.9.9 installed, as pip lays them out."""
    site = tmp_path / "site-packages"
    (site / "pyspark").mkdir(parents=True)
    (site / "pyspark" / "__init__.py").write_text("")
    (site / "py4j").mkdir()
    (site / "py4j" / "__init__.py").write_text("")
    (site / "py4j" / "version.py").write_text("__version__ = '0.10.9.9'\n")
    return site


def _spark_path(site: Path, py4j: str = "0.10.9.9") -> list[str]:
    """What Spark's worker factory puts first on the daemon's path, then the interpreter's own entries."""
    lib = site / "pyspark" / "python" / "lib"
    return [
        _zip(lib / "pyspark.zip", "pyspark/__init__.py"),
        _zip(lib / f"py4j-{py4j}-src.zip", "py4j/__init__.py"),
        _zip(site / "pyspark" / "jars" / "spark-core_2.13-4.0.0.jar", "org/apache/spark/SparkContext.class"),
        str(site),
    ]


def test_drops_the_zips_and_jar_inside_the_installed_pyspark(site: Path) -> None:
    path = _spark_path(site)
    importers: dict[str, object] = {entry: object() for entry in path}
    dropped = drop_zipped_pyspark(path, importers)
    assert path == [str(site)]
    assert dropped == _spark_path(site)[:3]
    assert set(importers) == {str(site)}, "a dropped zip's cached importer would re-read its directory"


def test_keeps_sparks_py4j_when_the_installed_one_is_another_version(site: Path) -> None:
    path = _spark_path(site, py4j="0.10.9.7")
    drop_zipped_pyspark(path, {})
    assert [Path(entry).name for entry in path] == ["py4j-0.10.9.7-src.zip", "site-packages"]


def test_keeps_a_spark_distributions_zip_outside_the_installed_package(site: Path, tmp_path: Path) -> None:
    """On a cluster, ``$SPARK_HOME/python/lib/pyspark.zip`` may be another version than the venv's PySpark."""
    home_zip = _zip(tmp_path / "spark-home" / "python" / "lib" / "pyspark.zip", "pyspark/__init__.py")
    path = [home_zip, str(site)]
    assert drop_zipped_pyspark(path, {}) == []
    assert path == [home_zip, str(site)]


def test_keeps_everything_when_pyspark_is_only_in_the_zip(tmp_path: Path) -> None:
    """An executor whose Python has no PySpark installed imports Spark's zip, as Spark intends."""
    lib = tmp_path / "spark-home" / "python" / "lib"
    path = [_zip(lib / "pyspark.zip", "pyspark/__init__.py"), _zip(lib / "py4j-0.10.9.9-src.zip", "py4j/x.py")]
    before = list(path)
    assert drop_zipped_pyspark(path, {}) == []
    assert path == before
