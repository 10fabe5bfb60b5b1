"""Run ids: unique for runs that start within the same second, and still sorted by their start."""

from __future__ import annotations

import re

from imgpipe.report import new_run_id


def test_runs_started_in_the_same_second_get_different_ids() -> None:
    ids = [new_run_id() for _ in range(50)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", i) for i in ids), ids[:3]
    assert sorted(i[:16] for i in ids) == [i[:16] for i in ids], "the time comes first, so ids sort by start"
