"""HBase through its Thrift1 gateway (happybase), with no Spark: what the HBase source, sink and ingest share.

    client.py   connections, which Thrift errors are worth a retry, backoff, key rendering
    splits.py   read planning on the driver: region key ranges -> splits
    scan.py     reading one split into Arrow batches, resuming after the last key on errors
    cells.py    the result cell layout (persisted API) and batched, retried puts
"""
