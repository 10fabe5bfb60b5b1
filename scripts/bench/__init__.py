"""The benchmark's parts (scripts/benchmark.py is the one command): corpora, variants, peers, ratios."""
