"""Connected components of a graph held as a DataFrame of edges, with Spark's own operators (no driver state).

The algorithm is large-star / small-star (Kiveris et al., "Connected Components in MapReduce and Beyond",
SoCC 2014), the one GraphFrames runs: each round is two joins and aggregations over the edge list, the
number of rounds grows with log^2 of the graph size rather than with its diameter (plain min-label
propagation needs as many rounds as the longest chain of near-duplicates), and nothing is collected to
the driver, so the graph may be far larger than the driver's memory. GraphFrames itself is not used: its
Spark 4 artifact (io.graphframes:graphframes-spark4_2.13) is not on the Maven Central this project builds
from, and it would add a JVM package that every cluster has to fetch. Lineage is cut with
``DataFrame.checkpoint`` every few rounds, into a folder the caller owns.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger("imgpipe.components")

SRC, DST = "src", "dst"
ID, COMPONENT = "id", "component"
#: Rounds between checkpoints: each round adds two joins to the plan.
CHECKPOINT_EVERY = 2
MAX_ROUNDS = 100


def _undirected(edges: DataFrame) -> DataFrame:
    """Each edge once as (smaller, larger); self-loops dropped."""
    return (
        edges.select(F.least(SRC, DST).alias(SRC), F.greatest(SRC, DST).alias(DST))
        .filter(F.col(SRC) != F.col(DST))
        .distinct()
    )


def large_star(edges: DataFrame) -> DataFrame:
    """Each node u links every larger neighbour to the smallest node of u's closed neighbourhood."""
    both = edges.select(F.col(SRC).alias("u"), F.col(DST).alias("v")).unionByName(
        edges.select(F.col(DST).alias("u"), F.col(SRC).alias("v"))
    )
    smallest = both.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
    linked = both.join(smallest, "u").filter(F.col("v") > F.col("u"))
    return _undirected(linked.select(F.col("v").alias(SRC), F.col("m").alias(DST)))


def small_star(edges: DataFrame) -> DataFrame:
    """Each node u links itself and its smaller neighbours to the smallest of them."""
    down = edges.select(F.col(DST).alias("u"), F.col(SRC).alias("v"))  # v < u after _undirected
    smallest = down.groupBy("u").agg(F.min("v").alias("m"))
    linked = down.join(smallest, "u")
    out = linked.select(F.col("v").alias(SRC), F.col("m").alias(DST)).unionByName(
        smallest.select(F.col("u").alias(SRC), F.col("m").alias(DST))
    )
    return _undirected(out)


def _fingerprint(edges: DataFrame) -> tuple[int, int]:
    """Edge count and an order-free checksum; equal before and after a round means the round changed nothing."""
    row = edges.select(
        F.count(F.lit(1)).alias("n"),
        # Bounded terms: Spark 4 runs in ANSI mode, where a plain sum of 64-bit hashes overflows.
        F.sum(F.pmod(F.xxhash64(SRC, DST), F.lit(2**31))).alias("h"),
    ).collect()[0]
    return int(row["n"]), int(row["h"] or 0)


def connected_components(edges: DataFrame) -> DataFrame:
    """(id, component) for every node that has an edge; ``component`` is the smallest id in its component.

    ``edges`` has long columns ``src`` and ``dst`` (direction and duplicates do not matter). The session
    needs a checkpoint directory (``SparkContext.setCheckpointDir``).
    """
    current = _undirected(edges).checkpoint()
    seen = _fingerprint(current)
    for round_ in range(1, MAX_ROUNDS + 1):
        nxt = small_star(large_star(current))
        nxt = nxt.checkpoint() if round_ % CHECKPOINT_EVERY == 0 else nxt.cache()
        now = _fingerprint(nxt)
        log.debug("connected components: round %d, %d edges", round_, now[0])
        current.unpersist()
        current = nxt
        if now == seen:
            log.info("connected components converged after %d rounds", round_)
            break
        seen = now
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    # At the fixed point every component is a star around its smallest node, stored as (centre, leaf).
    members = current.select(F.col(DST).alias(ID), F.col(SRC).alias(COMPONENT)).unionByName(
        current.select(F.col(SRC).alias(ID), F.col(SRC).alias(COMPONENT))
    )
    return members.groupBy(ID).agg(F.min(COMPONENT).alias(COMPONENT))
