//! The build itself, shared by [`super::IndexBuilder`] and [`super::build_from_npy`]:
//! train, compress, write every file into the staging directory (meta.json last),
//! publish.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use roaring::RoaringBitmap;
use tartan_quantize::ResidualCodec;

use super::compress::compress;
use super::config::{BuildConfig, BuildProgress, BuildReport, StageTime};
use super::staging::Staging;
use super::train::train;
use crate::error::{EngineError, Result};
use crate::format::elias_fano;
use crate::format::meta::{BuildParams, IndexMeta, FORMAT_NAME, FORMAT_VERSION};
use crate::format::npy::write_array;
use crate::format::table::write_table;
use crate::format::{
    CENTROIDS, CENTROID_SCALES, CODEBOOKS, CUTOFFS, DOC_IDS, DOC_IDS_MAGIC, DOC_OFFSETS,
    EMBEDDINGS, META, POSTINGS, POSTINGS_MAGIC, WEIGHTS,
};

/// Bytes of padding before the data of the builder's spill file (see IndexBuilder::new).
pub(crate) const SPILL_HEADER_LEN: usize = 128;

/// The corpus being indexed.
pub(crate) struct Corpus<'a> {
    /// `num_embeddings x dim`, documents contiguous and in order.
    pub embeddings: &'a [f32],
    pub dim: usize,
    /// `num_documents + 1` offsets into the embeddings.
    pub doc_offsets: &'a [u64],
    pub ids: &'a [String],
}

/// Where the corpus's embeddings live.
pub(crate) enum Source {
    /// The builder's spill file ([`SPILL`]) in the staging directory: removed once
    /// compressed.
    Spilled,
    /// Outside the index (the caller's .npy files).
    External,
}

/// The builder's spill file in the staging directory, gone before the index is published.
pub(crate) const SPILL: &str = "embeddings.spill";

/// Builds the index from `corpus` into `staging` and publishes it.
pub(crate) fn build(
    staging: Staging,
    corpus: &Corpus<'_>,
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

    let trained = train(corpus.embeddings, dim, config, progress)?;
    let postings = compress(
        corpus.embeddings,
        corpus.doc_offsets,
        &trained.centroids,
        &trained.codec,
        config.chunk_size,
        config.keep_embeddings,
        &staging,
        progress,
    )?;
    if let Source::Spilled = source {
        let spill = staging.file(SPILL);
        std::fs::remove_file(&spill).map_err(|e| EngineError::io(&spill, e))?;
    }

    progress.stage("write", 4);
    let k = trained.centroids.len();
    write_array(&staging.file(CENTROIDS), &[k, dim], &trained.centroid_codes)?;
    write_array(
        &staging.file(CENTROID_SCALES),
        &[k],
        &trained.centroid_scales,
    )?;
    write_codec(&staging, &trained.codec)?;
    write_array(
        &staging.file(DOC_OFFSETS),
        &[num_docs + 1],
        corpus.doc_offsets,
    )?;
    progress.advance(1);
    write_postings(&staging.file(POSTINGS), &postings, num_docs)?;
    drop(postings);
    progress.advance(1);
    write_table(
        &staging.file(DOC_IDS),
        DOC_IDS_MAGIC,
        corpus.ids.iter().map(|s| s.as_bytes()),
    )?;
    progress.advance(1);

    let files = file_sizes(staging.path())?;
    let bytes_embeddings = files.get(EMBEDDINGS).copied().unwrap_or(0);
    let bytes_total = files.values().sum::<u64>() - bytes_embeddings;
    let empty_documents = corpus
        .doc_offsets
        .windows(2)
        .filter(|w| w[0] == w[1])
        .count();
    let meta = IndexMeta {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        dim,
        codec: trained.codec.kind(),
        bytes_per_code: trained.codec.bytes_per_embedding(),
        num_documents: num_docs,
        num_embeddings: n,
        num_centroids: k,
        empty_documents,
        has_embeddings: config.keep_embeddings,
        build: BuildParams {
            seed: config.seed,
            kmeans_iterations: config.kmeans_iterations,
            kmeans_points: trained.kmeans_points,
            codec_training_points: trained.codec_points,
            chunk_size: config.chunk_size,
            created_by: concat!("tartan-engine ", env!("CARGO_PKG_VERSION")).into(),
        },
        encoder: config.encoder.clone(),
        files,
    };
    // meta.json is written last: a directory without it never opens.
    meta.write(staging.path())?;
    let bytes_total = bytes_total + std::fs::metadata(staging.file(META)).map_or(0, |m| m.len());
    progress.advance(1);
    staging.publish()?;
    Ok(BuildReport {
        num_documents: num_docs,
        num_embeddings: n,
        num_centroids: k,
        bytes_total,
        bytes_per_embedding: bytes_total as f64 / n as f64,
        bytes_embeddings,
        seconds: started.elapsed().as_secs_f64(),
        stages: clock.finish(),
    })
}

/// A [`BuildProgress`] that passes everything on and notes when each stage starts.
struct StageClock<'a> {
    inner: &'a dyn BuildProgress,
    /// Stage names and start times, `"prepare"` at the build's start first.
    marks: Mutex<Vec<(String, Instant)>>,
}

impl<'a> StageClock<'a> {
    fn new(inner: &'a dyn BuildProgress, started: Instant) -> Self {
        StageClock {
            inner,
            marks: Mutex::new(vec![("prepare".into(), started)]),
        }
    }

    /// Each stage's seconds, up to now.
    fn finish(&self) -> Vec<StageTime> {
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

fn check_unique(ids: &[String]) -> Result<()> {
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

fn write_codec(staging: &Staging, codec: &ResidualCodec) -> Result<()> {
    match codec {
        ResidualCodec::Product(p) => {
            let sub_dim = p.sub_dim();
            let shape = [p.dim() / sub_dim, tartan_quantize::CODEBOOK_SIZE, sub_dim];
            write_array(&staging.file(CODEBOOKS), &shape, p.codebooks())
        }
        ResidualCodec::Scalar(s) => {
            write_array(&staging.file(CUTOFFS), &[s.cutoffs().len()], s.cutoffs())?;
            write_array(&staging.file(WEIGHTS), &[s.weights().len()], s.weights())
        }
    }
}

fn write_postings(path: &Path, postings: &[RoaringBitmap], num_docs: usize) -> Result<()> {
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

fn file_sizes(dir: &Path) -> Result<BTreeMap<String, u64>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| EngineError::io(dir, e))? {
        let entry = entry.map_err(|e| EngineError::io(dir, e))?;
        let len = entry
            .metadata()
            .map_err(|e| EngineError::io(entry.path(), e))?
            .len();
        files.insert(entry.file_name().to_string_lossy().into_owned(), len);
    }
    Ok(files)
}
