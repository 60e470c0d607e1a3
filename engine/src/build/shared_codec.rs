//! A codec trained once and shared by several indexes: [`train_codec`] writes the
//! centroids and the residual codec into a directory of their own, and a build given
//! [`BuildConfig::codec_dir`] quantises with them instead of training. Indexes built
//! from one codec decompress a document to the same vectors, so their scores compare:
//! the shards of one corpus, searched together by [`crate::ShardSet`].
//!
//! The directory holds the files of an index's codec directory (`centroids.npy`,
//! `centroid_scales.npy`, and `codebooks.npy` or `cutoffs.npy` + `weights.npy`) and
//! `codec.json`: the format name and version, the dimension, the codec, the number of
//! centroids, the training parameters and each file's size and CRC-32C. It is
//! written into a temporary sibling and renamed into place last.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tartan_quantize::{Centroids, CodecKind};

use super::config::{BuildConfig, BuildProgress, StageTime};
use super::pipeline::{write_codec_dir, StageClock};
use super::segment_writer::sum_files;
use super::train::{train, Trained};
use super::unit_norm::check_unit_norm;
use crate::error::{EngineError, Result};
use crate::format::checksum::FileSum;
use crate::format::manifest::sync_dir;
use crate::format::meta::BuildParams;
use crate::format::npy::Dtype;
use crate::format::npy_input::NpyInput;
use crate::segment::{codec_file_names, CodecData, Expected};

/// The record of a codec directory.
pub const CODEC_RECORD: &str = "codec.json";
/// `format` in `codec.json`.
pub const CODEC_FORMAT_NAME: &str = "tartan-codec";
/// The version of the codec directory's layout this build writes and reads.
pub const CODEC_FORMAT_VERSION: u32 = 1;

/// `codec.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CodecRecord {
    format: String,
    format_version: u32,
    dim: usize,
    codec: CodecKind,
    bytes_per_code: usize,
    num_centroids: usize,
    build: BuildParams,
    files: BTreeMap<String, FileSum>,
}

/// What [`train_codec`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CodecReport {
    /// The directory written.
    pub dir: PathBuf,
    /// Dimension of the embeddings.
    pub dim: usize,
    /// The residual codec.
    pub codec: CodecKind,
    /// Centroids trained.
    pub num_centroids: usize,
    /// Embeddings k-means trained on.
    pub kmeans_points: usize,
    /// Held-out embeddings the residual codec trained on.
    pub codec_training_points: usize,
    /// Wall-clock seconds of the whole training.
    pub seconds: f64,
    /// Seconds of each stage (`"prepare"`, `"sample"`, `"kmeans"`, `"codec"`,
    /// `"write"`).
    pub stages: Vec<StageTime>,
}

/// Trains centroids and a residual codec on `embeddings` (row-major `[n, dim]`,
/// L2-normalised; a sample of the corpus is enough, as a build samples anyway) with
/// the training settings of `config` (codec, centroids, iterations, seed, sample
/// sizes), and writes them to `out_dir` for builds with [`BuildConfig::codec_dir`].
///
/// Errors: [`EngineError::TargetExists`] when `out_dir` exists and
/// `config.overwrite` is false (an existing directory is replaced only when it is a
/// codec directory); [`EngineError::NotUnitNorm`], [`EngineError::NonFinite`],
/// [`EngineError::EmptyCorpus`], [`EngineError::InvalidConfig`] for bad input.
pub fn train_codec(
    embeddings: &[f32],
    dim: usize,
    out_dir: &Path,
    config: &BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<CodecReport> {
    train_codec_inner(embeddings, dim, out_dir, config, progress, Instant::now())
}

/// The centroid count for a codec trained on `sample_embeddings` for indexes (shards)
/// of about `shard_embeddings` each: the default of one such index
/// ([`tartan_quantize::default_num_centroids`]), capped by the embeddings the sample
/// leaves k-means (a tenth at most is held out for the codec). Sized by the shard, not
/// the whole corpus: each shard searches its own posting lists, so its cost follows
/// its own size, as a separately built index's would.
pub fn num_centroids_for(shard_embeddings: usize, sample_embeddings: usize) -> usize {
    let held_out = (sample_embeddings / 10).min(BuildConfig::default().codec_training_points);
    tartan_quantize::default_num_centroids(shard_embeddings)
        .min(sample_embeddings - held_out)
        .max(1)
}

/// [`train_codec`] from a numpy file: float32 `[n, dim]`, memory-mapped.
///
/// Errors: those of [`train_codec`]; [`EngineError::InvalidInput`] naming the file for
/// a wrong dtype or shape.
pub fn train_codec_from_npy(
    embeddings: &Path,
    out_dir: &Path,
    config: &BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<CodecReport> {
    let started = Instant::now();
    let emb = NpyInput::open(embeddings)?;
    let header = emb.header();
    if header.dtype != Dtype::F32 || header.shape.len() != 2 {
        return Err(emb.invalid(format!(
            "expected a float32 [n, dim] array, found {} {:?}",
            header.dtype.descr(),
            header.shape
        )));
    }
    let dim = header.shape[1];
    let data = emb.f32s()?;
    train_codec_inner(&data, dim, out_dir, config, progress, started)
}

fn train_codec_inner(
    embeddings: &[f32],
    dim: usize,
    out_dir: &Path,
    config: &BuildConfig,
    progress: &dyn BuildProgress,
    started: Instant,
) -> Result<CodecReport> {
    super::builder::check_config(dim, config)?;
    if config.codec_dir.is_some() {
        return Err(EngineError::InvalidConfig {
            reason: "codec_dir names a trained codec: training another takes no codec_dir".into(),
        });
    }
    if embeddings.is_empty() {
        return Err(EngineError::EmptyCorpus);
    }
    if embeddings.len() % dim != 0 {
        return Err(EngineError::DimensionMismatch {
            what: "training embeddings",
            expected: dim,
            found: embeddings.len(),
        });
    }
    check_unit_norm(embeddings, dim).map_err(|off| EngineError::NotUnitNorm {
        row: off.row,
        document: "(training sample)".into(),
        token: off.row,
        norm: off.norm,
    })?;
    let (staging, existing) = prepare_target(out_dir, config.overwrite)?;
    let clock = StageClock::new(progress, started);
    let trained = train(embeddings, None, dim, config, &clock)?;
    clock.stage("write", 1);
    let written = write_codec_files(&staging, &trained, dim, config);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    publish(&staging, out_dir, existing)?;
    clock.advance(1);
    Ok(CodecReport {
        dir: out_dir.to_path_buf(),
        dim,
        codec: trained.codec.kind(),
        num_centroids: trained.centroids.len(),
        kmeans_points: trained.kmeans_points,
        codec_training_points: trained.codec_points,
        seconds: started.elapsed().as_secs_f64(),
        stages: clock.finish(),
    })
}

/// The staging directory beside `out_dir`, and whether `out_dir` is a codec
/// directory to replace.
fn prepare_target(out_dir: &Path, overwrite: bool) -> Result<(PathBuf, bool)> {
    let name = out_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| EngineError::InvalidConfig {
            reason: format!("{}: not a directory name", out_dir.display()),
        })?;
    let existing = out_dir.exists();
    if existing {
        if !overwrite {
            return Err(EngineError::TargetExists {
                path: out_dir.to_path_buf(),
            });
        }
        if !out_dir.join(CODEC_RECORD).is_file() {
            return Err(EngineError::InvalidConfig {
                reason: format!(
                    "{} exists and is not a codec directory (no {CODEC_RECORD}): not replaced",
                    out_dir.display()
                ),
            });
        }
    }
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| EngineError::io(&parent, e))?;
    let staging = parent.join(format!(".{name}.tartan-tmp-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| EngineError::io(&staging, e))?;
    }
    Ok((staging, existing))
}

/// The codec files and `codec.json` into `dir`.
fn write_codec_files(
    dir: &Path,
    trained: &Trained,
    dim: usize,
    config: &BuildConfig,
) -> Result<()> {
    write_codec_dir(
        dir,
        &trained.codec,
        &trained.centroid_codes,
        &trained.centroid_scales,
    )?;
    let record = CodecRecord {
        format: CODEC_FORMAT_NAME.into(),
        format_version: CODEC_FORMAT_VERSION,
        dim,
        codec: trained.codec.kind(),
        bytes_per_code: trained.codec.bytes_per_embedding(),
        num_centroids: trained.centroids.len(),
        build: trained.build_params(config),
        files: sum_files(dir)?,
    };
    let path = dir.join(CODEC_RECORD);
    let json = serde_json::to_vec_pretty(&record).map_err(|e| EngineError::InvalidConfig {
        reason: format!("cannot serialise {CODEC_RECORD}: {e}"),
    })?;
    std::fs::write(&path, json).map_err(|e| EngineError::io(&path, e))?;
    let file = std::fs::File::open(&path).map_err(|e| EngineError::io(&path, e))?;
    file.sync_all().map_err(|e| EngineError::io(&path, e))?;
    sync_dir(dir)
}

/// Renames the finished `staging` into `out_dir` (moving a replaced codec directory
/// aside first and removing it after).
fn publish(staging: &Path, out_dir: &Path, existing: bool) -> Result<()> {
    let old = staging.with_extension("old");
    if existing {
        std::fs::rename(out_dir, &old).map_err(|e| EngineError::io(out_dir, e))?;
    }
    std::fs::rename(staging, out_dir).map_err(|e| EngineError::io(out_dir, e))?;
    if let Some(parent) = out_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    if existing {
        std::fs::remove_dir_all(&old).map_err(|e| EngineError::io(&old, e))?;
    }
    Ok(())
}

/// Reads the codec directory `dir` (checking `codec.json`, every file's size and
/// checksum, and that it codes `dim`-dimensional embeddings) as a build's training
/// result, with its training parameters.
pub(crate) fn load_trained(dir: &Path, dim: usize) -> Result<(Trained, BuildParams)> {
    let record_path = dir.join(CODEC_RECORD);
    let bytes = std::fs::read(&record_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if !dir.exists() => EngineError::InvalidConfig {
            reason: format!("codec directory {} does not exist", dir.display()),
        },
        std::io::ErrorKind::NotFound => EngineError::InvalidConfig {
            reason: format!(
                "{} is not a codec directory (no {CODEC_RECORD}; `tartan train` makes one)",
                dir.display()
            ),
        },
        _ => EngineError::io(&record_path, e),
    })?;
    let record: CodecRecord = serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::corrupt(&record_path, e.to_string()))?;
    if record.format != CODEC_FORMAT_NAME {
        return Err(EngineError::corrupt(
            &record_path,
            format!("format {:?}, expected {CODEC_FORMAT_NAME:?}", record.format),
        ));
    }
    if record.format_version != CODEC_FORMAT_VERSION {
        return Err(EngineError::UnsupportedVersion {
            path: record_path,
            found: record.format_version,
            oldest: CODEC_FORMAT_VERSION,
            newest: CODEC_FORMAT_VERSION,
        });
    }
    if record.dim != dim {
        return Err(EngineError::InvalidConfig {
            reason: format!(
                "the codec in {} codes {}-dim embeddings; these are {dim}-dim",
                dir.display(),
                record.dim
            ),
        });
    }
    for name in codec_file_names(record.codec) {
        if !record.files.contains_key(name) {
            return Err(EngineError::corrupt(
                &record_path,
                format!("no recorded checksum for {name}"),
            ));
        }
    }
    let data = CodecData::open(
        dir,
        record.codec,
        dim,
        record.num_centroids,
        &Expected::Sums(&record.files),
        &record_path,
    )?;
    if data.codec.bytes_per_embedding() != record.bytes_per_code {
        return Err(EngineError::corrupt(
            &record_path,
            format!(
                "bytes_per_code {} where the codec needs {}",
                record.bytes_per_code,
                data.codec.bytes_per_embedding()
            ),
        ));
    }
    let trained = Trained {
        centroids: Centroids::from_vec(data.centroids, dim)?,
        centroid_codes: data.centroid_codes.as_slice().to_vec(),
        centroid_scales: data.centroid_scales.as_slice().to_vec(),
        codec: data.codec,
        kmeans_points: record.build.kmeans_points,
        codec_points: record.build.codec_training_points,
    };
    Ok((trained, record.build))
}
