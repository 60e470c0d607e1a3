#!/usr/bin/env python3
"""What the Python package costs over tartan's Rust, measured in one run.

1. Overhead per query at k=10: the same single-query PLAID searches on the same
   index, timed from Python (``Index.search``: argument conversion, GIL release,
   result arrays and id lists) and in Rust alone (``Index._rust_search_seconds``, the
   call ``search`` makes, timed inside Rust). Rounds alternate; medians are reported.
2. Batch search: 300 queries in one ``Index.search`` call, QPS with rayon on 1 and 2
   threads (each in a fresh process with RAYON_NUM_THREADS set).
3. Build: ``Index.build`` from numpy arrays against ``tartan index --embeddings`` on
   the same embeddings written as .npy (both with the same settings), alternating.

Use a release build of both (the figures of a dev build mean little)::

    pip install ./python                          # or: cd python && maturin develop --release
    cargo build --release -p tartan-tools
    python python/bench/bench_python.py --tartan target/release/tartan

Embeddings: synthetic by default (SciFact's size: 5,183 documents of about 157 tokens,
dim 128, clustered around topics, L2-normalised; 300 queries of 32 tokens), or real
ones written by ``tartan encode``: ``--embeddings E.npy --doclens L.npy --queries Q.npy``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import tartan


def synthetic(n_docs: int, mean_tokens: int, n_queries: int, dim: int, seed: int):
    """Clustered, L2-normalised token embeddings: (flat [total, dim], doclens, queries)."""
    rng = np.random.default_rng(seed)
    n_topics = max(8, n_docs // 4)
    topics = rng.standard_normal((n_topics, dim), dtype=np.float32)
    doclens = np.clip(rng.normal(mean_tokens, mean_tokens / 3, n_docs), 8, 4 * mean_tokens).astype(np.int64)
    owner = np.repeat(rng.integers(0, n_topics, n_docs), doclens)
    flat = topics[owner] + 0.8 * rng.standard_normal((len(owner), dim), dtype=np.float32)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    q_topics = topics[rng.integers(0, n_topics, n_queries)]
    queries = q_topics[:, None, :] + 0.9 * rng.standard_normal((n_queries, 32, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=2, keepdims=True)
    return np.ascontiguousarray(flat, dtype=np.float32), doclens, np.ascontiguousarray(queries, dtype=np.float32)


def overhead(index: tartan.Index, queries: np.ndarray, rounds: int) -> dict:
    """Per-query seconds of single-query searches from Python and in Rust alone."""
    singles = [q[None] for q in queries]
    index.search(queries[:20], k=10)  # warm the page cache and the thread-locals
    py_rounds, rust_rounds = [], []
    for _ in range(rounds):
        rust_rounds.append(sum(index._rust_search_seconds(queries, k=10)) / len(queries))
        started = time.perf_counter()
        for q in singles:
            index.search(q, k=10)
        py_rounds.append((time.perf_counter() - started) / len(queries))
    py, rust = statistics.median(py_rounds), statistics.median(rust_rounds)
    return {
        "python_us_per_query": py * 1e6,
        "rust_us_per_query": rust * 1e6,
        "overhead_us": (py - rust) * 1e6,
        "overhead_ratio": py / rust - 1.0,
        "rounds": rounds,
    }


BATCH = r"""
import sys, time
import numpy as np, tartan
idx = tartan.Index.open(sys.argv[1])
q = np.load(sys.argv[2])
idx.search(q, k=10)
best = float("inf")
for _ in range(int(sys.argv[3])):
    started = time.perf_counter()
    idx.search(q, k=10)
    best = min(best, time.perf_counter() - started)
print(len(q) / best)
"""


def batch_qps(path: str, queries_npy: str, threads: int, rounds: int) -> float:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", BATCH, path, queries_npy, str(rounds)], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def build_times(flat, doclens, tmp: str, tartan_bin: str | None, rounds: int, num_centroids: int | None) -> dict:
    docs_npy, lens_npy = os.path.join(tmp, "E.npy"), os.path.join(tmp, "L.npy")
    np.save(docs_npy, flat)
    np.save(lens_npy, doclens)
    py_times, cli_times = [], []
    for r in range(rounds):
        out = os.path.join(tmp, f"py-{r}.idx")
        started = time.perf_counter()
        tartan.Index.build(out, (flat, doclens), num_centroids=num_centroids)
        py_times.append(time.perf_counter() - started)
        shutil.rmtree(out)
        if tartan_bin:
            out = os.path.join(tmp, f"cli-{r}.idx")
            cmd = [tartan_bin, "index", "--embeddings", docs_npy, "--doclens", lens_npy, "--out", out, "--quiet"]
            if num_centroids:
                cmd += ["--centroids", str(num_centroids)]
            started = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            cli_times.append(time.perf_counter() - started)
            shutil.rmtree(out)
    result = {"python_build_s": py_times}
    if cli_times:
        result["cli_build_s"] = cli_times
        result["ratio_median"] = statistics.median(py_times) / statistics.median(cli_times)
        # The fastest of each: the least disturbed by other work on the machine.
        result["ratio_min"] = min(py_times) / min(cli_times)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tartan", help="the tartan binary (release) for the build comparison")
    ap.add_argument("--embeddings", help="E.npy from `tartan encode` (with --doclens, --queries)")
    ap.add_argument("--doclens")
    ap.add_argument("--queries", help="Q.npy [n, query_len, dim]; the first 300 are used")
    ap.add_argument("--docs", type=int, default=5183, help="synthetic documents")
    ap.add_argument("--tokens", type=int, default=157, help="synthetic mean tokens a document")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the overhead and batch measurements")
    ap.add_argument("--build-rounds", type=int, default=2)
    ap.add_argument("--num-centroids", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    if args.embeddings:
        flat = np.load(args.embeddings, mmap_mode="r")
        doclens = np.load(args.doclens)
        queries = np.load(args.queries)[:300]
    else:
        flat, doclens, queries = synthetic(args.docs, args.tokens, 300, 128, seed=11)
    queries = np.ascontiguousarray(queries, dtype=np.float32)

    with tempfile.TemporaryDirectory(prefix="tartan-bench-") as tmp:
        path = os.path.join(tmp, "bench.idx")
        index = tartan.Index.build(path, (np.ascontiguousarray(flat, dtype=np.float32), doclens), num_centroids=args.num_centroids)
        q_npy = os.path.join(tmp, "Q.npy")
        np.save(q_npy, queries)
        stats = index.stats()
        figures = {
            "index": {k: stats[k] for k in ("num_documents", "num_embeddings", "num_centroids", "dim")},
            "queries": int(len(queries)),
            "overhead_k10": overhead(index, queries, args.rounds),
            "batch_qps": {t: batch_qps(path, q_npy, t, args.rounds) for t in (1, 2)},
            "build": build_times(np.ascontiguousarray(flat, dtype=np.float32), doclens, tmp, args.tartan, args.build_rounds, args.num_centroids),
        }
    figures["batch_qps"]["speedup_2_over_1"] = figures["batch_qps"][2] / figures["batch_qps"][1]
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    i, o, b, bu = figures["index"], figures["overhead_k10"], figures["batch_qps"], figures["build"]
    print(f"index: {i['num_documents']} documents, {i['num_embeddings']} embeddings, {i['num_centroids']} centroids, dim {i['dim']}; {figures['queries']} queries")
    print(f"k=10 single query: Python {o['python_us_per_query']:.1f} us, Rust alone {o['rust_us_per_query']:.1f} us -> overhead {o['overhead_us']:.1f} us ({100 * o['overhead_ratio']:.2f}%)")
    print(f"batch of {figures['queries']} queries: {b[1]:.0f} QPS on 1 thread, {b[2]:.0f} QPS on 2 threads ({b['speedup_2_over_1']:.2f}x)")
    line = "build: Index.build " + ", ".join(f"{t:.2f}s" for t in bu["python_build_s"])
    if "cli_build_s" in bu:
        line += "; tartan index --embeddings " + ", ".join(f"{t:.2f}s" for t in bu["cli_build_s"])
        line += f" -> ratio of medians {bu['ratio_median']:.3f}, of minimums {bu['ratio_min']:.3f}"
    print(line)


if __name__ == "__main__":
    main()
