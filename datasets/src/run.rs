//! Retrieval runs: query id -> (document id -> score), read and written as TREC
//! run files.
//!
//! ```text
//! qid Q0 docid rank score tag        one retrieved document a line, whitespace separated
//! ```
//!
//! As in trec_eval, the rank column is ignored on reading: the order is decided
//! by the scores alone (see [`Run::ranked`]). Writing gives ranks 1, 2, ... in that
//! order and scores in Rust's shortest round-trip form, so a written run reads
//! back identical.

use std::cmp::Ordering;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::io::Write;
use std::path::Path;

use crate::error::{DatasetsError, Result};
use crate::lines::Lines;

/// The retrieved documents of one query, in insertion order.
#[derive(Debug, Clone, Default)]
struct RunQuery {
    hits: Vec<(String, f64)>,
    hashes: HashSet<u64>,
}

/// A retrieval run over many queries, ordered by query id.
#[derive(Debug, Clone, Default)]
pub struct Run {
    queries: BTreeMap<String, RunQuery>,
    hasher: RandomState,
}

/// trec_eval's order of two hits: score descending, compared in single precision
/// (trec_eval and pytrec_eval keep scores as C `float`), then document id
/// descending byte by byte (`strcmp(b, a)`).
pub fn trec_eval_cmp(a: (&str, f64), b: (&str, f64)) -> Ordering {
    let (sa, sb) = (a.1 as f32, b.1 as f32);
    sb.partial_cmp(&sa)
        .unwrap_or(Ordering::Equal)
        .then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
}

impl Run {
    /// An empty run.
    pub fn new() -> Self {
        Run::default()
    }

    /// Adds one retrieved document. A NaN score, an empty id or a document already
    /// retrieved for this query is an error (trec_eval rejects duplicates too).
    pub fn insert(&mut self, query_id: &str, doc_id: &str, score: f64) -> Result<()> {
        self.insert_checked(query_id, doc_id, score)
            .map_err(|message| DatasetsError::Invalid {
                what: "run entry",
                message,
            })
    }

    fn insert_checked(
        &mut self,
        query_id: &str,
        doc_id: &str,
        score: f64,
    ) -> std::result::Result<(), String> {
        if score.is_nan() {
            return Err(format!(
                "NaN score for query {query_id:?}, document {doc_id:?}"
            ));
        }
        if query_id.is_empty() || doc_id.is_empty() {
            return Err("empty query or document id".to_string());
        }
        let h = self.hasher.hash_one(doc_id);
        let q = self.queries.entry(query_id.to_string()).or_default();
        if !q.hashes.insert(h) && q.hits.iter().any(|(d, _)| d == doc_id) {
            return Err(format!(
                "document {doc_id:?} retrieved twice for query {query_id:?}"
            ));
        }
        q.hits.push((doc_id.to_string(), score));
        Ok(())
    }

    /// Makes `query_id` part of the run even with no retrieved document
    /// (pytrec_eval evaluates such a query, every measure 0).
    pub fn add_query(&mut self, query_id: &str) {
        self.queries.entry(query_id.to_string()).or_default();
    }

    /// Whether the run has the query.
    pub fn contains_query(&self, query_id: &str) -> bool {
        self.queries.contains_key(query_id)
    }

    /// Query ids in order.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.queries.keys().map(String::as_str)
    }

    /// Number of queries.
    pub fn num_queries(&self) -> usize {
        self.queries.len()
    }

    /// Number of (query, document) entries.
    pub fn len(&self) -> usize {
        self.queries.values().map(|q| q.hits.len()).sum()
    }

    /// Whether the run has no query.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The hits of a query in insertion order (as a Python dict keeps them).
    pub fn hits(&self, query_id: &str) -> Option<&[(String, f64)]> {
        self.queries.get(query_id).map(|q| q.hits.as_slice())
    }

    /// The hits of a query in trec_eval's order ([`trec_eval_cmp`]).
    pub fn ranked(&self, query_id: &str) -> Option<Vec<(&str, f64)>> {
        self.queries.get(query_id).map(|q| rank_hits(&q.hits))
    }

    /// Removes every hit whose document id equals its query id, as BEIR's
    /// `EvaluateRetrieval.evaluate(ignore_identical_ids=True)` does (its default;
    /// it matters for ArguAna and Quora). Returns how many were removed.
    pub fn remove_identical_ids(&mut self) -> usize {
        let mut removed = 0;
        for (qid, q) in self.queries.iter_mut() {
            let before = q.hits.len();
            q.hits.retain(|(d, _)| d != qid);
            if q.hits.len() != before {
                removed += before - q.hits.len();
                q.hashes = q
                    .hits
                    .iter()
                    .map(|(d, _)| self.hasher.hash_one(d))
                    .collect();
            }
        }
        removed
    }

    /// Keeps only the first `k` hits of each query in trec_eval's order.
    pub fn truncate(&mut self, k: usize) {
        for q in self.queries.values_mut() {
            if q.hits.len() > k {
                let ranked: Vec<(String, f64)> = rank_hits(&q.hits)
                    .into_iter()
                    .take(k)
                    .map(|(d, s)| (d.to_string(), s))
                    .collect();
                q.hashes = ranked
                    .iter()
                    .map(|(d, _)| self.hasher.hash_one(d))
                    .collect();
                q.hits = ranked;
            }
        }
    }

    /// Reads a TREC run file (plain or gzip). Lines must have 6 whitespace-separated
    /// columns; a non-numeric or NaN score, or a document retrieved twice for the
    /// same query, is an error naming the file and line.
    pub fn read_trec(path: &Path) -> Result<Run> {
        let mut lines = Lines::open(path)?;
        let mut run = Run::new();
        while lines.advance()?.is_some() {
            let cols: Vec<&str> = lines.line().split_whitespace().collect();
            if cols.len() != 6 {
                return Err(lines.malformed(format!(
                    "expected 6 columns `qid Q0 docid rank score tag`, got {}",
                    cols.len()
                )));
            }
            let score: f64 = cols[4]
                .parse()
                .map_err(|_| lines.malformed(format!("score {:?} is not a number", cols[4])))?;
            run.insert_checked(cols[0], cols[2], score)
                .map_err(|m| lines.malformed(m))?;
        }
        Ok(run)
    }

    /// Writes a TREC run file: queries in id order, each query's hits in
    /// trec_eval's order with ranks from 1. Ids or a tag containing whitespace
    /// cannot be written and are an error.
    pub fn write_trec(&self, path: &Path, tag: &str) -> Result<()> {
        let bad = |s: &str| s.is_empty() || s.chars().any(char::is_whitespace);
        if bad(tag) {
            return Err(DatasetsError::Invalid {
                what: "run tag",
                message: format!("{tag:?} is empty or contains whitespace"),
            });
        }
        let file = std::fs::File::create(path).map_err(|e| DatasetsError::io(path, e))?;
        let mut out = std::io::BufWriter::new(file);
        for (qid, q) in &self.queries {
            for (rank, (doc, score)) in rank_hits(&q.hits).into_iter().enumerate() {
                if bad(qid) || bad(doc) {
                    return Err(DatasetsError::Invalid {
                        what: "run entry",
                        message: format!("query {qid:?} or document {doc:?} contains whitespace"),
                    });
                }
                writeln!(out, "{qid} Q0 {doc} {} {score:?} {tag}", rank + 1)
                    .map_err(|e| DatasetsError::io(path, e))?;
            }
        }
        out.flush().map_err(|e| DatasetsError::io(path, e))
    }
}

/// Hits sorted in trec_eval's order.
fn rank_hits(hits: &[(String, f64)]) -> Vec<(&str, f64)> {
    let mut ranked: Vec<(&str, f64)> = hits.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    ranked.sort_by(|a, b| trec_eval_cmp(*a, *b));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ties_break_by_docid_descending_in_single_precision() {
        let mut run = Run::new();
        for d in ["a", "b", "aa", "B", "A", "ab"] {
            run.insert("q", d, 0.5).unwrap();
        }
        run.insert("q", "0", 0.5 + 1e-9).unwrap(); // equal to 0.5 as f32: a tie
        run.insert("q", "1", 0.5 + 1e-7).unwrap(); // above 0.5 as f32
        let ids: Vec<&str> = run.ranked("q").unwrap().iter().map(|h| h.0).collect();
        assert_eq!(ids, ["1", "b", "ab", "aa", "a", "B", "A", "0"]);
    }

    #[test]
    fn duplicates_and_nan_are_errors() {
        let mut run = Run::new();
        run.insert("q", "d", 1.0).unwrap();
        assert!(run.insert("q", "d", 2.0).is_err());
        assert!(run.insert("q", "e", f64::NAN).is_err());
        run.insert("r", "d", 1.0).unwrap();
        assert_eq!(run.len(), 2);
    }

    #[test]
    fn reading_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.txt");
        std::fs::write(&p, "1 Q0 a 1 2.5 t\n1 Q0 b 2 x t\n").unwrap();
        let err = Run::read_trec(&p).unwrap_err().to_string();
        assert!(
            err.contains("run.txt:2") && err.contains("not a number"),
            "{err}"
        );
        std::fs::write(&p, "1 Q0 a 1 2.5 t\n1 Q0 a 2 1.0 t\n").unwrap();
        let err = Run::read_trec(&p).unwrap_err().to_string();
        assert!(err.contains("run.txt:2") && err.contains("twice"), "{err}");
        std::fs::write(&p, "1 Q0 a 1 2.5\n").unwrap();
        assert!(Run::read_trec(&p)
            .unwrap_err()
            .to_string()
            .contains("6 columns"));
    }

    #[test]
    fn identical_ids_removed_and_truncate_keeps_top() {
        let mut run = Run::new();
        run.insert("q1", "q1", 9.0).unwrap();
        run.insert("q1", "d1", 1.0).unwrap();
        run.insert("q1", "d2", 2.0).unwrap();
        assert_eq!(run.remove_identical_ids(), 1);
        run.truncate(1);
        assert_eq!(run.hits("q1").unwrap(), &[("d2".to_string(), 2.0)]);
        run.insert("q1", "d1", 0.0).unwrap();
        assert!(run.insert("q1", "d2", 0.0).is_err());
    }

    #[test]
    fn write_rejects_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = Run::new();
        run.insert("q", "a b", 1.0).unwrap();
        assert!(run.write_trec(&dir.path().join("r"), "t").is_err());
        assert!(Run::new()
            .write_trec(&dir.path().join("r"), "a tag")
            .is_err());
    }

    proptest! {
        #[test]
        fn write_then_read_is_identity(
            entries in proptest::collection::vec(("[a-d]{1,2}", "[a-z0-9]{1,3}", -1e6f64..1e6), 0..60)
        ) {
            let mut run = Run::new();
            for (q, d, s) in &entries {
                let _ = run.insert(q, d, *s); // duplicates rejected, others kept
            }
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("run.trec");
            run.write_trec(&p, "tartan").unwrap();
            let back = Run::read_trec(&p).unwrap();
            prop_assert_eq!(back.num_queries(), run.num_queries());
            for q in run.query_ids() {
                prop_assert_eq!(back.ranked(q).unwrap(), run.ranked(q).unwrap());
            }
        }
    }
}
