//! Assigning and compressing every embedding in streamed chunks of whole documents,
//! writing `codes.npy`, `centroid_ids.bin` (and the kept `embeddings.npy`) as it goes
//! and collecting the posting lists.
//!
//! Within a document, embeddings are stored sorted by centroid id (stable): MaxSim
//! does not depend on their order, and sorted ids Elias–Fano code in fewer bits.

use rayon::prelude::*;
use roaring::RoaringBitmap;
use tartan_quantize::{Centroids, Compute, ResidualCodec};

use super::config::BuildProgress;
use super::segment_writer::MappedPages;
use crate::error::{EngineError, Result};
use crate::format::doc_centroids::DocCentroidsWriter;
use crate::format::npy::{Dtype, NpyWriter};
use crate::format::{CENTROID_IDS, CODES, EMBEDDINGS};

/// Compresses `embeddings` (`n x dim`) on `compute` a chunk of whole documents (at least
/// `chunk_size` embeddings, or one longer document) at a time. `doc_offsets`
/// (`n_docs + 1`) maps embeddings to documents. With `keep`, also writes
/// `embeddings.npy` in the stored order. With `pages`, each chunk's pages are let go once
/// compressed. Returns one posting list a centroid.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compress(
    compute: &Compute,
    embeddings: &[f32],
    pages: Option<MappedPages<'_>>,
    doc_offsets: &[u64],
    centroids: &Centroids,
    codec: &ResidualCodec,
    chunk_size: usize,
    keep: bool,
    dir: &std::path::Path,
    progress: &dyn BuildProgress,
) -> Result<Vec<RoaringBitmap>> {
    let dim = centroids.dim();
    let n = embeddings.len() / dim;
    let k = centroids.len();
    let bpe = codec.bytes_per_embedding();
    let num_docs = doc_offsets.len() - 1;
    let mut out = SegmentFiles::create(dir, n, (dim, bpe, k), keep)?;
    let (mut order, mut sorted_ids) = (Vec::new(), Vec::new());
    let (mut codes, mut kept) = (Vec::new(), Vec::new());

    progress.stage("compress", n as u64);
    let mut first_doc = 0usize;
    while first_doc < num_docs {
        let start = doc_offsets[first_doc] as usize;
        let mut end_doc = first_doc + 1;
        while end_doc < num_docs && (doc_offsets[end_doc] as usize) - start < chunk_size {
            end_doc += 1;
        }
        let end = doc_offsets[end_doc] as usize;
        let chunk = &embeddings[start * dim..end * dim];
        check_finite_par(chunk, dim, start)?;
        let compressed = if chunk.is_empty() {
            None
        } else {
            Some(codec.compress_on(compute, centroids, chunk)?)
        };
        codes.clear();
        kept.clear();
        for doc in first_doc..end_doc {
            let (a, b) = (
                doc_offsets[doc] as usize - start,
                doc_offsets[doc + 1] as usize - start,
            );
            sorted_ids.clear();
            if let Some(c) = &compressed {
                order.clear();
                order.extend(a..b);
                order.sort_by_key(|&i| c.centroid_ids[i]);
                for &i in &order {
                    let id = c.centroid_ids[i];
                    sorted_ids.push(id);
                    codes.extend_from_slice(&c.codes[i * bpe..(i + 1) * bpe]);
                    if keep {
                        kept.extend_from_slice(&chunk[i * dim..(i + 1) * dim]);
                    }
                    // Documents arrive in increasing order: try_push appends, and
                    // refuses only a repeat of the last document, already listed.
                    let _ = out.postings[id as usize].try_push(doc as u32);
                }
            }
            out.centroid_ids.push(&sorted_ids)?;
        }
        out.codes.write(&codes)?;
        if let Some(w) = out.embeddings.as_mut() {
            w.write(&kept)?;
        }
        if let Some(pages) = pages {
            pages.release(chunk);
        }
        progress.advance((end - start) as u64);
        first_doc = end_doc;
    }
    out.finish()
}

/// The files a segment's embeddings stream into, in stored order: `codes.npy`,
/// `centroid_ids.bin`, the kept `embeddings.npy`, and the posting lists collected on the
/// way. Shared by building ([`compress`]) and merging (which copies codes as they are).
pub(crate) struct SegmentFiles {
    /// `codes.npy` (`n x bytes_per_embedding`).
    pub(crate) codes: NpyWriter,
    /// `centroid_ids.bin`, one document at a time.
    pub(crate) centroid_ids: DocCentroidsWriter,
    /// `embeddings.npy` (`n x dim`), when embeddings are kept.
    pub(crate) embeddings: Option<NpyWriter>,
    /// One posting list a centroid; documents must be pushed in ascending order.
    pub(crate) postings: Vec<RoaringBitmap>,
}

impl SegmentFiles {
    /// Creates the files in `dir` for `n` embeddings of `dim` values, `bpe` code bytes
    /// each, over `k` centroids; `embeddings.npy` only with `keep`.
    pub(crate) fn create(
        dir: &std::path::Path,
        n: usize,
        (dim, bpe, k): (usize, usize, usize),
        keep: bool,
    ) -> Result<Self> {
        let embeddings = if keep {
            Some(NpyWriter::create(
                &dir.join(EMBEDDINGS),
                Dtype::F32,
                &[n, dim],
            )?)
        } else {
            None
        };
        Ok(Self {
            codes: NpyWriter::create(&dir.join(CODES), Dtype::U8, &[n, bpe])?,
            centroid_ids: DocCentroidsWriter::create(&dir.join(CENTROID_IDS), k)?,
            embeddings,
            postings: vec![RoaringBitmap::new(); k],
        })
    }

    /// Finishes every file (checking that each got what it was created for) and returns
    /// the posting lists.
    pub(crate) fn finish(self) -> Result<Vec<RoaringBitmap>> {
        self.codes.finish()?;
        self.centroid_ids.finish()?;
        if let Some(w) = self.embeddings {
            w.finish()?;
        }
        Ok(self.postings)
    }
}

/// [`super::train::check_finite`] over a chunk, in parallel.
fn check_finite_par(chunk: &[f32], dim: usize, first_row: usize) -> Result<()> {
    let bad = chunk
        .par_chunks(dim * 1024)
        .enumerate()
        .find_map_first(|(b, block)| {
            block
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| b * 1024 * dim + i)
        });
    match bad {
        None => Ok(()),
        Some(i) => Err(EngineError::NonFinite {
            what: "embeddings".into(),
            row: first_row + i / dim,
            column: i % dim,
        }),
    }
}
