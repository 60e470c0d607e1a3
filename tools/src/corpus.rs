//! Reading documents and queries from the layouts users have on disk.
//!
//! Documents: a BEIR directory (`corpus.jsonl`, its `metadata` objects kept), an MS
//! MARCO directory or file (`collection.tsv`: `pid<TAB>passage`), JSONL
//! (`{"id"|"_id", "text", "title"?, "metadata"?}` per line, `metadata` a flat object),
//! TSV (`id<TAB>text`) or plain text (one document per line, ids
//! `0..n`). Queries: the same, from a BEIR directory's `queries.jsonl`.
//! Everything streams: a corpus is never held in memory whole.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// One document or query: its id and the text the encoder sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextItem {
    /// The external id.
    pub id: String,
    /// The text (for BEIR documents, the title and body joined as BEIR does).
    pub text: String,
    /// Flat JSON metadata: a JSONL line's `metadata` object, BEIR's `metadata`.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Where a collection of texts comes from, decided from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextSource {
    /// A BEIR dataset directory.
    Beir(PathBuf),
    /// JSONL: one object per line with an id (`id` or `_id`), `text`, optional `title`.
    Jsonl(PathBuf),
    /// TSV: `id<TAB>text` per line (MS MARCO's collection.tsv and queries files).
    Tsv(PathBuf),
    /// Plain text: one item per line, ids are line numbers from 0.
    Lines(PathBuf),
}

/// The stream of items a [`TextSource`] yields.
pub type TextIter = Box<dyn Iterator<Item = Result<TextItem>>>;

impl TextSource {
    /// Chooses the layout of a corpus path: a directory with `corpus.jsonl` is BEIR,
    /// one with `collection.tsv` is MS MARCO; files go by extension
    /// (`.jsonl`/`.json`, `.tsv`, anything else is one text per line).
    pub fn detect_corpus(path: &Path) -> Result<Self> {
        if path.is_dir() {
            if path.join("corpus.jsonl").is_file() {
                return Ok(TextSource::Beir(path.to_path_buf()));
            }
            if path.join("collection.tsv").is_file() {
                return Ok(TextSource::Tsv(path.join("collection.tsv")));
            }
            bail!(
                "{}: a directory must hold corpus.jsonl (BEIR) or collection.tsv (MS MARCO)",
                path.display()
            );
        }
        Self::detect_file(path)
    }

    /// Chooses the layout of a queries path: a BEIR directory means its `queries.jsonl`.
    pub fn detect_queries(path: &Path) -> Result<Self> {
        if path.is_dir() {
            let queries = path.join("queries.jsonl");
            if queries.is_file() {
                return Ok(TextSource::Jsonl(queries));
            }
            bail!(
                "{}: a directory must hold queries.jsonl (BEIR)",
                path.display()
            );
        }
        Self::detect_file(path)
    }

    fn detect_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            bail!("{}: no such file or directory", path.display());
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "jsonl" | "json" => TextSource::Jsonl(path.to_path_buf()),
            "tsv" => TextSource::Tsv(path.to_path_buf()),
            _ => TextSource::Lines(path.to_path_buf()),
        })
    }

    /// The file whose lines are the items (for progress totals).
    fn line_file(&self) -> PathBuf {
        match self {
            TextSource::Beir(dir) => dir.join("corpus.jsonl"),
            TextSource::Jsonl(p) | TextSource::Tsv(p) | TextSource::Lines(p) => p.clone(),
        }
    }

    /// Counts the items (non-empty lines) with one quick pass over the file.
    pub fn count(&self) -> Result<u64> {
        let path = self.line_file();
        let reader = open(&path)?;
        let mut n = 0u64;
        for line in reader.split(b'\n') {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            if !line.iter().all(u8::is_ascii_whitespace) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Streams the items.
    pub fn items(&self) -> Result<TextIter> {
        match self {
            TextSource::Beir(dir) => beir_corpus(dir),
            TextSource::Jsonl(path) => Ok(line_items(path.clone(), parse_jsonl)),
            TextSource::Tsv(path) => Ok(line_items(path.clone(), parse_tsv)),
            TextSource::Lines(path) => Ok(line_items(path.clone(), |n, line| {
                Ok(TextItem {
                    id: n.to_string(),
                    text: line.to_string(),
                    metadata: None,
                })
            })),
        }
    }
}

fn open(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

fn beir_corpus(dir: &Path) -> Result<TextIter> {
    let dataset = tartan_datasets::BeirDataset::open(dir)
        .with_context(|| format!("cannot open BEIR dataset {}", dir.display()))?;
    Ok(Box::new(dataset.corpus().map(|doc| {
        let doc = doc?;
        Ok(TextItem {
            text: doc.text_for_encoding(),
            id: doc.id,
            metadata: doc.metadata,
        })
    })))
}

/// Items from the non-empty lines of a file; `parse` gets the item number and the line.
fn line_items(path: PathBuf, parse: fn(usize, &str) -> Result<TextItem>) -> TextIter {
    let reader = match open(&path) {
        Ok(r) => r,
        Err(e) => return Box::new(std::iter::once(Err(e))),
    };
    let mut item_no = 0usize;
    Box::new(
        reader
            .lines()
            .enumerate()
            .filter_map(move |(line_no, line)| {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        return Some(Err(anyhow::Error::new(e).context(format!(
                            "{}: line {}",
                            path.display(),
                            line_no + 1
                        ))))
                    }
                };
                let line = line.trim_end_matches(['\r', '\n']);
                if line.trim().is_empty() {
                    return None;
                }
                let item = parse(item_no, line)
                    .with_context(|| format!("{}: line {}", path.display(), line_no + 1));
                item_no += 1;
                Some(item)
            }),
    )
}

#[derive(Deserialize)]
struct JsonItem {
    #[serde(alias = "_id", alias = "docid", alias = "qid", alias = "pid")]
    id: serde_json::Value,
    #[serde(default)]
    title: String,
    #[serde(alias = "contents", alias = "passage", alias = "query")]
    text: String,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

fn parse_jsonl(_n: usize, line: &str) -> Result<TextItem> {
    let item: JsonItem =
        serde_json::from_str(line).context("expected a JSON object with \"id\" and \"text\"")?;
    let id = match item.id {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other => bail!("id must be a string or a number, found {other}"),
    };
    let metadata = match item.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(m)) => (!m.is_empty()).then_some(m),
        Some(other) => bail!("document {id}: \"metadata\" must be an object, found {other}"),
    };
    Ok(TextItem {
        id,
        text: join_title(&item.title, &item.text),
        metadata,
    })
}

/// BEIR's convention: title and body joined by a space when there is a title.
pub fn join_title(title: &str, text: &str) -> String {
    let title = title.trim();
    if title.is_empty() {
        text.to_string()
    } else {
        format!("{title} {text}")
    }
}

fn parse_tsv(_n: usize, line: &str) -> Result<TextItem> {
    let (id, text) = line.split_once('\t').context("expected id<TAB>text")?;
    Ok(TextItem {
        id: id.trim().to_string(),
        text: text.to_string(),
        metadata: None,
    })
}

/// Reads all queries of a file or BEIR directory.
pub fn read_queries(path: &Path) -> Result<Vec<TextItem>> {
    TextSource::detect_queries(path)?.items()?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn jsonl_accepts_beir_and_plain_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "c.jsonl",
            "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"body\"}\n\n{\"id\": 7, \"text\": \"x\"}\n",
        );
        let src = TextSource::detect_corpus(&p).unwrap();
        assert_eq!(src, TextSource::Jsonl(p.clone()));
        assert_eq!(src.count().unwrap(), 2);
        let items: Vec<_> = src.items().unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(
            items,
            vec![
                TextItem {
                    id: "d1".into(),
                    text: "T body".into(),
                    metadata: None,
                },
                TextItem {
                    id: "7".into(),
                    text: "x".into(),
                    metadata: None,
                },
            ]
        );
    }

    #[test]
    fn tsv_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = write(dir.path(), "collection.tsv", "0\thello world\r\n1\tbye\n");
        let items: Vec<_> = TextSource::detect_corpus(dir.path())
            .unwrap()
            .items()
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            items[1],
            TextItem {
                id: "1".into(),
                text: "bye".into(),
                metadata: None,
            }
        );
        assert_eq!(
            TextSource::detect_corpus(&tsv).unwrap(),
            TextSource::Tsv(tsv)
        );
        let txt = write(dir.path(), "q.txt", "first\n\nsecond\n");
        let items = read_queries(&txt).unwrap();
        assert_eq!(
            items[1],
            TextItem {
                id: "1".into(),
                text: "second".into(),
                metadata: None,
            }
        );
    }

    #[test]
    fn bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.tsv", "a\tb\nno tab here\n");
        let err = TextSource::detect_corpus(&p)
            .unwrap()
            .items()
            .unwrap()
            .collect::<Result<Vec<_>>>()
            .unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn missing_path_is_an_error() {
        assert!(TextSource::detect_corpus(Path::new("/nonexistent/x.jsonl")).is_err());
    }
}
