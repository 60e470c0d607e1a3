"""tartan.Encoder gives exactly what `tartan encode` writes, on the shared model."""

from __future__ import annotations

import json
import subprocess

import numpy as np

import tartan


def scifact_texts(shared_dir, name, n):
    texts = []
    with open(shared_dir / "datasets/scifact" / name) as f:
        for line in f:
            row = json.loads(line)
            texts.append(f"{row.get('title', '')} {row['text']}".strip().replace("\n", " "))
            if len(texts) == n:
                return texts
    return texts


def test_documents_match_tartan_encode(shared_dir, tartan_bin, tmp_path):
    model = shared_dir / "models/minilm-colbert-pylate"
    texts = scifact_texts(shared_dir, "corpus.jsonl", 16)
    (tmp_path / "docs.txt").write_text("\n".join(texts) + "\n")
    subprocess.run(
        [tartan_bin, "encode", str(tmp_path / "docs.txt"), "--model", str(model),
         "--embeddings", str(tmp_path / "E.npy"), "--doclens", str(tmp_path / "L.npy"), "--batch-size", "8", "--quiet"],
        check=True,
        capture_output=True,
    )
    flat, lens = np.load(tmp_path / "E.npy"), np.load(tmp_path / "L.npy")
    enc = tartan.Encoder(model)
    docs = enc.encode_documents(texts, batch_size=8)
    assert len(docs) == len(texts) == len(lens)
    assert [len(d) for d in docs] == lens.tolist()
    assert all(d.dtype == np.float32 and d.shape[1] == enc.dim for d in docs)
    np.testing.assert_array_equal(np.concatenate(docs), flat)
    np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1.0, rtol=1e-5)


def test_queries_match_tartan_encode(shared_dir, tartan_bin, tmp_path):
    model = shared_dir / "models/minilm-colbert-pylate"
    texts = scifact_texts(shared_dir, "queries.jsonl", 8)
    (tmp_path / "q.txt").write_text("\n".join(texts) + "\n")
    subprocess.run(
        [tartan_bin, "encode", str(tmp_path / "q.txt"), "--model", str(model), "--as-queries",
         "--embeddings", str(tmp_path / "Q.npy"), "--quiet"],
        check=True,
        capture_output=True,
    )
    enc = tartan.Encoder(model)
    q = enc.encode_queries(texts)
    assert q.shape == (8, enc.query_length, enc.dim) and q.dtype == np.float32
    np.testing.assert_array_equal(q, np.load(tmp_path / "Q.npy"))
    settings = enc.settings()
    assert settings["query_length"] == enc.query_length and settings["dim"] == enc.dim
    assert enc.device == "cpu"
    assert enc.precision in ("bf16", "f32")  # "auto" resolved by the CPU's instructions
    assert tartan.Encoder(model, precision="f32").precision == "f32"


def test_encoder_to_index_round_trip(shared_dir, tmp_path):
    model = shared_dir / "models/minilm-colbert-pylate"
    texts = scifact_texts(shared_dir, "corpus.jsonl", 16)
    enc = tartan.Encoder(model)
    idx = tartan.Index.build(tmp_path / "t.idx", enc.encode_documents(texts), num_centroids=16, keep_embeddings=True)
    # A document's own opening words find it among the first three.
    res = idx.search(enc.encode_queries([t[:200] for t in texts[:5]]), k=3, exact=True)
    assert all(str(i) in ids for i, ids in enumerate(res.ids)), res.ids
