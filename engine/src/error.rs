//! The error type of the crate: every invalid input or damaged file is one of these,
//! never a panic.

use std::path::PathBuf;

/// Everything that can go wrong while building, opening or searching an index.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An operating-system error on a file or directory.
    ///
    /// Displays the path only; the OS error is the [`std::error::Error::source`], so a
    /// chain printer (anyhow's `{:#}`) shows `PATH: Permission denied (os error 13)`
    /// once rather than twice.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The index directory itself is not there.
    /// Fix: check the path, or build the index first.
    #[error("index directory {path} does not exist")]
    NoIndex {
        /// The directory asked for.
        path: PathBuf,
    },
    /// A file the index needs is not there.
    /// Fix: the directory is not a (complete) tartan index; rebuild it.
    #[error("{path}: missing index file")]
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// A file is truncated, foreign or inconsistent with the rest of the index.
    /// Fix: rebuild the index; the file was damaged or replaced.
    #[error("{path}: corrupt or foreign index file: {reason}")]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The index was written in a format version this build cannot read.
    /// Fix: rebuild the index with this version of tartan.
    #[error("{path}: index format version {found} is not readable (this build reads {oldest} to {newest})")]
    UnsupportedVersion {
        /// The meta.json holding the version.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The oldest readable version.
        oldest: u32,
        /// The newest readable version (the one written).
        newest: u32,
    },
    /// An input file (embeddings or lengths given to the builder) is not usable.
    #[error("{path}: invalid input: {reason}")]
    InvalidInput {
        /// The input file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A buffer's length does not fit the index dimension.
    #[error(
        "dimension mismatch in {what}: expected a multiple of {expected}, found length {found}"
    )]
    DimensionMismatch {
        /// Which buffer.
        what: &'static str,
        /// The dimension the length must be a multiple of.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A NaN or infinite value in an embedding or a query.
    #[error("non-finite value in {what} at row {row}, column {column}")]
    NonFinite {
        /// Which input.
        what: String,
        /// The row (embedding or query token).
        row: usize,
        /// The column (dimension).
        column: usize,
    },
    /// An input embedding whose L2 norm is not 1 (within 0.01): ColBERT embeddings are
    /// L2-normalised, and every score assumes it.
    /// Fix: normalise each row (numpy: `e / np.linalg.norm(e, axis=1, keepdims=True)`);
    /// an all-zero row has no direction and must be dropped.
    #[error(
        "embedding row {row} (document {document:?}, token {token}) has L2 norm {norm}, \
         not 1: ColBERT embeddings must be L2-normalised (numpy: \
         e / np.linalg.norm(e, axis=1, keepdims=True)); an all-zero row must be dropped"
    )]
    NotUnitNorm {
        /// The row in the whole input (embeddings of all documents back to back).
        row: usize,
        /// The document's external id.
        document: String,
        /// The token (row) within the document.
        token: usize,
        /// The norm found.
        norm: f32,
    },
    /// A query with no tokens.
    #[error("empty query: a query needs at least one token embedding")]
    EmptyQuery,
    /// The builder was given no embeddings at all (no documents, or only empty ones).
    #[error("empty corpus: at least one document with at least one embedding is needed")]
    EmptyCorpus,
    /// Two documents share an external id.
    #[error("duplicate document id {id:?}")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// A build setting or argument is out of range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The build target already exists and overwriting was not asked for.
    /// Fix: remove it, pick another directory, or set `BuildConfig::overwrite`.
    #[error("{path}: already exists (set BuildConfig::overwrite to replace it)")]
    TargetExists {
        /// The target directory.
        path: PathBuf,
    },
    /// Exact search needs the uncompressed embeddings, which this index did not keep.
    /// Fix: build with `BuildConfig::keep_embeddings = true`.
    #[error("this index keeps no uncompressed embeddings (build with keep_embeddings)")]
    NoEmbeddings,
    /// Another process holds the index's writer lock.
    /// Fix: wait for that writer to finish (or stop it).
    #[error("{path}: the index is being written by process {pid}; one writer at a time")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The holder's process id.
        pid: u32,
    },
    /// The index is in an older format that can be read but not written.
    /// Fix: `tartan upgrade --index DIR` (writes a new generation in the current format).
    #[error("{path}: format version {found} is read-only; upgrade the index to change it")]
    ReadOnlyFormat {
        /// The index directory.
        path: PathBuf,
        /// Its format version.
        found: u32,
    },
    /// Indexes searched together ([`crate::ShardSet`]) whose scores would not compare.
    /// Fix: train one codec (`tartan train`) and build every shard with it.
    #[error("incompatible shards: {reason}")]
    IncompatibleShards {
        /// What differs, naming the shards.
        reason: String,
    },
    /// Training or using the centroids or the residual codec failed.
    #[error(transparent)]
    Quantize(#[from] tartan_quantize::QuantizeError),
    /// Writing or reading a segment's metadata database (`metadata.sqlite`) failed, or
    /// a document's metadata was refused (the message names the document and the key).
    #[error(transparent)]
    Metadata(#[from] tartan_metadata::MetadataError),
}

impl EngineError {
    /// An [`EngineError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`EngineError::MissingFile`] when `source` is "not found", else an
    /// [`EngineError::Io`]: the error of opening a file the index needs.
    pub(crate) fn open(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            EngineError::MissingFile { path }
        } else {
            EngineError::Io { path, source }
        }
    }

    /// An [`EngineError::Corrupt`] for `path`.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        EngineError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, EngineError>;
