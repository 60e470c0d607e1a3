"""The Python package and the `tartan` CLI agree exactly: searches of one index, and
indexes built from the same embeddings by Index.build and `tartan index`."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import tartan
from conftest import index_file


def cli_search(tartan_bin, index, queries_npy, *args):
    out = subprocess.run(
        [tartan_bin, "search", "--index", str(index), "--query-embeddings", str(queries_npy), "--format", "json", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line)["results"] for line in out.splitlines() if line.strip()]


def assert_same(cli, res):
    assert len(cli) == len(res)
    for i, hits in enumerate(cli):
        assert [h["id"] for h in hits] == res.ids[i]
        # JSON carries each f32 in its shortest round-trip form: equal as float32.
        np.testing.assert_array_equal(np.array([h["score"] for h in hits], dtype=np.float32), res.scores[i, : len(hits)])


@pytest.mark.parametrize(
    "cli_args, kwargs",
    [
        (["--k", "10"], {"k": 10}),
        (["--k", "100"], {"k": 100}),
        (["--k", "5", "--nprobe", "4", "--ndocs", "64", "--threshold", "0.3"], {"k": 5, "nprobe": 4, "ndocs": 64, "threshold": 0.3}),
        (["--k", "10", "--exact"], {"k": 10, "exact": True}),
    ],
)
def test_search_matches_the_cli(small, tartan_bin, tmp_path, cli_args, kwargs):
    q = tmp_path / "q.npy"
    np.save(q, small.queries)
    assert_same(cli_search(tartan_bin, small.path, q, *cli_args), small.index.search(small.queries, **kwargs))


def test_build_matches_tartan_index(small, tartan_bin, tmp_path):
    e, lens, ids = tmp_path / "E.npy", tmp_path / "L.npy", tmp_path / "ids.txt"
    np.save(e, np.concatenate(small.docs))
    np.save(lens, np.array([len(d) for d in small.docs], dtype=np.int64))
    ids.write_text("".join(f"{i}\n" for i in small.ids))
    out = tmp_path / "cli.idx"
    subprocess.run(
        [tartan_bin, "index", "--embeddings", str(e), "--doclens", str(lens), "--ids", str(ids),
         "--out", str(out), "--centroids", "64", "--keep-embeddings", "--quiet"],
        check=True,
        capture_output=True,
    )
    cli_built = tartan.Index.open(out)
    assert cli_built.stats()["num_embeddings"] == small.index.stats()["num_embeddings"]
    for name in ["centroids.npy", "codes.npy", "postings.bin", "doc_ids.bin", "codec_codebooks.npy"]:
        assert index_file(out, name).read_bytes() == index_file(small.path, name).read_bytes(), name
    a = small.index.search(small.queries, k=10)
    b = cli_built.search(small.queries, k=10)
    assert a.ids == b.ids
    np.testing.assert_array_equal(a.scores, b.scores)
