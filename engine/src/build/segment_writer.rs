//! Writing one immutable segment (codes, centroid ids, offsets, posting lists, ids and
//! optionally the kept embeddings) with a given codec: a build's only segment, and each
//! segment a writer adds. Every file is synced, then summed for the manifest.

use std::collections::BTreeMap;
use std::path::Path;

use roaring::RoaringBitmap;
use tartan_quantize::{Centroids, Compute, ResidualCodec};

use super::compress::compress;
use super::config::{BuildConfig, BuildProgress};
use super::train::Trained;
use crate::error::{EngineError, Result};
use crate::format::checksum::FileSum;
use crate::format::elias_fano;
use crate::format::manifest::{sync_dir, SegmentEntry};
use crate::format::npy::write_array;
use crate::format::table::write_table;
use crate::format::{DOC_IDS, DOC_IDS_MAGIC, DOC_OFFSETS, POSTINGS, POSTINGS_MAGIC};
use crate::stored::{write_rows, Rows};

/// Documents to write as a segment.
pub(crate) struct Corpus<'a> {
    /// `num_embeddings x dim`, documents contiguous and in order.
    pub embeddings: &'a [f32],
    pub dim: usize,
    /// `num_documents + 1` offsets into the embeddings.
    pub doc_offsets: &'a [u64],
    pub ids: &'a [String],
    /// The file map the embeddings lie in, when the build reads them from one (the
    /// builder's spill, a `.npy` file): its pages are let go once read.
    pub pages: Option<MappedPages<'a>>,
}

/// A read-only file map whose pages a build lets go of once it has read them (after
/// training's sample, after each compressed chunk), so that the process's resident memory
/// stays at a chunk of embeddings instead of growing to the whole file: the pages stay in
/// the page cache, and are read from it again if touched.
#[derive(Clone, Copy)]
pub(crate) struct MappedPages<'a>(pub &'a memmap2::Mmap);

impl MappedPages<'_> {
    /// Lets go of the pages under `data`, a part of the map (anything else is ignored).
    pub(crate) fn release(self, data: &[f32]) {
        let base = self.0.as_ptr() as usize;
        let start = data.as_ptr() as usize;
        let len = std::mem::size_of_val(data);
        if start < base || start + len > base + self.0.len() || len == 0 {
            return;
        }
        // SAFETY: the map is a read-only shared map of a file: dropping its pages only
        // means that later reads fetch them from the file (the page cache) again.
        let _ = unsafe {
            self.0
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start - base, len)
        };
    }
}

/// How to write a segment.
pub(crate) struct SegmentPlan<'a> {
    /// Where embeddings are assigned and their residuals coded.
    pub compute: &'a Compute,
    pub centroids: &'a Centroids,
    pub codec: &'a ResidualCodec,
    pub chunk_size: usize,
    pub keep_embeddings: bool,
    /// Whether the codec was trained on these documents.
    pub trained: bool,
}

impl<'a> SegmentPlan<'a> {
    /// The plan of a segment whose documents `trained` was trained on, with `config`'s
    /// chunk size and kept embeddings (a build's segment, or a re-trained index's).
    pub(crate) fn trained(trained: &'a Trained, config: &'a BuildConfig) -> Self {
        Self {
            compute: &config.compute,
            centroids: &trained.centroids,
            codec: &trained.codec,
            chunk_size: config.chunk_size,
            keep_embeddings: config.keep_embeddings,
            trained: true,
        }
    }
}

/// Writes `corpus` as segment `name` into `dir` (created here), with `rows` as its
/// metadata database, synced, and returns its manifest entry.
pub(crate) fn write_segment(
    dir: &Path,
    name: &str,
    corpus: &Corpus<'_>,
    rows: Rows<'_>,
    plan: &SegmentPlan<'_>,
    progress: &dyn BuildProgress,
) -> Result<SegmentEntry> {
    let num_docs = corpus.ids.len();
    let n = corpus.embeddings.len() / corpus.dim.max(1);
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let postings = compress(
        plan.compute,
        corpus.embeddings,
        corpus.pages,
        corpus.doc_offsets,
        plan.centroids,
        plan.codec,
        plan.chunk_size,
        plan.keep_embeddings,
        dir,
        progress,
    )?;
    fail::fail_point!("segment.after_codes", |_| Err(
        crate::format::manifest::injected("segment.after_codes")
    ));
    progress.stage("write", 3);
    write_array(&dir.join(DOC_OFFSETS), &[num_docs + 1], corpus.doc_offsets)?;
    progress.advance(1);
    write_postings(&dir.join(POSTINGS), &postings, num_docs)?;
    drop(postings);
    progress.advance(1);
    write_table(
        &dir.join(DOC_IDS),
        DOC_IDS_MAGIC,
        corpus.ids.iter().map(|s| s.as_bytes()),
    )?;
    progress.advance(1);
    write_rows(dir, corpus.ids, rows)?;
    sync_dir(dir)?;
    let files = sum_files(dir)?;
    let empty_documents = corpus
        .doc_offsets
        .windows(2)
        .filter(|w| w[0] == w[1])
        .count();
    Ok(SegmentEntry {
        name: name.to_owned(),
        num_documents: num_docs,
        num_embeddings: n,
        empty_documents,
        has_embeddings: plan.keep_embeddings,
        trained: plan.trained,
        residual_error: residual_error(corpus.embeddings, corpus.dim, plan),
        files,
        deletes: None,
    })
}

/// Mean squared reconstruction error an embedding (centroid + decoded residual against
/// the embedding) over an evenly spaced sample of at most 4,096: how well the codec fits
/// these documents (added documents drift from the training corpus).
pub(crate) fn residual_error(
    embeddings: &[f32],
    dim: usize,
    plan: &SegmentPlan<'_>,
) -> Option<f64> {
    let n = embeddings.len() / dim.max(1);
    if n == 0 {
        return None;
    }
    let step = n.div_ceil(4096).max(1);
    let sample: Vec<f32> = (0..n)
        .step_by(step)
        .flat_map(|i| embeddings[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let compressed = plan.codec.compress(plan.centroids, &sample).ok()?;
    let bpe = plan.codec.bytes_per_embedding();
    let mut decoded = vec![0f32; dim];
    let mut total = 0f64;
    for (i, row) in sample.chunks_exact(dim).enumerate() {
        let c = compressed.centroid_ids[i] as usize;
        plan.codec.decode_into(
            plan.centroids.row(c),
            &compressed.codes[i * bpe..(i + 1) * bpe],
            &mut decoded,
        );
        total += row
            .iter()
            .zip(&decoded)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>();
    }
    Some(total / (sample.len() / dim) as f64)
}

/// Size and checksum of every file of `dir`.
pub(crate) fn sum_files(dir: &Path) -> Result<BTreeMap<String, FileSum>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| EngineError::io(dir, e))? {
        let entry = entry.map_err(|e| EngineError::io(dir, e))?;
        let sum = FileSum::of_file(&entry.path(), &|_| {})?;
        files.insert(entry.file_name().to_string_lossy().into_owned(), sum);
    }
    Ok(files)
}

/// Writes the posting lists (one a centroid, ascending local document numbers) of a
/// segment of `num_docs` documents.
pub(crate) fn write_postings(
    path: &Path,
    postings: &[RoaringBitmap],
    num_docs: usize,
) -> Result<()> {
    let universe = u32::try_from(num_docs).map_err(|_| EngineError::InvalidConfig {
        reason: format!("{num_docs} documents do not fit u32 document numbers"),
    })?;
    let mut blob = Vec::new();
    let mut ends = Vec::with_capacity(postings.len());
    let mut docs = Vec::new();
    for p in postings {
        docs.clear();
        docs.extend(p.iter());
        elias_fano::encode(&docs, universe, &mut blob)
            .map_err(|reason| EngineError::corrupt(path, reason))?;
        ends.push(blob.len());
    }
    let records = ends
        .iter()
        .scan(0usize, |start, &end| {
            let r = &blob[*start..end];
            *start = end;
            Some(r)
        })
        .collect::<Vec<_>>();
    write_table(path, POSTINGS_MAGIC, records.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Letting pages go never changes what the map reads, and a slice from elsewhere is
    /// ignored.
    #[test]
    fn released_pages_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.bin");
        let values: Vec<f32> = (0..300_000).map(|i| i as f32 * 0.5).collect();
        std::fs::write(&path, bytemuck::cast_slice(&values)).unwrap();
        let map = crate::format::npy::map_file(&path).unwrap();
        let mapped: &[f32] = bytemuck::cast_slice(&map[..]);
        assert_eq!(mapped, values.as_slice());
        let pages = MappedPages(&map);
        pages.release(&mapped[1000..150_000]);
        assert_eq!(mapped, values.as_slice());
        pages.release(mapped);
        pages.release(&values);
        pages.release(&mapped[..0]);
        assert_eq!(mapped, values.as_slice());
    }
}
