//! Relevance judgments: query id -> (document id -> graded relevance).
//!
//! Two file formats are read:
//! - BEIR's `qrels/<split>.tsv`: a header line `query-id<TAB>corpus-id<TAB>score`,
//!   then one judgment a line.
//! - TREC qrels `qid iter docid rel`, separated by spaces or tabs (MS MARCO's
//!   `qrels.dev.small.tsv` uses tabs, Anserini's copies spaces); the iteration
//!   column is ignored, as trec_eval ignores it.
//!
//! Relevance is an integer, as pytrec_eval requires. Negative values are kept:
//! trec_eval treats them as "judged but not in the pool", never relevant and
//! never a gain.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use crate::error::{DatasetsError, Result};
use crate::lines::Lines;

/// Judgments of one query: document id -> relevance.
pub type Judgments = HashMap<String, i32>;

/// Relevance judgments of many queries, ordered by query id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qrels {
    queries: BTreeMap<String, Judgments>,
}

impl Qrels {
    /// No judgments.
    pub fn new() -> Self {
        Qrels::default()
    }

    /// Adds one judgment; a second judgment of the same pair is an error
    /// (trec_eval rejects it too).
    pub fn insert(&mut self, query_id: &str, doc_id: &str, relevance: i32) -> Result<()> {
        let docs = self.queries.entry(query_id.to_string()).or_default();
        if docs.contains_key(doc_id) {
            return Err(DatasetsError::Invalid {
                what: "qrels",
                message: format!("duplicate judgment of query {query_id:?}, document {doc_id:?}"),
            });
        }
        docs.insert(doc_id.to_string(), relevance);
        Ok(())
    }

    /// Judgments of one query.
    pub fn get(&self, query_id: &str) -> Option<&Judgments> {
        self.queries.get(query_id)
    }

    /// Whether the query has any judgment.
    pub fn contains_query(&self, query_id: &str) -> bool {
        self.queries.contains_key(query_id)
    }

    /// Query ids in order.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.queries.keys().map(String::as_str)
    }

    /// (query id, its judgments) in query-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Judgments)> {
        self.queries.iter().map(|(q, j)| (q.as_str(), j))
    }

    /// Number of judged queries.
    pub fn num_queries(&self) -> usize {
        self.queries.len()
    }

    /// Number of judgments.
    pub fn len(&self) -> usize {
        self.queries.values().map(HashMap::len).sum()
    }

    /// Whether there is no judgment.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// Reads either format, told apart by the first line: 4 whitespace-separated
    /// columns is TREC qrels, 3 tab-separated columns is BEIR's TSV.
    pub fn read(path: &Path) -> Result<Qrels> {
        let mut lines = Lines::open(path)?;
        if lines.advance()?.is_none() {
            return Ok(Qrels::new());
        }
        let line = lines.line();
        if line.split_whitespace().count() == 4 {
            Qrels::read_trec(path)
        } else if line.split('\t').count() >= 3 {
            Qrels::read_beir_tsv(path)
        } else {
            Err(lines.malformed(
                "neither TREC qrels (`qid iter docid rel`) nor BEIR TSV (`query-id<TAB>corpus-id<TAB>score`)",
            ))
        }
    }

    /// Reads BEIR's `qrels/<split>.tsv` (tab separated, plain or gzip).
    ///
    /// BEIR's loader drops the first line unconditionally; here the first line is
    /// dropped only when it is a header (its score column is not an integer), so a
    /// headerless file loses no judgment. Columns after the third are ignored, as
    /// BEIR ignores them. Blank lines are errors.
    pub fn read_beir_tsv(path: &Path) -> Result<Qrels> {
        let mut lines = Lines::open(path)?;
        let mut qrels = Qrels::new();
        while let Some(n) = lines.advance()? {
            let mut cols = lines.line().split('\t');
            let (q, d, s) = match (cols.next(), cols.next(), cols.next()) {
                (Some(q), Some(d), Some(s)) => (q, d, s),
                _ => {
                    return Err(lines.malformed(format!(
                        "expected 3 tab-separated columns (query-id, corpus-id, score), got {:?}",
                        lines.line()
                    )))
                }
            };
            let score = s.trim().parse::<i32>();
            if n == 1 && score.is_err() {
                continue; // the header line
            }
            let score =
                score.map_err(|_| lines.malformed(format!("relevance {s:?} is not an integer")))?;
            qrels.insert_from_file(&lines, q.trim(), d.trim(), score)?;
        }
        Ok(qrels)
    }

    /// Reads TREC qrels `qid iter docid rel` (whitespace separated, plain or gzip).
    /// Blank lines are errors; trailing whitespace is allowed.
    pub fn read_trec(path: &Path) -> Result<Qrels> {
        let mut lines = Lines::open(path)?;
        let mut qrels = Qrels::new();
        while lines.advance()?.is_some() {
            let cols: Vec<&str> = lines.line().split_whitespace().collect();
            if cols.len() != 4 {
                return Err(lines.malformed(format!(
                    "expected 4 columns `qid iter docid rel`, got {}",
                    cols.len()
                )));
            }
            let rel = cols[3].parse::<i32>().map_err(|_| {
                lines.malformed(format!("relevance {:?} is not an integer", cols[3]))
            })?;
            qrels.insert_from_file(&lines, cols[0], cols[2], rel)?;
        }
        Ok(qrels)
    }

    /// Writes TREC qrels `qid 0 docid rel`, queries and documents in id order.
    pub fn write_trec(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| DatasetsError::io(path, e))?;
        let mut out = std::io::BufWriter::new(file);
        for (q, docs) in &self.queries {
            let mut docs: Vec<_> = docs.iter().collect();
            docs.sort();
            for (d, rel) in docs {
                writeln!(out, "{q} 0 {d} {rel}").map_err(|e| DatasetsError::io(path, e))?;
            }
        }
        out.flush().map_err(|e| DatasetsError::io(path, e))
    }

    fn insert_from_file(&mut self, lines: &Lines, q: &str, d: &str, rel: i32) -> Result<()> {
        if q.is_empty() || d.is_empty() {
            return Err(lines.malformed("empty query or document id"));
        }
        let docs = self.queries.entry(q.to_string()).or_default();
        if docs.contains_key(d) {
            return Err(DatasetsError::duplicate(
                lines.path(),
                lines.line_no(),
                "judgment",
                format!("{q} {d}"),
                None,
            ));
        }
        docs.insert(d.to_string(), rel);
        Ok(())
    }
}

impl FromIterator<(String, String, i32)> for Qrels {
    /// Builds qrels from (query, document, relevance) triples; a later duplicate
    /// pair replaces the earlier one (dictionary semantics, as in pytrec_eval).
    fn from_iter<I: IntoIterator<Item = (String, String, i32)>>(iter: I) -> Self {
        let mut qrels = Qrels::new();
        for (q, d, r) in iter {
            qrels.queries.entry(q).or_default().insert(d, r);
        }
        qrels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn beir_tsv_with_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "test.tsv",
            "query-id\tcorpus-id\tscore\n1\t31715818\t1\n1\t99\t2\n3\t14717500\t0\n",
        );
        let q = Qrels::read_beir_tsv(&p).unwrap();
        assert_eq!(q.num_queries(), 2);
        assert_eq!(q.len(), 3);
        assert_eq!(q.get("1").unwrap()["99"], 2);
        assert_eq!(q.get("3").unwrap()["14717500"], 0);
    }

    #[test]
    fn beir_tsv_without_header_keeps_first_judgment() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.tsv", "1\td1\t1\n");
        assert_eq!(Qrels::read_beir_tsv(&p).unwrap().len(), 1);
    }

    #[test]
    fn non_numeric_relevance_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "t.tsv",
            "query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\tx\n",
        );
        let err = Qrels::read_beir_tsv(&p).unwrap_err().to_string();
        assert!(
            err.contains("t.tsv:3") && err.contains("not an integer"),
            "{err}"
        );
    }

    #[test]
    fn missing_column_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.tsv", "h\th\th\n1\td1\n");
        let err = Qrels::read_beir_tsv(&p).unwrap_err().to_string();
        assert!(
            err.contains("t.tsv:2") && err.contains("3 tab-separated"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_judgment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "q.txt", "1 0 a 1\n1 0 b 1\n1 0 a 0\n");
        let err = Qrels::read_trec(&p).unwrap_err().to_string();
        assert!(
            err.contains("q.txt:3") && err.contains("duplicate judgment"),
            "{err}"
        );
    }

    #[test]
    fn trec_qrels_space_or_tab_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "q.txt", "1 0 a 1\n1\t0\tb\t2 \n2 0 a -1\n");
        let q = Qrels::read_trec(&p).unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(q.get("2").unwrap()["a"], -1);
        let out = dir.path().join("out.txt");
        q.write_trec(&out).unwrap();
        assert_eq!(Qrels::read_trec(&out).unwrap(), q);
    }

    #[test]
    fn read_tells_the_formats_apart() {
        let dir = tempfile::tempdir().unwrap();
        let beir = write(dir.path(), "b.tsv", "query-id\tcorpus-id\tscore\n1\td\t2\n");
        let trec = write(dir.path(), "t.txt", "1 0 d 2\n");
        assert_eq!(Qrels::read(&beir).unwrap(), Qrels::read(&trec).unwrap());
        let bad = write(dir.path(), "x.txt", "1 d\n");
        assert!(Qrels::read(&bad)
            .unwrap_err()
            .to_string()
            .contains("x.txt:1"));
    }

    #[test]
    fn trec_qrels_wrong_column_count() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "q.txt", "1 0 a 1\n1 a 1\n");
        let err = Qrels::read_trec(&p).unwrap_err().to_string();
        assert!(err.contains("q.txt:2"), "{err}");
    }
}
