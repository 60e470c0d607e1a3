"""tartan.ray on a local Ray cluster (``ray.init(num_cpus=2)``): SciFact documents
built into 4 shards with Ray Data, served by Ray Serve, checked against the
single-process ShardSet; a shard replica killed mid-loop gives flagged partial
replies, never wrong ones, until Serve restarts it."""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install './python[ray]')")
serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install './python[ray]')")
requests = pytest.importorskip("requests", reason="requests is not installed (it comes with ray[serve])")

import tartan  # noqa: E402
import tartan.ray as tray  # noqa: E402

from conftest import REPO  # noqa: E402

SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "minilm-colbert-pylate"
SCIFACT = SHARED / "datasets" / "scifact"
N_DOCS = 240
QUERIES = [
    "0-dimensional biomaterials show inductive properties.",
    "ALDH1 expression is associated with poorer prognosis for breast cancer primary tumors.",
    "Vitamin D deficiency is unrelated to birth weight.",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    if not (MODEL / "model.safetensors").is_file() or not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip("../shared (model and SciFact) is not present")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def built(cluster, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ray") / "scifact-shards"
    lines = (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:N_DOCS]
    corpus = [json.loads(line) for line in lines]
    report = tray.build_sharded(corpus, MODEL, out, 4, sample_documents=120, batch_size=16)
    return out, corpus, report


def test_build_sharded_splits_by_id_and_resumes(built) -> None:
    out, corpus, report = built
    assert report["built"] == [0, 1, 2, 3] and report["skipped"] == []
    assert sum(report["documents"]) == N_DOCS
    paths = tray.shard_dirs(out)
    assert [str(p) for p in paths] == report["shards"]
    for s, path in enumerate(paths):
        index = tartan.Index.open(path)
        ids = [index.doc_id(d) for d in range(len(index))]
        assert all(tray.shard_of(i, 4) == s for i in ids)
    # One shard lost: only it is encoded and built again, to the same documents.
    before = sorted(tartan.Index.open(paths[2]).doc_id(d) for d in range(report["documents"][2]))
    shutil.rmtree(paths[2])
    again = tray.build_sharded(corpus, MODEL, out, 4, sample_documents=120, batch_size=16)
    assert again["built"] == [2] and again["skipped"] == [0, 1, 3]
    after = tartan.Index.open(paths[2])
    assert sorted(after.doc_id(d) for d in range(len(after))) == before


def _ask(url: str, body: dict, timeout: float = 30.0) -> dict:
    reply = requests.post(f"{url}/search", json=body, timeout=timeout)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _ranking(reply: dict):
    return [[(h["id"], np.float32(h["score"])) for h in r["results"]] for r in reply["results"]]


def _expected(paths, queries, k=10):
    res = tartan.ShardSet(paths).search(queries, k=k)
    return [[(doc_id, np.float32(res.scores[i, j])) for j, doc_id in enumerate(res.ids[i])] for i in range(len(res))]


def test_served_shards_answer_as_the_single_process_shard_set(built, cluster) -> None:
    out, _, _ = built
    tray.serve_sharded(out, timeout_s=5.0, name="scifact")
    url = cluster
    assert requests.get(f"{url}/health", timeout=10).json() == {"status": "ok"}
    queries = tartan.Encoder(MODEL).encode_queries(QUERIES)
    want = _expected(tray.shard_dirs(out), queries)
    by_text = _ask(url, {"queries": QUERIES, "k": 10})
    assert by_text["partial"] is False and by_text["missing_shards"] == []
    assert _ranking(by_text) == want
    by_vectors = _ask(url, {"embeddings": queries.tolist(), "k": 10})
    assert _ranking(by_vectors) == want
    stats = requests.get(f"{url}/stats", timeout=10).json()
    assert stats["shards"] == 4 and stats["documents"] == N_DOCS and stats["shards_answering"] == 4
    # Bad requests: the error, never a partial answer.
    for body, status in [({"queries": QUERIES, "k": 0}, 400), ({"queries": QUERIES, "bogus": 1}, 422), ({"queries": QUERIES, "mode": "lexical"}, 400), ({"embeddings": [[[0.1, 0.2]]]}, 400)]:
        reply = requests.post(f"{url}/search", json=body, timeout=30)
        assert reply.status_code == status, (body, reply.text)
        assert "error" in reply.json()


def test_a_killed_shard_replica_gives_partial_replies_until_serve_restarts_it(built, cluster) -> None:
    out, _, _ = built
    tray.serve_sharded(out, timeout_s=1.5, name="scifact")
    url = cluster
    paths = tray.shard_dirs(out)
    queries = tartan.Encoder(MODEL).encode_queries(QUERIES[:1])
    full = _expected(paths, queries)
    without = _expected([p for i, p in enumerate(paths) if i != 1], queries)
    victim = next(a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if "#shard-1-" in a["name"])
    seen = {"complete": 0, "partial": 0}
    killed_at = None
    deadline = time.monotonic() + 120
    restarted = False
    while time.monotonic() < deadline:
        if killed_at is None and seen["complete"] >= 3:
            ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
            killed_at = time.monotonic()
        reply = _ask(url, {"embeddings": queries.tolist(), "k": 10}, timeout=20)
        if reply["partial"]:
            # Flagged, naming the shard, and exactly the other shards' merged top-k.
            assert reply["missing_shards"] == [paths[1].name]
            assert _ranking(reply) == without
            seen["partial"] += 1
        else:
            assert _ranking(reply) == full
            seen["complete"] += 1
            if seen["partial"] > 0:
                restarted = True
                break
        time.sleep(0.2)
    assert killed_at is not None
    print(f"replies after killing shard 1's replica: {seen}, complete again {time.monotonic() - killed_at:.1f} s after the kill")
    assert seen["partial"] >= 1, seen
    assert restarted, f"no complete reply within 120 s of the kill: {seen}"
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if "#shard-1-" in a["name"]]
    assert names and victim not in names, names
