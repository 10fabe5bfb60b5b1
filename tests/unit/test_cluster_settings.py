"""What a cluster run is given besides the YAML's keys: the packed environment (spark.pack), memory for the
Python workers, spark-submit's settings winning over the YAML's; and the checks on spark.pack before Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from imgpipe.cli import cli
from imgpipe.config import parse_config
from imgpipe.config.sections import SparkConfig
from imgpipe.errors import ConfigError
from imgpipe.report import RunReport
from imgpipe.spark import session
from imgpipe.spark.session import spark_conf
from tests.helpers import files_config

CLUSTER = "spark://10.0.0.5:7077"


def test_spark_pack_ships_the_archive_and_points_the_executors_python_into_it(tmp_path: Path) -> None:
    archive = tmp_path / "env.tar.gz"
    conf = spark_conf(SparkConfig(master=CLUSTER, pack=str(archive)))
    assert conf["spark.archives"] == f"{archive}#environment"
    assert conf["spark.pyspark.python"] == "./environment/bin/python"


def test_a_relative_pack_is_made_absolute_and_joins_the_yamls_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = SparkConfig(master="yarn", pack="env.tar.gz", conf={"spark.archives": "hdfs:///x/other.zip#other"})
    assert spark_conf(cfg)["spark.archives"] == f"hdfs:///x/other.zip#other,{tmp_path}/env.tar.gz#environment"
    remote = SparkConfig(master="yarn", pack="hdfs:///deploy/env.tar.gz")
    assert spark_conf(remote)["spark.archives"] == "hdfs:///deploy/env.tar.gz#environment"


def test_local_masters_ignore_the_pack_and_run_this_python() -> None:
    import sys

    conf = spark_conf(SparkConfig(master="local[2]", pack="/nowhere/env.tar.gz"))
    assert "spark.archives" not in conf and conf["spark.pyspark.python"] == sys.executable
    assert "spark.executor.memoryOverhead" not in conf


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({}, 768 + 384),  # one task slot (spark.executor.cores defaults to 1 on YARN and Kubernetes)
        ({"spark.executor.cores": 4}, 4 * 768 + 384),
        ({"spark.executor.cores": 4, "spark.task.cpus": 2}, 2 * 768 + 384),
    ],
)
def test_memory_overhead_covers_one_python_worker_per_task_slot(conf: dict[str, int], expected: int) -> None:
    assert spark_conf(SparkConfig(master="yarn", conf=conf))["spark.executor.memoryOverhead"] == f"{expected}m"


def test_the_yamls_memory_overhead_and_python_memory_per_task_are_used() -> None:
    given = SparkConfig(master="yarn", conf={"spark.executor.memoryOverhead": "6g"})
    assert spark_conf(given)["spark.executor.memoryOverhead"] == "6g"
    bigger = SparkConfig(master="yarn", python_memory_per_task="2g", conf={"spark.executor.cores": 2})
    assert spark_conf(bigger)["spark.executor.memoryOverhead"] == f"{2 * 2048 + 384}m"


def test_spark_submits_settings_win_over_the_yamls(monkeypatch: pytest.MonkeyPatch) -> None:
    given = {"spark.master": "yarn", "spark.executor.memoryOverhead": "3g", "spark.app.name": "nightly"}
    monkeypatch.setattr(session, "_submitted_conf", lambda: given)
    built: dict[str, str] = {}

    class Builder:
        def config(self, key: str, value: str) -> Builder:
            built[key] = value
            return self

        def master(self, master: str) -> Builder:
            raise AssertionError("spark-submit's master must not be replaced")

        def getOrCreate(self) -> object:  # noqa: N802 - pyspark's name
            raise RuntimeError("stop here")

    monkeypatch.setattr(session.SparkSession, "builder", Builder())
    cfg = SparkConfig(master="local[*]", app_name="from-yaml", conf={"spark.executor.memoryOverhead": "1g"})
    with pytest.raises(RuntimeError, match="stop here"):
        session.build_session(cfg, submitted=True)
    assert "spark.executor.memoryOverhead" not in built and "spark.app.name" not in built
    assert "spark.pyspark.python" not in built, "the master is yarn: no local-mode settings"
    assert built["spark.sql.execution.arrow.maxRecordsPerBatch"] == "32"


def test_spark_pack_and_an_explicit_executor_python_are_refused_together() -> None:
    text = files_config("/tmp", "/tmp/out") + "spark:\n  pack: env.tar.gz\n  conf: {spark.pyspark.python: /usr/bin/python3}\n"
    with pytest.raises(ConfigError, match="spark.pack points the executors' Python into the archive"):
        parse_config(text)


def validate(tmp_path: Path, *sets: str) -> tuple[int, str]:
    photos = tmp_path / "photos"
    photos.mkdir(exist_ok=True)
    config = tmp_path / "job.yaml"
    config.write_text(files_config(photos, tmp_path / "out"))
    result = CliRunner().invoke(cli, ["validate", str(config), *(f"--set={s}" for s in sets)])
    return result.exit_code, result.output


def test_a_missing_pack_is_found_before_spark_starts(tmp_path: Path) -> None:
    code, out = validate(tmp_path, f"spark.pack={tmp_path}/missing.tar.gz")
    assert code == 2, out
    assert "--set: spark.pack: expected an archive built by `imgpipe pack`, but" in out and "does not exist" in out
    code, out = validate(tmp_path, f"spark.pack={tmp_path}")
    assert code == 2 and "is a folder" in out, out
    code, out = validate(tmp_path, "spark.pack=hdfs://nn/deploy/env.tar.gz")
    assert code == 0, "a remote archive is Spark's to fetch"


def test_the_report_names_the_executors_and_the_retried_tasks() -> None:
    report = RunReport("r", "files x", "parquet y", CLUSTER, executors={"10.0.0.7:1": 7, "10.0.0.6:0": 5}, tasks_retried=2)
    data = report.to_dict()
    assert data["executors"] == {"10.0.0.7:1": 7, "10.0.0.6:0": 5} and data["tasks_retried"] == 2
    text = report.format_text()
    assert "executors     10.0.0.6:0 (5 tasks), 10.0.0.7:1 (7 tasks)" in text
    assert "tasks retried 2" in text
