"""The living index from Python: add, upsert, delete, optimize, reload."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tartan
from conftest import synthetic


def test_add_delete_upsert_optimize(tmp_path):
    docs, queries = synthetic(120, 20)
    path = tmp_path / "living.idx"
    idx = tartan.Index.build(path, docs[:100], ids=[f"d{i}" for i in range(100)], num_centroids=32, keep_embeddings=True)
    assert (len(idx), idx.generation) == (100, 1)

    report = idx.add([f"d{i}" for i in range(100, 120)], docs[100:])
    assert (report["added"], report["generation"]) == (20, 2)
    assert len(idx) == 120
    # Query i is drawn near document i: the added ones are found.
    res = idx.search([queries[i] for i in range(20)], k=1)
    assert all(ids[0] == f"d{i}" for i, ids in enumerate(res.ids))

    # An existing id refuses the whole batch; upsert replaces.
    with pytest.raises(ValueError, match="d3"):
        idx.add(["new", "d3"], [docs[0], docs[1]])
    assert idx.generation == 2
    report = idx.add(["d3"], [docs[7]], upsert=True)
    assert (report["added"], report["deleted"]) == (1, 1)
    assert len(idx) == 120

    report = idx.delete(["d5", "nope"])
    assert (report["deleted"], report["unknown"]) == (1, ["nope"])
    assert len(idx) == 119
    everything = idx.search([queries[5]], k=200)
    assert "d5" not in everything.ids[0]
    assert len(everything.ids[0]) == 119
    with pytest.raises(ValueError, match="unknown document id"):
        idx.lookup(["d5"])

    before = idx.search(queries, k=10)
    report = idx.optimize()
    assert idx.stats()["num_documents"] == 119 or len(idx) == 119
    after = idx.search(queries, k=10)
    assert before.ids == after.ids
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-6)

    # Another handle sees the commits after reload.
    other = tartan.Index.open(path)
    idx.delete(["d6"])
    assert len(other) == 119
    other.reload()
    assert len(other) == 118


def test_searches_continue_while_documents_are_added(tmp_path):
    docs, queries = synthetic(80, 8)
    idx = tartan.Index.build(tmp_path / "x.idx", docs[:60], ids=[f"d{i}" for i in range(60)], num_centroids=16)
    errors = []

    def search_loop():
        try:
            for _ in range(50):
                res = idx.search(queries[:4], k=1)
                assert [r[0] for r in res.ids] == ["d0", "d1", "d2", "d3"]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=search_loop) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(60, 80, 5):
        idx.add([f"d{j}" for j in range(i, i + 5)], docs[i : i + 5])
    for t in threads:
        t.join()
    assert errors == []
    assert len(idx) == 80


def test_add_checks_its_input(tmp_path):
    docs, _ = synthetic(20, 1)
    idx = tartan.Index.build(tmp_path / "x.idx", docs, num_centroids=8)
    with pytest.raises(ValueError, match="dimension"):
        idx.add(["a"], [np.ones((3, 8), np.float32)])
    with pytest.raises(ValueError, match="2 ids for 1 documents"):
        idx.add(["a", "b"], [docs[0]])
    with pytest.raises(ValueError, match="non-finite"):
        idx.add(["a"], [np.full((3, docs[0].shape[1]), np.nan, np.float32)])
    assert idx.generation == 1
