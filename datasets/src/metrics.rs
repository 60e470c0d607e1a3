//! IR measures with exactly trec_eval's definitions, as pytrec_eval computes them.
//!
//! For one query, the run's documents are ranked as trec_eval ranks them
//! ([`crate::run::trec_eval_cmp`]: score descending in single precision, ties by
//! document id in decreasing byte order). A document is *relevant* when its
//! judgment is `>= 1` (trec_eval's default `relevance_level`); its *gain* is its
//! judgment when positive. Unjudged documents and negative judgments are neither.
//! `num_rel` is the number of relevant judgments of the query (retrieved or not).
//! With `n` retrieved documents, the first `min(k, n)` count:
//!
//! | measure | trec_eval | value |
//! |---|---|---|
//! | [`Measure::Ndcg`] | `ndcg_cut_k` | DCG@k / ideal DCG@k; DCG = Σ gain_i / log2(i + 1) over ranks i = 1.., the ideal from the query's judgments sorted by gain (0 when the ideal is 0) |
//! | [`Measure::Mrr`] | `recip_rank` on the top k | 1 / rank of the first relevant document, 0 if none |
//! | [`Measure::Recall`] | `recall_k` | relevant retrieved / `num_rel` (0 when `num_rel` is 0) |
//! | [`Measure::Map`] | `map_cut_k` | Σ over relevant retrieved of precision at its rank, / `num_rel` |
//! | [`Measure::P`] | `P_k` | relevant retrieved / k (k, even when fewer were retrieved) |
//!
//! Which queries count: as pytrec_eval's `RelevanceEvaluator.evaluate`, exactly the
//! queries that are both in the run and in the qrels (a run query with no
//! retrieved document counts, with every measure 0; a judged query with no
//! relevant document counts too, with 0). Queries only in the qrels or only in the
//! run are not evaluated; their numbers are reported in [`Evaluation`]. The mean is
//! the arithmetic mean over the evaluated queries, which is what BEIR's
//! `EvaluateRetrieval.evaluate` prints (BEIR then rounds to 5 decimals; tartan
//! does not round).
//!
//! BEIR's `evaluate` also drops, by default (`ignore_identical_ids=True`), every
//! hit whose document id equals its query id before scoring (it matters for
//! ArguAna and Quora): call [`Run::remove_identical_ids`] first to do the same.
//!
//! MRR@k is trec_eval's `recip_rank` over the top k in trec_eval's order (what
//! ir_measures' `RR@k` computes). BEIR's own `mrr` (`evaluate_custom(...,
//! "mrr")`) differs in two details — ties keep the run's insertion order, and it
//! divides by the number of judged queries — and is available as [`beir_mrr`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::{DatasetsError, Result};
use crate::qrels::{Judgments, Qrels};
use crate::run::Run;

/// A measure at a cutoff `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    /// nDCG@k (trec_eval `ndcg_cut.k`).
    Ndcg(usize),
    /// MRR@k (trec_eval `recip_rank` over the top k); `Mrr(usize::MAX)` is the uncut `recip_rank`.
    Mrr(usize),
    /// Recall@k (trec_eval `recall.k`).
    Recall(usize),
    /// MAP@k (trec_eval `map_cut.k`).
    Map(usize),
    /// Precision@k (trec_eval `P.k`).
    P(usize),
}

impl Measure {
    /// The cutoff.
    pub fn k(&self) -> usize {
        match *self {
            Measure::Ndcg(k)
            | Measure::Mrr(k)
            | Measure::Recall(k)
            | Measure::Map(k)
            | Measure::P(k) => k,
        }
    }

    /// pytrec_eval's key for this measure (`ndcg_cut_10`, `recall_100`,
    /// `map_cut_10`, `P_10`, `recip_rank`); MRR at a finite cutoff, which
    /// pytrec_eval has no key for, is `recip_rank_10`.
    pub fn trec_name(&self) -> String {
        match *self {
            Measure::Ndcg(k) => format!("ndcg_cut_{k}"),
            Measure::Mrr(usize::MAX) => "recip_rank".to_string(),
            Measure::Mrr(k) => format!("recip_rank_{k}"),
            Measure::Recall(k) => format!("recall_{k}"),
            Measure::Map(k) => format!("map_cut_{k}"),
            Measure::P(k) => format!("P_{k}"),
        }
    }
}

impl fmt::Display for Measure {
    /// BEIR-style labels: `nDCG@10`, `MRR@10`, `Recall@100`, `MAP@10`, `P@10`, `MRR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Measure::Ndcg(k) => write!(f, "nDCG@{k}"),
            Measure::Mrr(usize::MAX) => write!(f, "MRR"),
            Measure::Mrr(k) => write!(f, "MRR@{k}"),
            Measure::Recall(k) => write!(f, "Recall@{k}"),
            Measure::Map(k) => write!(f, "MAP@{k}"),
            Measure::P(k) => write!(f, "P@{k}"),
        }
    }
}

impl FromStr for Measure {
    type Err = DatasetsError;

    /// Parses `ndcg@10` / `nDCG@10` / `ndcg_cut_10` / `ndcg_cut.10`, `mrr@10` /
    /// `rr@10` / `recip_rank` (uncut), `recall@100` / `recall_100`, `map@10` /
    /// `map_cut_10`, `p@10` / `P_10` (case-insensitive). Cutoffs must be positive.
    fn from_str(s: &str) -> Result<Measure> {
        let bad = || {
            DatasetsError::Invalid {
            what: "measure",
            message: format!(
                "{s:?} (expected e.g. ndcg@10, mrr@10, recall@100, map@10, p@10 or trec_eval names ndcg_cut_10, recip_rank, recall_100, map_cut_10, P_10)"
            ),
        }
        };
        let lower = s.trim().to_ascii_lowercase();
        if lower == "recip_rank" || lower == "mrr" || lower == "rr" {
            return Ok(Measure::Mrr(usize::MAX));
        }
        let split = lower
            .rsplit_once('@')
            .or_else(|| lower.rsplit_once('.'))
            .or_else(|| lower.rsplit_once('_'))
            .ok_or_else(bad)?;
        let k: usize = split.1.parse().map_err(|_| bad())?;
        if k == 0 {
            return Err(bad());
        }
        match split.0 {
            "ndcg" | "ndcg_cut" => Ok(Measure::Ndcg(k)),
            "mrr" | "rr" | "recip_rank" => Ok(Measure::Mrr(k)),
            "recall" | "r" => Ok(Measure::Recall(k)),
            "map" | "map_cut" => Ok(Measure::Map(k)),
            "p" | "precision" => Ok(Measure::P(k)),
            _ => Err(bad()),
        }
    }
}

/// Per-query values and means of some measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    measures: Vec<Measure>,
    per_query: BTreeMap<String, Vec<f64>>,
    means: Vec<f64>,
    /// Judged queries absent from the run (not evaluated, as in pytrec_eval).
    pub queries_missing_from_run: usize,
    /// Run queries without any judgment (not evaluated, as in pytrec_eval).
    pub queries_missing_from_qrels: usize,
}

impl Evaluation {
    /// The measures, in the order asked for.
    pub fn measures(&self) -> &[Measure] {
        &self.measures
    }

    /// Number of evaluated queries (in both run and qrels).
    pub fn num_queries(&self) -> usize {
        self.per_query.len()
    }

    /// Mean of a measure over the evaluated queries (0 when none were evaluated);
    /// `None` if the measure was not computed.
    pub fn mean(&self, measure: Measure) -> Option<f64> {
        let i = self.measures.iter().position(|m| *m == measure)?;
        Some(self.means[i])
    }

    /// (measure, mean) in the order asked for.
    pub fn means(&self) -> impl Iterator<Item = (Measure, f64)> + '_ {
        self.measures
            .iter()
            .copied()
            .zip(self.means.iter().copied())
    }

    /// One query's value of one measure.
    pub fn query(&self, query_id: &str, measure: Measure) -> Option<f64> {
        let i = self.measures.iter().position(|m| *m == measure)?;
        self.per_query.get(query_id).map(|v| v[i])
    }

    /// (query id, values in the order of [`Evaluation::measures`]) in query-id order.
    pub fn per_query(&self) -> impl Iterator<Item = (&str, &[f64])> {
        self.per_query
            .iter()
            .map(|(q, v)| (q.as_str(), v.as_slice()))
    }

    /// Writes `trec_eval -q` style lines, `measure<TAB>qid<TAB>value`, every query
    /// then `all` for the means, values with 4 decimals as trec_eval prints them.
    pub fn write_trec_eval(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for (qid, values) in &self.per_query {
            for (m, v) in self.measures.iter().zip(values) {
                writeln!(out, "{:<22}\t{qid}\t{v:.4}", m.trec_name())?;
            }
        }
        for (m, v) in self.means() {
            writeln!(out, "{:<22}\tall\t{v:.4}", m.trec_name())?;
        }
        Ok(())
    }
}

impl fmt::Display for Evaluation {
    /// One `label value` line a measure (4 decimals, as BEIR logs them), then the
    /// query counts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (m, v) in self.means() {
            writeln!(f, "{:<12} {v:.4}", m.to_string())?;
        }
        write!(
            f,
            "queries evaluated: {} (not evaluated: {} judged but not in the run, {} in the run without judgments)",
            self.num_queries(),
            self.queries_missing_from_run,
            self.queries_missing_from_qrels
        )
    }
}

/// Options of an evaluation (pytrec_eval's `RelevanceEvaluator` keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// Smallest judgment that counts as relevant for MRR, Recall, MAP and P
    /// (trec_eval `-l`; default 1; TREC Deep Learning uses 2). nDCG's gains are the
    /// positive judgments whatever this level, as in trec_eval.
    pub relevance_level: i32,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { relevance_level: 1 }
    }
}

/// Evaluates `run` against `qrels`: per query and averaged, see the module docs.
pub fn evaluate(qrels: &Qrels, run: &Run, measures: &[Measure]) -> Evaluation {
    evaluate_with(qrels, run, measures, &EvalOptions::default())
}

/// [`evaluate`] with options.
pub fn evaluate_with(
    qrels: &Qrels,
    run: &Run,
    measures: &[Measure],
    options: &EvalOptions,
) -> Evaluation {
    let mut per_query = BTreeMap::new();
    let mut missing_from_qrels = 0;
    for qid in run.query_ids() {
        let Some(judgments) = qrels.get(qid) else {
            missing_from_qrels += 1;
            continue;
        };
        let ranked = run.ranked(qid).unwrap_or_default();
        let values = evaluate_query(judgments, &ranked, measures, options.relevance_level);
        per_query.insert(qid.to_string(), values);
    }
    let missing_from_run = qrels.query_ids().filter(|q| !run.contains_query(q)).count();
    let mut means = vec![0.0; measures.len()];
    for values in per_query.values() {
        for (m, v) in means.iter_mut().zip(values) {
            *m += v;
        }
    }
    if !per_query.is_empty() {
        for m in &mut means {
            *m /= per_query.len() as f64;
        }
    }
    Evaluation {
        measures: measures.to_vec(),
        per_query,
        means,
        queries_missing_from_run: missing_from_run,
        queries_missing_from_qrels: missing_from_qrels,
    }
}

/// The measures of one query, given its judgments, its hits already in
/// trec_eval's order, and the relevance level (1 by default).
pub fn evaluate_query(
    judgments: &Judgments,
    ranked: &[(&str, f64)],
    measures: &[Measure],
    relevance_level: i32,
) -> Vec<f64> {
    let level = relevance_level;
    // Judgment of each retrieved document; unjudged ones are -1 (neither relevant nor a gain).
    let rels: Vec<i32> = ranked
        .iter()
        .map(|(d, _)| judgments.get(*d).copied().unwrap_or(-1))
        .collect();
    let num_rel = judgments.values().filter(|&&r| r >= level).count();
    let mut ideal_gains: Vec<i32> = judgments.values().copied().filter(|&r| r > 0).collect();
    ideal_gains.sort_unstable_by(|a, b| b.cmp(a));
    measures
        .iter()
        .map(|m| {
            let top = &rels[..m.k().min(rels.len())];
            match *m {
                Measure::Ndcg(k) => {
                    let ideal = dcg(&ideal_gains[..k.min(ideal_gains.len())]);
                    let actual = dcg(top);
                    if ideal > 0.0 {
                        actual / ideal
                    } else {
                        actual
                    }
                }
                Measure::Mrr(_) => top
                    .iter()
                    .position(|&r| r >= level)
                    .map_or(0.0, |i| 1.0 / (i + 1) as f64),
                Measure::Recall(_) => {
                    if num_rel == 0 {
                        0.0
                    } else {
                        top.iter().filter(|&&r| r >= level).count() as f64 / num_rel as f64
                    }
                }
                Measure::Map(_) => {
                    if num_rel == 0 {
                        return 0.0;
                    }
                    let mut found = 0usize;
                    let mut sum = 0.0;
                    for (i, &r) in top.iter().enumerate() {
                        if r >= level {
                            found += 1;
                            sum += found as f64 / (i + 1) as f64;
                        }
                    }
                    sum / num_rel as f64
                }
                Measure::P(k) => {
                    if k == 0 {
                        0.0
                    } else {
                        top.iter().filter(|&&r| r >= level).count() as f64 / k as f64
                    }
                }
            }
        })
        .collect()
}

/// Discounted cumulative gain with trec_eval's discount: the gain at 0-based
/// position i is divided by log2(i + 2) (position 0 undiscounted); non-positive
/// judgments add nothing.
fn dcg(gains: &[i32]) -> f64 {
    let mut sum = 0.0;
    for (i, &g) in gains.iter().enumerate() {
        if g > 0 {
            if i == 0 {
                sum += g as f64;
            } else {
                sum += g as f64 / ((i + 2) as f64).log2();
            }
        }
    }
    sum
}

/// BEIR's own MRR@k (`beir.retrieval.custom_metrics.mrr`), reproduced exactly:
/// each run query's hits sorted by score descending with Python's stable sort
/// (ties keep insertion order, scores compared in double precision), 1/rank of the
/// first hit in the top k whose judgment is > 0, summed over the run's queries and
/// divided by the number of judged queries. BEIR raises `KeyError` for a run query
/// without judgments; here that is an error. Unrounded (BEIR rounds to 5 decimals).
pub fn beir_mrr(qrels: &Qrels, run: &Run, k: usize) -> Result<f64> {
    if qrels.num_queries() == 0 {
        return Err(DatasetsError::Invalid {
            what: "qrels",
            message: "no judged query (BEIR's MRR divides by their number)".to_string(),
        });
    }
    let mut sum = 0.0;
    for qid in run.query_ids() {
        let judgments = qrels.get(qid).ok_or_else(|| DatasetsError::Invalid {
            what: "run",
            message: format!("query {qid:?} has no judgments (BEIR's MRR raises KeyError)"),
        })?;
        let mut hits: Vec<&(String, f64)> = run.hits(qid).unwrap_or_default().iter().collect();
        hits.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        if let Some(i) = hits
            .iter()
            .take(k)
            .position(|(d, _)| judgments.get(d).is_some_and(|&r| r > 0))
        {
            sum += 1.0 / (i + 1) as f64;
        }
    }
    Ok(sum / qrels.num_queries() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn qrels(triples: &[(&str, &str, i32)]) -> Qrels {
        triples
            .iter()
            .map(|(q, d, r)| (q.to_string(), d.to_string(), *r))
            .collect()
    }

    fn run(entries: &[(&str, &str, f64)]) -> Run {
        let mut run = Run::new();
        for (q, d, s) in entries {
            run.insert(q, d, *s).unwrap();
        }
        run
    }

    // Numbers printed by pytrec_eval 0.5 (pytrec-eval-terrier) for the same input:
    // qrels {'q1': {'a': 1, 'b': 2, 'c': 0, 'd': 1}}, run {'q1': {'a': .5, 'b': .4, 'x': .9, 'c': .45}}
    #[test]
    fn graded_example_matches_pytrec_eval() {
        let q = qrels(&[
            ("q1", "a", 1),
            ("q1", "b", 2),
            ("q1", "c", 0),
            ("q1", "d", 1),
        ]);
        let r = run(&[
            ("q1", "a", 0.5),
            ("q1", "b", 0.4),
            ("q1", "x", 0.9),
            ("q1", "c", 0.45),
        ]);
        let ms = [
            Measure::Mrr(usize::MAX),
            Measure::P(3),
            Measure::Recall(2),
            Measure::Ndcg(1),
            Measure::Ndcg(2),
            Measure::Ndcg(3),
            Measure::Ndcg(10),
            Measure::Map(3),
        ];
        let e = evaluate(&q, &r, &ms);
        let want = [
            0.5,
            0.3333333333333333,
            0.3333333333333333,
            0.0,
            0.23981246656813146,
            0.20151514190050246,
            0.47662611018851303,
            0.16666666666666666,
        ];
        for (m, w) in ms.iter().zip(want) {
            let got = e.query("q1", *m).unwrap();
            assert!((got - w).abs() < 1e-12, "{m}: {got} vs {w}");
        }
    }

    // pytrec_eval: qrels {'q1': {'a': 0, 'b': 0}, 'q2': {'a': 1}, 'q3': {'a': 1}},
    // run {'q1': {'a': 1.0}, 'q2': {'b': 1.0}, 'q4': {'a': 1.0}} -> q1 and q2 only, all 0.
    #[test]
    fn only_queries_in_both_are_evaluated() {
        let q = qrels(&[
            ("q1", "a", 0),
            ("q1", "b", 0),
            ("q2", "a", 1),
            ("q3", "a", 1),
        ]);
        let r = run(&[("q1", "a", 1.0), ("q2", "b", 1.0), ("q4", "a", 1.0)]);
        let e = evaluate(&q, &r, &[Measure::Ndcg(10), Measure::Recall(10)]);
        assert_eq!(e.num_queries(), 2);
        assert_eq!(e.queries_missing_from_run, 1);
        assert_eq!(e.queries_missing_from_qrels, 1);
        assert_eq!(e.mean(Measure::Ndcg(10)), Some(0.0));
        assert_eq!(e.mean(Measure::P(1)), None);
        let mut lines = Vec::new();
        e.write_trec_eval(&mut lines).unwrap();
        let lines = String::from_utf8(lines).unwrap();
        assert_eq!(lines.lines().count(), 6);
        assert!(
            lines.starts_with("ndcg_cut_10           \tq1\t0.0000\n"),
            "{lines}"
        );
        assert!(
            lines.ends_with("recall_10             \tall\t0.0000\n"),
            "{lines}"
        );
        assert_eq!(
            e.to_string(),
            "nDCG@10      0.0000\nRecall@10    0.0000\nqueries evaluated: 2 (not evaluated: 1 judged but not in the run, 1 in the run without judgments)"
        );
    }

    // pytrec_eval: qrels {'q1': {'a': -1, 'b': 2, 'c': 1}, 'q2': {'a': 1}},
    // run {'q1': {'a': 1.0, 'c': 0.5}, 'q2': {}} -> q1 recip .5, P_10 .1, recall_10 .5,
    // ndcg_cut_10 0.23981246656813146, map_cut_10 .25; q2 (empty run) all 0.
    #[test]
    fn negative_judgments_and_empty_run_queries() {
        let q = qrels(&[
            ("q1", "a", -1),
            ("q1", "b", 2),
            ("q1", "c", 1),
            ("q2", "a", 1),
        ]);
        let mut r = run(&[("q1", "a", 1.0), ("q1", "c", 0.5)]);
        r.add_query("q2");
        let ms = [
            Measure::Mrr(usize::MAX),
            Measure::P(10),
            Measure::Recall(10),
            Measure::Ndcg(10),
            Measure::Map(10),
        ];
        let e = evaluate(&q, &r, &ms);
        let want = [0.5, 0.1, 0.5, 0.23981246656813146, 0.25];
        for (m, w) in ms.iter().zip(want) {
            assert!((e.query("q1", *m).unwrap() - w).abs() < 1e-12, "{m}");
            assert_eq!(e.query("q2", *m), Some(0.0));
        }
    }

    #[test]
    fn mrr_cut_and_beir_mrr_differ_only_on_ties_and_denominator() {
        // Tie at the top: trec_eval puts "b" first (docid descending), BEIR keeps insertion order.
        let q = qrels(&[("q1", "a", 1), ("q2", "z", 1)]);
        let r = run(&[("q1", "a", 1.0), ("q1", "b", 1.0)]);
        let e = evaluate(&q, &r, &[Measure::Mrr(10), Measure::Mrr(1)]);
        assert_eq!(e.mean(Measure::Mrr(10)), Some(0.5));
        assert_eq!(e.mean(Measure::Mrr(1)), Some(0.0));
        // BEIR: rank 1 for q1, divided by 2 judged queries.
        assert_eq!(beir_mrr(&q, &r, 10).unwrap(), 0.5);
        let r2 = run(&[("q9", "a", 1.0)]);
        assert!(beir_mrr(&q, &r2, 10).is_err());
    }

    // pytrec_eval, relevance_level=2: qrels {'q1': {'a': 1, 'b': 2, 'c': 0, 'd': 3}},
    // run {'q1': {'a': .5, 'b': .4, 'x': .9, 'c': .45, 'd': .1}}
    #[test]
    fn relevance_level_two_matches_pytrec_eval() {
        let q = qrels(&[
            ("q1", "a", 1),
            ("q1", "b", 2),
            ("q1", "c", 0),
            ("q1", "d", 3),
        ]);
        let r = run(&[
            ("q1", "a", 0.5),
            ("q1", "b", 0.4),
            ("q1", "x", 0.9),
            ("q1", "c", 0.45),
            ("q1", "d", 0.1),
        ]);
        let ms = [
            Measure::Mrr(usize::MAX),
            Measure::P(3),
            Measure::Recall(2),
            Measure::Recall(10),
            Measure::Ndcg(10),
            Measure::Map(10),
        ];
        let e = evaluate_with(&q, &r, &ms, &EvalOptions { relevance_level: 2 });
        let want = [0.25, 0.0, 0.0, 1.0, 0.5571019656171158, 0.325];
        for (m, w) in ms.iter().zip(want) {
            let got = e.query("q1", *m).unwrap();
            assert!((got - w).abs() < 1e-12, "{m}: {got} vs {w}");
        }
    }

    /// Judgments (doc, relevance) and hits (doc, score) of one query.
    type Case = (Vec<(u8, i32)>, Vec<(u8, f64)>);

    fn arb_case() -> impl Strategy<Value = Case> {
        (
            proptest::collection::vec((0u8..30, -1i32..4), 0..20),
            proptest::collection::vec(
                (0u8..30, prop_oneof![Just(1.0), Just(2.0), -5.0f64..5.0]),
                0..30,
            ),
        )
    }

    fn build(judged: &[(u8, i32)], hits: &[(u8, f64)]) -> (Qrels, Vec<(String, f64)>) {
        let q: Qrels = judged
            .iter()
            .map(|(d, r)| ("q".to_string(), format!("d{d}"), *r))
            .chain(std::iter::once(("q".to_string(), "never".to_string(), 0)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let hits = hits
            .iter()
            .filter(|(d, _)| seen.insert(*d))
            .map(|(d, s)| (format!("d{d}"), *s))
            .collect();
        (q, hits)
    }

    const ALL: [Measure; 6] = [
        Measure::Ndcg(5),
        Measure::Mrr(10),
        Measure::Recall(10),
        Measure::Map(10),
        Measure::P(5),
        Measure::Mrr(usize::MAX),
    ];

    proptest! {
        #[test]
        fn values_lie_in_unit_interval_and_ignore_insertion_order((judged, hits) in arb_case()) {
            let (q, hits) = build(&judged, &hits);
            let forward: Run = {
                let mut r = Run::new();
                for (d, s) in &hits { r.insert("q", d, *s).unwrap(); }
                r
            };
            let backward: Run = {
                let mut r = Run::new();
                for (d, s) in hits.iter().rev() { r.insert("q", d, *s).unwrap(); }
                r.add_query("q");
                r
            };
            let a = evaluate(&q, &forward, &ALL);
            let b = evaluate(&q, &backward, &ALL);
            for m in ALL {
                let v = a.mean(m).unwrap();
                prop_assert!((0.0..=1.0 + 1e-12).contains(&v), "{} = {}", m, v);
                prop_assert_eq!(Some(v), b.mean(m));
            }
        }

        #[test]
        fn the_ideal_ranking_scores_one((judged, _hits) in arb_case()) {
            let (q, _) = build(&judged, &[]);
            let judgments = q.get("q").unwrap();
            prop_assume!(judgments.values().any(|&r| r >= 1));
            let mut r = Run::new();
            for (d, rel) in judgments {
                r.insert("q", d, *rel as f64).unwrap();
            }
            let e = evaluate(&q, &r, &[Measure::Ndcg(1000), Measure::Map(1000), Measure::Recall(1000), Measure::Mrr(1)]);
            for (m, v) in e.means() {
                prop_assert!((v - 1.0).abs() < 1e-12, "{} = {}", m, v);
            }
        }
    }

    #[test]
    fn measure_names_parse_and_print() {
        for (s, m) in [
            ("ndcg@10", Measure::Ndcg(10)),
            ("nDCG@10", Measure::Ndcg(10)),
            ("ndcg_cut_10", Measure::Ndcg(10)),
            ("ndcg_cut.10", Measure::Ndcg(10)),
            ("MRR@10", Measure::Mrr(10)),
            ("recip_rank", Measure::Mrr(usize::MAX)),
            ("recall_100", Measure::Recall(100)),
            ("Recall@100", Measure::Recall(100)),
            ("map_cut_10", Measure::Map(10)),
            ("P_10", Measure::P(10)),
            ("p@5", Measure::P(5)),
        ] {
            assert_eq!(s.parse::<Measure>().unwrap(), m, "{s}");
            assert_eq!(m.to_string().parse::<Measure>().unwrap(), m);
            assert_eq!(m.trec_name().parse::<Measure>().unwrap(), m);
        }
        for bad in ["ndcg", "ndcg@0", "foo@10", "p@x"] {
            assert!(bad.parse::<Measure>().is_err(), "{bad}");
        }
    }
}
