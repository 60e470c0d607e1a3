//! tartan's measures equal pytrec_eval's on the committed fixture (runs over real
//! collections, made by `fixtures/make_fixture.py`), to 1e-6 per query and in mean.

use serde_json::Value;
use tartan_datasets::{beir_mrr, evaluate, Measure, Qrels, Run};

use crate::fixtures;

/// Fixture keys and the measure each one is.
const KEYS: &[(&str, Measure)] = &[
    ("ndcg_cut_10", Measure::Ndcg(10)),
    ("recall_100", Measure::Recall(100)),
    ("recip_rank", Measure::Mrr(usize::MAX)),
    ("map_cut_10", Measure::Map(10)),
    ("P_10", Measure::P(10)),
    ("mrr_10", Measure::Mrr(10)),
];

const TOLERANCE: f64 = 1e-6;

fn expected() -> Value {
    let path = fixtures().join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn check_run(name: &str, want: &Value) {
    let run = Run::read_trec(&fixtures().join(want["run"].as_str().unwrap())).unwrap();
    let qrels = Qrels::read_trec(&fixtures().join(want["qrels"].as_str().unwrap())).unwrap();
    let measures: Vec<Measure> = KEYS.iter().map(|(_, m)| *m).collect();
    let got = evaluate(&qrels, &run, &measures);

    assert_eq!(
        got.num_queries() as u64,
        want["num_queries"].as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        got.queries_missing_from_run as u64,
        want["queries_missing_from_run"].as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        got.queries_missing_from_qrels as u64,
        want["queries_missing_from_qrels"].as_u64().unwrap(),
        "{name}"
    );
    let mut worst: f64 = 0.0;
    for (key, measure) in KEYS {
        let per_query = want["per_query"][key].as_object().unwrap();
        assert_eq!(per_query.len(), got.num_queries(), "{name} {key}");
        for (qid, value) in per_query {
            let w = value.as_f64().unwrap();
            let g = got
                .query(qid, *measure)
                .unwrap_or_else(|| panic!("{name}: query {qid} not evaluated"));
            assert!(
                (g - w).abs() <= TOLERANCE,
                "{name} {key} query {qid}: tartan {g}, pytrec_eval {w}"
            );
            worst = worst.max((g - w).abs());
        }
        let w = want["mean"][key].as_f64().unwrap();
        let g = got.mean(*measure).unwrap();
        assert!(
            (g - w).abs() <= TOLERANCE,
            "{name} mean {key}: tartan {g}, pytrec_eval {w}"
        );
        worst = worst.max((g - w).abs());
    }
    if let Some(w) = want.get("beir_mrr_10").and_then(Value::as_f64) {
        let g = beir_mrr(&qrels, &run, 10).unwrap();
        assert!(
            (g - w).abs() <= TOLERANCE,
            "{name} BEIR MRR@10: tartan {g}, BEIR {w}"
        );
    }
    eprintln!(
        "{name}: {} queries, largest difference from pytrec_eval {worst:.1e}",
        got.num_queries()
    );
}

#[test]
fn measures_equal_pytrec_eval_on_every_fixture_run() {
    let expected = expected();
    let runs = expected["runs"].as_object().unwrap();
    for name in [
        "scifact_bm25",
        "scifact_coarse",
        "scifact_f32ties",
        "cranfield_bm25",
        "medline_bm25",
        "edge",
    ] {
        check_run(
            name,
            runs.get(name)
                .unwrap_or_else(|| panic!("fixture lacks {name}")),
        );
    }
}

/// The fixture's ties matter: breaking them another way changes the numbers, so the
/// test above would catch a wrong tie rule.
#[test]
fn fixture_ties_are_decisive() {
    let want = &expected()["runs"]["scifact_f32ties"];
    let run = Run::read_trec(&fixtures().join(want["run"].as_str().unwrap())).unwrap();
    let qrels = Qrels::read_trec(&fixtures().join(want["qrels"].as_str().unwrap())).unwrap();
    // The same documents ranked by the double-precision scores (the file's rank column).
    let mut by_double = Run::new();
    for qid in run.query_ids() {
        let mut hits = run.hits(qid).unwrap().to_vec();
        hits.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        for (rank, (doc, _)) in hits.iter().enumerate() {
            by_double.insert(qid, doc, -(rank as f64)).unwrap();
        }
    }
    let m = Measure::Ndcg(10);
    let tied = evaluate(&qrels, &run, &[m]).mean(m).unwrap();
    let untied = evaluate(&qrels, &by_double, &[m]).mean(m).unwrap();
    assert!((tied - want["mean"]["ndcg_cut_10"].as_f64().unwrap()).abs() <= TOLERANCE);
    assert!(
        (tied - untied).abs() > 0.01,
        "tied {tied} vs untied {untied}"
    );
}
