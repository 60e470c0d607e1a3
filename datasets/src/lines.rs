//! Line-by-line reading with line numbers, gzip detected by its magic bytes.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{DatasetsError, Result};

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` for buffered reading, decompressing it when it starts with the gzip
/// magic bytes (whatever its name), so `corpus.jsonl.gz` and `corpus.jsonl` read alike.
pub fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| DatasetsError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().map_err(|e| DatasetsError::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// `dir/name` when it exists, else `dir/name.gz` when that exists, else a
/// [`DatasetsError::MissingFile`] naming what was expected.
pub fn resolve(dir: &Path, name: &str, what: &'static str) -> Result<PathBuf> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DatasetsError::MissingFile { what, path: plain })
}

/// A streaming reader of text lines that knows its file and the current line number.
///
/// Line ends (`\n` or `\r\n`) are removed; a line that is not UTF-8 is an error
/// naming the file and line.
pub struct Lines {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line_no: u64,
    bytes: Vec<u8>,
    text: String,
}

impl Lines {
    /// Opens `path` (plain or gzip).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Lines::from_reader(path, open_maybe_gz(path)?))
    }

    /// Wraps an already open reader; `path` is used in error messages only.
    pub fn from_reader(path: &Path, reader: Box<dyn BufRead + Send>) -> Self {
        Lines {
            path: path.to_path_buf(),
            reader,
            line_no: 0,
            bytes: Vec::new(),
            text: String::new(),
        }
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Advances to the next line; returns its 1-based number, or `None` at the end.
    pub fn advance(&mut self) -> Result<Option<u64>> {
        self.bytes.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.bytes)
            .map_err(|e| DatasetsError::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if self.bytes.last() == Some(&b'\n') {
            self.bytes.pop();
        }
        if self.bytes.last() == Some(&b'\r') {
            self.bytes.pop();
        }
        self.text.clear();
        match std::str::from_utf8(&self.bytes) {
            Ok(s) => self.text.push_str(s),
            Err(e) => {
                return Err(DatasetsError::malformed(
                    &self.path,
                    self.line_no,
                    format!("not UTF-8 ({e})"),
                ))
            }
        }
        Ok(Some(self.line_no))
    }

    /// The current line, without its line end.
    pub fn line(&self) -> &str {
        &self.text
    }

    /// The current 1-based line number (0 before the first line).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// An error about the current line.
    pub fn malformed(&self, message: impl Into<String>) -> DatasetsError {
        DatasetsError::malformed(&self.path, self.line_no, message)
    }
}

/// The iteration the streamed corpus readers share: an error met while opening is
/// yielded first; then records until the end of the file or the first error, after
/// which the stream stays ended (and its file is closed).
pub(crate) struct LineStream {
    lines: Option<Lines>,
    pending_error: Option<DatasetsError>,
}

impl LineStream {
    /// A stream over `opened`, or one that yields its error once.
    pub(crate) fn new(opened: Result<Lines>) -> Self {
        match opened {
            Ok(lines) => LineStream {
                lines: Some(lines),
                pending_error: None,
            },
            Err(e) => LineStream {
                lines: None,
                pending_error: Some(e),
            },
        }
    }

    /// The next record: `read` parses one from the lines (`Ok(None)` at the end).
    pub(crate) fn next_with<T>(
        &mut self,
        read: impl FnOnce(&mut Lines) -> Result<Option<T>>,
    ) -> Option<Result<T>> {
        if let Some(e) = self.pending_error.take() {
            return Some(Err(e));
        }
        let result = read(self.lines.as_mut()?).transpose();
        if !matches!(result, Some(Ok(_))) {
            self.lines = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    #[test]
    fn plain_and_gzip_read_alike_with_crlf_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.txt");
        std::fs::write(&plain, "one\r\ntwo\nthree").unwrap();
        let gz = dir.path().join("b.txt.gz");
        let mut enc = GzEncoder::new(File::create(&gz).unwrap(), Compression::fast());
        enc.write_all(b"one\r\ntwo\nthree").unwrap();
        enc.finish().unwrap();
        for path in [&plain, &gz] {
            let mut lines = Lines::open(path).unwrap();
            let mut got = Vec::new();
            while let Some(n) = lines.advance().unwrap() {
                got.push((n, lines.line().to_string()));
            }
            assert_eq!(
                got,
                vec![
                    (1, "one".to_string()),
                    (2, "two".to_string()),
                    (3, "three".to_string())
                ]
            );
        }
    }

    #[test]
    fn non_utf8_line_is_an_error_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, b"ok\n\xff\xfe\n").unwrap();
        let mut lines = Lines::open(&path).unwrap();
        assert_eq!(lines.advance().unwrap(), Some(1));
        let err = lines.advance().unwrap_err().to_string();
        assert!(err.contains("bad.txt:2"), "{err}");
    }

    #[test]
    fn resolve_prefers_plain_then_gz_then_names_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.tsv.gz"), b"").unwrap();
        assert!(resolve(dir.path(), "x.tsv", "t")
            .unwrap()
            .ends_with("x.tsv.gz"));
        std::fs::write(dir.path().join("x.tsv"), b"").unwrap();
        assert!(resolve(dir.path(), "x.tsv", "t")
            .unwrap()
            .ends_with("x.tsv"));
        let err = resolve(dir.path(), "y.tsv", "test file").unwrap_err();
        assert!(err.to_string().contains("missing test file"), "{err}");
    }
}
