//! The database schema of a segment's `metadata.sqlite`.
//!
//! ```sql
//! -- facts about the segment: 'documents' (the row count, so opening need not count)
//! CREATE TABLE info (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
//! -- one row per document of the segment
//! CREATE TABLE documents (
//!     ordinal INTEGER PRIMARY KEY,   -- the document's number in the segment (rowid)
//!     id      TEXT NOT NULL UNIQUE,  -- the external id
//!     text    TEXT                   -- stored text, NULL when none was given
//! );
//! -- the metadata in long ("entity-attribute-value") form: one row per scalar value,
//! -- one row per element of an array of strings; see the value module for the kinds
//! CREATE TABLE metadata (
//!     ordinal  INTEGER NOT NULL,
//!     key      TEXT NOT NULL,
//!     position INTEGER NOT NULL,     -- 0, or the element's index in an array
//!     kind     TEXT NOT NULL,        -- null | bool | number | string | tag | empty_tags
//!     value,                         -- no declared type: SQLite keeps each value's own
//!     PRIMARY KEY (ordinal, key, position)
//! ) WITHOUT ROWID;
//! -- what filters seek on; ordinal comes along from the primary key, so it covers them
//! CREATE INDEX metadata_by_value ON metadata (key, kind, value);
//! -- only when some document has text: BM25 full-text search over documents.text
//! CREATE VIRTUAL TABLE documents_fts USING fts5(text, content='documents',
//!     content_rowid='ordinal', tokenize='porter unicode61 remove_diacritics 2');
//! ```
//!
//! `PRAGMA application_id` holds [`APPLICATION_ID`] and `PRAGMA user_version` the format
//! version, both checked when a store is opened.

/// `PRAGMA application_id` of a tartan metadata database: "TRTM".
pub const APPLICATION_ID: i32 = 0x5452_544D;

/// The schema version written (`PRAGMA user_version`), and the only one read so far.
pub const FORMAT_VERSION: i32 = 1;

/// The file name of a segment's database inside its directory.
pub const FILE_NAME: &str = "metadata.sqlite";

/// The tables, created before the rows go in.
pub(crate) const CREATE_TABLES: &str = "
CREATE TABLE info (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE documents (
    ordinal INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT
);
CREATE TABLE metadata (
    ordinal INTEGER NOT NULL,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('null', 'bool', 'number', 'string', 'tag', 'empty_tags')),
    value,
    PRIMARY KEY (ordinal, key, position)
) WITHOUT ROWID;
";

/// The filter index, built after the rows are in (one sort instead of many inserts).
pub(crate) const CREATE_INDEXES: &str =
    "CREATE INDEX metadata_by_value ON metadata (key, kind, value);";

/// The name of the full-text table.
pub(crate) const FTS_TABLE: &str = "documents_fts";

/// The full-text table over the stored text, filled from `documents` in one pass and
/// merged into a single b-tree since it never changes again. The porter stemmer makes
/// "studies" find "study"; unicode61 folds case and, with remove_diacritics, accents.
pub(crate) const CREATE_FTS: &str = "
CREATE VIRTUAL TABLE documents_fts USING fts5(
    text, content='documents', content_rowid='ordinal',
    tokenize='porter unicode61 remove_diacritics 2'
);
INSERT INTO documents_fts(documents_fts) VALUES('rebuild');
INSERT INTO documents_fts(documents_fts) VALUES('optimize');
";
