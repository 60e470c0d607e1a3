//! [`build_from_npy`]: an index straight from numpy files, the layout PyLate or
//! colbert-ai users can save: one `float32 [total, dim]` array of every document's
//! token embeddings back to back, and one integer array of document lengths.

use std::path::Path;
use std::time::Instant;

use super::builder::{check_config, IndexBuilder};
use super::config::{BuildConfig, BuildProgress, BuildReport};
use super::pipeline::{build, Corpus, Source};
use super::segment_writer::MappedPages;
use super::target::Target;
use super::unit_norm::check_unit_norm;
use crate::error::{EngineError, Result};
use crate::format::npy::Dtype;
use crate::format::npy_input::NpyInput;
use crate::stored::{check_fields_len, Rows, StoredFields};

/// Builds an index at `out_dir` from `embeddings` (`.npy`, float32 `[total, dim]`,
/// C order) and `doclens` (`.npy`, int32 or int64 `[n_docs]`, summing to `total`).
/// `ids` gives the documents' external ids (default: `"0"`, `"1"`, ...).
///
/// The embeddings are memory-mapped, not read into memory.
///
/// Errors: [`EngineError::InvalidInput`] naming the file for a wrong dtype, shape,
/// size, negative length or length mismatch; [`EngineError::NotUnitNorm`] naming the
/// first row (and its document and token) whose L2 norm is not 1 (within 0.01),
/// found before anything is written; the errors of [`IndexBuilder`].
pub fn build_from_npy(
    embeddings: &Path,
    doclens: &Path,
    ids: Option<Vec<String>>,
    out_dir: &Path,
    config: BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<BuildReport> {
    build_from_npy_with(embeddings, doclens, ids, &[], out_dir, config, progress)
}

/// [`build_from_npy`] with each document's metadata and text (`fields`: one entry a
/// document, in the order of `doclens`, or empty for none), stored in the segment's
/// `metadata.sqlite`.
///
/// Errors: those of [`build_from_npy`]; [`EngineError::Metadata`] naming the document
/// and key of metadata that is not a flat object of supported values.
pub fn build_from_npy_with(
    embeddings: &Path,
    doclens: &Path,
    ids: Option<Vec<String>>,
    fields: &[StoredFields],
    out_dir: &Path,
    config: BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<BuildReport> {
    let started = Instant::now();
    let emb = NpyInput::open(embeddings)?;
    let emb_header = emb.header();
    if emb_header.dtype != Dtype::F32 || emb_header.shape.len() != 2 {
        return Err(emb.invalid(format!(
            "expected a float32 [total, dim] array, found {} {:?}",
            emb_header.dtype.descr(),
            emb_header.shape
        )));
    }
    let (total, dim) = (emb_header.shape[0], emb_header.shape[1]);
    check_config(dim, &config)?;

    let lens = NpyInput::open(doclens)?;
    let lengths = lens.lengths()?;
    let mut doc_offsets = Vec::with_capacity(lengths.len() + 1);
    doc_offsets.push(0u64);
    for &l in &lengths {
        let end = doc_offsets[doc_offsets.len() - 1]
            .checked_add(l)
            .ok_or_else(|| lens.invalid("lengths overflow"))?;
        doc_offsets.push(end);
    }
    let sum = doc_offsets[doc_offsets.len() - 1];
    if sum != total as u64 {
        return Err(lens.invalid(format!(
            "lengths sum to {sum} but the embeddings hold {total} rows"
        )));
    }
    let ids = match ids {
        Some(ids) if ids.len() != lengths.len() => {
            return Err(EngineError::InvalidConfig {
                reason: format!("{} ids for {} documents", ids.len(), lengths.len()),
            })
        }
        Some(ids) => ids,
        None => (0..lengths.len()).map(|i| i.to_string()).collect(),
    };
    check_fields_len(fields, ids.len())?;

    let data = emb.data();
    match bytemuck::try_cast_slice::<u8, f32>(data) {
        Ok(embeddings) => {
            check_unit_norm(embeddings, dim)
                .map_err(|off| not_unit_norm(off.row, off.norm, &doc_offsets, &ids))?;
            let pages = MappedPages(emb.map());
            // The check read the whole file; the build reads it again in parts.
            pages.release(embeddings);
            let target = Target::create(out_dir, config.overwrite)?;
            let corpus = Corpus {
                embeddings,
                dim,
                doc_offsets: &doc_offsets,
                ids: &ids,
                pages: Some(pages),
            };
            build(
                target,
                &corpus,
                Rows::Given(fields),
                &config,
                progress,
                Source::External,
                started,
            )
        }
        // An unaligned data offset (very old numpy): go through the spilling builder.
        Err(_) => {
            let mut builder = IndexBuilder::new(out_dir, dim, config)?;
            let mut row = Vec::new();
            for (d, id) in ids.iter().enumerate() {
                let (a, b) = (doc_offsets[d] as usize, doc_offsets[d + 1] as usize);
                row.clear();
                row.extend(
                    data[a * dim * 4..b * dim * 4]
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                let f = fields.get(d);
                builder.add_document_with(
                    id,
                    &row,
                    f.and_then(|f| f.metadata.as_ref()),
                    f.and_then(|f| f.text.as_deref()),
                )?;
            }
            builder.finish(progress)
        }
    }
}

/// [`EngineError::NotUnitNorm`] for input row `row`, located in its document.
fn not_unit_norm(row: usize, norm: f32, doc_offsets: &[u64], ids: &[String]) -> EngineError {
    // The document whose range `offsets[d]..offsets[d + 1]` holds the row.
    let doc = doc_offsets
        .partition_point(|&o| o <= row as u64)
        .saturating_sub(1)
        .min(ids.len().saturating_sub(1));
    EngineError::NotUnitNorm {
        row,
        document: ids.get(doc).cloned().unwrap_or_default(),
        token: row - doc_offsets[doc] as usize,
        norm,
    }
}
