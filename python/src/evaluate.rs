//! `tartan.evaluate`: IR measures computed by tartan-datasets, pytrec_eval's numbers.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tartan_datasets::{evaluate_with, EvalOptions, Measure, Qrels, Run};

use crate::errors::{self, detached};

/// Evaluates a run against relevance judgments, as pytrec_eval does.
///
/// Parameters
/// ----------
/// qrels : dict[str, dict[str, int]]
///     Query id -> {document id: relevance}, pytrec_eval's qrels.
/// run : dict[str, dict[str, float]]
///     Query id -> {document id: score}, pytrec_eval's run (ranked by score, ties by
///     document id, as trec_eval). A query with an empty dict counts, with 0.
/// measures : Sequence[str]
///     pytrec_eval names (``"ndcg_cut_10"``, ``"recall_100"``, ``"recip_rank"``,
///     ``"map_cut_10"``, ``"P_10"``) or short ones (``"ndcg@10"``, ``"mrr@10"``,
///     ``"recall@100"``, ``"map@10"``, ``"p@10"``).
/// relevance_level : int
///     Smallest judgment that counts as relevant (trec_eval ``-l``; nDCG's gains
///     are every positive judgment whatever the level).
/// per_query : bool
///     Return pytrec_eval's per-query dict instead of the means.
///
/// Returns
/// -------
/// dict
///     ``{measure: mean}`` over the queries both in the run and in the qrels (what
///     BEIR prints, unrounded), or with ``per_query=True``
///     ``{query_id: {measure: value}}`` as ``pytrec_eval.RelevanceEvaluator
///     .evaluate`` returns. Measures are keyed by their pytrec_eval names.
///
/// Raises
/// ------
/// ValueError
///     An unknown measure, a NaN score or an empty id.
#[pyfunction]
#[pyo3(signature = (qrels, run, measures = vec!["ndcg_cut_10".to_string(), "recall_100".to_string()], *, relevance_level = 1, per_query = false))]
pub(crate) fn evaluate<'py>(
    py: Python<'py>,
    qrels: HashMap<String, HashMap<String, i32>>,
    run: HashMap<String, HashMap<String, f64>>,
    measures: Vec<String>,
    relevance_level: i32,
    per_query: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let measures = measures
        .iter()
        .map(|m| m.parse::<Measure>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(errors::datasets)?;
    let names: Vec<String> = measures.iter().map(Measure::trec_name).collect();
    let evaluation = detached(py, || {
        let mut judged = Qrels::new();
        for (q, docs) in &qrels {
            for (d, &rel) in docs {
                judged.insert(q, d, rel).map_err(errors::datasets)?;
            }
        }
        let mut ranked = Run::new();
        for (q, docs) in &run {
            ranked.add_query(q);
            for (d, &score) in docs {
                ranked.insert(q, d, score).map_err(errors::datasets)?;
            }
        }
        let options = EvalOptions { relevance_level };
        Ok(evaluate_with(&judged, &ranked, &measures, &options))
    })?;
    let out = PyDict::new(py);
    if per_query {
        for (q, values) in evaluation.per_query() {
            let row = PyDict::new(py);
            for (name, v) in names.iter().zip(values) {
                row.set_item(name, v)?;
            }
            out.set_item(q, row)?;
        }
    } else {
        for (name, (_, mean)) in names.iter().zip(evaluation.means()) {
            out.set_item(name, mean)?;
        }
    }
    Ok(out)
}
