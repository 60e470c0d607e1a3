"""Train once, build many: tartan.train_codec, Index.build(codec_dir=...), ShardSet."""

from __future__ import annotations

import json
import pathlib
import subprocess

import numpy as np
import pytest

import tartan

from conftest import synthetic


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("shards")
    docs, queries = synthetic(240, 16)
    ids = [f"d{i}" for i in range(len(docs))]
    sample = np.concatenate(docs[::2])
    report = tartan.train_codec(sample, root / "codec", num_centroids=32)
    assert report["num_centroids"] == 32 and report["dim"] == docs[0].shape[1]
    single = tartan.Index.build(root / "single", docs, ids=ids, codec_dir=root / "codec")
    paths = []
    for s in range(3):
        part = slice(s * 80, (s + 1) * 80)
        path = root / f"shard-{s}"
        tartan.Index.build(path, docs[part], ids=ids[part], codec_dir=root / "codec")
        paths.append(path)
    return root, docs, queries, ids, single, paths


def test_exhaustive_merge_equals_the_single_index(sharded) -> None:
    _, docs, queries, _, single, paths = sharded
    shards = tartan.ShardSet(paths)
    assert len(shards) == len(docs) and shards.dim == single.dim
    assert [pathlib.Path(p) for p in shards.paths] == paths
    want = single.search(queries, k=10, exhaustive=True)
    got = shards.search(queries, k=10, exhaustive=True)
    assert got.ids == want.ids
    np.testing.assert_array_equal(got.scores, want.scores)
    assert want.shards is None
    # Each hit's shard and ordinal name the document the id says.
    for i in range(len(queries)):
        for j, doc_id in enumerate(got.ids[i]):
            shard = int(got.shards[i, j])
            assert tartan.Index.open(paths[shard]).doc_id(int(got.docs[i, j])) == doc_id
    # At defaults: at least the single index's agreement with the exhaustive top-10.
    truth = [set(r) for r in want.ids]
    recall = lambda res: np.mean([len(truth[i] & set(r)) / len(truth[i]) for i, r in enumerate(res.ids)])  # noqa: E731
    assert recall(shards.search(queries, k=10)) >= recall(single.search(queries, k=10))


def test_exact_and_exhaustive_are_exclusive(sharded) -> None:
    _, _, queries, _, single, paths = sharded
    with pytest.raises(ValueError, match="not both"):
        single.search(queries, exact=True, exhaustive=True)
    with pytest.raises(ValueError, match="not both"):
        tartan.ShardSet(paths).search(queries, exact=True, exhaustive=True)
    # Index.search and ShardSet.search parse one set of keywords; others are refused.
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        single.search(queries, bogus=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'ids'"):
        tartan.ShardSet(paths).search(queries, ids=["d1"])
    with pytest.raises(TypeError, match="nprobe"):
        single.search(queries, nprobe="many")


def test_training_options_beside_a_codec_dir_are_refused(sharded) -> None:
    root, docs, _, ids, _, _ = sharded
    with pytest.raises(ValueError, match="codec_dir names one already trained"):
        tartan.Index.build(root / "x", docs[:5], ids=ids[:5], codec_dir=root / "codec", nbits=4)
    with pytest.raises(ValueError, match="does not exist"):
        tartan.Index.build(root / "y", docs[:5], ids=ids[:5], codec_dir=root / "nope")
    with pytest.raises(FileExistsError):
        tartan.train_codec(np.concatenate(docs[:20]), root / "codec")
    with pytest.raises(ValueError, match="not both"):
        tartan.train_codec(np.concatenate(docs[:20]), root / "z", num_centroids=8, shard_embeddings=10**6)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nbit'"):
        tartan.train_codec(np.concatenate(docs[:20]), root / "v", nbit=4)
    with pytest.raises(ValueError, match="norm"):
        tartan.train_codec(np.ones((50, 8), dtype=np.float32), root / "w")


def test_shards_of_different_codecs_are_refused(sharded, tmp_path: pathlib.Path) -> None:
    _, docs, _, ids, _, paths = sharded
    tartan.Index.build(tmp_path / "own", docs[:40], ids=ids[:40], num_centroids=16)
    with pytest.raises(ValueError, match="different codecs"):
        tartan.ShardSet([paths[0], tmp_path / "own"])
    with pytest.raises(ValueError, match="no shards"):
        tartan.ShardSet([])


def test_the_cli_reads_a_codec_from_python(sharded, tartan_bin: str) -> None:
    root, _, queries, _, single, paths = sharded
    q = root / "q.npy"
    np.save(q, queries[:3])
    args = [tartan_bin, "search", "--query-embeddings", str(q), "--format", "json", "--k", "5"]
    for p in paths:
        args += ["--index", str(p)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    cli_ids = [[r["id"] for r in json.loads(line)["results"]] for line in out.splitlines()]
    assert cli_ids == tartan.ShardSet(paths).search(queries[:3], k=5).ids
