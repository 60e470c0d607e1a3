//! Changing an index: [`IndexWriter`] adds, deletes and merges documents, each change
//! one atomic commit of a new generation (see [`crate::format::manifest`]).
//!
//! A writer holds the index's lock from [`IndexWriter::open`] until dropped. Each
//! commit writes new files only (a segment directory, delete bitmaps), syncs them,
//! writes the next manifest and swaps `CURRENT`; a failure or crash at any step leaves
//! the previous generation current, and the next writer removes what it left.

pub(crate) mod cleanup;
pub(crate) mod lock;
mod merge;
mod upgrade;

pub use upgrade::upgrade;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use tartan_quantize::{Centroids, Compute};

use crate::build::segment_writer::{write_segment, Corpus, SegmentPlan};
use crate::build::{BuildConfig, BuildProgress};
use crate::error::{EngineError, Result};
use crate::format::checksum::FileSum;
use crate::format::manifest::{swap_current, write_manifest, write_synced, DeletesEntry, Manifest};
use crate::index::Index;
use crate::stored::{check_fields_len, Rows, StoredFields};
use cleanup::remove_unreferenced;
use lock::WriterLock;

/// Segments past which an add merges the smallest ones (a tiered policy: search cost
/// grows with the number of segments, a merge costs a copy of the merged codes).
pub const MAX_SEGMENTS: usize = 16;

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitReport {
    /// The generation committed (unchanged when there was nothing to commit).
    pub generation: u64,
    /// Documents added.
    pub added: usize,
    /// Documents replaced (upsert) or deleted.
    pub deleted: usize,
    /// Ids asked to be deleted that the index does not hold.
    pub unknown: Vec<String>,
    /// Segments merged by the commit.
    pub merged_segments: usize,
    /// What was cleaned up (files of interrupted or replaced commits), one line each.
    pub notes: Vec<String>,
}

/// The single writer of an index.
pub struct IndexWriter {
    dir: PathBuf,
    _lock: WriterLock,
    index: Index,
    manifest: Manifest,
    centroids: Centroids,
    /// Live documents: id -> global document number in `index`.
    ids: HashMap<String, u32>,
    notes: Vec<String>,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("dir", &self.dir)
            .field("generation", &self.manifest.generation)
            .finish_non_exhaustive()
    }
}

impl IndexWriter {
    /// Takes the lock of the index in `dir`, opens its current generation and removes
    /// what interrupted commits left behind.
    ///
    /// Errors: [`EngineError::Locked`] while another process writes;
    /// [`EngineError::ReadOnlyFormat`] for a format-2 index (upgrade it first); the
    /// errors of [`Index::open`].
    pub fn open(dir: &Path) -> Result<IndexWriter> {
        if !dir.is_dir() {
            return Err(EngineError::NoIndex {
                path: dir.to_path_buf(),
            });
        }
        let lock = WriterLock::acquire(dir)?;
        let mut notes = Vec::new();
        if let Some(pid) = lock.took_over() {
            notes.push(format!(
                "took over the lock of a writer that is gone (pid {pid})"
            ));
        }
        let index = Index::open(dir)?;
        let Some(manifest) = index.manifest().cloned() else {
            return Err(EngineError::ReadOnlyFormat {
                path: dir.to_path_buf(),
                found: index.meta().format_version,
            });
        };
        for path in remove_unreferenced(dir, &manifest)? {
            notes.push(format!(
                "removed {} left by an interrupted commit",
                path.display()
            ));
        }
        let mut writer = IndexWriter {
            dir: dir.to_path_buf(),
            _lock: lock,
            centroids: Centroids::from_vec(index.centroids().to_vec(), index.dim())?,
            index,
            manifest,
            ids: HashMap::new(),
            notes,
        };
        writer.rebuild_id_map();
        Ok(writer)
    }

    fn rebuild_id_map(&mut self) {
        self.ids.clear();
        self.ids.reserve(self.index.num_live_documents());
        for doc in self.index.live_documents() {
            self.ids.insert(self.index.doc_id(doc).to_owned(), doc);
        }
    }

    /// The snapshot the writer works on (its last commit).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Whether a live document has id `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// Adds documents as one new segment, quantised with the index's codec, in one
    /// commit. `embeddings` holds every document's rows back to back
    /// (`sum(doclens) x dim`), `ids` one unique id a document.
    ///
    /// An id the index holds is an error ([`EngineError::DuplicateId`], nothing
    /// committed) unless `upsert`, which deletes the old document in the same commit.
    /// Past [`MAX_SEGMENTS`] segments, the smallest are merged in the same commit.
    pub fn add(
        &mut self,
        ids: &[String],
        embeddings: &[f32],
        doclens: &[usize],
        upsert: bool,
        progress: &dyn BuildProgress,
    ) -> Result<CommitReport> {
        self.add_with(ids, embeddings, doclens, &[], upsert, progress)
    }

    /// [`IndexWriter::add`] with each document's metadata and text (`fields`: one entry
    /// a document, or empty for none), stored in the new segment's `metadata.sqlite`
    /// before the commit.
    ///
    /// Errors: those of `add`; [`EngineError::Metadata`] naming the document and key of
    /// metadata that is not a flat object of supported values (nothing committed).
    pub fn add_with(
        &mut self,
        ids: &[String],
        embeddings: &[f32],
        doclens: &[usize],
        fields: &[StoredFields],
        upsert: bool,
        progress: &dyn BuildProgress,
    ) -> Result<CommitReport> {
        check_fields_len(fields, ids.len())?;
        let dim = self.index.dim();
        if ids.len() != doclens.len() {
            return Err(EngineError::InvalidConfig {
                reason: format!("{} ids for {} documents", ids.len(), doclens.len()),
            });
        }
        if embeddings.len() % dim != 0 {
            return Err(EngineError::DimensionMismatch {
                what: "document embeddings",
                expected: dim,
                found: embeddings.len(),
            });
        }
        let total: usize = doclens.iter().sum();
        if total * dim != embeddings.len() {
            return Err(EngineError::InvalidConfig {
                reason: format!(
                    "document lengths sum to {total} rows but {} rows were given",
                    embeddings.len() / dim
                ),
            });
        }
        crate::build::pipeline::check_unique(ids)?;
        crate::build::train::check_finite(embeddings, dim, 0)?;
        let mut replaced = RoaringBitmap::new();
        for id in ids {
            if let Some(&doc) = self.ids.get(id) {
                if !upsert {
                    return Err(EngineError::DuplicateId { id: id.clone() });
                }
                replaced.insert(doc);
            }
        }
        if ids.is_empty() {
            return Ok(self.report(0, 0, Vec::new(), 0));
        }
        let mut doc_offsets = Vec::with_capacity(ids.len() + 1);
        doc_offsets.push(0u64);
        for &l in doclens {
            doc_offsets.push(doc_offsets[doc_offsets.len() - 1] + l as u64);
        }
        let mut next = self.manifest.clone();
        let name = format!("seg-{:06}", next.take_number());
        let plan = SegmentPlan {
            compute: &Compute::Cpu,
            centroids: &self.centroids,
            codec: self.index.codec(),
            chunk_size: self.manifest.build.chunk_size.max(1),
            keep_embeddings: self.index.has_embeddings(),
            trained: false,
        };
        let corpus = Corpus {
            embeddings,
            dim,
            doc_offsets: &doc_offsets,
            ids,
            pages: None,
        };
        let entry = write_segment(
            &self.dir.join(&name),
            &name,
            &corpus,
            Rows::Given(fields),
            &plan,
            progress,
        )?;
        fail::fail_point!("add.after_segment", |_| Err(
            crate::format::manifest::injected("add.after_segment")
        ));
        self.write_deletes(&mut next, &replaced)?;
        next.segments.push(entry);
        let merged = if next.segments.len() > MAX_SEGMENTS {
            merge::merge_smallest(&self.dir, &mut next, &self.index, MAX_SEGMENTS / 2)?
        } else {
            0
        };
        self.commit(next)?;
        Ok(self.report(ids.len(), replaced.len() as usize, Vec::new(), merged))
    }

    /// Deletes the documents with these ids in one commit; ids the index does not hold
    /// are reported, not an error.
    pub fn delete(&mut self, ids: &[String]) -> Result<CommitReport> {
        let mut gone = RoaringBitmap::new();
        let mut unknown = Vec::new();
        for id in ids {
            match self.ids.get(id) {
                Some(&doc) => {
                    gone.insert(doc);
                }
                None => unknown.push(id.clone()),
            }
        }
        if gone.is_empty() {
            return Ok(self.report(0, 0, unknown, 0));
        }
        let mut next = self.manifest.clone();
        self.write_deletes(&mut next, &gone)?;
        self.commit(next)?;
        Ok(self.report(0, gone.len() as usize, unknown, 0))
    }

    /// Merges every segment into one, dropping deleted documents, without decoding
    /// (codes and centroid ids are copied; posting lists and offsets rebuilt).
    pub fn optimize(&mut self) -> Result<CommitReport> {
        let mut next = self.manifest.clone();
        let all = next.segments.len();
        let has_deletes = next.segments.iter().any(|s| s.deletes.is_some());
        if all <= 1 && !has_deletes {
            return Ok(self.report(0, 0, Vec::new(), 0));
        }
        let merged = merge::merge_smallest(&self.dir, &mut next, &self.index, 1)?;
        self.commit(next)?;
        Ok(self.report(0, 0, Vec::new(), merged))
    }

    /// Re-trains the centroids and codec on the live documents' kept embeddings and
    /// rewrites the index as one segment quantised with them, in one commit.
    ///
    /// Errors: [`EngineError::NoEmbeddings`] when a segment kept no embeddings (then
    /// re-encode the stored texts and call [`IndexWriter::retrain_from`]).
    pub fn retrain(
        &mut self,
        config: &BuildConfig,
        progress: &dyn BuildProgress,
    ) -> Result<CommitReport> {
        merge::retrain(self, config, progress)
    }

    /// Re-trains the centroids and codec on `embeddings` given for the live documents
    /// (`doclens[i]` rows of `embeddings` for the i-th of [`Index::live_documents`]; for
    /// instance their stored texts re-encoded)
    /// and rewrites the index as one segment quantised with them, keeping every
    /// document's id, metadata and text, in one commit. The embeddings are kept when
    /// `config.keep_embeddings` says so.
    ///
    /// Errors: [`EngineError::InvalidConfig`] when the counts do not match the live
    /// documents; [`EngineError::NonFinite`] for a NaN or infinite value.
    pub fn retrain_from(
        &mut self,
        embeddings: &[f32],
        doclens: &[usize],
        config: &BuildConfig,
        progress: &dyn BuildProgress,
    ) -> Result<CommitReport> {
        merge::retrain_from(self, embeddings, doclens, config, progress)
    }

    fn report(
        &mut self,
        added: usize,
        deleted: usize,
        unknown: Vec<String>,
        merged: usize,
    ) -> CommitReport {
        CommitReport {
            generation: self.manifest.generation,
            added,
            deleted,
            unknown,
            merged_segments: merged,
            notes: std::mem::take(&mut self.notes),
        }
    }

    /// Writes new delete files for the segments holding documents of `gone` (global
    /// numbers of the writer's snapshot) into `next`.
    fn write_deletes(&self, next: &mut Manifest, gone: &RoaringBitmap) -> Result<()> {
        if gone.is_empty() {
            return Ok(());
        }
        let generation = self.manifest.generation + 1;
        for (s, seg) in self.index.segments.iter().enumerate() {
            let base = self.index.base(s);
            let local: RoaringBitmap = gone
                .range(base..base + seg.num_documents as u32)
                .map(|d| d - base)
                .collect();
            if local.is_empty() {
                continue;
            }
            let all = &seg.deleted | &local;
            let entry = next
                .segments
                .iter_mut()
                .find(|e| e.name == seg.name)
                .ok_or_else(|| EngineError::InvalidConfig {
                    reason: format!("segment {} is not in the manifest", seg.name),
                })?;
            let file = format!("{}.del-{generation:06}", seg.name);
            let mut bytes = Vec::with_capacity(all.serialized_size());
            all.serialize_into(&mut bytes)
                .map_err(|e| EngineError::io(self.dir.join(&file), e))?;
            write_synced(&self.dir.join(&file), &bytes)?;
            entry.deletes = Some(DeletesEntry {
                file,
                count: all.len(),
                sum: FileSum::of_bytes(&bytes),
            });
        }
        fail::fail_point!("delete.after_bitmaps", |_| Err(
            crate::format::manifest::injected("delete.after_bitmaps")
        ));
        Ok(())
    }

    /// Commits `next` as the following generation: manifest, then the `CURRENT` swap;
    /// then reopens the snapshot and removes what the new generation no longer uses.
    pub(crate) fn commit(&mut self, mut next: Manifest) -> Result<()> {
        next.generation = self.manifest.generation + 1;
        crate::format::manifest::sync_dir(&self.dir)?;
        write_manifest(&self.dir, &next)?;
        fail::fail_point!("commit.after_manifest", |_| Err(
            crate::format::manifest::injected("commit.after_manifest")
        ));
        swap_current(&self.dir, next.generation)?;
        fail::fail_point!("commit.after_swap", |_| Err(
            crate::format::manifest::injected("commit.after_swap")
        ));
        self.index = Index::open(&self.dir)?;
        self.manifest = next;
        self.rebuild_id_map();
        for path in remove_unreferenced(&self.dir, &self.manifest)? {
            self.notes
                .push(format!("removed {} (replaced generation)", path.display()));
        }
        Ok(())
    }
}
