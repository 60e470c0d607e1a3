"""Metadata and text stored with documents, `search(filter=..., ids=...)`: the same
documents the filter language selects, never fewer than min(k, matching) hits."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tartan

from conftest import synthetic


@pytest.fixture(scope="module")
def meta_index(tmp_path_factory):
    docs, queries = synthetic(120, 6)
    ids = [f"d{i}" for i in range(len(docs))]
    metadata = [{"bucket": i % 10, "tags": ["even"] if i % 2 == 0 else []} if i != 5 else None for i in range(len(docs))]
    texts = [f"document {i} about {'cats' if i % 3 == 0 else 'dogs'}" for i in range(len(docs))]
    path = tmp_path_factory.mktemp("meta") / "idx"
    index = tartan.Index.build(
        path, docs, ids=ids, num_centroids=16, keep_embeddings=True, metadata=metadata, texts=texts
    )
    return index, docs, queries, ids


def found(results, row=0):
    return sorted(results.ids[row])


def test_filters_select_exactly_the_matching_documents(meta_index):
    index, _, queries, _ = meta_index
    want = sorted(f"d{i}" for i in range(120) if i % 10 == 3)
    assert found(index.search(queries[:1], k=100, filter={"bucket": 3})) == want
    # The same as JSON text, and through exact search.
    assert found(index.search(queries[:1], k=100, filter='{"bucket": 3}')) == want
    assert found(index.search(queries[:1], k=100, filter={"bucket": 3}, exact=True)) == want
    both = index.search(queries[:1], k=100, filter={"bucket": {"$lt": 2}, "tags": {"$contains": "even"}})
    assert found(both) == sorted(f"d{i}" for i in range(120) if i % 10 == 0)
    # Document 5 has no metadata: $ne and $exists see a missing key.
    assert "d5" in found(index.search(queries[:1], k=200, filter={"bucket": {"$exists": False}}))
    assert found(index.search(queries[:1], k=100, filter={"$text": "cats", "bucket": 3})) == sorted(
        f"d{i}" for i in range(120) if i % 10 == 3 and i % 3 == 0
    )


def test_min_k_matching_hits_and_ids(meta_index):
    index, _, queries, _ = meta_index
    res = index.search(queries, k=4, filter={"bucket": 7})
    assert all(len(row) == 4 for row in res.ids)
    assert all(int(i[1:]) % 10 == 7 for row in res.ids for i in row)
    res = index.search(queries, k=10, ids=["d1", "d2", "nope"])
    assert all(sorted(row) == ["d1", "d2"] for row in res.ids)
    res = index.search(queries, k=10, ids=["d1", "d3", "d13"], filter={"bucket": 3})
    assert all(sorted(row) == ["d13", "d3"] for row in res.ids)


def test_malformed_filters_name_the_offending_part(meta_index, tmp_path):
    index, _, queries, _ = meta_index
    with pytest.raises(ValueError, match=r"bucket\.\$between"):
        index.search(queries[:1], filter={"bucket": {"$between": [1, 2]}})
    with pytest.raises(ValueError, match="JSON"):
        index.search(queries[:1], filter="{bucket")
    with pytest.raises(ValueError, match="nested"):
        tartan.Index.build(
            tmp_path / "x", [np.ones((2, 64), np.float32) / 8.0], metadata=[{"a": {"b": 1}}]
        )
    assert not (tmp_path / "x").exists()


def test_add_stores_metadata(tmp_path):
    docs, queries = synthetic(60, 2)
    index = tartan.Index.build(tmp_path / "idx", docs[:50], ids=[f"d{i}" for i in range(50)], num_centroids=16)
    index.add(
        [f"d{i}" for i in range(50, 60)],
        docs[50:],
        metadata=[{"new": True}] * 10,
        texts=["added text"] * 10,
    )
    res = index.search(queries, k=20, filter=json.dumps({"new": True}))
    assert all(sorted(row) == sorted(f"d{i}" for i in range(50, 60)) for row in res.ids)
    with pytest.raises(ValueError, match="3 metadata entries for 10 documents"):
        index.add([f"x{i}" for i in range(10)], docs[50:], metadata=[{}] * 3)
