"""Models at run time: the registry, fetching files, resolving what a config names, and ONNX Runtime sessions.

    registry.py   named models: pinned file, URL, sha256, spec (registry.yaml)
    fetch.py      the cache, the mirror and downloads; the one sha256 check
    resolve.py    config -> ResolvedModel on the driver, including the allowed-folder policy for paths
    checks.py     a graph against its spec (inputs, outputs, classes, embedding size)
    model.py      ResolvedModel: what a stage ships to executors
    sessions.py   per-worker cache of ONNX Runtime sessions
    graph.py      in-memory graph edits (expose an internal tensor)
    graph_cache.py  edited models kept on disk, so later runs skip onnx's import
"""
