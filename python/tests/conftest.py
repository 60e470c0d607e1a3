"""Shared fixtures: synthetic ColBERT-like embeddings, a small index, the `tartan`
binary (TARTAN_BIN) and the shared data directory (../shared)."""

from __future__ import annotations

import os
import pathlib
from typing import List, Tuple

import numpy as np
import pytest

import tartan

REPO = pathlib.Path(__file__).resolve().parents[2]
DIM = 64


def synthetic(n_docs: int, n_queries: int, dim: int = DIM, seed: int = 7) -> Tuple[List[np.ndarray], np.ndarray]:
    """ColBERT-like embeddings: documents share topics but each has its own direction
    too; tokens are noisy copies (L2-normalised). Query i (32 tokens) is drawn near
    document i % n_docs, which is then its clear best match."""
    rng = np.random.default_rng(seed)
    n_topics = max(4, n_docs // 8)
    topics = rng.standard_normal((n_topics, dim)).astype(np.float32)
    centre = topics[rng.integers(0, n_topics, n_docs)] + 0.8 * rng.standard_normal((n_docs, dim)).astype(np.float32)
    docs = []
    for d in range(n_docs):
        n = int(rng.integers(5, 40))
        docs.append(_normalise(centre[d] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)))
    queries = np.stack(
        [_normalise(centre[i % n_docs] + 0.6 * rng.standard_normal((32, dim)).astype(np.float32)) for i in range(n_queries)]
    )
    return docs, queries


def _normalise(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32))


class Small:
    """A 300-document index built with kept embeddings, and its inputs."""

    def __init__(self, root: pathlib.Path) -> None:
        self.docs, self.queries = synthetic(300, 24)
        self.ids = [f"doc-{i}" for i in range(len(self.docs))]
        self.path = root / "small.idx"
        self.index = tartan.Index.build(
            self.path, self.docs, ids=self.ids, keep_embeddings=True, num_centroids=64
        )


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Small:
    return Small(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="session")
def tartan_bin() -> str:
    """The `tartan` CLI named by TARTAN_BIN (scripts/test.sh sets it)."""
    path = os.environ.get("TARTAN_BIN")
    if not path or not os.access(path, os.X_OK):
        reason = f"TARTAN_BIN={path!r} is not an executable tartan binary (scripts/test.sh builds and sets it)"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """../shared from the repository root, when it has the model and SciFact."""
    shared = REPO.parent / "shared"
    needed = [
        shared / "models/minilm-colbert-pylate/model.safetensors",
        shared / "datasets/scifact/corpus.jsonl",
    ]
    if not all(p.exists() for p in needed):
        reason = "../shared (model and SciFact) is not present"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    return shared


def maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    """Exact MaxSim in float64 (for checking)."""
    if len(doc) == 0:
        return 0.0
    return float((query.astype(np.float64) @ doc.astype(np.float64).T).max(axis=1).sum())



def index_file(path: pathlib.Path, name: str) -> pathlib.Path:
    """Where file ``name`` of the current generation of the index at ``path`` lives:
    its codec directory or its first segment's (``"manifest"``: the manifest)."""
    import json

    manifest_name = (path / "CURRENT").read_text().strip()
    if name == "manifest":
        return path / manifest_name
    m = json.loads((path / manifest_name).read_text())
    if name in m["codec_files"]:
        return path / m["codec_dir"] / name
    return path / m["segments"][0]["name"] / name
