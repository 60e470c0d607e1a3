"""Index.build / Index.open / Index.search from numpy: shapes, padding, conversions,
exact search against numpy's MaxSim, and the introspection methods."""

from __future__ import annotations

import numpy as np
import pytest

import tartan

from conftest import maxsim, synthetic


def test_build_returns_an_open_index(small):
    idx = small.index
    assert len(idx) == 300
    assert idx.dim == 64
    stats = idx.stats()
    assert stats["num_documents"] == 300
    assert stats["num_embeddings"] == sum(len(d) for d in small.docs)
    assert stats["num_centroids"] == 64
    assert stats["codec"] == "product" and stats["nbits"] == 2
    assert stats["has_embeddings"] is True
    assert stats["bytes_on_disk"] > 0
    assert stats["encoder"] is None
    assert "300 documents" in repr(idx)


def test_open_finds_the_same_results(small):
    again = tartan.Index.open(small.path)
    a = small.index.search(small.queries, k=10)
    b = again.search(small.queries, k=10)
    assert a.ids == b.ids
    np.testing.assert_array_equal(a.scores, b.scores)


def test_results_shapes_and_types(small):
    res = small.index.search(small.queries, k=7)
    assert len(res) == len(small.queries)
    assert res.scores.shape == (24, 7) and res.scores.dtype == np.float32
    assert res.docs.shape == (24, 7) and res.docs.dtype == np.int64
    assert all(len(row) == 7 for row in res.ids)
    for i in range(len(res)):
        assert np.all(np.diff(res.scores[i]) <= 0), "scores descend along a row"
        assert [small.index.doc_id(int(d)) for d in res.docs[i]] == res.ids[i]
        assert [h[0] for h in res[i]] == res.ids[i]
    assert res[-1] == res[len(res) - 1]
    with pytest.raises(IndexError):  # the builtin: a subscript out of range
        res[len(res)]


def test_fewer_hits_than_k_are_padded(tmp_path):
    docs, queries = synthetic(6, 2, seed=3)
    idx = tartan.Index.build(tmp_path / "six", docs, num_centroids=4)
    res = idx.search(queries, k=50, nprobe=4, ndocs=50)
    for i in range(2):
        n = len(res.ids[i])
        assert 1 <= n <= 6
        assert np.all(np.isfinite(res.scores[i, :n]))
        assert np.all(res.scores[i, n:] == -np.inf)
        assert np.all(res.docs[i, n:] == -1)
        assert np.all(res.docs[i, :n] >= 0)


def test_every_query_form_gives_the_same_hits(small):
    q = small.queries
    want = small.index.search(q, k=10)
    forms = {
        "list of arrays": list(q),
        "tuple of arrays": tuple(q),
        "float64": q.astype(np.float64),
        "fortran order": np.asfortranarray(q),
        "strided view": np.concatenate([q, q], axis=2)[:, :, : q.shape[2]],
        "nested lists": q.tolist(),
    }
    for name, form in forms.items():
        got = small.index.search(form, k=10)
        assert got.ids == want.ids, name
        np.testing.assert_array_equal(got.scores, want.scores, err_msg=name)
    one = small.index.search(q[3], k=10)
    assert one.ids == [want.ids[3]], "a 2-D array is one query"


def test_ragged_queries(small):
    q = small.queries
    ragged = [q[0][:5], q[1], q[2][:17]]
    res = small.index.search(ragged, k=5)
    for i, query in enumerate(ragged):
        alone = small.index.search(query[None], k=5)
        assert res.ids[i] == alone.ids[0]


def test_exact_search_is_numpy_maxsim(small):
    res = small.index.search(small.queries[:5], k=10, exact=True)
    for i, query in enumerate(small.queries[:5]):
        scores = np.array([maxsim(query, d) for d in small.docs])
        best = np.argsort(-scores, kind="stable")[:10]
        assert [small.ids[b] for b in best] == res.ids[i]
        np.testing.assert_allclose(res.scores[i], scores[best], rtol=1e-5)


def test_plaid_finds_the_exact_top_hit(small):
    plaid = small.index.search(small.queries, k=10)
    exact = small.index.search(small.queries, k=10, exact=True)
    assert [ids[0] for ids in exact.ids] == [f"doc-{i}" for i in range(len(small.queries))]
    agree = sum(p[0] == e[0] for p, e in zip(plaid.ids, exact.ids))
    assert agree >= 0.9 * len(plaid.ids)


def test_search_parameters_are_used(small):
    narrow = small.index.search(small.queries, k=10, nprobe=1, ndocs=10, threshold=0.9)
    wide = small.index.search(small.queries, k=10, nprobe=64, ndocs=300, threshold=-1.0)
    exact = small.index.search(small.queries, k=10, exact=True)
    # Every centroid probed and every document scored: PLAID ranks the whole index by
    # its compressed scores, which keep the exact top-10 nearly whole.
    overlap = np.mean([len(set(w) & set(e)) / 10 for w, e in zip(wide.ids, exact.ids)])
    assert overlap >= 0.9
    assert narrow.ids != wide.ids or narrow.scores.tolist() != wide.scores.tolist()


def test_flat_form_builds_the_same_index(small, tmp_path):
    flat = np.concatenate(small.docs)
    doclens = np.array([len(d) for d in small.docs], dtype=np.int32)
    idx = tartan.Index.build(tmp_path / "flat", (flat, doclens), ids=small.ids, keep_embeddings=True, num_centroids=64)
    a = small.index.search(small.queries, k=10)
    b = idx.search(small.queries, k=10)
    assert a.ids == b.ids
    np.testing.assert_array_equal(a.scores, b.scores)


def test_every_document_form_builds_the_same_index(small, tmp_path):
    want = small.index.search(small.queries, k=10)
    forms = {
        "float64": [d.astype(np.float64) for d in small.docs],
        "fortran order": [np.asfortranarray(d) for d in small.docs],
        "tuple": tuple(small.docs),
    }
    for name, docs in forms.items():
        idx = tartan.Index.build(tmp_path / name.replace(" ", "-"), docs, ids=small.ids, keep_embeddings=True, num_centroids=64)
        got = idx.search(small.queries, k=10)
        assert got.ids == want.ids, name
        np.testing.assert_array_equal(got.scores, want.scores, err_msg=name)


def test_default_ids_and_non_string_ids(tmp_path):
    docs, queries = synthetic(20, 2)
    idx = tartan.Index.build(tmp_path / "a", docs, num_centroids=8)
    assert [idx.doc_id(i) for i in range(3)] == ["0", "1", "2"]
    idx = tartan.Index.build(tmp_path / "b", docs, ids=range(100, 120), num_centroids=8)
    assert idx.doc_id(0) == "100"
    assert idx.lookup(["119", "100"]).tolist() == [19, 0]


def test_empty_documents_are_kept_but_never_found(tmp_path):
    docs, queries = synthetic(30, 4)
    docs[5] = np.zeros((0, 64), dtype=np.float32)
    idx = tartan.Index.build(tmp_path / "e", docs, num_centroids=8, keep_embeddings=True)
    assert len(idx) == 30 and idx.stats()["empty_documents"] == 1
    assert "5" not in sum(idx.search(queries, k=30, ndocs=30).ids, [])
    assert idx.document_embeddings(5).shape == (0, 64)


def test_document_embeddings(small, tmp_path):
    d = 17
    kept = small.index.document_embeddings(d)
    assert kept.shape == small.docs[d].shape and kept.dtype == np.float32
    # Stored order is by centroid: the same rows as given, reordered.
    np.testing.assert_array_equal(np.sort(kept, axis=0), np.sort(small.docs[d], axis=0))
    idx = tartan.Index.build(tmp_path / "nokeep", small.docs, num_centroids=64)
    approx = idx.document_embeddings(d)
    assert approx.shape == kept.shape
    # Same seed, same data: the same centroids, so the same stored order; each row
    # decompresses close to its original.
    cosines = np.sum(approx * kept, axis=1) / np.linalg.norm(approx, axis=1)
    assert cosines.mean() > 0.9, cosines


def test_scalar_codec_and_nbits(tmp_path, small):
    for codec, nbits in [("scalar", 2), ("product", 4), ("scalar", 1)]:
        idx = tartan.Index.build(tmp_path / f"{codec}{nbits}", small.docs, codec=codec, nbits=nbits, num_centroids=32)
        s = idx.stats()
        assert (s["codec"], s["nbits"]) == (codec, nbits)
        assert len(idx.search(small.queries[:2], k=3).ids[0]) == 3


def test_overwrite(tmp_path, small):
    path = tmp_path / "ow"
    tartan.Index.build(path, small.docs[:50], num_centroids=16)
    with pytest.raises(FileExistsError):
        tartan.Index.build(path, small.docs[:60], num_centroids=16)
    idx = tartan.Index.build(path, small.docs[:60], num_centroids=16, overwrite=True)
    assert len(idx) == 60


def test_help_reads_well():
    doc = tartan.Index.search.__doc__
    assert "Parameters" in doc and "nprobe" in doc and "-inf" in doc
    assert tartan.Index.search.__text_signature__ == "($self, queries, k=10, *, ids=None, **options)"
    assert "documents_embeddings" in tartan.Index.build.__doc__
    assert tartan.evaluate.__doc__ and tartan.Encoder.__doc__ and tartan.SearchResults.__doc__
