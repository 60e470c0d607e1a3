//! [`SegmentStoreWriter`]: writes a segment's `metadata.sqlite` once, in one transaction.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags};
use serde_json::{Map, Value};

use crate::error::{sqlite, MetadataError, Result};
use crate::schema::{APPLICATION_ID, CREATE_FTS, CREATE_INDEXES, CREATE_TABLES, FORMAT_VERSION};
use crate::value;

/// Writes the metadata and text of one segment's documents into a new SQLite file.
///
/// Rows go in with [`add`](Self::add) in increasing ordinal order, all in one
/// transaction; [`finish`](Self::finish) builds the indexes (and the full-text table when
/// any text was given), commits and fsyncs. The file is written without a journal: until
/// `finish` returns it is incomplete, and a segment whose writer did not finish must not
/// be committed (its directory is garbage for the next writer to remove). The finished
/// file stands alone: no `-wal`, `-shm` or `-journal` file beside it. The caller fsyncs
/// the directory that holds it, as for the segment's other files.
pub struct SegmentStoreWriter {
    path: PathBuf,
    conn: Connection,
    previous: Option<u32>,
    any_text: bool,
    count: u64,
}

impl std::fmt::Debug for SegmentStoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentStoreWriter")
            .field("path", &self.path)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

impl SegmentStoreWriter {
    /// Creates the database file at `path` (conventionally
    /// `seg-NNNNNN/`[`FILE_NAME`](crate::FILE_NAME)). Refuses a path that exists.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // create_new: two writers can never both believe they own the file.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    MetadataError::AlreadyExists { path: path.clone() }
                }
                _ => MetadataError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(sqlite(&path))?;
        // No journal: the file is not live until the segment is committed, so atomicity
        // comes from the index's commit protocol, not from SQLite. Durability comes from
        // the fsync in finish.
        conn.pragma_update(None, "journal_mode", "OFF")
            .and_then(|()| conn.pragma_update(None, "synchronous", "OFF"))
            .and_then(|()| conn.pragma_update(None, "locking_mode", "EXCLUSIVE"))
            .and_then(|()| conn.pragma_update(None, "temp_store", "MEMORY"))
            .and_then(|()| conn.pragma_update(None, "application_id", APPLICATION_ID))
            .and_then(|()| conn.pragma_update(None, "user_version", FORMAT_VERSION))
            .and_then(|()| conn.execute_batch(CREATE_TABLES))
            .and_then(|()| conn.execute_batch("BEGIN"))
            .map_err(sqlite(&path))?;
        Ok(SegmentStoreWriter {
            path,
            conn,
            previous: None,
            any_text: false,
            count: 0,
        })
    }

    /// Adds one document. `ordinal` must be greater than the previous row's. Metadata
    /// is validated first (see [`MetadataError::InvalidMetadata`]); a refused row leaves
    /// nothing behind and the writer usable.
    pub fn add(
        &mut self,
        ordinal: u32,
        id: &str,
        metadata: Option<&Map<String, Value>>,
        text: Option<&str>,
    ) -> Result<()> {
        if let Some(previous) = self.previous.filter(|&p| ordinal <= p) {
            return Err(MetadataError::OrdinalOutOfOrder {
                id: id.to_owned(),
                previous,
                found: ordinal,
            });
        }
        let rows = match metadata {
            Some(metadata) => value::rows(id, metadata)?,
            None => Vec::new(),
        };
        let path = &self.path;
        let inserted = self
            .conn
            .prepare_cached("INSERT INTO documents (ordinal, id, text) VALUES (?1, ?2, ?3)")
            .and_then(|mut statement| statement.execute(params![ordinal, id, text]));
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                return Err(MetadataError::DuplicateId { id: id.to_owned() });
            }
            other => other.map_err(sqlite(path))?,
        };
        let mut statement = self
            .conn
            .prepare_cached(
                "INSERT INTO metadata (ordinal, key, position, kind, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sqlite(path))?;
        for row in rows {
            statement
                .execute(params![
                    ordinal,
                    row.key,
                    row.position,
                    row.kind.as_sql(),
                    row.value
                ])
                .map_err(sqlite(path))?;
        }
        self.previous = Some(ordinal);
        self.any_text |= text.is_some();
        self.count += 1;
        Ok(())
    }

    /// Builds the indexes and the full-text table, commits, closes and fsyncs the file.
    pub fn finish(self) -> Result<()> {
        let SegmentStoreWriter {
            path,
            conn,
            any_text,
            count,
            ..
        } = self;
        conn.execute(
            "INSERT INTO info (key, value) VALUES ('documents', ?1)",
            [i64::try_from(count).unwrap_or(i64::MAX)],
        )
        .and_then(|_| conn.execute_batch(CREATE_INDEXES))
        .and_then(|()| {
            if any_text {
                conn.execute_batch(CREATE_FTS)
            } else {
                Ok(())
            }
        })
        .and_then(|()| conn.execute_batch("COMMIT"))
        .map_err(sqlite(&path))?;
        conn.close().map_err(|(_, source)| MetadataError::Sqlite {
            path: path.clone(),
            source,
        })?;
        std::fs::File::open(&path)
            .and_then(|file| file.sync_all())
            .map_err(|source| MetadataError::Io { path, source })
    }
}
