"""imgpipe's benchmark: ratios measured side by side in one interleaved run (absolute times drift here).

    .venv/bin/python scripts/benchmark.py [--sizes 1000,4000] [--repeats 3]
        [--parts inference,peers,hbase,overhead,rss,cpu] [--variants NAME,...] [--json out/benchmark.json]

Quick smoke run: ``--sizes 64 --repeats 1 --parts inference``.

Per corpus size (the 16 shared photos re-encoded as JPEG q90 at long sides 800/1600/3000, repeated; as
files and as a Parquet dataset of key, image), all variants interleaved (A B C A B C ...), medians kept:
  inference  parallel-limit  the project's Pipeline, one plain process per core, 1 thread each, in memory
             imgpipe         `imgpipe run` on local[CORES] over the Parquet (its own wall time, and the
                             whole process); imgpipe-local1: the same on local[1]
             spark-udf       Spark's own path: pandas UDF decode + letterbox, predict_batch_udf x 2
             python-loop     one process, full decode, the same stage functions image by image
             (imgpipe-local1, spark-udf and python-loop run at --baseline-sizes only: they are slow)
  peers      ray-data, daft  the same Pipeline in a Ray Data actor pool / a Daft @daft.cls UDF, each in
                             its own venv under .bench-venvs/ (made on first use)
Other parts:
  hbase      HBase -> Parquet end to end on a table pre-split into 8 regions, against the parallel limit
             on the same images; and HBase read throughput (image cells only)
  overhead   fixed overhead: a --overhead-images run's whole-process wall time minus its session start;
             with --against DIR, another version's imgpipe package (in DIR) runs interleaved beside it;
             with --against-set KEY=VALUE (repeatable), that run (of DIR, or of this checkout) gets these
             config overrides (`imgpipe run --set`): a setting measured against the defaults
  rss        peak Spark Python-worker RSS at --rss-sizes images (files repeating the 16 photos at 320 px)
  cpu        CPU seconds of an imgpipe run's process tree by role, Spark jobs and stages it triggers
  task       inside a task, at the smallest size: the detector batched (yolox-nano-dynbatch, batch 4 and 8)
             and decode of the next batch overlapping inference, each as the parallel limit, against the
             default loop (bench/task.py)

Prints the issue's ratio lines (see bench/ratios.py for which imgpipe figure enters each) and writes
them with every median to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import common, hbase, ratios  # noqa: E402
from bench.common import Measurement, config_text, files_source, log, parquet_source  # noqa: E402
from bench.corpus import Corpus  # noqa: E402
from bench.imgpipe_runs import class_archive, imgpipe_run, write_config  # noqa: E402
from bench.limit import parallel_limit  # noqa: E402
from bench.peers import peer_python, peer_run  # noqa: E402
from bench.task import check_same_objects, task_variants  # noqa: E402

PARTS = ("inference", "peers", "hbase", "overhead", "rss", "cpu", "task")
DEFAULT_PARTS = "inference,peers,hbase,overhead,rss"
VARIANTS = ("parallel-limit", "imgpipe", "imgpipe-local1", "ray-data", "daft", "spark-udf", "python-loop")
SLOW = ("imgpipe-local1", "spark-udf", "python-loop")
#: The overhead part's other run (``--against``'s imgpipe and/or ``--against-set``'s settings), kept beside this
#: checkout's figures.
AGAINST = "against"
#: Long side of the RSS corpus: memory growth with corpus size is per row, small images keep 20,000 quick.
RSS_SIDE = 320


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def size_variants(args: argparse.Namespace, corpus: Corpus, work: Path) -> dict[str, Callable[[], Measurement]]:
    cores, n = args.cores, corpus.count
    out = work / f"out-{n}"
    text = config_text(parquet_source(corpus.parquet), out / "imgpipe")
    config = write_config(work / f"imgpipe-{n}.yaml", text)
    pipeline = common.build_pipeline_from(text)
    baseline = n in args.baseline_sizes
    every: dict[str, tuple[str, Callable[[], Measurement]]] = {
        "parallel-limit": ("inference", lambda: parallel_limit(pipeline, corpus.images, cores)),
        "imgpipe": ("inference", lambda: imgpipe_run(config, out / "imgpipe", master=f"local[{cores}]")),
        "imgpipe-local1": ("inference", lambda: imgpipe_run(config, out / "imgpipe", master="local[1]")),
        "ray-data": ("peers", lambda: peer_run("ray-data", corpus.parquet, out / "ray", cores)),
        "daft": ("peers", lambda: peer_run("daft", corpus.parquet, out / "daft", cores)),
        "spark-udf": ("inference", lambda: child("bench.spark_udf", corpus.parquet, out / "udf", cores)),
        "python-loop": ("inference", lambda: child("bench.loop", corpus.files)),
    }
    return {
        name: fn
        for name, (part, fn) in every.items()
        if part in args.parts and name in args.variants and (baseline or name not in SLOW)
    }


def child(module: str, *argv: object) -> Measurement:
    result, wall = common.run_json([sys.executable, "-m", module, *map(str, argv)], timeout=7200)
    return {"seconds": float(result["seconds"]), "images": float(result["images"]),
            "objects": float(result["objects"]), "whole_s": wall}  # fmt: skip


def overhead(args: argparse.Namespace, work: Path) -> dict[str, Measurement]:
    """This checkout's small run, and beside it (key ``AGAINST``) ``--against``'s and/or one with ``--against-set``."""
    corpus = Corpus(work, args.overhead_images, name="overhead")
    config = write_config(work / "overhead.yaml", config_text(parquet_source(corpus.parquet), work / "overhead-out"))
    master = f"local[{args.cores}]"
    variants = {"imgpipe, small run": lambda: imgpipe_run(config, work / "overhead-out", master=master)}
    if args.against or args.against_set:
        variants[AGAINST] = lambda: imgpipe_run(
            config, work / "overhead-out", master=master, tree=args.against, sets=args.against_set
        )
    return common.interleaved(args.repeats, variants)


def rss(args: argparse.Namespace, work: Path) -> dict[str, Measurement]:
    """One run per size (a peak, not a rate); many files repeating the 16 photos at long side RSS_SIDE."""
    measured = {}
    for label, count in zip(("small", "large"), args.rss_sizes, strict=True):
        corpus = Corpus(work, count, sides=(RSS_SIDE,), name="rss")
        sink = work / f"rss-out-{count}"
        config = write_config(work / f"rss-{count}.yaml", config_text(files_source(corpus.files), sink))
        shutil.rmtree(corpus.parquet)  # only the files are read here
        measured[label] = imgpipe_run(config, sink, master=f"local[{args.cores}]", sample=True)
        log(f"  rss {count} images: peak worker {measured[label]['peak_worker_rss_mib']:.0f} MiB")
    return measured


def cpu(args: argparse.Namespace, work: Path) -> dict[str, Measurement]:
    count = max(args.sizes)
    corpus = Corpus(work, count)
    config = write_config(work / "cpu.yaml", config_text(parquet_source(corpus.parquet), work / "cpu-out"))
    pipeline = common.build_pipeline_from(config.read_text())
    return common.interleaved(1, {
        "parallel-limit": lambda: parallel_limit(pipeline, corpus.images, args.cores),
        "imgpipe (sampled)": lambda: imgpipe_run(config, work / "cpu-out", master=f"local[{args.cores}]", sample=True),
    })  # fmt: skip


def task(args: argparse.Namespace, work: Path) -> dict[str, Measurement]:
    corpus = Corpus(work, min(args.sizes), name="task")
    config = config_text(parquet_source(corpus.parquet), work / "task-out")
    measured = common.interleaved(args.repeats, task_variants(config, corpus.images, args.cores))
    check_same_objects(measured)
    return measured


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=ints, default=[1000, 4000], help="corpus sizes (default 1000,4000)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--parts", default=DEFAULT_PARTS, help=f"comma list of {', '.join(PARTS)}")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma list; default all")
    p.add_argument("--baseline-sizes", type=ints, default=None,
                   help="sizes at which imgpipe-local1, spark-udf, python-loop run (default: the smallest)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    p.add_argument("--overhead-images", type=int, default=100)
    p.add_argument("--against", type=Path, default=None,
                   help="a folder holding another version's imgpipe package (e.g. `git archive REV imgpipe | tar -x "
                        "-C DIR`): the overhead part runs it interleaved with this checkout")
    p.add_argument("--against-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for the overhead part's other run (of --against's tree, or of this "
                        "checkout when there is none), as `imgpipe run --set` takes it; repeatable")
    p.add_argument("--rss-sizes", type=ints, default=[2000, 20000])
    p.add_argument("--hbase-images", type=int, default=None, help="HBase end-to-end table size (default: smallest size)")
    p.add_argument("--hbase-read-rows", type=int, default=3000)
    p.add_argument("--json", type=Path, default=Path("out/benchmark.json"))
    p.add_argument("--keep", action="store_true", help="keep the work directory (corpora, outputs)")
    args = p.parse_args(argv)
    args.parts = [x for x in args.parts.split(",") if x]
    args.variants = [x for x in args.variants.split(",") if x]
    unknown = [x for x in args.parts if x not in PARTS] + [x for x in args.variants if x not in VARIANTS]
    if unknown:
        p.error(f"expected parts from {PARTS} and variants from {VARIANTS}, but got {unknown}")
    args.baseline_sizes = args.baseline_sizes or [min(args.sizes)]
    args.hbase_images = args.hbase_images or min(args.sizes)
    return args


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "scripts/benchmark.py", *sys.argv[1:]]),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": args.cores,
        "load_at_start": os.getloadavg(),
        "jvm_class_archive": class_archive(),
        "sizes": {},
        "failed": {},
    }
    archive = results["jvm_class_archive"]
    log(f"JVM class archive: {archive['path']}, {archive['bytes'] / 2**20:.0f} MiB" if archive["path"] else
        "JVM class archive: none yet; the first imgpipe run writes it as its JVM exits (in its whole-process time)")

    def part(name: str, fn: Callable[[], None]) -> None:
        """A part that fails is recorded and the run goes on; the JSON is saved after every part."""
        try:
            fn()
        except Exception as exc:  # one broken peer must not cost an hour of measurements
            log(f"{name} FAILED: {type(exc).__name__}: {exc}")
            results["failed"][name] = f"{type(exc).__name__}: {exc}"[:3000]
        save(args.json, results)

    def sizes() -> None:
        if "peers" in args.parts:  # made before any clock starts
            for peer in ("ray-data", "daft"):
                if peer in args.variants:
                    peer_python(peer)
        for size in args.sizes:
            corpus = Corpus(work, size)
            log(f"corpus {size}: {corpus.bytes / 2**20:.0f} MiB of JPEG; variants interleaved, {args.repeats} repeats")
            results["sizes"][str(size)] = common.interleaved(args.repeats, size_variants(args, corpus, work))
            shutil.rmtree(work / f"corpus-{size}", ignore_errors=True)
            save(args.json, results)

    def hbase_parts() -> None:
        log("hbase: end to end")
        e2e = hbase.end_to_end(Corpus(work, args.hbase_images, name="hbase-e2e"), args.cores, args.repeats, work)
        results["hbase"] = {**e2e, "regions": hbase.REGIONS}
        save(args.json, results)
        log("hbase: read throughput")
        results["hbase_read"] = hbase.read_throughput(args.hbase_read_rows, args.repeats, work)

    def overhead_part() -> None:
        runs = overhead(args, work)
        failed = runs.get("failed", {})
        results["failed"].update({f"overhead: {name}": why for name, why in failed.items()})
        if "imgpipe, small run" not in runs:
            raise RuntimeError(f"this checkout's small run failed: {failed.get('imgpipe, small run')}")
        results["overhead"] = runs["imgpipe, small run"]
        if AGAINST in runs:
            tree = str(args.against) if args.against else "this checkout"
            results["overhead_against"] = {"tree": tree, "set": args.against_set, **runs[AGAINST]}

    if {"inference", "peers"} & set(args.parts):
        part("inference/peers", sizes)
    if "hbase" in args.parts:
        part("hbase", hbase_parts)
    if "overhead" in args.parts:
        log(f"overhead: {args.overhead_images}-image runs")
        part("overhead", overhead_part)
    if "rss" in args.parts:
        log(f"rss: {args.rss_sizes} images")
        part("rss", lambda: results.__setitem__("rss", rss(args, work)))
    if "cpu" in args.parts:
        log(f"cpu: {max(args.sizes)} images, process tree sampled, one run")
        part("cpu", lambda: results.__setitem__("cpu", cpu(args, work)))
    if "task" in args.parts:
        log(f"task: {min(args.sizes)} images, the task loop's variants as the parallel limit")
        part("task", lambda: results.__setitem__("task", task(args, work)))
    results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["load_at_finish"] = os.getloadavg()
    return results


def busy_loads(node: Any) -> list[float]:
    """Every ``load1`` recorded in the results: how busy the machine was as each variant finished."""
    if isinstance(node, dict):
        return [float(v) for k, v in node.items() if k == "load1"] + [x for v in node.values() for x in busy_loads(v)]
    return []


def save(path: Path, results: dict[str, Any]) -> None:
    results["ratios"] = {f"{label} ({note})": value for label, value, note in ratios.ratio_lines(results)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))


def render(results: dict[str, Any]) -> list[str]:
    load = ", ".join(f"{x:.1f}" for x in (results["load_at_start"][0], results["load_at_finish"][0]))
    lines = [f"machine: {results['cores']} cores; {results['started']} .. {results['finished']}; load1 at start, end: {load}",
             f"command: {results['command']}"]  # fmt: skip
    for size, variants in results["sizes"].items():
        lines += ratios.table(f"Inference, {size} images", variants)
        for name, m in variants.items():
            if name != "failed":
                lines += ratios.details(name, m)
    if "hbase" in results:
        h = {k: v for k, v in results["hbase"].items() if k != "regions"}
        lines += ratios.table("HBase -> Parquet end to end", h)
        if "imgpipe-hbase" in h:
            lines += ratios.details("imgpipe-hbase", h["imgpipe-hbase"])
        lines += ratios.table("HBase read (image cells only)", results["hbase_read"], base=None)
    if "task" in results:
        lines += ratios.table("Inside a task (each as the parallel limit)", results["task"], base="default loop")
    if "overhead" in results:
        lines += overhead_lines(results)
    for key, title in (("rss", "Peak Python-worker RSS"), ("cpu", "CPU")):
        if key in results:
            lines.append(f"\n{title}\n")
            for name, m in results[key].items():
                lines += ratios.details(name, m) if name != "failed" else [f"- FAILED: {m}"]
    busiest = max(busy_loads(results), default=0.0)
    if busiest > results["cores"]:
        lines.append(f"\nWARNING: the machine was busy (load average up to {busiest:.1f} on {results['cores']} cores "
                     "as variants finished): other work shared the cores, so these ratios carry that noise.")
    lines.append("\nRatios\n")
    lines += [ratios.format_ratio(*r) for r in ratios.ratio_lines(results)]
    return lines


def overhead_lines(results: dict[str, Any]) -> list[str]:
    """This checkout's small run, and ``--against``'s beside it, each with its whole process and fixed overhead."""
    runs = [("imgpipe", results["overhead"])]
    if "overhead_against" in results:
        against = dict(results["overhead_against"])
        sets = "".join(f" --set {x}" for x in against.pop("set", []))
        runs.append((f"imgpipe from {against.pop('tree')}{sets}", against))
    lines = ["\nFixed overhead\n"]
    for name, m in runs:
        lines += ratios.details(name, m)
        lines.append(f"  whole process {m['whole_s']:.2f} s, fixed overhead {m['whole_s'] - m['session_start_s']:.2f} s")
    return lines


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    # A stop signal unwinds like Ctrl-C, so HBase is stopped and child processes are killed on the way out.
    signal.signal(signal.SIGTERM, interrupt)
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="imgpipe-bench-"))
    os.environ.setdefault("IMGPIPE_MODEL_CACHE", str(work / "models"))
    try:
        results = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    save(args.json, results)
    print("\n".join(render(results)))
    print(f"\n(written to {args.json})")
    if results["failed"]:
        print(f"\nFAILED parts: {', '.join(results['failed'])} (see {args.json})")
        sys.exit(1)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
