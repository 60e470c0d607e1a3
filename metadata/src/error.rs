//! The error type of the store: every invalid input or damaged file is one of these,
//! never a panic. Filter syntax errors have their own type, [`crate::FilterError`].

use std::path::PathBuf;

/// Everything that can go wrong while writing, opening or querying a segment's store.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// An error reported by SQLite on the store's database file.
    #[error("{path}: sqlite: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// An operating-system error on the database file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A document's metadata is not a flat object of the supported value types.
    /// Fix: flatten the metadata; values may be a string, an integer, a float, a bool,
    /// null or an array of strings.
    #[error("document `{id}`: metadata key `{key}`: {reason}")]
    InvalidMetadata {
        /// The document's external id.
        id: String,
        /// The offending key.
        key: String,
        /// What is wrong with it.
        reason: InvalidValue,
    },
    /// Rows were given to the writer out of ordinal order.
    #[error("document `{id}`: ordinal {found} follows ordinal {previous}; rows must come in increasing ordinal order")]
    OrdinalOutOfOrder {
        /// The document's external id.
        id: String,
        /// The previous row's ordinal.
        previous: u32,
        /// The ordinal given.
        found: u32,
    },
    /// The same external id was given twice to one store.
    #[error("document id `{id}` appears twice in one segment")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// The writer refuses to touch an existing file: a segment's database is written once.
    #[error(
        "{path}: already exists; a segment's metadata database is written once, never modified"
    )]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A path SQLite cannot be given (not valid UTF-8).
    #[error("{path}: the path is not valid UTF-8")]
    InvalidPath {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a tartan metadata database, or was written by an unknown version.
    /// Fix: the segment was damaged or replaced; rebuild the index.
    #[error("{path}: not a tartan metadata database: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter outside its domain (such as a negative rank-fusion constant).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Why one metadata value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// A nested object: metadata is flat.
    #[error("nested objects are not supported (metadata is a flat object)")]
    NestedObject,
    /// An array element that is not a string.
    #[error("array element {index} is {found}; arrays may only hold strings (tags)")]
    NonStringElement {
        /// The element's position.
        index: usize,
        /// The JSON type found.
        found: &'static str,
    },
    /// An integer beyond the 64-bit signed range SQLite stores.
    #[error("integer {0} is outside the 64-bit signed range")]
    IntegerOutOfRange(String),
    /// The empty string as a key.
    #[error("empty keys are not allowed")]
    EmptyKey,
    /// A key starting with `$`, which the filter language reserves for operators.
    #[error("keys may not start with `$` (reserved for filter operators)")]
    ReservedKey,
}

/// The result type of the store.
pub type Result<T, E = MetadataError> = std::result::Result<T, E>;

/// Attaches the database path to a SQLite error.
pub(crate) fn sqlite(path: &std::path::Path) -> impl FnOnce(rusqlite::Error) -> MetadataError + '_ {
    move |source| MetadataError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}
