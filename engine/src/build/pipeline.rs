//! The build itself, shared by [`super::IndexBuilder`] and [`super::build_from_npy`]:
//! train, write the codec and the first segment, commit generation 1 (or the next
//! generation of the index being replaced).

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use tartan_quantize::ResidualCodec;

use super::config::{BuildConfig, BuildProgress, BuildReport, StageTime};
use super::segment_writer::{sum_files, write_segment, SegmentPlan};
use super::shared_codec::load_trained;
use super::target::Target;
use super::train::train;
use crate::error::{EngineError, Result};
use crate::format::manifest::{sync_dir, Manifest, SEGMENTED_VERSION};
use crate::format::meta::{BuildParams, FORMAT_NAME};
use crate::format::npy::write_array;
use crate::format::{CENTROIDS, CENTROID_SCALES, CODEBOOKS, CUTOFFS, EMBEDDINGS, WEIGHTS};
use crate::stored::Rows;

pub(crate) use super::segment_writer::Corpus;

/// Bytes of padding before the data of the builder's spill file (see IndexBuilder::new).
pub(crate) const SPILL_HEADER_LEN: usize = 128;

/// Where the corpus's embeddings live.
pub(crate) enum Source {
    /// The builder's spill file ([`SPILL`]) in the target's scratch space: removed
    /// once compressed.
    Spilled,
    /// Outside the index (the caller's .npy files).
    External,
}

/// The builder's spill file, gone before the index is published.
pub(crate) const SPILL: &str = "embeddings.spill";

/// Builds the index from `corpus` into `target` and publishes it.
pub(crate) fn build(
    target: Target,
    corpus: &Corpus<'_>,
    rows: Rows<'_>,
    config: &BuildConfig,
    progress: &dyn BuildProgress,
    source: Source,
    started: Instant,
) -> Result<BuildReport> {
    let dim = corpus.dim;
    let n = corpus.embeddings.len() / dim;
    let num_docs = corpus.ids.len();
    if n == 0 {
        return Err(EngineError::EmptyCorpus);
    }
    check_unique(corpus.ids)?;
    let clock = StageClock::new(progress, started);
    let progress: &dyn BuildProgress = &clock;

    // A given codec (trained once for several indexes) or one trained on this corpus.
    let (trained, params) = match &config.codec_dir {
        Some(dir) => {
            progress.stage("codec", 1);
            let (mut trained, params) = load_trained(dir, dim)?;
            trained.codec = trained.codec.with_parallel_weight(config.parallel_weight)?;
            progress.advance(1);
            (trained, params)
        }
        None => {
            let trained = train(corpus.embeddings, corpus.pages, dim, config, progress)?;
            let params = trained.build_params(config);
            (trained, params)
        }
    };
    let names = target.names();
    let codec_dir = target.root().join(&names.codec_dir);
    write_codec_dir(
        &codec_dir,
        &trained.codec,
        &trained.centroid_codes,
        &trained.centroid_scales,
    )?;
    let plan = SegmentPlan::trained(&trained, config);
    let entry = write_segment(
        &target.root().join(&names.segment),
        &names.segment,
        corpus,
        rows,
        &plan,
        progress,
    )?;
    if let Source::Spilled = source {
        let spill = target.scratch_file(SPILL);
        std::fs::remove_file(&spill).map_err(|e| EngineError::io(&spill, e))?;
    }
    let k = trained.centroids.len();
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: SEGMENTED_VERSION,
        generation: names.generation,
        dim,
        codec: trained.codec.kind(),
        bytes_per_code: trained.codec.bytes_per_embedding(),
        num_centroids: k,
        build: BuildParams {
            chunk_size: config.chunk_size,
            ..params
        },
        encoder: config.encoder.clone(),
        codec_dir: names.codec_dir.clone(),
        codec_files: sum_files(&codec_dir)?,
        next_file_number: names.next_file_number,
        segments: vec![entry],
    };
    let notes = target.publish(&manifest)?;
    let bytes_embeddings = manifest.segments[0]
        .files
        .get(EMBEDDINGS)
        .map_or(0, |f| f.size);
    let bytes_total = manifest_bytes(&manifest);
    Ok(BuildReport {
        num_documents: num_docs,
        num_embeddings: n,
        num_centroids: k,
        bytes_total,
        bytes_per_embedding: bytes_total as f64 / n as f64,
        bytes_embeddings,
        bytes_metadata: manifest.segments[0]
            .files
            .get(crate::format::METADATA)
            .map_or(0, |f| f.size),
        seconds: started.elapsed().as_secs_f64(),
        generation: manifest.generation,
        notes,
        stages: clock.finish(),
    })
}

/// A [`BuildProgress`] that passes everything on and notes when each stage starts.
pub(crate) struct StageClock<'a> {
    inner: &'a dyn BuildProgress,
    /// Stage names and start times, `"prepare"` at the build's start first.
    marks: Mutex<Vec<(String, Instant)>>,
}

impl<'a> StageClock<'a> {
    pub(crate) fn new(inner: &'a dyn BuildProgress, started: Instant) -> Self {
        StageClock {
            inner,
            marks: Mutex::new(vec![("prepare".into(), started)]),
        }
    }

    /// Each stage's seconds, up to now.
    pub(crate) fn finish(&self) -> Vec<StageTime> {
        let end = Instant::now();
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks
            .iter()
            .enumerate()
            .map(|(i, (name, start))| StageTime {
                name: name.clone(),
                seconds: marks
                    .get(i + 1)
                    .map_or(end, |next| next.1)
                    .duration_since(*start)
                    .as_secs_f64(),
            })
            .collect()
    }
}

impl BuildProgress for StageClock<'_> {
    fn stage(&self, name: &str, total: u64) {
        self.marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_owned(), Instant::now()));
        self.inner.stage(name, total);
    }

    fn advance(&self, n: u64) {
        self.inner.advance(n);
    }
}

/// Bytes of the files a manifest lists, kept embeddings excluded, the manifest itself
/// (as serialised) included.
pub(crate) fn manifest_bytes(manifest: &Manifest) -> u64 {
    let own = serde_json::to_vec_pretty(manifest).map_or(0, |v| v.len() as u64);
    manifest.listed_bytes() + own
}

/// Writes the centroids and codec files into `dir` (created here), synced.
pub(crate) fn write_codec_dir(
    dir: &Path,
    codec: &ResidualCodec,
    centroid_codes: &[i8],
    centroid_scales: &[f32],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let k = centroid_scales.len();
    let dim = codec.dim();
    write_array(&dir.join(CENTROIDS), &[k, dim], centroid_codes)?;
    write_array(&dir.join(CENTROID_SCALES), &[k], centroid_scales)?;
    match codec {
        ResidualCodec::Product(p) => {
            let sub_dim = p.sub_dim();
            let shape = [p.dim() / sub_dim, tartan_quantize::CODEBOOK_SIZE, sub_dim];
            write_array(&dir.join(CODEBOOKS), &shape, p.codebooks())?;
        }
        ResidualCodec::Scalar(s) => {
            write_array(&dir.join(CUTOFFS), &[s.cutoffs().len()], s.cutoffs())?;
            write_array(&dir.join(WEIGHTS), &[s.weights().len()], s.weights())?;
        }
    }
    sync_dir(dir)
}

pub(crate) fn check_unique(ids: &[String]) -> Result<()> {
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
    match order
        .windows(2)
        .find(|w| ids[w[0] as usize] == ids[w[1] as usize])
    {
        Some(w) => Err(EngineError::DuplicateId {
            id: ids[w[0] as usize].clone(),
        }),
        None => Ok(()),
    }
}
