//! BEIR's file layout: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.
//!
//! ```text
//! <dir>/corpus.jsonl      {"_id": "...", "title": "...", "text": "...", "metadata": {...}} a line
//! <dir>/queries.jsonl     {"_id": "...", "text": "...", "metadata": {...}} a line
//! <dir>/qrels/test.tsv    query-id<TAB>corpus-id<TAB>score, after a header line
//! ```
//!
//! Each file may also be gzip-compressed (`corpus.jsonl.gz`, ...). The corpus is
//! streamed a line at a time, so a collection of millions of documents is never
//! held whole; duplicate document ids are still detected (see [`crate::ids`]).
//!
//! Reading rules: `_id` may be a JSON string or integer (BEIR's own files use
//! strings); `title` may be absent or null (read as empty); `text` is required;
//! a corpus document's `metadata` object is kept as it is ([`CorpusDoc::metadata`]),
//! other fields are ignored. Blank lines of the corpus are skipped
//! and counted ([`CorpusReader::blank_lines`]); in `queries.jsonl` they are errors.
//! Anything else malformed is an error naming the file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{DatasetsError, Result};
use crate::ids::IdSet;
use crate::lines::{resolve, LineStream, Lines};
use crate::qrels::Qrels;

/// One corpus document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusDoc {
    /// Document id (`_id`).
    pub id: String,
    /// Title; empty when the collection has none.
    pub title: String,
    /// Body text.
    pub text: String,
    /// The `metadata` object of a BEIR corpus line (None when absent, null or empty).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How a title and a body are joined into the text that is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TitleJoin {
    /// `f"{title} {text}".strip()`: BEIR's dense (sentence-transformers) models and
    /// PyLate's `evaluation.load_beir`, which made PyLate's published BEIR numbers.
    /// With an empty title this is the stripped text. The default.
    #[default]
    Space,
    /// `title + " | " + text` when the title is not empty, else the text: the
    /// colbert-ai collection loader (`load_collection`, a third `title` column),
    /// which made ColBERTv2's BEIR numbers. (colbert-ai adds `" | "` even for an
    /// empty title when the column exists; here an empty title adds nothing.)
    Pipe,
    /// The body text alone.
    TextOnly,
}

impl CorpusDoc {
    /// The text to encode, by the default convention [`TitleJoin::Space`]: title and
    /// text joined by one space and trimmed, exactly as PyLate's BEIR loader and
    /// BEIR's dense models build it.
    pub fn text_for_encoding(&self) -> String {
        self.text_joined(TitleJoin::Space)
    }

    /// The text to encode under a chosen convention.
    pub fn text_joined(&self, join: TitleJoin) -> String {
        match join {
            TitleJoin::Space => python_strip(&format!("{} {}", self.title, self.text)).to_string(),
            TitleJoin::Pipe if !self.title.is_empty() => format!("{} | {}", self.title, self.text),
            TitleJoin::Pipe | TitleJoin::TextOnly => self.text.clone(),
        }
    }
}

/// Python's `str.strip()`: Unicode whitespace as Rust sees it plus the four ASCII
/// separators U+001C..U+001F, which Python's `isspace` also counts.
fn python_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// One query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Query id.
    pub id: String,
    /// Query text.
    pub text: String,
}

/// A JSON id: BEIR writes strings, some re-exports write integers.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonId {
    Str(String),
    Int(i64),
}

impl JsonId {
    fn into_string(self) -> String {
        match self {
            JsonId::Str(s) => s,
            JsonId::Int(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct RawDoc {
    #[serde(rename = "_id")]
    id: JsonId,
    #[serde(default)]
    title: Option<String>,
    text: String,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawQuery {
    #[serde(rename = "_id")]
    id: JsonId,
    text: String,
}

/// A BEIR dataset directory.
#[derive(Debug, Clone)]
pub struct BeirDataset {
    dir: PathBuf,
}

impl BeirDataset {
    /// Opens a BEIR directory; fails when `corpus.jsonl[.gz]`, `queries.jsonl[.gz]`
    /// or `qrels/` is missing, naming what is missing.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        resolve(&dir, "corpus.jsonl", "BEIR corpus")?;
        resolve(&dir, "queries.jsonl", "BEIR queries")?;
        if !dir.join("qrels").is_dir() {
            return Err(DatasetsError::MissingFile {
                what: "BEIR qrels directory",
                path: dir.join("qrels"),
            });
        }
        Ok(BeirDataset { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The corpus file (plain or `.gz`).
    pub fn corpus_path(&self) -> Result<PathBuf> {
        resolve(&self.dir, "corpus.jsonl", "BEIR corpus")
    }

    /// Streams the corpus in file order. An error opening the file comes as the
    /// first item; after any error the iterator ends.
    pub fn corpus(&self) -> CorpusReader {
        CorpusReader::new(self.corpus_path().and_then(|p| Lines::open(&p)))
    }

    /// All queries of `queries.jsonl`, in file order (duplicate ids are errors).
    pub fn queries(&self) -> Result<Vec<Query>> {
        let path = resolve(&self.dir, "queries.jsonl", "BEIR queries")?;
        read_queries_jsonl(&path)
    }

    /// The names of the splits that have qrels (`qrels/<split>.tsv[.gz]`), sorted.
    pub fn splits(&self) -> Result<Vec<String>> {
        let qdir = self.dir.join("qrels");
        let entries = std::fs::read_dir(&qdir).map_err(|e| DatasetsError::io(&qdir, e))?;
        let mut splits = Vec::new();
        for entry in entries {
            let name = entry.map_err(|e| DatasetsError::io(&qdir, e))?.file_name();
            let name = name.to_string_lossy();
            let stem = name.strip_suffix(".gz").unwrap_or(&name);
            if let Some(split) = stem.strip_suffix(".tsv") {
                splits.push(split.to_string());
            }
        }
        splits.sort();
        splits.dedup();
        Ok(splits)
    }

    /// The judgments of one split (`qrels/<split>.tsv`).
    pub fn qrels(&self, split: &str) -> Result<Qrels> {
        let path = resolve(
            &self.dir.join("qrels"),
            &format!("{split}.tsv"),
            "BEIR qrels",
        )?;
        Qrels::read_beir_tsv(&path)
    }

    /// What BEIR's `GenericDataLoader.load(split)` evaluates: the split's qrels and
    /// the queries that have judgments in it, in `queries.jsonl` order. A judged
    /// query absent from `queries.jsonl` is an error.
    pub fn split(&self, split: &str) -> Result<(Vec<Query>, Qrels)> {
        let qrels = self.qrels(split)?;
        let queries: Vec<Query> = self
            .queries()?
            .into_iter()
            .filter(|q| qrels.contains_query(&q.id))
            .collect();
        if queries.len() != qrels.num_queries() {
            let have: std::collections::HashSet<&str> =
                queries.iter().map(|q| q.id.as_str()).collect();
            let missing: Vec<&str> = qrels.query_ids().filter(|q| !have.contains(q)).collect();
            return Err(DatasetsError::Invalid {
                what: "BEIR split",
                message: format!(
                    "{} judged queries of split {split:?} are not in queries.jsonl (first: {:?})",
                    missing.len(),
                    missing.first().copied().unwrap_or_default()
                ),
            });
        }
        Ok((queries, qrels))
    }
}

/// Reads a BEIR `queries.jsonl` (plain or gzip).
pub fn read_queries_jsonl(path: &Path) -> Result<Vec<Query>> {
    let mut lines = Lines::open(path)?;
    let mut queries = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    while let Some(n) = lines.advance()? {
        if lines.line().trim().is_empty() {
            return Err(lines.malformed("blank line in queries file"));
        }
        let raw: RawQuery = serde_json::from_str(lines.line())
            .map_err(|e| lines.malformed(format!("bad query JSON: {e}")))?;
        let id = raw.id.into_string();
        if let Some(first) = seen.insert(id.clone(), n) {
            return Err(DatasetsError::duplicate(
                path,
                n,
                "query id",
                id,
                Some(first),
            ));
        }
        queries.push(Query { id, text: raw.text });
    }
    Ok(queries)
}

/// Streaming reader of a BEIR `corpus.jsonl`; yields documents in file order.
pub struct CorpusReader {
    stream: LineStream,
    seen: IdSet,
    blank_lines: u64,
}

impl CorpusReader {
    fn new(opened: Result<Lines>) -> Self {
        CorpusReader {
            stream: LineStream::new(opened),
            seen: IdSet::new(),
            blank_lines: 0,
        }
    }

    /// Opens a `corpus.jsonl` file directly (plain or gzip).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(CorpusReader::new(Ok(Lines::open(path)?)))
    }

    /// Number of documents read so far.
    pub fn docs_read(&self) -> u64 {
        self.seen.len()
    }

    /// Number of blank lines skipped so far.
    pub fn blank_lines(&self) -> u64 {
        self.blank_lines
    }
}

/// The next document of a `corpus.jsonl`, counting blank lines and checking ids.
fn read_document(
    lines: &mut Lines,
    seen: &mut IdSet,
    blank_lines: &mut u64,
) -> Result<Option<CorpusDoc>> {
    loop {
        let Some(n) = lines.advance()? else {
            return Ok(None);
        };
        if lines.line().trim().is_empty() {
            *blank_lines += 1;
            continue;
        }
        let raw: RawDoc = serde_json::from_str(lines.line())
            .map_err(|e| lines.malformed(format!("bad document JSON: {e}")))?;
        let id = raw.id.into_string();
        seen.insert_document(lines, n, &id)?;
        let metadata = match raw.metadata {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(m)) => (!m.is_empty()).then_some(m),
            Some(other) => {
                return Err(lines.malformed(format!(
                    "document {id}: metadata must be an object, found {other}"
                )))
            }
        };
        return Ok(Some(CorpusDoc {
            id,
            title: raw.title.unwrap_or_default(),
            text: raw.text,
            metadata,
        }));
    }
}

impl Iterator for CorpusReader {
    type Item = Result<CorpusDoc>;

    fn next(&mut self) -> Option<Self::Item> {
        let (seen, blank) = (&mut self.seen, &mut self.blank_lines);
        self.stream
            .next_with(|lines| read_document(lines, seen, blank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(corpus: &str, queries: &str, test_qrels: &str) -> (tempfile::TempDir, BeirDataset) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("corpus.jsonl"), corpus).unwrap();
        std::fs::write(dir.path().join("queries.jsonl"), queries).unwrap();
        std::fs::create_dir(dir.path().join("qrels")).unwrap();
        std::fs::write(dir.path().join("qrels/test.tsv"), test_qrels).unwrap();
        let ds = BeirDataset::open(dir.path()).unwrap();
        (dir, ds)
    }

    const CORPUS: &str = concat!(
        r#"{"_id": "d1", "title": "Title one", "text": "Body one.", "metadata": {}}"#,
        "\n",
        r#"{"_id": 2, "text": "No title."}"#,
        "\n\n",
        r#"{"_id": "d3", "title": null, "text": " spaced "}"#,
        "\n"
    );

    #[test]
    fn corpus_streams_with_ids_titles_and_counts_blank_lines() {
        let (_d, ds) = dataset(CORPUS, "", "query-id\tcorpus-id\tscore\n");
        let mut reader = ds.corpus();
        let docs: Vec<CorpusDoc> = reader.by_ref().collect::<Result<_>>().unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].text_for_encoding(), "Title one Body one.");
        assert_eq!(
            docs[0].text_joined(TitleJoin::Pipe),
            "Title one | Body one."
        );
        assert_eq!(docs[1].id, "2");
        assert_eq!(docs[1].text_for_encoding(), "No title.");
        assert_eq!(docs[1].text_joined(TitleJoin::Pipe), "No title.");
        assert_eq!(docs[2].text_for_encoding(), "spaced");
        assert_eq!(docs[2].text_joined(TitleJoin::TextOnly), " spaced ");
        assert_eq!(reader.blank_lines(), 1);
        assert_eq!(reader.docs_read(), 3);
    }

    #[test]
    fn strip_is_pythons() {
        assert_eq!(python_strip("\u{1f}\u{a0} a b\u{3000}\u{1c}"), "a b");
        assert_eq!(python_strip("\u{200b}a"), "\u{200b}a");
    }

    #[test]
    fn bad_json_names_file_and_line_and_ends_the_stream() {
        let corpus = "{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"b\", \"text\": }\n{\"_id\": \"c\", \"text\": \"y\"}\n";
        let (_d, ds) = dataset(corpus, "", "");
        let items: Vec<_> = ds.corpus().collect();
        assert_eq!(items.len(), 2);
        let err = items[1].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("corpus.jsonl:2") && err.contains("bad document JSON"),
            "{err}"
        );
    }

    #[test]
    fn missing_text_field_is_an_error() {
        let (_d, ds) = dataset("{\"_id\": \"a\", \"title\": \"t\"}\n", "", "");
        let err = ds.corpus().next().unwrap().unwrap_err().to_string();
        assert!(
            err.contains("corpus.jsonl:1") && err.contains("text"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_document_id_is_an_error() {
        let corpus = "{\"_id\": \"7\", \"text\": \"x\"}\n{\"_id\": 7, \"text\": \"y\"}\n";
        let (_d, ds) = dataset(corpus, "", "");
        let err = ds.corpus().nth(1).unwrap().unwrap_err().to_string();
        assert!(
            err.contains("corpus.jsonl:2") && err.contains("duplicate document id"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_query_id_names_both_lines() {
        let queries = "{\"_id\": \"q\", \"text\": \"a\"}\n{\"_id\": \"r\", \"text\": \"b\"}\n{\"_id\": \"q\", \"text\": \"c\"}\n";
        let (_d, ds) = dataset("", queries, "");
        let err = ds.queries().unwrap_err().to_string();
        assert!(
            err.contains("queries.jsonl:3") && err.contains("first at line 1"),
            "{err}"
        );
    }

    #[test]
    fn split_keeps_judged_queries_in_file_order() {
        let queries = "{\"_id\": \"q2\", \"text\": \"b\"}\n{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q3\", \"text\": \"c\"}\n";
        let (_d, ds) = dataset(
            "",
            queries,
            "query-id\tcorpus-id\tscore\nq1\td\t1\nq2\td\t1\n",
        );
        let (qs, qrels) = ds.split("test").unwrap();
        let ids: Vec<&str> = qs.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["q2", "q1"]);
        assert_eq!(qrels.num_queries(), 2);
        assert_eq!(ds.splits().unwrap(), ["test"]);
    }

    #[test]
    fn judged_query_missing_from_queries_is_an_error() {
        let (_d, ds) = dataset(
            "",
            "{\"_id\": \"q1\", \"text\": \"a\"}\n",
            "h\th\th\nq9\td\t1\n",
        );
        let err = ds.split("test").unwrap_err().to_string();
        assert!(err.contains("q9"), "{err}");
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = BeirDataset::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("missing BEIR corpus") && err.contains("corpus.jsonl"),
            "{err}"
        );
        let (_d, ds) = dataset("", "", "");
        let err = ds.qrels("dev").unwrap_err().to_string();
        assert!(err.contains("dev.tsv"), "{err}");
    }
}
