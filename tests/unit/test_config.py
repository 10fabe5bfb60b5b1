"""YAML -> JobConfig: every problem reported at once, each naming its YAML path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe.config import load_config, parse_config
from imgpipe.config.sections import FilesSourceConfig, ParquetSourceConfig
from imgpipe.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
source:
  type: files
  path: ./photos
sink:
  type: parquet
  path: ./out
"""


def problems_of(text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "job.yaml", overrides)
    return info.value.problems


def test_minimal_config_gets_defaults() -> None:
    job = parse_config(MINIMAL).job
    assert job.spark.master == "local[*]"
    assert isinstance(job.source, FilesSourceConfig)
    assert job.sink.mode == "error"
    assert job.run.max_error_rate == 0.01


def test_misspelled_missing_and_wrong_type_all_reported_with_line() -> None:
    text = """\
spark:
  master: "local[2]"
source:
  type: parquet
  pathh: ./data
  limit: many
sink:
  type: parquet
  path: ./out
"""
    problems = problems_of(text)
    assert problems == [
        "job.yaml:3: source.path: field required",
        "job.yaml:5: source.pathh: unknown key. Did you mean 'path'?",
        "job.yaml:6: source.limit: Input should be a valid integer, unable to parse string as an integer",
    ]


def test_unknown_type_suggests_the_closest() -> None:
    problems = problems_of(MINIMAL.replace("type: files", "type: filez"))
    assert len(problems) == 1
    assert problems[0].startswith("job.yaml:2: source.type: unknown type 'filez'")
    assert "Did you mean 'files'?" in problems[0]


def test_missing_section_and_bounds() -> None:
    problems = problems_of("source: {type: files, path: x}\ndetect: {model: m, score_threshold: 1.5}\n")
    assert "job.yaml:2: detect.score_threshold: Input should be less than or equal to 1" in problems
    assert any(p.endswith("sink: field required") for p in problems)


def test_nested_unknown_key_in_spark_section() -> None:
    problems = problems_of(MINIMAL + "spark:\n  mastr: local[2]\n")
    assert problems == ["job.yaml:8: spark.mastr: unknown key. Did you mean 'master'?"]


def test_spark_conf_keys_must_be_spark_properties() -> None:
    problems = problems_of(MINIMAL + "spark:\n  conf:\n    executor.memory: 2g\n")
    assert problems[0].startswith("job.yaml:8: spark.conf:")
    assert "'executor.memory'" in problems[0]


def test_set_override_and_type_change_starts_section_afresh() -> None:
    text = MINIMAL.replace("type: files\n  path: ./photos", "type: parquet\n  path: ./x\n  key_column: id")
    loaded = parse_config(text, "job.yaml", ("source.type=files", "source.path=/data/p", "run.max_error_rate=0.5"))
    assert isinstance(loaded.job.source, FilesSourceConfig)
    assert loaded.job.source.path == "/data/p"
    assert loaded.job.run.max_error_rate == 0.5


def test_type_change_without_required_field_names_set() -> None:
    problems = problems_of(MINIMAL, ("source.type=parquet",))
    assert problems == ["--set: source.path: field required"]


def test_bad_override_value_names_set() -> None:
    assert problems_of(MINIMAL, ("run.max_error_rate=lots",))[0].startswith("--set: run.max_error_rate:")
    assert "expected KEY.PATH=VALUE" in problems_of(MINIMAL, ("nonsense",))[0]


def test_spark_conf_override_keeps_dotted_key() -> None:
    loaded = parse_config(MINIMAL, "job.yaml", ("spark.conf.spark.executor.memory=4g",))
    assert loaded.job.spark.conf == {"spark.executor.memory": "4g"}


def test_env_interpolation_default_and_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTO_BUCKET", "s3a://secret-bucket/photos")
    text = MINIMAL.replace("./photos", "${PHOTO_BUCKET}").replace("./out", "${OUT_DIR:-./default-out}")
    loaded = parse_config(text)
    assert loaded.job.source.path == "s3a://secret-bucket/photos"
    assert loaded.job.sink.path == "./default-out"
    assert loaded.raw.redact(f"reading {loaded.job.source.path}") == "reading ***"


def test_unset_env_variable_is_a_problem_with_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    problems = problems_of(MINIMAL.replace("./photos", "${NOPE_NOT_SET}"))
    assert problems == [
        "job.yaml:3: source.path: environment variable NOPE_NOT_SET is not set (write ${NOPE_NOT_SET:-default} "
        "to give a default)"
    ]


def test_yaml_cannot_construct_python_objects() -> None:
    with pytest.raises(ConfigError, match=r"evil.yaml:1: the YAML tag '!!python/object/apply:os.system' is not allowed"):
        parse_config("source: !!python/object/apply:os.system ['echo pwned']\n", "evil.yaml")


def test_syntax_error_names_line() -> None:
    with pytest.raises(ConfigError, match=r"^bad.yaml:4: not valid YAML"):
        parse_config("source:\n  type: files\n  path: [unclosed\n", "bad.yaml")


def test_sizes_accept_units() -> None:
    loaded = parse_config(MINIMAL.replace("./photos", "./p\n  max_bytes_per_partition: 16m"))
    assert loaded.job.source.max_bytes_per_partition == 16 << 20
    assert problems_of(MINIMAL.replace("./photos", "./p\n  max_bytes_per_partition: lots"))[0].startswith(
        "job.yaml:4: source.max_bytes_per_partition"
    )


def test_parquet_source_paths_list() -> None:
    loaded = parse_config(MINIMAL.replace("type: files\n  path: ./photos", "type: parquet\n  path: [a, b]"))
    assert isinstance(loaded.job.source, ParquetSourceConfig)
    assert loaded.job.source.paths == ["a", "b"]


def test_crop_without_detect_is_refused() -> None:
    assert any("crop section needs a detect section" in p for p in problems_of(MINIMAL + "crop: {top_k: 3}\n"))


def test_too_many_problems_are_capped() -> None:
    text = MINIMAL + "run:\n" + "".join(f"  bad{i}: 1\n" for i in range(30))
    problems = problems_of(text)
    assert len(problems) == 21 and problems[-1] == "... and 10 more"


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml")
