//! [`IndexBuilder`]: documents added one at a time, spilled to disk, indexed at `finish`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::config::{BuildConfig, BuildProgress, BuildReport};
use super::pipeline::{build, Corpus, Source, SPILL, SPILL_HEADER_LEN};
use super::segment_writer::MappedPages;
use super::target::Target;
use super::train::check_finite;
use super::unit_norm::check_unit_norm;
use crate::error::{EngineError, Result};
use crate::stored::{from_store, Rows};
use serde_json::{Map, Value};
use tartan_metadata::SegmentStoreWriter;

/// The builder's metadata database while documents arrive.
const STORE_PARTIAL: &str = "metadata.sqlite.partial";
use crate::format::npy::map_file;

/// Builds an index from documents added one at a time.
///
/// Embeddings are spilled to a file in the staging directory (beside the target) as
/// they arrive, so memory holds only document lengths and ids; [`IndexBuilder::finish`]
/// maps the spill and compresses it in chunks. A builder dropped without `finish`
/// removes its staging directory; the target is only ever created by `finish`'s final
/// rename.
///
/// A document with zero embeddings is accepted: it keeps its id and number, appears in
/// no posting list and is never returned by any search.
pub struct IndexBuilder {
    target: PathBuf,
    dim: usize,
    config: BuildConfig,
    target_dir: Target,
    spill: BufWriter<File>,
    spill_path: PathBuf,
    doc_offsets: Vec<u64>,
    ids: Vec<String>,
    /// The segment's metadata database, written as documents arrive (in the scratch
    /// space until `finish` moves it into the segment).
    store: SegmentStoreWriter,
    store_path: PathBuf,
}

impl std::fmt::Debug for IndexBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexBuilder")
            .field("target", &self.target)
            .field("dim", &self.dim)
            .field("documents", &self.ids.len())
            .field("root", &self.target_dir.root())
            .finish_non_exhaustive()
    }
}

impl IndexBuilder {
    /// Starts a build of an index of `dim`-dimensional embeddings at `out_dir`.
    ///
    /// Errors: [`EngineError::TargetExists`] when `out_dir` exists and
    /// `config.overwrite` is false; [`EngineError::InvalidConfig`] for a zero `dim` or
    /// `chunk_size`, or a codec that cannot code `dim`.
    pub fn new(out_dir: &Path, dim: usize, config: BuildConfig) -> Result<Self> {
        check_config(dim, &config)?;
        let target_dir = Target::create(out_dir, config.overwrite)?;
        let spill_path = target_dir.scratch_file(SPILL);
        let file = File::create(&spill_path).map_err(|e| EngineError::io(&spill_path, e))?;
        let mut spill = BufWriter::with_capacity(1 << 20, file);
        // Padding before the data: the file is never empty, so it always maps (an empty
        // corpus is then reported as such), and the f32 data stays aligned.
        spill
            .write_all(&[b' '; SPILL_HEADER_LEN])
            .map_err(|e| EngineError::io(&spill_path, e))?;
        let store_path = target_dir.scratch_file(STORE_PARTIAL);
        let store = SegmentStoreWriter::create(&store_path).map_err(from_store)?;
        Ok(IndexBuilder {
            target: out_dir.to_path_buf(),
            dim,
            config,
            target_dir,
            spill,
            spill_path,
            doc_offsets: vec![0],
            ids: Vec::new(),
            store,
            store_path,
        })
    }

    /// Adds a document: its external id and its embeddings (`n x dim`, row-major,
    /// `n` may be 0). Ids must be unique (checked at `finish`).
    ///
    /// Errors: [`EngineError::DimensionMismatch`], [`EngineError::NonFinite`],
    /// [`EngineError::NotUnitNorm`] for a row whose L2 norm is not 1 (within 0.01).
    pub fn add_document(&mut self, id: &str, embeddings: &[f32]) -> Result<()> {
        self.add_document_with(id, embeddings, None, None)
    }

    /// [`IndexBuilder::add_document`] with the document's flat JSON metadata and its
    /// text, stored in the segment's `metadata.sqlite` (filters, BM25, search output).
    ///
    /// Errors: those of `add_document`; [`EngineError::DuplicateId`] for an id added
    /// before; [`EngineError::Metadata`] naming the document and key of metadata that is
    /// not a flat object of supported values. A refused document leaves nothing behind.
    pub fn add_document_with(
        &mut self,
        id: &str,
        embeddings: &[f32],
        metadata: Option<&Map<String, Value>>,
        text: Option<&str>,
    ) -> Result<()> {
        if embeddings.len() % self.dim != 0 {
            return Err(EngineError::DimensionMismatch {
                what: "document embeddings",
                expected: self.dim,
                found: embeddings.len(),
            });
        }
        let first_row = *self.doc_offsets.last().unwrap_or(&0) as usize;
        check_finite(embeddings, self.dim, first_row).map_err(|e| match e {
            EngineError::NonFinite { row, column, .. } => EngineError::NonFinite {
                what: format!("document {id:?}"),
                row: row - first_row,
                column,
            },
            other => other,
        })?;
        check_unit_norm(embeddings, self.dim).map_err(|off| EngineError::NotUnitNorm {
            row: first_row + off.row,
            document: id.to_owned(),
            token: off.row,
            norm: off.norm,
        })?;
        self.store
            .add(self.ids.len() as u32, id, metadata, text)
            .map_err(from_store)?;
        self.spill
            .write_all(bytemuck::cast_slice(embeddings))
            .map_err(|e| EngineError::io(&self.spill_path, e))?;
        self.doc_offsets
            .push(first_row as u64 + (embeddings.len() / self.dim) as u64);
        self.ids.push(id.to_owned());
        Ok(())
    }

    /// Documents added so far.
    pub fn num_documents(&self) -> usize {
        self.ids.len()
    }

    /// The target directory.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Trains, compresses, writes and publishes the index (the rename into place is
    /// the last step).
    ///
    /// Errors: [`EngineError::EmptyCorpus`] when no embedding was added,
    /// [`EngineError::DuplicateId`], and any I/O or training error.
    pub fn finish(self, progress: &dyn BuildProgress) -> Result<BuildReport> {
        let started = Instant::now();
        let IndexBuilder {
            dim,
            config,
            target_dir,
            spill,
            spill_path,
            doc_offsets,
            ids,
            store,
            store_path,
            ..
        } = self;
        let file = spill
            .into_inner()
            .map_err(|e| EngineError::io(&spill_path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| EngineError::io(&spill_path, e))?;
        drop(file);
        let map = map_file(&spill_path)?;
        let data = &map[SPILL_HEADER_LEN..];
        // The map is page aligned and the header 128 bytes: the cast cannot fail.
        let embeddings: &[f32] = bytemuck::cast_slice(data);
        let corpus = Corpus {
            embeddings,
            dim,
            doc_offsets: &doc_offsets,
            ids: &ids,
            pages: Some(MappedPages(&map)),
        };
        let rows = Rows::Written {
            writer: store,
            path: store_path,
        };
        build(
            target_dir,
            &corpus,
            rows,
            &config,
            progress,
            Source::Spilled,
            started,
        )
    }
}

/// Checks settings that do not depend on the data.
pub(crate) fn check_config(dim: usize, config: &BuildConfig) -> Result<()> {
    let invalid = |reason: String| Err(EngineError::InvalidConfig { reason });
    if dim == 0 {
        return invalid("dim must be at least 1".into());
    }
    if config.chunk_size == 0 {
        return invalid("chunk_size must be at least 1".into());
    }
    if config.kmeans_iterations == 0 {
        return invalid("kmeans_iterations must be at least 1".into());
    }
    if let Err(e) = config.codec.bytes_per_embedding(dim) {
        return invalid(format!("codec {:?} at dim {dim}: {e}", config.codec));
    }
    Ok(())
}
