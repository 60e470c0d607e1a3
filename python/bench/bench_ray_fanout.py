#!/usr/bin/env python3
"""What serving shards on Ray Serve costs over searching them in one process.

Builds ``--shards`` shards of synthetic ColBERT-like embeddings with one codec
(``tartan.train_codec``, ``Index.build(codec_dir=...)``), then times the same
queries, one at a time, three ways:

1. ``Index.search`` on one shard (one shard's own latency);
2. ``tartan.ShardSet(shards).search`` in this process (every shard searched in
   parallel, top-k merged);
3. ``POST /search`` with the query embeddings to ``tartan.ray.serve_sharded`` on a
   local Ray cluster (the ingress fans out to one deployment a shard and merges);
4. ``GET /health`` on the same application: HTTP, Serve's proxy and the ingress
   alone, without the fan-out.

The Ray figure minus the in-process one is the fan-out overhead: HTTP, JSON, Ray's
routing and object transfer. Use a release build (``maturin develop --release``)::

    pip install "./python[ray]"
    python python/bench/bench_ray_fanout.py --shards 4 --docs 10000 --queries 300
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import time

import numpy as np
import ray
import requests
from ray import serve

import tartan
import tartan.ray as tray


def synthetic(n_docs: int, tokens: int, dim: int, n_queries: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((max(8, n_docs // 20), dim)).astype(np.float32)
    centre = topics[rng.integers(0, len(topics), n_docs)] + 0.8 * rng.standard_normal((n_docs, dim)).astype(np.float32)

    def unit(x):
        return np.ascontiguousarray((x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32))

    docs = [unit(centre[d] + 0.5 * rng.standard_normal((tokens, dim)).astype(np.float32)) for d in range(n_docs)]
    queries = unit(centre[rng.integers(0, n_docs, n_queries)][:, None, :] + 0.6 * rng.standard_normal((n_queries, 32, dim)).astype(np.float32))
    return docs, queries


def percentiles(ms):
    ms = sorted(ms)
    at = lambda q: ms[round((len(ms) - 1) * q)]  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "mean": statistics.fmean(ms)}


def timed(fn, queries):
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--docs", type=int, default=10000, help="documents over all shards")
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    args = parser.parse_args()

    docs, queries = synthetic(args.docs, args.tokens, args.dim, args.queries)
    ids = [f"d{i}" for i in range(len(docs))]
    root = tempfile.mkdtemp(prefix="tartan-fanout-")
    codec = f"{root}/codec"
    tartan.train_codec(np.concatenate(docs), codec, shard_embeddings=len(docs) * args.tokens // args.shards)
    paths = []
    for s in range(args.shards):
        part = [i for i in range(len(docs)) if tray.shard_of(ids[i], args.shards) == s]
        path = f"{root}/shard-{s}"
        tartan.Index.build(path, [docs[i] for i in part], ids=[ids[i] for i in part], codec_dir=codec)
        paths.append(path)
    print(f"{args.shards} shards of ~{args.docs // args.shards} documents ({args.tokens} tokens, dim {args.dim}); {args.queries} queries at k={args.k}, one at a time")

    one = tartan.Index.open(paths[0])
    shards = tartan.ShardSet(paths)
    single = [q[None] for q in queries]
    for q in single[:20]:
        shards.search(q, k=args.k)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    tray.serve_sharded(paths, timeout_s=10.0, name="fanout")
    session = requests.Session()
    url = f"http://127.0.0.1:{port}/search"

    def over_ray(q):
        reply = session.post(url, json={"embeddings": q.tolist(), "k": args.k}, timeout=30)
        reply.raise_for_status()
        assert not reply.json()["partial"]

    for q in single[:20]:
        over_ray(q)
    figures = {}
    # Alternate rounds so that machine noise falls on every method alike.
    rounds = {"one_shard": [], "shard_set": [], "ray_serve": [], "http_health": []}
    health = f"http://127.0.0.1:{port}/health"
    chunk = max(1, len(single) // 5)
    for start in range(0, len(single), chunk):
        part = single[start : start + chunk]
        rounds["one_shard"] += timed(lambda q: one.search(q, k=args.k), part)
        rounds["shard_set"] += timed(lambda q: shards.search(q, k=args.k), part)
        rounds["ray_serve"] += timed(over_ray, part)
        rounds["http_health"] += timed(lambda q: session.get(health, timeout=30).raise_for_status(), part)
    for name, ms in rounds.items():
        figures[name] = percentiles(ms)
        p = figures[name]
        print(f"  {name:>10}: p50 {p['p50']:.2f} ms, p90 {p['p90']:.2f} ms, p99 {p['p99']:.2f} ms")
    overhead = figures["ray_serve"]["p50"] - figures["shard_set"]["p50"]
    print(f"  fan-out overhead of Ray Serve (p50): {overhead:.2f} ms a query")
    figures["overhead_p50_ms"] = overhead
    print(json.dumps(figures))
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
