//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading, writing, evaluating or downloading.
///
/// Every variant about a file names the file; every variant about a line of it
/// names the line (1-based), so a malformed collection can be fixed by hand.
#[derive(Debug, thiserror::Error)]
pub enum DatasetsError {
    /// A file could not be opened, read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file or directory the layout requires is absent (neither plain nor `.gz`).
    #[error("missing {what}: {path} does not exist (nor {path}.gz)")]
    MissingFile {
        /// What the file is (for example "BEIR corpus").
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },

    /// A line does not parse: bad JSON, a missing column, a non-numeric value.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with the line.
        message: String,
    },

    /// The same id (or the same query/document pair) occurs twice.
    #[error("{path}:{line}: duplicate {what} {id:?}{first}")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the second occurrence.
        line: u64,
        /// What is duplicated ("document id", "query id", "judgment", "run entry").
        what: &'static str,
        /// The duplicated id.
        id: String,
        /// " (first at line N)" when known, else empty.
        first: String,
    },

    /// An in-memory structure was given an invalid value (no file involved).
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was invalid ("run score", "measure").
        what: &'static str,
        /// Why.
        message: String,
    },

    /// A download failed; the message says where to put the files by hand.
    #[error("could not download {url}: {message}\n{hint}")]
    Download {
        /// The URL tried.
        url: String,
        /// The transport or HTTP error.
        message: String,
        /// Where to place the dataset by hand when offline.
        hint: String,
    },

    /// A downloaded or cached archive failed verification.
    #[error("{path}: verification failed: {message}")]
    Verification {
        /// The archive or directory.
        path: PathBuf,
        /// What did not match.
        message: String,
    },

    /// A zip archive could not be read.
    #[error("{path}: bad zip archive")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: zip::result::ZipError,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DatasetsError>;

impl DatasetsError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetsError::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed line.
    pub(crate) fn malformed(
        path: impl Into<PathBuf>,
        line: u64,
        message: impl Into<String>,
    ) -> Self {
        DatasetsError::Malformed {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// A duplicate id at `line`, first seen at `first` when known.
    pub(crate) fn duplicate(
        path: impl Into<PathBuf>,
        line: u64,
        what: &'static str,
        id: impl Into<String>,
        first: Option<u64>,
    ) -> Self {
        DatasetsError::Duplicate {
            path: path.into(),
            line,
            what,
            id: id.into(),
            first: first
                .map(|l| format!(" (first at line {l})"))
                .unwrap_or_default(),
        }
    }
}

/// `error` and its causes on one line, `outer: inner: ...` (the variants that carry
/// a source leave it out of their own message, so a chain printer shows it once).
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_error_is_shown_once() {
        let e = DatasetsError::io(
            "qrels/test.tsv",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.to_string(), "qrels/test.tsv");
        assert_eq!(with_causes(&e), "qrels/test.tsv: permission denied");
    }
}
