//! tartan-metadata: the metadata and stored text of a segment, in SQLite.
//!
//! Each immutable segment of an index has one database, `seg-NNNNNN/metadata.sqlite`
//! ([`FILE_NAME`]), written once by [`SegmentStoreWriter`] before the segment is
//! committed and never modified; deletes stay in the index's live-document bitmaps. The
//! schema is in [`mod@schema`]: a `documents` table (ordinal, external id, text), a
//! long-form `metadata` table (one row per value, one per element of an array of
//! strings) indexed for filters, and an FTS5 table over the text when any is stored.
//!
//! - Write: [`SegmentStoreWriter::create`], [`add`](SegmentStoreWriter::add) per
//!   document in ordinal order, [`finish`](SegmentStoreWriter::finish).
//! - Read: [`SegmentStore::open`] (read-only, immutable), then
//!   [`metadata`](SegmentStore::metadata), [`text`](SegmentStore::text),
//!   [`ids`](SegmentStore::ids), [`for_each_document`](SegmentStore::for_each_document).
//! - Filter: [`Filter::parse`] a MongoDB/Chroma-style JSON filter (the language is
//!   described in [`mod@filter`]), [`SegmentStore::evaluate`] it to a roaring bitmap of
//!   ordinals (parameterised SQL per condition, combined as bitmaps, cached in a bounded
//!   LRU).
//! - Lexical search: [`SegmentStore::bm25`] over the stored text, and
//!   [`reciprocal_rank_fusion`] to fuse its list with another ranking.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tartan_metadata::{Filter, SegmentStore, SegmentStoreWriter};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("metadata.sqlite");
//! let mut writer = SegmentStoreWriter::create(&path)?;
//! let meta = serde_json::json!({"year": 2021, "tags": ["covid"]});
//! writer.add(0, "doc-a", meta.as_object(), Some("Vaccines reduce transmission."))?;
//! writer.add(1, "doc-b", None, Some("An unrelated abstract."))?;
//! writer.finish()?;
//!
//! let store = SegmentStore::open(&path)?;
//! let filter: Filter = r#"{"year": {"$gte": 2020}, "$text": "vaccine"}"#.parse()?;
//! assert_eq!(store.evaluate(&filter)?.iter().collect::<Vec<_>>(), [0]);
//! assert_eq!(store.bm25("transmission", 10)?[0].0, 0);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cache;
mod error;
pub mod filter;
mod fts;
mod fusion;
pub mod schema;
mod store;
mod value;
mod writer;

pub use error::{InvalidValue, MetadataError, Result};
pub use filter::{CompiledFilter, Condition, Filter, FilterError, FilterProblem, Scalar};
pub use fusion::{reciprocal_rank_fusion, DEFAULT_RRF_K};
pub use roaring::RoaringBitmap;
pub use rusqlite::types::Value as SqlValue;
pub use schema::{FILE_NAME, FORMAT_VERSION};
pub use store::{SegmentStore, StoreOptions, StoredDocument};
pub use writer::SegmentStoreWriter;
