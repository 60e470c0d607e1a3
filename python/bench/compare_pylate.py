"""The same queries through PyLate's own PLAID index and through tartan.pylate.Tartan.

Both indexes are used through PyLate's index interface (``index(queries, k=...)``, what
``retrieve.ColBERT`` calls), built from the same document embeddings; recall@k is
measured by id against the exact top-k (brute-force MaxSim over the uncompressed
embeddings, numpy). Needs pylate (with torch) and tartan installed in one environment.

    # embeddings from `tartan encode` (equal to PyLate's to 1e-6) or any ColBERT model:
    python python/bench/compare_pylate.py --embeddings E.npy --doclens L.npy --queries Q.npy

Prints one line per index and, last, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np


def exact_top_k(docs: np.ndarray, offsets: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """Exact MaxSim top-k document numbers of every query."""
    starts = offsets[:-1]
    out = []
    for q in queries:
        sims = docs @ q.T  # [tokens, query_len]
        per_doc = np.maximum.reduceat(sims, starts, axis=0).sum(axis=1)
        top = np.argpartition(-per_doc, k)[:k]
        out.append(top[np.argsort(-per_doc[top], kind="stable")].tolist())
    return out


def timed_queries(indexes: dict, queries: list[np.ndarray], k: int) -> dict:
    """Every index's hits (ids) and seconds a query: each query is searched on every
    index in turn, one query at a time, so that all see the same load on a shared
    machine; then all queries in one batch call, index after index."""
    ids = {name: [] for name in indexes}
    seconds = {name: 0.0 for name in indexes}
    for q in queries:
        for name, index in indexes.items():
            started = time.perf_counter()
            hits = index([q], k=k)[0]
            seconds[name] += time.perf_counter() - started
            ids[name].append([h["id"] for h in hits])
    batched = {}
    for name, index in indexes.items():
        started = time.perf_counter()
        index(queries, k=k)
        batched[name] = (time.perf_counter() - started) / len(queries)
    return {name: (ids[name], seconds[name] / len(queries), batched[name]) for name in indexes}


def recall(found: list[list[str]], truth: list[list[int]], k: int) -> float:
    return float(np.mean([len(set(f[:k]) & {str(d) for d in t}) / k for f, t in zip(found, truth)]))


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embeddings", required=True, help="float32 [total, dim] token embeddings")
    p.add_argument("--doclens", required=True, help="int [docs] tokens per document")
    p.add_argument("--queries", required=True, help="float32 [n, query_len, dim] query embeddings")
    p.add_argument("--n-queries", type=int, default=300)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--nbits", type=int, default=None, help="both indexes' bits (default: each one's own default)")
    p.add_argument("--indexes", default="pylate,tartan", help="which of pylate,tartan to run (default both)")
    p.add_argument("--workdir", default=None, help="where the indexes go (default: a temp dir, removed)")
    args = p.parse_args()

    import torch  # noqa: F401  (pylate's tensors; imported here so a missing torch fails early)
    from pylate import indexes

    import tartan.pylate

    docs = np.load(args.embeddings, mmap_mode="r")
    lens = np.load(args.doclens).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)])
    assert offsets[-1] == docs.shape[0], "the doclens do not sum to the embeddings' rows"
    docs = np.ascontiguousarray(docs, dtype=np.float32)
    queries = np.load(args.queries)[: args.n_queries].astype(np.float32)
    query_list = [q for q in queries]
    ids = [str(i) for i in range(len(lens))]
    doc_list = [docs[offsets[i] : offsets[i + 1]] for i in range(len(lens))]

    started = time.perf_counter()
    truth = exact_top_k(docs, offsets, queries, args.k)
    exact_seconds = time.perf_counter() - started
    print(f"{len(lens)} documents, {docs.shape[0]} embeddings, {len(queries)} queries; exact top-{args.k} in {exact_seconds:.1f} s")

    workdir = args.workdir or tempfile.mkdtemp(prefix="tartan-vs-pylate-")
    figures = {"documents": len(lens), "embeddings": int(docs.shape[0]), "queries": len(queries), "k": args.k, "torch_threads": torch.get_num_threads()}
    makers = {
        "pylate.indexes.PLAID": lambda: indexes.PLAID(
            index_folder=workdir, index_name="pylate", override=True, show_progress=False, **({"nbits": args.nbits} if args.nbits else {})
        ),
        "tartan.pylate.Tartan": lambda: tartan.pylate.Tartan(
            index_folder=workdir, index_name="tartan", override=True, show_progress=False, **({"nbits": args.nbits} if args.nbits else {})
        ),
    }
    wanted = set(args.indexes.split(","))
    makers = {name: make for name, make in makers.items() if name.split(".")[0] in wanted}
    built = {}
    for name, make in makers.items():
        index = make()
        started = time.perf_counter()
        index.add_documents(documents_ids=ids, documents_embeddings=doc_list)
        figures[name] = {"build_seconds": time.perf_counter() - started}
        index(query_list[:5], k=args.k)  # warm: mapped files, thread pools
        built[name] = index
    timed = timed_queries(built, query_list, args.k)
    for name, (found, one, batched) in timed.items():
        folder = os.path.join(workdir, "pylate" if name.startswith("pylate") else "tartan")
        r = recall(found, truth, args.k)
        figures[name].update(
            {
                "recall_at_k": r,
                "ms_per_query": one * 1e3,
                "ms_per_query_batched": batched * 1e3,
                "index_bytes": folder_bytes(folder),
            }
        )
        print(
            f"{name}: build {figures[name]['build_seconds']:.1f} s; recall@{args.k} of the exact top-{args.k} {r:.4f}; "
            f"{one * 1e3:.2f} ms a query one at a time, {batched * 1e3:.2f} ms a query in one batch; "
            f"index {folder_bytes(folder) / 1e6:.1f} MB"
        )
    if len(makers) == 2:
        a, b = figures["pylate.indexes.PLAID"], figures["tartan.pylate.Tartan"]
        figures["pylate_over_tartan_ms_per_query"] = a["ms_per_query"] / b["ms_per_query"]
        figures["pylate_over_tartan_ms_per_query_batched"] = a["ms_per_query_batched"] / b["ms_per_query_batched"]
    print(json.dumps(figures))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
