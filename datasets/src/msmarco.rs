//! MS MARCO passage layout (and any collection in colbert-ai's TSV layout).
//!
//! ```text
//! <dir>/collection.tsv            pid<TAB>passage                (8,841,823 lines upstream)
//! <dir>/queries.<split>.tsv       qid<TAB>query text             (split: train, dev, dev.small, eval, ...)
//! <dir>/qrels.<split>.tsv         qid 0 pid rel                  (TREC qrels, tab or space separated)
//! ```
//!
//! Anserini/Pyserini's names for the same files are found too:
//! `topics.msmarco-passage.<split>.txt` and `qrels.msmarco-passage.<split>.txt`, where
//! the split `dev.small` is called `dev-subset`. Every file may be gzip-compressed.
//!
//! The collection is streamed; a third column is read as a title (colbert-ai's
//! `pid<TAB>text<TAB>title` layout), and a first line whose pid is `id` is
//! colbert-ai's header, skipped and counted ([`TsvCorpusReader::header_skipped`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::beir::{CorpusDoc, Query};
use crate::error::{DatasetsError, Result};
use crate::ids::IdSet;
use crate::lines::{resolve, LineStream, Lines};
use crate::qrels::Qrels;

/// An MS MARCO passage-ranking directory.
#[derive(Debug, Clone)]
pub struct MsMarcoPassage {
    dir: PathBuf,
}

impl MsMarcoPassage {
    /// Opens a directory; files are looked up when asked for, so a directory of
    /// only queries and qrels (no collection) opens too.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(DatasetsError::MissingFile {
                what: "MS MARCO directory",
                path: dir,
            });
        }
        Ok(MsMarcoPassage { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Streams `collection.tsv[.gz]`. An error opening it comes as the first item.
    pub fn collection(&self) -> TsvCorpusReader {
        TsvCorpusReader::new(
            resolve(&self.dir, "collection.tsv", "MS MARCO collection")
                .and_then(|p| Lines::open(&p)),
        )
    }

    /// Path of the queries of `split` (official or Anserini name).
    pub fn queries_path(&self, split: &str) -> Result<PathBuf> {
        self.find(
            &[
                format!("queries.{split}.tsv"),
                format!("topics.msmarco-passage.{}.txt", anserini_split(split)),
            ],
            "MS MARCO queries",
        )
    }

    /// Path of the qrels of `split` (official or Anserini name).
    pub fn qrels_path(&self, split: &str) -> Result<PathBuf> {
        self.find(
            &[
                format!("qrels.{split}.tsv"),
                format!("qrels.msmarco-passage.{}.txt", anserini_split(split)),
            ],
            "MS MARCO qrels",
        )
    }

    /// The queries of `split`, in file order.
    pub fn queries(&self, split: &str) -> Result<Vec<Query>> {
        read_queries_tsv(&self.queries_path(split)?)
    }

    /// The judgments of `split`.
    pub fn qrels(&self, split: &str) -> Result<Qrels> {
        Qrels::read_trec(&self.qrels_path(split)?)
    }

    fn find(&self, names: &[String], what: &'static str) -> Result<PathBuf> {
        for name in names {
            if let Ok(p) = resolve(&self.dir, name, what) {
                return Ok(p);
            }
        }
        Err(DatasetsError::MissingFile {
            what,
            path: self.dir.join(&names[0]),
        })
    }
}

/// Anserini's name of an official split name (`dev.small` -> `dev-subset`).
fn anserini_split(split: &str) -> String {
    split.replace("dev.small", "dev-subset")
}

/// Reads `qid<TAB>text` queries (plain or gzip); duplicate ids and lines without a
/// tab are errors.
pub fn read_queries_tsv(path: &Path) -> Result<Vec<Query>> {
    let mut lines = Lines::open(path)?;
    let mut queries = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    while let Some(n) = lines.advance()? {
        let Some((id, text)) = lines.line().split_once('\t') else {
            return Err(lines.malformed("expected `qid<TAB>text`"));
        };
        if id.is_empty() {
            return Err(lines.malformed("empty query id"));
        }
        if let Some(first) = seen.insert(id.to_string(), n) {
            return Err(DatasetsError::duplicate(
                path,
                n,
                "query id",
                id,
                Some(first),
            ));
        }
        queries.push(Query {
            id: id.to_string(),
            text: text.to_string(),
        });
    }
    Ok(queries)
}

/// Streaming reader of a `pid<TAB>text[<TAB>title]` collection.
pub struct TsvCorpusReader {
    stream: LineStream,
    seen: IdSet,
    header_skipped: bool,
}

impl TsvCorpusReader {
    fn new(opened: Result<Lines>) -> Self {
        TsvCorpusReader {
            stream: LineStream::new(opened),
            seen: IdSet::new(),
            header_skipped: false,
        }
    }

    /// Opens a collection file directly (plain or gzip).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(TsvCorpusReader::new(Ok(Lines::open(path)?)))
    }

    /// Number of documents read so far.
    pub fn docs_read(&self) -> u64 {
        self.seen.len()
    }

    /// Whether a colbert-ai header line (`id<TAB>...`) was skipped.
    pub fn header_skipped(&self) -> bool {
        self.header_skipped
    }
}

/// The next passage of a `pid<TAB>text[<TAB>title]` collection, skipping colbert-ai's
/// header line and checking ids.
fn read_passage(
    lines: &mut Lines,
    seen: &mut IdSet,
    header_skipped: &mut bool,
) -> Result<Option<CorpusDoc>> {
    loop {
        let Some(n) = lines.advance()? else {
            return Ok(None);
        };
        let mut cols = lines.line().split('\t');
        let id = cols.next().unwrap_or_default();
        let Some(text) = cols.next() else {
            return Err(lines.malformed("expected `pid<TAB>text`"));
        };
        let title = cols.next().unwrap_or_default();
        if cols.next().is_some() {
            return Err(lines.malformed("more than 3 tab-separated columns"));
        }
        if n == 1 && id == "id" {
            *header_skipped = true;
            continue;
        }
        if id.is_empty() {
            return Err(lines.malformed("empty document id"));
        }
        seen.insert_document(lines, n, id)?;
        return Ok(Some(CorpusDoc {
            id: id.to_string(),
            title: title.to_string(),
            text: text.to_string(),
            metadata: None,
        }));
    }
}

impl Iterator for TsvCorpusReader {
    type Item = Result<CorpusDoc>;

    fn next(&mut self) -> Option<Self::Item> {
        let (seen, header) = (&mut self.seen, &mut self.header_skipped);
        self.stream
            .next_with(|lines| read_passage(lines, seen, header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    #[test]
    fn gzipped_collection_streams_and_detects_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut enc = GzEncoder::new(
            std::fs::File::create(dir.path().join("collection.tsv.gz")).unwrap(),
            Compression::fast(),
        );
        enc.write_all(b"0\tThe presence of communication.\n1\tSecond passage.\n0\tagain\n")
            .unwrap();
        enc.finish().unwrap();
        let ms = MsMarcoPassage::open(dir.path()).unwrap();
        let items: Vec<_> = ms.collection().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_ref().unwrap().text, "Second passage.");
        let err = items[2].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("collection.tsv.gz:3") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn colbert_header_and_title_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.tsv");
        std::fs::write(&p, "id\ttext\ttitle\n0\tbody\tTitle\n").unwrap();
        let mut r = TsvCorpusReader::open(&p).unwrap();
        let doc = r.next().unwrap().unwrap();
        assert_eq!((doc.id.as_str(), doc.title.as_str()), ("0", "Title"));
        assert!(r.next().is_none());
        assert!(r.header_skipped());
        assert_eq!(r.docs_read(), 1);
    }

    #[test]
    fn missing_column_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("collection.tsv"), "0\tok\n1 no tab\n").unwrap();
        let ms = MsMarcoPassage::open(dir.path()).unwrap();
        let err = ms.collection().nth(1).unwrap().unwrap_err().to_string();
        assert!(err.contains("collection.tsv:2"), "{err}");
    }

    #[test]
    fn official_names_and_tab_qrels() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("queries.dev.small.tsv"),
            "5\twhat is x\n7\ty\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("qrels.dev.small.tsv"), "5\t0\t100\t1\n").unwrap();
        let ms = MsMarcoPassage::open(dir.path()).unwrap();
        assert_eq!(ms.queries("dev.small").unwrap()[0].text, "what is x");
        assert_eq!(ms.qrels("dev.small").unwrap().get("5").unwrap()["100"], 1);
        let err = ms.queries("train").unwrap_err().to_string();
        assert!(err.contains("queries.train.tsv"), "{err}");
        assert!(ms.collection().next().unwrap().is_err());
    }
}
