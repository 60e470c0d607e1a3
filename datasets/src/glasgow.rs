//! The small classic test collections in the University of Glasgow's original
//! files: Cranfield 1400, MEDLINE and ADI (small enough to load whole).
//!
//! Documents and queries are records of field markers, one a line:
//!
//! ```text
//! .I 12          record id
//! .T             title lines follow        (documents of Cranfield and ADI)
//! .A  .B         authors, bibliography     (read and dropped)
//! .W             body / query text lines follow
//! ```
//!
//! Lines of a field are trimmed and joined by one space; a field given twice in a
//! record (Cranfield 576, 578; ADI 67) is joined the same way. CRLF line ends are
//! handled. A marker line is `.` + one capital letter, alone or followed by a
//! space; an unknown marker or text before the first `.I` is an error.
//!
//! Judgments:
//! - Cranfield `cranqrel`: `qid docid code`, Cleverdon's codes 1 (complete answer)
//!   to 4 (minimum interest), and -1. tartan turns them into graded gains for
//!   nDCG: `gain = 5 - code` for codes 1-4 (so 4 is best), and -1 becomes 0
//!   (judged, not relevant). Query ids in `cran.qry` run 001..365 with gaps while
//!   `cranqrel` numbers queries 1..225 by position, so Cranfield queries are given
//!   their position (1-based) as id.
//! - MEDLINE `MED.REL`: TREC qrels `qid 0 docid 1`.
//! - ADI `ADI.REL` (and MEDLINE's `MED.REL.OLD`): `qid docid 0 0.000000`; every
//!   listed pair is relevant (1).

use std::collections::HashMap;
use std::path::Path;

use crate::beir::{CorpusDoc, Query};
use crate::error::{DatasetsError, Result};
use crate::lines::Lines;
use crate::qrels::Qrels;

/// A whole small collection: documents, queries, judgments.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Documents in file order.
    pub docs: Vec<CorpusDoc>,
    /// Queries in file order.
    pub queries: Vec<Query>,
    /// Judgments.
    pub qrels: Qrels,
}

/// Cranfield 1400 from `cran.all.1400`, `cran.qry`, `cranqrel` in `dir`.
pub fn cranfield(dir: &Path) -> Result<Collection> {
    Ok(Collection {
        docs: read_docs(&dir.join("cran.all.1400"))?,
        queries: read_queries(&dir.join("cran.qry"), QueryIds::Position)?,
        qrels: read_cranqrel(&dir.join("cranqrel"))?,
    })
}

/// MEDLINE from `MED.ALL`, `MED.QRY`, `MED.REL` in `dir`.
pub fn medline(dir: &Path) -> Result<Collection> {
    Ok(Collection {
        docs: read_docs(&dir.join("MED.ALL"))?,
        queries: read_queries(&dir.join("MED.QRY"), QueryIds::AsWritten)?,
        qrels: Qrels::read_trec(&dir.join("MED.REL"))?,
    })
}

/// ADI from `ADI.ALL`, `ADI.QRY`, `ADI.REL` in `dir`.
pub fn adi(dir: &Path) -> Result<Collection> {
    Ok(Collection {
        docs: read_docs(&dir.join("ADI.ALL"))?,
        queries: read_queries(&dir.join("ADI.QRY"), QueryIds::AsWritten)?,
        qrels: read_pairs_qrels(&dir.join("ADI.REL"))?,
    })
}

/// How query ids are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryIds {
    /// The `.I` number as written (leading zeros dropped).
    AsWritten,
    /// The 1-based position in the file (Cranfield's judgments use these).
    Position,
}

/// One parsed record: id, line of its `.I`, fields by marker letter.
struct Record {
    id: String,
    line: u64,
    fields: HashMap<char, String>,
}

fn read_records(path: &Path) -> Result<Vec<Record>> {
    let mut lines = Lines::open(path)?;
    let mut records: Vec<Record> = Vec::new();
    let mut field: Option<char> = None;
    while let Some(n) = lines.advance()? {
        let line = lines.line();
        let b = line.as_bytes();
        let is_marker = b.len() >= 2
            && b[0] == b'.'
            && b[1].is_ascii_uppercase()
            && (b.len() == 2 || b[2] == b' ' || line[2..].trim().is_empty());
        if is_marker {
            let letter = b[1] as char;
            match letter {
                'I' => {
                    let raw = line[2..].trim();
                    let id = raw.parse::<u64>().map_err(|_| {
                        lines.malformed(format!("record id {raw:?} is not a number"))
                    })?;
                    records.push(Record {
                        id: id.to_string(),
                        line: n,
                        fields: HashMap::new(),
                    });
                    field = None;
                }
                'T' | 'A' | 'B' | 'W' => {
                    if records.is_empty() {
                        return Err(lines.malformed("field marker before the first .I"));
                    }
                    field = Some(letter);
                }
                _ => return Err(lines.malformed(format!("unknown field marker .{letter}"))),
            }
            continue;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let (Some(record), Some(f)) = (records.last_mut(), field) else {
            return Err(lines.malformed("text outside any .T/.A/.B/.W field"));
        };
        let value = record.fields.entry(f).or_default();
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(text);
    }
    Ok(records)
}

/// Reads a Glasgow document file (`.I`, `.T`, `.W`; other fields dropped).
pub fn read_docs(path: &Path) -> Result<Vec<CorpusDoc>> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    read_records(path)?
        .into_iter()
        .map(|mut r| {
            if let Some(first) = seen.insert(r.id.clone(), r.line) {
                return Err(DatasetsError::duplicate(
                    path,
                    r.line,
                    "document id",
                    r.id,
                    Some(first),
                ));
            }
            Ok(CorpusDoc {
                title: r.fields.remove(&'T').unwrap_or_default(),
                text: r.fields.remove(&'W').unwrap_or_default(),
                id: r.id,
                metadata: None,
            })
        })
        .collect()
}

/// Reads a Glasgow query file (`.I`, `.W`).
pub fn read_queries(path: &Path, ids: QueryIds) -> Result<Vec<Query>> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    read_records(path)?
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            let id = match ids {
                QueryIds::AsWritten => r.id,
                QueryIds::Position => (i + 1).to_string(),
            };
            if let Some(first) = seen.insert(id.clone(), r.line) {
                return Err(DatasetsError::duplicate(
                    path,
                    r.line,
                    "query id",
                    id,
                    Some(first),
                ));
            }
            Ok(Query {
                id,
                text: r.fields.remove(&'W').unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads Cranfield's `cranqrel` (`qid docid code`), codes turned into gains
/// (`5 - code` for 1-4, 0 for -1; see the module docs). Other codes are errors.
pub fn read_cranqrel(path: &Path) -> Result<Qrels> {
    read_three_or_four(path, |lines, cols| {
        if cols.len() != 3 {
            return Err(lines.malformed(format!(
                "expected `qid docid code`, got {} columns",
                cols.len()
            )));
        }
        let gain = match cols[2] {
            "1" => 4,
            "2" => 3,
            "3" => 2,
            "4" => 1,
            "-1" => 0,
            other => return Err(lines.malformed(format!("unknown relevance code {other:?}"))),
        };
        Ok(gain)
    })
}

/// Reads the old Glasgow judgments `qid docid 0 0.000000` (ADI.REL, MED.REL.OLD):
/// every listed pair is relevant (1).
pub fn read_pairs_qrels(path: &Path) -> Result<Qrels> {
    read_three_or_four(path, |lines, cols| {
        if cols.len() != 4 {
            return Err(lines.malformed(format!(
                "expected `qid docid 0 0.000000`, got {} columns",
                cols.len()
            )));
        }
        Ok(1)
    })
}

fn read_three_or_four(
    path: &Path,
    relevance: impl Fn(&Lines, &[&str]) -> Result<i32>,
) -> Result<Qrels> {
    let mut lines = Lines::open(path)?;
    let mut qrels = Qrels::new();
    while let Some(n) = lines.advance()? {
        let cols: Vec<&str> = lines.line().split_whitespace().collect();
        if cols.is_empty() {
            return Err(lines.malformed("blank line in judgments"));
        }
        let rel = relevance(&lines, &cols)?;
        for id in &cols[..2] {
            if id.parse::<u64>().is_err() {
                return Err(lines.malformed(format!("id {id:?} is not a number")));
            }
        }
        // Drop leading zeros so ids match the `.I` numbers.
        let q = cols[0]
            .parse::<u64>()
            .map_or(String::new(), |v| v.to_string());
        let d = cols[1]
            .parse::<u64>()
            .map_or(String::new(), |v| v.to_string());
        qrels
            .insert(&q, &d, rel)
            .map_err(|_| DatasetsError::duplicate(path, n, "judgment", format!("{q} {d}"), None))?;
    }
    Ok(qrels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_with_repeated_fields_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("X.ALL");
        std::fs::write(
            &p,
            ".I 1\r\n.T\r\nA title\r\n.A\r\nsomeone\r\n.W\r\n body one  \r\nline two\r\n.W\r\nmore\r\n.I 2\r\n.W\r\n.5 percent\r\n",
        )
        .unwrap();
        let docs = read_docs(&p).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].title, "A title");
        assert_eq!(docs[0].text, "body one line two more");
        assert_eq!(docs[1].text, ".5 percent");
    }

    #[test]
    fn unknown_marker_and_duplicate_id_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("X.ALL");
        std::fs::write(&p, ".I 1\n.X\nfoo\n").unwrap();
        assert!(read_docs(&p).unwrap_err().to_string().contains("X.ALL:2"));
        std::fs::write(&p, ".I 1\n.W\na\n.I 01\n.W\nb\n").unwrap();
        let err = read_docs(&p).unwrap_err().to_string();
        assert!(
            err.contains("X.ALL:4") && err.contains("first at line 1"),
            "{err}"
        );
    }

    #[test]
    fn cranfield_codes_become_gains() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cranqrel");
        std::fs::write(&p, "1 184 2 \n1 29 1\n2 12 -1\n2 5 4").unwrap();
        let q = read_cranqrel(&p).unwrap();
        assert_eq!(q.get("1").unwrap()["184"], 3);
        assert_eq!(q.get("1").unwrap()["29"], 4);
        assert_eq!(q.get("2").unwrap()["12"], 0);
        assert_eq!(q.get("2").unwrap()["5"], 1);
        std::fs::write(&p, "1 184 7\n").unwrap();
        assert!(read_cranqrel(&p).is_err());
    }
}
