"""Measure the memory of imgpipe's Python workers during a real run: the numbers behind the executor sizing.

    .venv/bin/python scripts/task_memory.py CONFIG [--set KEY=VALUE ...] [--interval 0.1]

Runs ``imgpipe run CONFIG`` and samples /proc every ``--interval`` seconds for the Python processes Spark starts
under it (``pyspark.daemon`` and the workers it forks, one per running task). Prints, per worker, the peak
resident set (VmRSS: what a container's limit counts) and the peak proportional set (Pss: shared pages split
among the processes sharing them), then the peak of all of them together. Linux only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

KIB = 1024


def children_of(root: int) -> set[int]:
    """Every live descendant of ``root``."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def python_workers(pids: set[int]) -> dict[int, str]:
    """The pyspark daemon and its forked workers among ``pids``: pid -> 'daemon' | 'worker'."""
    found = {}
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pyspark.daemon" in args or b"imgpipe.spark.daemon" in args:
            found[pid] = "daemon"
    # Forked workers keep the daemon's command line: a daemon whose parent is a daemon is a worker.
    for pid in list(found):
        if _parent(pid) in found:
            found[pid] = "worker"
    return found


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of ``pid`` in KiB; (0, 0) once it has gone."""
    try:
        rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
        pss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/smaps_rollup") if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0, 0
    return rss, pss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    cmd = [sys.executable, "-m", "imgpipe", "run", args.config, *(f"--set={o}" for o in args.overrides)]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks: dict[int, tuple[str, int, int]] = {}
    total_rss = total_pss = 0
    while run.poll() is None:
        kinds = python_workers(children_of(run.pid))
        now_rss = now_pss = 0
        for pid, kind in kinds.items():
            rss, pss = memory_kib(pid)
            _, old_rss, old_pss = peaks.get(pid, (kind, 0, 0))
            peaks[pid] = (kind, max(old_rss, rss), max(old_pss, pss))
            now_rss, now_pss = now_rss + rss, now_pss + pss
        total_rss, total_pss = max(total_rss, now_rss), max(total_pss, now_pss)
        time.sleep(args.interval)
    output = run.stdout.read() if run.stdout else ""
    print(output[-1500:])
    workers = [(rss, pss) for kind, rss, pss in peaks.values() if kind == "worker"]
    for pid, (kind, rss, pss) in sorted(peaks.items()):
        print(f"  pid {pid:>7} {kind:<6} peak VmRSS {rss / KIB:7.1f} MiB  peak Pss {pss / KIB:7.1f} MiB")
    if workers:
        rss_values = [r / KIB for r, _ in workers]
        print(
            f"workers: {len(workers)}; peak VmRSS per worker median {statistics.median(rss_values):.1f} MiB, "
            f"max {max(rss_values):.1f} MiB; peak Pss per worker max {max(p for _, p in workers) / KIB:.1f} MiB"
        )
    print(f"all Python processes together: peak VmRSS {total_rss / KIB:.1f} MiB, peak Pss {total_pss / KIB:.1f} MiB")
    sys.exit(run.returncode)


if __name__ == "__main__":
    if not Path("/proc/self/smaps_rollup").exists():
        sys.exit("task_memory.py reads /proc/<pid>/smaps_rollup: Linux 4.14 or later only")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
