//! What a document carries besides its embeddings: flat JSON metadata and text, kept in
//! its segment's `metadata.sqlite` ([`crate::format::METADATA`], written by
//! `tartan_metadata` before the segment is committed, never modified), and what an
//! [`Index`] reads from there: filters as bitmaps of document numbers, metadata, text,
//! and BM25 over the text.
//!
//! A segment written before metadata existed has no database: its documents read as
//! documents without metadata or text (a filter selects all of them or none, see
//! [`Filter::matches_empty_document`]).

use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use serde_json::{Map, Value};
use tartan_metadata::{Filter, MetadataError, SegmentStoreWriter};

use crate::error::{EngineError, Result};
use crate::format::METADATA;
use crate::index::Index;
use crate::search::SearchHit;

/// A document's metadata and text, stored in its segment's database beside its
/// embeddings. Metadata is a flat JSON object (values: string, integer, float, bool,
/// null, array of strings); anything else is refused naming the document and the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredFields {
    /// Flat JSON metadata (None: none).
    pub metadata: Option<Map<String, Value>>,
    /// The document's text (None: none stored).
    pub text: Option<String>,
}

/// The rows of a new segment's database, as its writer is given them.
pub(crate) enum Rows<'a> {
    /// One [`StoredFields`] a document, or an empty slice for ids only.
    Given(&'a [StoredFields]),
    /// Written already (by [`crate::IndexBuilder`], as documents arrived) at `path`,
    /// outside the segment: finished here, then moved into the segment.
    Written {
        writer: SegmentStoreWriter,
        path: PathBuf,
    },
}

/// Checks that `fields` is empty (nothing stored) or holds one entry a document.
pub(crate) fn check_fields_len(fields: &[StoredFields], documents: usize) -> Result<()> {
    if fields.is_empty() || fields.len() == documents {
        return Ok(());
    }
    Err(EngineError::InvalidConfig {
        reason: format!(
            "{} metadata/text entries for {documents} documents",
            fields.len()
        ),
    })
}

/// The engine's error for a store error, with a duplicate id reported as
/// [`EngineError::DuplicateId`] like the engine's own check.
pub(crate) fn from_store(e: MetadataError) -> EngineError {
    match e {
        MetadataError::DuplicateId { id } => EngineError::DuplicateId { id },
        other => EngineError::Metadata(other),
    }
}

/// Writes segment `dir`'s `metadata.sqlite`: the documents `ids` with `rows`.
pub(crate) fn write_rows(dir: &Path, ids: &[String], rows: Rows<'_>) -> Result<()> {
    let dest = dir.join(METADATA);
    match rows {
        Rows::Given(fields) => {
            check_fields_len(fields, ids.len())?;
            let mut writer = SegmentStoreWriter::create(&dest).map_err(from_store)?;
            for (ordinal, id) in ids.iter().enumerate() {
                let f = fields.get(ordinal);
                writer
                    .add(
                        ordinal as u32,
                        id,
                        f.and_then(|f| f.metadata.as_ref()),
                        f.and_then(|f| f.text.as_deref()),
                    )
                    .map_err(from_store)?;
            }
            writer.finish()?;
        }
        Rows::Written { writer, path } => {
            writer.finish()?;
            std::fs::rename(&path, &dest).map_err(|e| EngineError::io(&dest, e))?;
        }
    }
    fail::fail_point!("segment.after_metadata", |_| Err(
        crate::format::manifest::injected("segment.after_metadata")
    ));
    Ok(())
}

/// Copies the rows of the kept documents of `index`'s segments `chosen` (in order, the
/// documents of `keep(s, local)`) into a new database at `path`, renumbered from 0:
/// a merge's database. Segments without a database give their documents' ids only.
pub(crate) fn copy_rows(
    index: &Index,
    chosen: &[usize],
    keep: &dyn Fn(usize, u32) -> bool,
    path: &Path,
) -> Result<()> {
    let mut writer = SegmentStoreWriter::create(path).map_err(from_store)?;
    let mut ordinal = 0u32;
    for &s in chosen {
        let seg = &index.segments[s];
        match &seg.store {
            Some(store) => {
                store.for_each_document(|doc| -> Result<()> {
                    if keep(s, doc.ordinal) {
                        let metadata = (!doc.metadata.is_empty()).then_some(&doc.metadata);
                        writer
                            .add(ordinal, &doc.id, metadata, doc.text.as_deref())
                            .map_err(from_store)?;
                        ordinal += 1;
                    }
                    Ok(())
                })?;
            }
            None => {
                for d in 0..seg.num_documents as u32 {
                    if keep(s, d) {
                        let id = seg.doc_id(d as usize).unwrap_or_default();
                        writer.add(ordinal, id, None, None).map_err(from_store)?;
                        ordinal += 1;
                    }
                }
            }
        }
    }
    writer.finish()?;
    fail::fail_point!("segment.after_metadata", |_| Err(
        crate::format::manifest::injected("segment.after_metadata")
    ));
    Ok(())
}

impl Index {
    /// The live documents matching `filter`, as document numbers of this snapshot (deleted
    /// documents removed): each segment's database evaluates the filter (parameterised
    /// SQL, bitmaps cached per segment in a bounded LRU), shifted to global numbers.
    ///
    /// Pass the result to [`Index::search_within`] or [`Index::bm25`].
    pub fn filter(&self, filter: &Filter) -> Result<RoaringBitmap> {
        let mut all = RoaringBitmap::new();
        for (s, seg) in self.segments.iter().enumerate() {
            let base = self.base(s);
            match &seg.store {
                Some(store) => {
                    let local = store.evaluate(filter)?;
                    if base == 0 {
                        all |= &*local;
                    } else {
                        // Ascending, and above every earlier segment's numbers: appended.
                        all.append(local.iter().map(|d| d + base))
                            .map_err(|e| EngineError::corrupt(store.path(), e.to_string()))?;
                    }
                }
                None if filter.matches_empty_document() => {
                    all.insert_range(base..base + seg.num_documents as u32);
                }
                None => {}
            }
        }
        all -= &self.deleted;
        Ok(all)
    }

    /// The metadata of document `doc` (an empty object when it has none).
    pub fn metadata(&self, doc: u32) -> Result<Map<String, Value>> {
        self.checked_doc(doc)?;
        let (s, local) = self.locate(doc as usize);
        match &self.segments[s].store {
            Some(store) => Ok(store.metadata(local as u32)?.unwrap_or_default()),
            None => Ok(Map::new()),
        }
    }

    /// The stored text of document `doc` (None when none was stored).
    pub fn text(&self, doc: u32) -> Result<Option<String>> {
        self.checked_doc(doc)?;
        let (s, local) = self.locate(doc as usize);
        match &self.segments[s].store {
            Some(store) => Ok(store.text(local as u32)?),
            None => Ok(None),
        }
    }

    /// Bytes of the segments' metadata databases (ids, metadata, stored text and its
    /// full-text index): part of [`Index::bytes_on_disk`].
    pub fn bytes_metadata(&self) -> u64 {
        self.manifest().map_or(0, |m| {
            m.segments
                .iter()
                .filter_map(|s| s.files.get(METADATA))
                .map(|f| f.size)
                .sum()
        })
    }

    /// Whether some segment stores document text (lexical search has something to read).
    pub fn has_text(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.store.as_ref().is_some_and(|st| st.has_text()))
    }

    /// The stored fields (metadata and text) of document `doc`.
    pub fn stored_fields(&self, doc: u32) -> Result<StoredFields> {
        let metadata = self.metadata(doc)?;
        Ok(StoredFields {
            metadata: (!metadata.is_empty()).then_some(metadata),
            text: self.text(doc)?,
        })
    }

    /// BM25 full-text search over the stored text (SQLite FTS5): the `k` best live
    /// documents with any word of `query` (within `allowed` when given), highest score
    /// first, ties by document number. FTS5 keeps its statistics per segment, so scores
    /// of different segments are close but not exactly comparable (`optimize` merges
    /// them). Empty when no text is stored or the query has no words.
    pub fn bm25(
        &self,
        query: &str,
        k: usize,
        allowed: Option<&RoaringBitmap>,
    ) -> Result<Vec<SearchHit>> {
        let mut hits: Vec<(f32, u32)> = Vec::new();
        for (s, seg) in self.segments.iter().enumerate() {
            let Some(store) = seg.store.as_ref().filter(|st| st.has_text()) else {
                continue;
            };
            let base = self.base(s);
            let end = base + seg.num_documents as u32;
            // Local numbers of the live (and allowed) documents of this segment.
            let mut local: RoaringBitmap = match allowed {
                Some(a) => a.range(base..end).map(|d| d - base).collect(),
                None => {
                    let mut all = RoaringBitmap::new();
                    all.insert_range(0..seg.num_documents as u32);
                    all
                }
            };
            local -= &seg.deleted;
            if local.is_empty() {
                continue;
            }
            for (ordinal, score) in store.bm25_within(query, k, Some(&local))? {
                hits.push((score, ordinal + base));
            }
        }
        Ok(crate::search::top_hits(&mut hits, k))
    }
}
