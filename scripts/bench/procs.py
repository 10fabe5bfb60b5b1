"""Watching a child's process tree through /proc while it runs: CPU seconds by role, and worker memory.

Roles: the child itself (driver Python), the JVM (comm ``java``), Spark's Python workers (cmdline
``pyspark.daemon`` (or imgpipe.spark.daemon) or ``pyspark.worker``, the daemon and the workers it forks), and anything else.
CPU is each process's own utime + stime at its last sample, so a process that exits between two
samples loses at most one interval.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROLES = ("driver Python", "JVM", "Python workers", "other")


def _stat(pid: int) -> tuple[str, int, float, int] | None:
    """(comm, ppid, cpu seconds, rss bytes) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    ppid, utime, stime, rss = int(fields[1]), int(fields[11]), int(fields[12]), int(fields[21])
    return comm, ppid, (utime + stime) / TICK, rss * PAGE


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class TreeSampler:
    """Samples the tree under ``root`` every ``interval`` seconds until ``stop()``."""

    root: int
    interval: float = 0.2
    cpu: dict[int, float] = field(default_factory=dict)
    role: dict[int, str] = field(default_factory=dict)
    #: The name each process had when it was classified.
    comm: dict[int, str] = field(default_factory=dict)
    peak_worker_rss: int = 0
    peak_tree_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (s := _stat(int(entry))) is not None:
                stats[int(entry)] = s
        tree = {self.root} if self.root in stats else set()
        grew = True
        while grew:  # descendants of root, whatever order /proc lists them in
            new = {pid for pid, s in stats.items() if s[1] in tree and pid not in tree}
            tree |= new
            grew = bool(new)
        tree_rss = 0
        for pid in tree:
            comm, _, cpu, rss = stats[pid]
            if self.comm.get(pid) != comm:  # a launcher script execs java: classify what the process is now
                self.role[pid], self.comm[pid] = self._classify(pid, comm), comm
            self.cpu[pid] = cpu
            tree_rss += rss
            if self.role[pid] == "Python workers":
                self.peak_worker_rss = max(self.peak_worker_rss, rss)
        self.peak_tree_rss = max(self.peak_tree_rss, tree_rss)

    def _classify(self, pid: int, comm: str) -> str:
        if pid == self.root:
            return "driver Python"
        if comm == "java":
            return "JVM"
        if not comm.startswith("python"):
            return "other"  # spark-submit's bash names the daemon module in its arguments too
        cmd = _cmdline(pid)
        if "pyspark.daemon" in cmd or "pyspark.worker" in cmd or "imgpipe.spark.daemon" in cmd:
            return "Python workers"
        return "other"

    def cpu_by_role(self) -> dict[str, float]:
        out = dict.fromkeys(ROLES, 0.0)
        for pid, seconds in self.cpu.items():
            out[self.role[pid]] += seconds
        return out
