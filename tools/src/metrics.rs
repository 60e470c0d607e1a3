//! The three measures `tartan eval` reports, from the datasets crate.

use anyhow::{Context, Result};
use serde::Serialize;
use tartan_datasets::{evaluate, Measure, Qrels, Run};

/// Means over the evaluated queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Means {
    /// nDCG@10.
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    /// Recall@100.
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    /// MRR@10.
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    /// Queries evaluated (judged and present in the run).
    pub evaluated_queries: usize,
}

/// nDCG@10, Recall@100, MRR@10.
pub fn default_measures() -> [Measure; 3] {
    [Measure::Ndcg(10), Measure::Recall(100), Measure::Mrr(10)]
}

/// Evaluates `run` against `qrels` with `measures` (which must include the defaults).
pub fn mean(qrels: &Qrels, run: &Run, measures: &[Measure]) -> Result<Means> {
    let eval = evaluate(qrels, run, measures);
    let get = |m: Measure| {
        eval.mean(m)
            .with_context(|| format!("{m:?} was not computed"))
    };
    Ok(Means {
        ndcg_10: get(Measure::Ndcg(10))?,
        recall_100: get(Measure::Recall(100))?,
        mrr_10: get(Measure::Mrr(10))?,
        evaluated_queries: eval.num_queries(),
    })
}
