//! [`SegmentStore`]: the read-only view of a finished segment's `metadata.sqlite`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use roaring::RoaringBitmap;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value};

use crate::cache::BitmapCache;
use crate::error::{sqlite, MetadataError, Result};
use crate::filter::{sql, CompiledFilter, Filter};
use crate::fts;
use crate::schema::{APPLICATION_ID, FORMAT_VERSION, FTS_TABLE};
use crate::value;

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How many filter bitmaps [`SegmentStore::evaluate`] keeps (least recently used
    /// go first); 0 turns the cache off. A bitmap takes at most one bit per document.
    pub cache_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { cache_capacity: 64 }
    }
}

/// One document as [`SegmentStore::for_each_document`] reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDocument {
    /// Its number in the segment.
    pub ordinal: u32,
    /// Its external id.
    pub id: String,
    /// Its metadata (empty when it was stored without).
    pub metadata: Map<String, Value>,
    /// Its stored text.
    pub text: Option<String>,
}

/// A segment's metadata and text, opened read-only.
///
/// The database is opened through an `immutable=1` URI: SQLite takes no locks, writes
/// no journal and never changes the file, which the segment model guarantees is never
/// modified. A store is `Send + Sync`; queries on one store are serialised (one SQLite
/// connection), stores of different segments run in parallel.
pub struct SegmentStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    count: u64,
    /// The first and last ordinal, when there are documents.
    span: Option<(u32, u32)>,
    has_text: bool,
    cache: BitmapCache,
    /// Every ordinal, computed on first use.
    all: OnceLock<RoaringBitmap>,
}

impl std::fmt::Debug for SegmentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentStore")
            .field("path", &self.path)
            .field("count", &self.count)
            .field("has_text", &self.has_text)
            .finish_non_exhaustive()
    }
}

/// `file:` URI of a path, percent-encoding everything but unreserved characters and `/`,
/// so that `?`, `#` and `%` in directory names stay part of the path.
fn uri(path: &Path) -> Result<String> {
    let absolute = std::path::absolute(path).map_err(|source| MetadataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut uri = String::from("file:");
    for &byte in absolute.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(char::from(byte));
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Ok(uri)
}

impl SegmentStore {
    /// Opens a finished store with the default [`StoreOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens a finished store: checks that it is a tartan metadata database of a
    /// readable version and reads its document count.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // SQLite's "unable to open database file" does not say why; the OS does.
        std::fs::metadata(&path).map_err(|source| MetadataError::Io {
            path: path.clone(),
            source,
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(uri(&path)?, flags).map_err(sqlite(&path))?;
        let corrupt = |reason: String| MetadataError::Corrupt {
            path: path.clone(),
            reason,
        };
        let application_id: i32 = conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    corrupt(e.to_string())
                }
                _ => sqlite(&path)(e),
            })?;
        if application_id != APPLICATION_ID {
            return Err(corrupt(format!(
                "application id {application_id:#x}, expected {APPLICATION_ID:#x}"
            )));
        }
        let version: i32 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sqlite(&path))?;
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {version}; this build reads version {FORMAT_VERSION}"
            )));
        }
        // min and max are two b-tree descents (each in its own SELECT: SQLite skips the
        // scan only for a lone min or max); the count was recorded by the writer
        // (counting a million rows takes tens of milliseconds).
        let (count, first, last): (Option<i64>, Option<i64>, Option<i64>) = conn
            .query_row(
                "SELECT (SELECT value FROM info WHERE key = 'documents'), \
                 (SELECT min(ordinal) FROM documents), (SELECT max(ordinal) FROM documents)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .map_err(sqlite(&path))?;
        let count = count
            .and_then(|c| u64::try_from(c).ok())
            .ok_or_else(|| corrupt("no document count in the info table".to_owned()))?;
        let span = match (first, last) {
            (Some(first), Some(last)) => match (u32::try_from(first), u32::try_from(last)) {
                (Ok(first), Ok(last)) => Some((first, last)),
                _ => return Err(corrupt(format!("ordinals {first}..={last} out of range"))),
            },
            _ => None,
        };
        let possible = span.map_or(0, |(first, last)| u64::from(last - first) + 1);
        if count > possible || (count == 0) != span.is_none() {
            return Err(corrupt(format!(
                "{count} documents recorded, ordinals span {span:?}"
            )));
        }
        let has_text: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [FTS_TABLE],
                |row| row.get(0),
            )
            .map_err(sqlite(&path))?;
        Ok(SegmentStore {
            path,
            conn: Mutex::new(conn),
            count,
            span,
            has_text,
            cache: BitmapCache::new(options.cache_capacity),
            all: OnceLock::new(),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // The connection is read-only: a panic elsewhere cannot leave it inconsistent.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn corrupt(&self, reason: String) -> MetadataError {
        MetadataError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    /// An ordinal read from the file, which must fit the `u32` it was written from.
    fn ordinal(&self, value: i64) -> Result<u32> {
        u32::try_from(value).map_err(|_| self.corrupt(format!("ordinal {value} out of range")))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of documents.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether any document has stored text (and so the full-text table exists).
    pub fn has_text(&self) -> bool {
        self.has_text
    }

    /// A document's metadata: `None` when no document has this ordinal, an empty object
    /// when it was stored without metadata.
    pub fn metadata(&self, ordinal: u32) -> Result<Option<Map<String, Value>>> {
        let conn = self.conn();
        let exists: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM documents WHERE ordinal = ?1)")
            .and_then(|mut s| s.query_row([ordinal], |row| row.get(0)))
            .map_err(sqlite(&self.path))?;
        if !exists {
            return Ok(None);
        }
        let mut statement = conn
            .prepare_cached(
                "SELECT key, kind, value FROM metadata WHERE ordinal = ?1 ORDER BY key, position",
            )
            .map_err(sqlite(&self.path))?;
        let rows = statement
            .query_map([ordinal], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<(String, String, SqlValue)>>>())
            .map_err(sqlite(&self.path))?;
        value::to_json(rows)
            .map(Some)
            .map_err(|reason| self.corrupt(format!("document {ordinal}: {reason}")))
    }

    /// A document's stored text: `None` when it has none or no document has this ordinal.
    pub fn text(&self, ordinal: u32) -> Result<Option<String>> {
        self.conn()
            .prepare_cached("SELECT text FROM documents WHERE ordinal = ?1")
            .and_then(|mut s| s.query_row([ordinal], |row| row.get(0)).optional())
            .map(Option::flatten)
            .map_err(sqlite(&self.path))
    }

    /// A document's external id.
    pub fn id(&self, ordinal: u32) -> Result<Option<String>> {
        self.conn()
            .prepare_cached("SELECT id FROM documents WHERE ordinal = ?1")
            .and_then(|mut s| s.query_row([ordinal], |row| row.get(0)).optional())
            .map_err(sqlite(&self.path))
    }

    /// The ordinal of an external id.
    pub fn ordinal_of(&self, id: &str) -> Result<Option<u32>> {
        let found: Option<i64> = self
            .conn()
            .prepare_cached("SELECT ordinal FROM documents WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |row| row.get(0)).optional())
            .map_err(sqlite(&self.path))?;
        found.map(|o| self.ordinal(o)).transpose()
    }

    /// Every document's (ordinal, external id), in ordinal order.
    pub fn ids(&self) -> Result<Vec<(u32, String)>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT ordinal, id FROM documents ORDER BY ordinal")
            .map_err(sqlite(&self.path))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sqlite(&self.path))?;
        rows.into_iter()
            .map(|(ordinal, id)| Ok((self.ordinal(ordinal)?, id)))
            .collect()
    }

    /// Visits every document in ordinal order with its id, metadata and text, reading
    /// both tables in one ordered pass each (for merging segments, or re-encoding stored
    /// texts). An error from `visit` stops the walk and is returned.
    pub fn for_each_document<E: From<MetadataError>>(
        &self,
        mut visit: impl FnMut(StoredDocument) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let conn = self.conn();
        let mut documents = conn
            .prepare("SELECT ordinal, id, text FROM documents ORDER BY ordinal")
            .map_err(sqlite(&self.path))?;
        // The primary key's order: no sort.
        let mut values = conn
            .prepare(
                "SELECT ordinal, key, kind, value FROM metadata ORDER BY ordinal, key, position",
            )
            .map_err(sqlite(&self.path))?;
        let mut documents = documents.query([]).map_err(sqlite(&self.path))?;
        let mut values = values.query([]).map_err(sqlite(&self.path))?;
        let read_value =
            |row: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, (String, String, SqlValue))> {
                Ok((row.get(0)?, (row.get(1)?, row.get(2)?, row.get(3)?)))
            };
        let mut pending = match values.next().map_err(sqlite(&self.path))? {
            Some(row) => Some(read_value(row).map_err(sqlite(&self.path))?),
            None => None,
        };
        while let Some(row) = documents.next().map_err(sqlite(&self.path))? {
            let ordinal: i64 = row.get(0).map_err(sqlite(&self.path))?;
            let id: String = row.get(1).map_err(sqlite(&self.path))?;
            let text: Option<String> = row.get(2).map_err(sqlite(&self.path))?;
            let mut rows = Vec::new();
            while let Some((value_ordinal, value)) = pending.take() {
                if value_ordinal != ordinal {
                    pending = Some((value_ordinal, value));
                    break;
                }
                rows.push(value);
                pending = match values.next().map_err(sqlite(&self.path))? {
                    Some(row) => Some(read_value(row).map_err(sqlite(&self.path))?),
                    None => None,
                };
            }
            let ordinal = self.ordinal(ordinal)?;
            let metadata = value::to_json(rows)
                .map_err(|reason| self.corrupt(format!("document {ordinal}: {reason}")))?;
            visit(StoredDocument {
                ordinal,
                id,
                metadata,
                text,
            })?;
        }
        if let Some((ordinal, _)) = pending {
            return Err(self
                .corrupt(format!(
                    "metadata rows of ordinal {ordinal}, which is no document"
                ))
                .into());
        }
        Ok(())
    }

    /// The filter as one parameterised SQL statement on this store (`$and`, `$or`, `$not`
    /// as `INTERSECT`, `UNION`, `EXCEPT`): what [`evaluate_in_sql`](Self::evaluate_in_sql)
    /// runs, and what one can run in the sqlite3 shell to see a filter's documents.
    /// [`evaluate`](Self::evaluate) runs the same SQL per condition.
    pub fn compile(&self, filter: &Filter) -> CompiledFilter {
        sql::compile(filter, self.has_text)
    }

    /// The ordinals of the documents matching a filter. Repeated filters come from the
    /// bounded LRU cache, keyed by [`Filter::canonical`].
    pub fn evaluate(&self, filter: &Filter) -> Result<Arc<RoaringBitmap>> {
        let key = filter.canonical();
        if let Some(bitmap) = self.cache.get(&key) {
            return Ok(bitmap);
        }
        let bitmap = Arc::new(self.evaluate_uncached(filter)?);
        self.cache.insert(key, Arc::clone(&bitmap));
        Ok(bitmap)
    }

    /// [`evaluate`](Self::evaluate) without the cache. Each condition on a field (and
    /// each `$text`) is one SQL query over the covering index; `$and`, `$or` and `$not`
    /// combine their bitmaps with roaring's set operations, which take microseconds
    /// where SQLite's `INTERSECT`/`EXCEPT` build temporary b-trees (docs/metadata.md has
    /// the figures). The result equals [`evaluate_in_sql`](Self::evaluate_in_sql)'s.
    pub fn evaluate_uncached(&self, filter: &Filter) -> Result<RoaringBitmap> {
        let conn = self.conn();
        self.combine(&conn, filter)
    }

    /// The documents matching a filter, computed by SQLite alone: the single statement
    /// of [`compile`](Self::compile). The same set as
    /// [`evaluate_uncached`](Self::evaluate_uncached), slower for combined filters; it
    /// is there to check the two against each other and to measure.
    pub fn evaluate_in_sql(&self, filter: &Filter) -> Result<RoaringBitmap> {
        let conn = self.conn();
        self.run(&conn, &self.compile(filter))
    }

    fn combine(&self, conn: &Connection, filter: &Filter) -> Result<RoaringBitmap> {
        use crate::filter::Condition;
        let complement = |positive: Filter| -> Result<RoaringBitmap> {
            Ok(self.all(conn)? - self.combine(conn, &positive)?)
        };
        match filter {
            Filter::And(filters) => {
                let Some((first, rest)) = filters.split_first() else {
                    return Ok(self.all(conn)?.clone());
                };
                let mut matching = self.combine(conn, first)?;
                for filter in rest {
                    if matching.is_empty() {
                        break;
                    }
                    matching &= self.combine(conn, filter)?;
                }
                Ok(matching)
            }
            Filter::Or(filters) => filters.iter().try_fold(RoaringBitmap::new(), |acc, f| {
                Ok(acc | self.combine(conn, f)?)
            }),
            Filter::Not(filter) => Ok(self.all(conn)? - self.combine(conn, filter)?),
            Filter::Field { key, condition } => {
                let field = |condition| Filter::Field {
                    key: key.clone(),
                    condition,
                };
                match condition {
                    Condition::Ne(value) => complement(field(Condition::Eq(value.clone()))),
                    Condition::Nin(values) => complement(field(Condition::In(values.clone()))),
                    Condition::Exists(false) => complement(field(Condition::Exists(true))),
                    _ => self.run(conn, &self.compile(filter)),
                }
            }
            Filter::Text(_) => self.run(conn, &self.compile(filter)),
        }
    }

    /// Runs a compiled filter and collects the ordinals it returns.
    fn run(&self, conn: &Connection, compiled: &CompiledFilter) -> Result<RoaringBitmap> {
        let mut statement = conn
            .prepare_cached(&compiled.sql)
            .map_err(sqlite(&self.path))?;
        let mut rows = statement
            .query(params_from_iter(&compiled.params))
            .map_err(sqlite(&self.path))?;
        let mut ordinals = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite(&self.path))? {
            let ordinal: i64 = row.get(0).map_err(sqlite(&self.path))?;
            ordinals.push(self.ordinal(ordinal)?);
        }
        // Rows come in index order (by value), not by ordinal: sorting first lets the
        // bitmap be built by appending, much faster than random inserts.
        ordinals.sort_unstable();
        ordinals.dedup();
        Ok(RoaringBitmap::from_sorted_iter(ordinals).unwrap_or_default())
    }

    /// The ordinals of all documents (what `$not` complements within).
    pub fn ordinals(&self) -> Result<&RoaringBitmap> {
        if let Some(all) = self.all.get() {
            return Ok(all);
        }
        let conn = self.conn();
        self.all(&conn)
    }

    fn all(&self, conn: &Connection) -> Result<&RoaringBitmap> {
        if let Some(all) = self.all.get() {
            return Ok(all);
        }
        let all = match self.span {
            None => RoaringBitmap::new(),
            // Ordinals without gaps (the usual case): a range, no need to read them.
            Some((first, last)) if u64::from(last - first) + 1 == self.count => {
                let mut all = RoaringBitmap::new();
                all.insert_range(first..=last);
                all
            }
            Some(_) => self.run(
                conn,
                &CompiledFilter {
                    sql: "SELECT ordinal FROM documents".to_owned(),
                    params: Vec::new(),
                },
            )?,
        };
        Ok(self.all.get_or_init(|| all))
    }

    /// How many filter bitmaps the cache holds now.
    pub fn cached_filters(&self) -> usize {
        self.cache.len()
    }

    /// BM25 full-text search: the `k` best documents with any word of `query`, highest
    /// score first (FTS5's `bm25()`, negated so that higher is better; ties by ordinal).
    /// Empty when the store has no text or the query no words.
    pub fn bm25(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>> {
        self.bm25_within(query, k, None)
    }

    /// [`bm25`](Self::bm25) restricted to the ordinals in `allowed` (live documents, a
    /// filter's bitmap, or both intersected): the `k` best allowed documents, so a
    /// restriction never shortens the list while more allowed documents match.
    pub fn bm25_within(
        &self,
        query: &str,
        k: usize,
        allowed: Option<&RoaringBitmap>,
    ) -> Result<Vec<(u32, f32)>> {
        let words = fts::words(query);
        if k == 0 || words.is_empty() || !self.has_text {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT rowid, bm25({FTS_TABLE}) AS score FROM {FTS_TABLE} \
             WHERE {FTS_TABLE} MATCH ?1 ORDER BY score, rowid"
        );
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&sql).map_err(sqlite(&self.path))?;
        let mut rows = statement
            .query(params![fts::match_any(&words)])
            .map_err(sqlite(&self.path))?;
        let mut hits = Vec::with_capacity(k.min(1024));
        while let Some(row) = rows.next().map_err(sqlite(&self.path))? {
            let ordinal = self.ordinal(row.get(0).map_err(sqlite(&self.path))?)?;
            if allowed.is_some_and(|allowed| !allowed.contains(ordinal)) {
                continue;
            }
            let score: f64 = row.get(1).map_err(sqlite(&self.path))?;
            hits.push((ordinal, -score as f32));
            if hits.len() == k {
                break;
            }
        }
        Ok(hits)
    }
}
