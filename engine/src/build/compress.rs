//! Assigning and compressing every embedding in streamed chunks, writing `codes.npy`
//! and `centroid_ids.npy` as it goes and collecting the posting lists.

use rayon::prelude::*;
use roaring::RoaringBitmap;
use tartan_quantize::{Centroids, ResidualCodec};

use super::config::BuildProgress;
use super::staging::Staging;
use crate::error::{EngineError, Result};
use crate::format::npy::{Dtype, NpyWriter};
use crate::format::{CENTROID_IDS, CODES, MAX_U16_CENTROIDS};

/// Compresses `embeddings` (`n x dim`) chunk by chunk. `doc_offsets` (`n_docs + 1`)
/// maps embeddings to documents. Returns one posting list a centroid.
pub(crate) fn compress(
    embeddings: &[f32],
    doc_offsets: &[u64],
    centroids: &Centroids,
    codec: &ResidualCodec,
    chunk_size: usize,
    staging: &Staging,
    progress: &dyn BuildProgress,
) -> Result<Vec<RoaringBitmap>> {
    let dim = centroids.dim();
    let n = embeddings.len() / dim;
    let k = centroids.len();
    let bpe = codec.bytes_per_embedding();
    let mut codes_out = NpyWriter::create(&staging.file(CODES), Dtype::U8, &[n, bpe])?;
    let wide = k > MAX_U16_CENTROIDS;
    let id_dtype = if wide { Dtype::U32 } else { Dtype::U16 };
    let mut ids_out = NpyWriter::create(&staging.file(CENTROID_IDS), id_dtype, &[n])?;
    let mut postings = vec![RoaringBitmap::new(); k];
    let mut narrow = Vec::with_capacity(chunk_size.min(n));
    let mut doc = 0usize;

    progress.stage("compress", n as u64);
    for (c, chunk) in embeddings.chunks(chunk_size * dim).enumerate() {
        let first = c * chunk_size;
        check_finite_par(chunk, dim, first)?;
        let compressed = codec.compress(centroids, chunk)?;
        codes_out.write(&compressed.codes)?;
        if wide {
            ids_out.write(&compressed.centroid_ids)?;
        } else {
            narrow.clear();
            // k <= 65536, so every id fits.
            narrow.extend(compressed.centroid_ids.iter().map(|&id| id as u16));
            ids_out.write(&narrow)?;
        }
        for (i, &centroid) in compressed.centroid_ids.iter().enumerate() {
            let e = (first + i) as u64;
            while doc_offsets[doc + 1] <= e {
                doc += 1;
            }
            // Documents arrive in increasing order: try_push appends, and refuses only
            // a repeat of the last document, which is already in the list.
            let _ = postings[centroid as usize].try_push(doc as u32);
        }
        progress.advance((chunk.len() / dim) as u64);
    }
    codes_out.finish()?;
    ids_out.finish()?;
    Ok(postings)
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
