"""tartan.pylate.Tartan: PyLate's index interface, without pylate (always) and
through pylate's own retriever (when pylate is importable)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import tartan
from tartan.pylate import Tartan


def test_importing_tartan_imports_no_pylate():
    assert "tartan.pylate" in sys.modules
    if importlib.util.find_spec("pylate") is None:
        assert "pylate" not in sys.modules


@pytest.fixture()
def built(small, tmp_path):
    index = Tartan(index_folder=str(tmp_path / "indexes"), index_name="colbert", override=True, show_progress=False)
    assert index.is_end_to_end_index and not index.is_indexed
    returned = index.add_documents(documents_ids=small.ids, documents_embeddings=small.docs)
    assert returned is index and index.is_indexed
    return index


def test_call_returns_pylate_results(small, built):
    res = built(small.queries, k=5)
    want = built.index.search(small.queries, k=5)
    assert len(res) == len(small.queries)
    for i, hits in enumerate(res):
        assert [h["id"] for h in hits] == want.ids[i]
        assert all(isinstance(h["score"], float) for h in hits)
        np.testing.assert_array_equal(np.array([h["score"] for h in hits], np.float32), want.scores[i, : len(hits)])
    # One [tokens, dim] query, and a list of queries, as PyLate passes them.
    assert built(small.queries[0], k=5) == [res[0]]
    assert built(list(small.queries[:2]), k=5) == res[:2]


def test_reopens_an_existing_index(small, built, tmp_path):
    again = Tartan(index_folder=str(tmp_path / "indexes"), index_name="colbert")
    assert again.is_indexed
    assert again(small.queries[:3], k=4) == built(small.queries[:3], k=4)


def test_get_documents_embeddings(small, built):
    got = built.get_documents_embeddings([["doc-3", "doc-7"], ["doc-1"]])
    assert [len(g) for g in got] == [2, 1]
    for emb, d in zip(got[0], [3, 7]):
        assert emb.shape == small.docs[d].shape
    with pytest.raises(ValueError, match="unknown document id"):
        built.get_documents_embeddings([["missing"]])


def test_add_remove_update_on_an_existing_index(small, tmp_path):
    index = Tartan(index_folder=str(tmp_path / "live"), index_name="colbert", show_progress=False)
    index.add_documents(small.ids[:-5], small.docs[:-5])
    index.add_documents(small.ids[-5:], small.docs[-5:])
    assert len(index.index) == len(small.ids)
    target = small.ids[-1]
    index.remove_documents([target, "not-there"])
    assert len(index.index) == len(small.ids) - 1
    hits = index(small.queries, k=len(small.ids))
    assert all(h["id"] != target for q in hits for h in q)
    index.update_documents([small.ids[0]], [small.docs[1]])
    assert len(index.index) == len(small.ids) - 1
    with pytest.raises(ValueError, match=small.ids[0]):
        index.add_documents([small.ids[0]], [small.docs[0]])


def test_subset_restricts_every_query_or_each_query(small, built):
    subset = small.ids[:3]
    hits = built(small.queries, k=10, subset=subset)
    assert len(hits) == len(small.queries)
    # min(k, documents in the subset) hits, all from the subset.
    assert all(len(q) == 3 and {h["id"] for h in q} == set(subset) for q in hits)
    per_query = [[small.ids[i % len(small.ids)], "not-there"] for i in range(len(small.queries))]
    hits = built(small.queries, k=5, subset=per_query)
    assert [[h["id"] for h in q] for q in hits] == [[s[0]] for s in per_query]
    with pytest.raises(ValueError, match="subsets for"):
        built(small.queries, k=3, subset=[["a"]])


def test_empty_index_and_settings(tmp_path):
    index = Tartan(index_folder=str(tmp_path), index_name="e")
    with pytest.raises(ValueError, match="add documents before querying"):
        index(np.ones((1, 32, 64), np.float32))
    with pytest.warns(UserWarning, match="n_ivf_probe"):
        Tartan(index_folder=str(tmp_path), index_name="w", n_ivf_probe=8)
    with pytest.raises(TypeError, match="bogus"):
        Tartan(index_folder=str(tmp_path), index_name="w", bogus=1)


def test_with_real_pylate(small, tmp_path):
    """PyLate's own retriever over a Tartan index (skipped without pylate: it pulls torch)."""
    if importlib.util.find_spec("pylate") is None:
        reason = "pylate is not installed (pip install pylate to run this test)"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    import torch
    from pylate import indexes, retrieve

    index = Tartan(index_folder=str(tmp_path / "pl"), index_name="colbert", override=True, show_progress=False)
    assert isinstance(index, indexes.base.Base)
    index.add_documents(documents_ids=small.ids, documents_embeddings=[torch.from_numpy(d) for d in small.docs])
    retriever = retrieve.ColBERT(index=index)
    got = retriever.retrieve(queries_embeddings=torch.from_numpy(small.queries), k=10)
    want = index.index.search(small.queries, k=10)
    assert [[h["id"] for h in hits] for hits in got] == want.ids
