#!/usr/bin/env python3
"""Shards against one index, on real token embeddings: recall and latency.

One codec is trained on every embedding (``tartan.train_codec``); the single index and
``--shards`` shards (documents split into contiguous parts) are built with it
(``Index.build(codec_dir=...)``). For k in 10 and 100 it prints recall@k of the exact
top-k (brute-force MaxSim over the kept embeddings) for the single index and for the
shards merged (``tartan.ShardSet``) at default settings, whether the merged exhaustive
top-k (every document scored over the codec) equals the single index's, and the time a
query of each, one query at a time. Embeddings as ``tartan encode`` writes them::

    tartan encode beir/scifact --model MODEL --embeddings E.npy --doclens L.npy --ids ids.txt
    tartan encode beir/scifact --model MODEL --as-queries --embeddings Q.npy
    python python/bench/shards_recall.py --embeddings E.npy --doclens L.npy --queries Q.npy
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np

import tartan


def recall(got, truth) -> float:
    return float(np.mean([len(set(g) & set(t)) / max(1, len(t)) for g, t in zip(got, truth)]))


def per_query_ms(search, queries) -> float:
    times = []
    for q in queries:
        t = time.perf_counter()
        search(q[None])
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embeddings", required=True)
    parser.add_argument("--doclens", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--timed", type=int, default=300, help="queries timed one at a time")
    args = parser.parse_args()

    e = np.load(args.embeddings, mmap_mode="r")
    lens = np.load(args.doclens).astype(np.int64)
    queries = np.load(args.queries)
    ids = [str(i) for i in range(len(lens))]
    offsets = np.concatenate([[0], np.cumsum(lens)])
    root = tempfile.mkdtemp(prefix="tartan-shards-recall-")
    t = time.perf_counter()
    report = tartan.train_codec(np.ascontiguousarray(e), f"{root}/codec")
    train_s = time.perf_counter() - t
    single = tartan.Index.build(f"{root}/single", (np.ascontiguousarray(e), lens), ids=ids, codec_dir=f"{root}/codec", keep_embeddings=True)
    paths = []
    t = time.perf_counter()
    for s in range(args.shards):
        a, b = s * len(lens) // args.shards, (s + 1) * len(lens) // args.shards
        part = np.ascontiguousarray(e[offsets[a] : offsets[b]])
        tartan.Index.build(f"{root}/shard-{s}", (part, lens[a:b]), ids=ids[a:b], codec_dir=f"{root}/codec")
        paths.append(f"{root}/shard-{s}")
    shards_s = time.perf_counter() - t
    shards = tartan.ShardSet(paths)
    print(
        f"{len(lens)} documents, {e.shape[0]} embeddings, {len(queries)} queries; codec: {report['num_centroids']} centroids "
        f"trained in {train_s:.1f} s; {args.shards} shards built in {shards_s:.1f} s"
    )
    figures = {"documents": int(len(lens)), "embeddings": int(e.shape[0]), "shards": args.shards}
    for k in (10, 100):
        truth = single.search(queries, k=k, exact=True).ids
        one = single.search(queries, k=k)
        merged = shards.search(queries, k=k)
        same = shards.search(queries, k=k, exhaustive=True).ids == single.search(queries, k=k, exhaustive=True).ids
        timed = queries[: args.timed]
        one_ms = per_query_ms(lambda q: single.search(q, k=k), timed)
        merged_ms = per_query_ms(lambda q: shards.search(q, k=k), timed)
        row = {
            "single_recall": recall(one.ids, truth),
            "merged_recall": recall(merged.ids, truth),
            "exhaustive_identical": same,
            "single_ms": one_ms,
            "merged_ms": merged_ms,
        }
        figures[f"k{k}"] = row
        print(
            f"k={k}: recall@{k} of the exact top-{k}: single {row['single_recall']:.4f}, {args.shards} shards merged "
            f"{row['merged_recall']:.4f}; exhaustive: merged == single: {same}; "
            f"median ms a query: single {one_ms:.2f}, merged {merged_ms:.2f}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
