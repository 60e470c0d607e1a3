"""tartan.evaluate gives pytrec_eval's numbers (recorded in datasets/fixtures)."""

from __future__ import annotations

import gzip
import json

import pytest

import tartan

from conftest import REPO

FIXTURES = REPO / "datasets/fixtures"
MEASURES = ["ndcg_cut_10", "recall_100", "recip_rank", "map_cut_10", "P_10"]


def read_qrels(path):
    qrels = {}
    for line in open(path):
        q, _, d, rel = line.split()
        qrels.setdefault(q, {})[d] = int(rel)
    return qrels


def read_run(path):
    run = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            q, _, d, _, score, _ = line.split()
            run.setdefault(q, {})[d] = float(score)
    return run


@pytest.mark.parametrize("name", ["scifact_bm25", "scifact_coarse", "scifact_f32ties", "cranfield_bm25", "edge"])
def test_matches_pytrec_eval(name):
    want = json.loads((FIXTURES / "expected.json").read_text())["runs"][name]
    qrels, run = read_qrels(FIXTURES / want["qrels"]), read_run(FIXTURES / want["run"])
    means = tartan.evaluate(qrels, run, MEASURES)
    assert list(means) == MEASURES
    for m in MEASURES:
        assert means[m] == pytest.approx(want["mean"][m], abs=1e-12), m
    per_query = tartan.evaluate(qrels, run, MEASURES, per_query=True)
    assert len(per_query) == want["num_queries"]
    for m in MEASURES:
        for q, v in want["per_query"][m].items():
            assert per_query[q][m] == pytest.approx(v, abs=1e-12), (m, q)


def test_short_names_and_defaults():
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 2}}
    run = {"q1": {"a": 0.5, "b": 0.9}, "q2": {}}
    default = tartan.evaluate(qrels, run)
    assert set(default) == {"ndcg_cut_10", "recall_100"}
    short = tartan.evaluate(qrels, run, ["ndcg@10", "mrr@10", "p@1"])
    assert set(short) == {"ndcg_cut_10", "recip_rank_10", "P_1"}
    # q1: the relevant document at rank 2; q2 retrieved nothing and counts with 0.
    assert short["recip_rank_10"] == pytest.approx(0.25)
    assert tartan.evaluate(qrels, run, ["recall_100"], relevance_level=2)["recall_100"] == 0.0
