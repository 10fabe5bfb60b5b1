"""YAML loading details: unsafe tags, repeated keys, recursive aliases and bytes that are not UTF-8 point at their
line; ``${VAR}`` works inside ``--set`` values too."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe.config import load_config, parse_config
from imgpipe.errors import ConfigError

MINIMAL = "source:\n  type: files\n  path: ./photos\nsink:\n  type: parquet\n  path: ./out\n"


def refused(text: str, source: str = "job.yaml") -> list[str]:
    """The problems ``parse_config`` refuses ``text`` with (it must refuse it)."""
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source)
    return exc.value.problems


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
    problems = refused(text, "evil.yaml")
    assert problems[0].startswith("evil.yaml:3: the YAML tag '!!python/name:os.getcwd'")
    assert problems[1].startswith("evil.yaml:4: the YAML tag '!!python/object:x'")


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


def test_a_section_given_twice_names_both_lines_instead_of_keeping_the_last() -> None:
    text = MINIMAL + "detect: {model: yolox-nano, score_threshold: 0.3}\nembed: {model: mobilenetv2-int8}\n"
    text += "detect: {model: yolox-nano, score_threshold: 0.9}\n"
    problems = refused(text)
    assert problems == [
        "job.yaml:9: detect is given twice (first at line 7): YAML would keep only the last one and ignore the "
        "other without a word; remove or merge one of them"
    ]


def test_every_repeated_key_is_reported_at_once_with_its_full_path() -> None:
    text = (
        "source: {type: files, path: ./a, path: ./b}\n"
        "sink:\n  type: parquet\n  path: ./out\n"
        "spark:\n  conf:\n    spark.executor.memory: 4g\n    spark.executor.memory: 8g\n    spark.executor.memory: 2g\n"
    )
    problems = refused(text)
    assert [p.split(" (")[0] for p in problems] == [
        "job.yaml:1: source.path is given twice",
        "job.yaml:8: spark.conf.spark.executor.memory is given twice",
        "job.yaml:9: spark.conf.spark.executor.memory is given 3 times",
    ]
    assert "(first at line 7)" in problems[2]


def test_a_key_that_overrides_a_merged_one_is_not_a_repeat() -> None:
    text = MINIMAL + "decode: {<<: &limits {max_pixels: 5000, min_side: 2}, max_pixels: 7000}\n"
    loaded = parse_config(text, "job.yaml")
    assert (loaded.job.decode.max_pixels, loaded.job.decode.min_side) == (7000, 2)


def test_an_alias_of_a_value_that_holds_it_is_a_config_error_with_the_anchor_line() -> None:
    text = MINIMAL + "run:\n  tags: &t\n    - a\n    - *t\n"
    problems = refused(text)
    assert problems == [
        "job.yaml:8: the value anchored on this line holds an alias of itself (at run.tags[1]), so the config "
        "would contain itself; write out the values it should hold instead"
    ]


def test_a_config_nested_hundreds_deep_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match=r"^job.yaml: nested too deeply"):
        parse_config(MINIMAL + "run: " + "[" * 3000 + "]" * 3000 + "\n", "job.yaml")


def test_aliases_of_aliases_that_expand_to_billions_are_refused_at_once() -> None:
    text = MINIMAL + "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n"
    text += "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 9))
    problems = refused(text)
    assert problems == [
        "job.yaml: its aliases expand it to 1,234,567,906 values, over the 100,000 a config may hold; look for an "
        "alias (*name) that repeats a large value many times"
    ]


def test_a_config_that_is_not_utf8_is_a_config_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes((MINIMAL + "run: {run_id: caf\u00e9}\n").encode("latin-1"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == (
        f"{path}:7: not UTF-8 text (byte 0xe9 at column 18); save the file as UTF-8 (an editor's "
        "\"Save with encoding\", or iconv -t UTF-8)"
    )
