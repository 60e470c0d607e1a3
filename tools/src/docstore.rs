//! Document text kept beside an index (`tartan index --store-text`).
//!
//! `docs.jsonl` in the index directory: one `{"id": ..., "text": ...}` line per
//! document of the build, looked up by id (document numbers change as segments are
//! added and merged; ids do not). Documents added later have no stored text. The
//! engine never reads it; an index without it simply shows no text.
//! It is streamed to a hidden file beside the output during the build and moved
//! into the finished index only after the index itself is in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// The file name inside an index directory.
pub const DOCS_FILE: &str = "docs.jsonl";

#[derive(Serialize, Deserialize)]
struct DocLine<'a> {
    id: std::borrow::Cow<'a, str>,
    text: std::borrow::Cow<'a, str>,
}

/// Streams document texts while an index builds.
pub struct DocStoreWriter {
    tmp: PathBuf,
    out: BufWriter<File>,
    count: u64,
}

impl DocStoreWriter {
    /// Starts a hidden `.{index name}.docs.partial` beside the index directory `index_dir`.
    pub fn create(index_dir: &Path) -> Result<Self> {
        let name = index_dir
            .file_name()
            .with_context(|| format!("{} has no directory name", index_dir.display()))?;
        let parent = match index_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let tmp = parent.join(format!(".{}.docs.partial", name.to_string_lossy()));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(Self {
            tmp,
            out: BufWriter::new(file),
            count: 0,
        })
    }

    /// Appends the next document.
    pub fn add(&mut self, id: &str, text: &str) -> Result<()> {
        let line = DocLine {
            id: id.into(),
            text: text.into(),
        };
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    /// Moves the texts into the finished index directory.
    pub fn finish(mut self, index_dir: &Path) -> Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        let dest = index_dir.join(DOCS_FILE);
        std::fs::rename(&self.tmp, &dest)
            .with_context(|| format!("cannot move document texts into {}", dest.display()))?;
        Ok(())
    }

    /// Removes the partial file (on a failed build).
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Random access to the texts of an index's documents, by id.
pub struct DocStore {
    file: Mutex<BufReader<File>>,
    /// id -> byte range of its line.
    lines: HashMap<String, (u64, u64)>,
}

impl DocStore {
    /// Opens `docs.jsonl` of an index; `None` when the index stores no text.
    pub fn open(index_dir: &Path) -> Result<Option<Self>> {
        let path = index_dir.join(DOCS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = BufReader::new(file);
        let mut lines = HashMap::new();
        let mut pos = 0u64;
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            #[derive(Deserialize)]
            struct IdOnly {
                id: String,
            }
            let doc: IdOnly = serde_json::from_slice(&line)
                .with_context(|| format!("{}: line {number} is not a document", path.display()))?;
            lines.insert(doc.id, (pos, pos + n as u64));
            pos += n as u64;
        }
        Ok(Some(Self {
            file: Mutex::new(reader),
            lines,
        }))
    }

    /// The text of the document with id `id`, None when none was stored.
    pub fn text(&self, id: &str) -> Result<Option<String>> {
        let Some(&(start, end)) = self.lines.get(id) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; (end - start) as usize];
        {
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut buf)?;
        }
        let line: DocLine = serde_json::from_slice(&buf).context("corrupt docs.jsonl line")?;
        ensure!(line.id == id, "docs.jsonl changed while open");
        Ok(Some(line.text.into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("idx");
        let mut w = DocStoreWriter::create(&index).unwrap();
        w.add("a", "first text").unwrap();
        w.add("b", "second \"quoted\"\nline").unwrap();
        std::fs::create_dir(&index).unwrap();
        w.finish(&index).unwrap();
        let store = DocStore::open(&index).unwrap().unwrap();
        assert_eq!(store.text("b").unwrap().unwrap(), "second \"quoted\"\nline");
        assert_eq!(store.text("a").unwrap().unwrap(), "first text");
        assert_eq!(store.text("c").unwrap(), None);
        assert!(DocStore::open(dir.path()).unwrap().is_none());
        assert!(!dir.path().join(".idx.docs.partial").exists());
    }
}
