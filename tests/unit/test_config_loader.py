"""YAML loading details: unsafe tags point at their line; ``${VAR}`` works inside ``--set`` values too."""

from __future__ import annotations

import pytest

from imgpipe.config import parse_config
from imgpipe.errors import ConfigError

MINIMAL = "source:\n  type: files\n  path: ./photos\nsink:\n  type: parquet\n  path: ./out\n"


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object:os.system {}", "!!python/object:os.system"),
        ("!!python/object/apply:os.system ['echo pwned']", "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!custom x", "!custom"),
    ],
)
def test_an_unsafe_tag_names_its_line_and_says_safe_yaml_only(value: str, tag: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(f"sink: {{type: parquet, path: o}}\nsource: {value}\n", "evil.yaml")
    assert f"evil.yaml:2: the YAML tag '{tag}' is not allowed" in str(exc.value)
    assert "safe YAML only" in str(exc.value)


def test_every_unsafe_tag_is_reported_at_once() -> None:
    text = "source:\n  type: files\n  path: !!python/name:os.getcwd\nsink: !!python/object:x {}\n"
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "evil.yaml")
    assert exc.value.problems[0].startswith("evil.yaml:3: the YAML tag '!!python/name:os.getcwd'")
    assert exc.value.problems[1].startswith("evil.yaml:4: the YAML tag '!!python/object:x'")


def test_standard_tags_anchors_and_merge_keys_still_load() -> None:
    text = MINIMAL + "run: {run_id: !!str 42}\ndecode: {<<: &limits {max_pixels: 5000}, min_side: 2}\n"
    loaded = parse_config(text, "job.yaml")
    assert loaded.job.run.run_id == "42"
    assert (loaded.job.decode.max_pixels, loaded.job.decode.min_side) == (5000, 2)


def test_a_mapping_used_as_a_key_is_a_config_error_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"^job.yaml:2: not valid YAML: found unhashable key"):
        parse_config("sink: {type: parquet, path: o}\nsource: {[1, 2]: x}\n", "job.yaml")


def test_env_variables_are_interpolated_in_set_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTO_ROOT", "/mnt/secret-share")
    loaded = parse_config(MINIMAL, "job.yaml", ("source.path=${PHOTO_ROOT}/photos", "sink.path=${OUT:-./default}"))
    assert loaded.job.source.path == "/mnt/secret-share/photos"
    assert loaded.job.sink.path == "./default"
    assert loaded.raw.redact(f"reading {loaded.job.source.path}") == "reading ***/photos"


def test_an_unset_variable_in_a_set_value_is_a_problem_naming_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    with pytest.raises(ConfigError) as exc:
        parse_config(MINIMAL, "job.yaml", ("source.path=${NOPE_NOT_SET}",))
    assert exc.value.problems == [
        "--set: source.path: environment variable NOPE_NOT_SET is not set (write ${NOPE_NOT_SET:-default} "
        "to give a default)"
    ]


def test_a_set_value_that_is_yaml_gets_interpolated_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXEC_MEM", "4g")
    loaded = parse_config(MINIMAL, "job.yaml", ("spark.conf={spark.executor.memory: '${EXEC_MEM}'}",))
    assert loaded.job.spark.conf == {"spark.executor.memory": "4g"}
