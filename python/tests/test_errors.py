"""Every error path raises the documented exception, with the Rust message."""

from __future__ import annotations

import builtins
import json
import shutil

import numpy as np
import pytest

import tartan

from conftest import DIM, index_file, synthetic


def test_exception_hierarchy():
    assert issubclass(tartan.CorruptIndexError, tartan.IndexError)
    assert issubclass(tartan.IndexError, Exception)
    assert tartan.IndexError is not builtins.IndexError
    assert not issubclass(tartan.IndexError, builtins.IndexError)
    assert issubclass(tartan.InternalError, RuntimeError)
    assert issubclass(tartan.EncoderError, Exception)
    assert tartan.IndexError.__module__ == "tartan"
    assert "IndexError" not in tartan.__all__  # `from tartan import *` keeps the builtin


@pytest.fixture()
def copy(small, tmp_path):
    """A fresh copy of the small index to damage."""
    dst = tmp_path / "copy.idx"
    shutil.copytree(small.path, dst)
    return dst


def test_open_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tartan.Index.open(tmp_path / "nothing-here")
    with pytest.raises(FileNotFoundError):
        tartan.Index.open(tmp_path)  # exists, but holds no index


def test_open_truncated_file(copy):
    codes = index_file(copy, "codes.npy")
    codes.write_bytes(codes.read_bytes()[:-7])
    with pytest.raises(tartan.CorruptIndexError, match="codes.npy") as e:
        tartan.Index.open(copy)
    assert isinstance(e.value, tartan.IndexError)


def test_open_missing_index_file(copy):
    index_file(copy, "postings.bin").unlink()
    with pytest.raises(tartan.CorruptIndexError, match="postings.bin: missing index file"):
        tartan.Index.open(copy)


def test_open_unsupported_version_and_garbage_meta(copy):
    manifest = index_file(copy, "manifest")
    meta = json.loads(manifest.read_text())
    meta["format_version"] = 999
    manifest.write_text(json.dumps(meta))
    with pytest.raises(tartan.CorruptIndexError, match="format version 999"):
        tartan.Index.open(copy)
    manifest.write_text("not json")
    with pytest.raises(tartan.CorruptIndexError, match="not a tartan manifest"):
        tartan.Index.open(copy)


@pytest.mark.parametrize(
    "documents, match",
    [
        ([], "no documents"),
        ([np.zeros((0, DIM), np.float32)] * 3, "empty corpus"),
        ([np.ones((3, DIM), np.float32), np.ones((3, DIM + 4), np.float32)], "document 1: vectors have dim 68"),
        ([np.ones(DIM, np.float32)], r"document 0: expected a \[tokens, dim\] array"),
        ([np.full((3, DIM), np.nan, np.float32)], "non-finite value"),
        ([np.full((3, DIM), np.inf, np.float32)], "non-finite value"),
        ([np.ones((3, 6), np.float32)], "dim"),  # product codes need a multiple of 4
        ([["a", "b"]], "document 0: cannot be read as a float32 array"),
        ((np.ones((5, DIM), np.float32), [2, 2]), "lengths sum to 4 but the embeddings hold 5 rows"),
        ((np.ones((5, DIM), np.float32), [6, -1]), "negative length -1"),
        ((np.ones((5, DIM), np.float32), [2.5, 2.5]), "doclens: expected integers"),
        ((np.ones((5, 2, DIM), np.float32), [5]), r"expected a \[total, dim\] array"),
        ("text", "expected a list"),
    ],
)
def test_build_bad_input(tmp_path, documents, match):
    with pytest.raises(ValueError, match=match):
        tartan.Index.build(tmp_path / "x", documents, num_centroids=4)
    assert not (tmp_path / "x").exists()


def test_build_bad_ids_and_settings(tmp_path):
    docs, _ = synthetic(10, 1)
    with pytest.raises(ValueError, match="duplicate document id"):
        tartan.Index.build(tmp_path / "x", docs, ids=["a"] * 10, num_centroids=4)
    with pytest.raises(ValueError, match="3 ids for 10 documents"):
        tartan.Index.build(tmp_path / "x", docs, ids=["a", "b", "c"], num_centroids=4)
    with pytest.raises(ValueError, match="codec must be"):
        tartan.Index.build(tmp_path / "x", docs, codec="pq")
    with pytest.raises(ValueError, match="nbits"):
        tartan.Index.build(tmp_path / "x", docs, nbits=3)
    with pytest.raises(ValueError, match="num_centroids must be at least 1"):
        tartan.Index.build(tmp_path / "x", docs, num_centroids=0)
    assert not (tmp_path / "x").exists()


def test_build_into_an_impossible_place(tmp_path):
    docs, _ = synthetic(10, 1)
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OSError):
        tartan.Index.build(tmp_path / "file" / "idx", docs, num_centroids=4)


@pytest.mark.parametrize(
    "queries, kwargs, match",
    [
        (np.ones((2, 32, DIM + 4), np.float32), {}, "queries: vectors have dim 68 but the index has dim 64"),
        ([np.ones((32, DIM), np.float32), np.ones((32, 8), np.float32)], {}, "query 1: vectors have dim 8"),
        (np.full((1, 32, DIM), np.nan, np.float32), {}, "non-finite value"),
        (np.ones((1, 0, DIM), np.float32), {}, "empty query"),
        (np.ones((1, 1, 32, DIM), np.float32), {}, "expected a \\[n_queries, tokens, dim\\] array"),
        (np.ones(DIM, np.float32), {}, "found shape \\[64\\]"),
        ("not an array", {}, "cannot be read as a float32 array"),
        (np.ones((1, 32, DIM), np.float32), {"k": 0}, "k must be at least 1, got 0"),
        (np.ones((1, 32, DIM), np.float32), {"k": -3}, "k must be at least 1"),
        (np.ones((1, 32, DIM), np.float32), {"nprobe": 0}, "nprobe must be at least 1"),
        (np.ones((1, 32, DIM), np.float32), {"ndocs": -1}, "ndocs must be at least 1"),
        (np.ones((1, 32, DIM), np.float32), {"threshold": float("nan")}, "threshold is NaN"),
    ],
)
def test_search_bad_input(small, queries, kwargs, match):
    with pytest.raises(ValueError, match=match):
        small.index.search(queries, **kwargs)


def test_exact_search_without_kept_embeddings(tmp_path):
    docs, queries = synthetic(20, 1)
    idx = tartan.Index.build(tmp_path / "nokeep", docs, num_centroids=8)
    with pytest.raises(tartan.IndexError, match="keep_embeddings") as e:
        idx.search(queries, exact=True)
    assert not isinstance(e.value, tartan.CorruptIndexError)


def test_lookups_out_of_range(small):
    with pytest.raises(ValueError, match="document 300 out of range"):
        small.index.doc_id(300)
    with pytest.raises(ValueError, match="out of range"):
        small.index.document_embeddings(-1)
    with pytest.raises(ValueError, match='unknown document id "nope"'):
        small.index.lookup(["doc-1", "nope"])


def test_encoder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        tartan.Encoder(tmp_path / "no-model-here")
    with pytest.raises(ValueError, match="device"):
        tartan.Encoder(tmp_path, device="tpu")
    with pytest.raises(ValueError, match="precision"):
        tartan.Encoder(tmp_path, precision="fp8")


def test_encoder_errors_with_a_model(shared_dir):
    model = shared_dir / "models/minilm-colbert-pylate"
    with pytest.raises(ValueError, match="cuda"):
        tartan.Encoder(model, device="cuda")  # this build has no CUDA
    enc = tartan.Encoder(model)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        enc.encode_documents(["a"], batch_size=0)
    with pytest.raises(TypeError):
        enc.encode_queries("a bare string is not a list of texts")


def test_evaluate_errors():
    with pytest.raises(ValueError, match="measure"):
        tartan.evaluate({"q": {"d": 1}}, {"q": {"d": 1.0}}, ["ndcg_at_ten"])
    with pytest.raises(ValueError, match="NaN score"):
        tartan.evaluate({"q": {"d": 1}}, {"q": {"d": float("nan")}})


def test_a_panic_is_an_exception_not_a_crash():
    with pytest.raises(tartan.InternalError, match="tartan panicked .*: boom"):
        tartan._tartan._panic_for_tests("boom")
    # The interpreter and the module still work.
    docs, queries = synthetic(10, 1)
    assert tartan.Index is not None and len(docs) == 10
