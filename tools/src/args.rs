//! Option groups shared by several subcommands, and their conversion into the
//! engine's and encoder's configuration types.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use clap::{Args, ValueEnum};
use tartan_encoder::{Device, Precision};
use tartan_engine::{BuildConfig, SearchParams};
use tartan_quantize::CodecKind;

use crate::model::{parse_device, parse_precision};

/// The residual codec of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    /// Product codes: 4-dim sub-vectors, one byte each into a 256-entry codebook.
    Product,
    /// ColBERTv2's scalar codes: per-dimension buckets at residual quantiles.
    Scalar,
}

/// `--codec`: a codec kind to train, or a codec directory trained once by `tartan
/// train` (the shards of one corpus are built with one, so their scores compare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecArg {
    /// Train this codec on the corpus.
    Kind(Codec),
    /// Quantise with the centroids and codec of this directory.
    Dir(PathBuf),
}

/// An `--nbits` value: 1, 2 or 4.
pub fn parse_nbits(text: &str) -> std::result::Result<u8, String> {
    match text {
        "1" | "2" | "4" => Ok(text.parse().expect("a digit")),
        other => Err(format!("{other:?}: give 1, 2 or 4")),
    }
}

/// A `--codec` value: `product`, `scalar` or an existing directory.
fn parse_codec(text: &str) -> std::result::Result<CodecArg, String> {
    match text {
        "product" => Ok(CodecArg::Kind(Codec::Product)),
        "scalar" => Ok(CodecArg::Kind(Codec::Scalar)),
        dir if Path::new(dir).is_dir() => Ok(CodecArg::Dir(PathBuf::from(dir))),
        other => Err(format!(
            "{other:?} is neither product nor scalar nor a codec directory (`tartan train` makes one)"
        )),
    }
}

/// How the index is built.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Bits per dimension of the residual codes: 1, 2 or 4 [default: 2].
    #[arg(long, value_parser = parse_nbits)]
    pub nbits: Option<u8>,
    /// Residual codec to train (product or scalar), or a codec directory made by
    /// `tartan train` to quantise with instead of training [default: product].
    #[arg(long, value_name = "product|scalar|CODEC_DIR", value_parser = parse_codec)]
    pub codec: Option<CodecArg>,
    /// Number of k-means centroids (default: 2^floor(log2(16 * sqrt(embeddings)))).
    #[arg(long, value_name = "N")]
    pub centroids: Option<usize>,
    /// Also store the uncompressed embeddings, so exact (brute-force MaxSim) search works.
    #[arg(long)]
    pub keep_embeddings: bool,
    /// Random seed of k-means and codec training [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
}

impl BuildArgs {
    /// Bits a dimension (2 unless given).
    pub fn nbits(&self) -> u8 {
        self.nbits.unwrap_or(2)
    }

    /// The training seed (42 unless given).
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(BuildConfig::default().seed)
    }

    /// The codec directory to build with, if one was given.
    pub fn codec_dir(&self) -> Option<&Path> {
        match &self.codec {
            Some(CodecArg::Dir(dir)) => Some(dir),
            _ => None,
        }
    }

    /// The codec kind these options train (the directory's own with a codec
    /// directory: None).
    pub fn codec_kind(&self) -> Option<CodecKind> {
        let nbits = self.nbits();
        match self.codec {
            None | Some(CodecArg::Kind(Codec::Product)) => Some(CodecKind::Product { nbits }),
            Some(CodecArg::Kind(Codec::Scalar)) => Some(CodecKind::Scalar { nbits }),
            Some(CodecArg::Dir(_)) => None,
        }
    }

    /// The engine's build configuration, recording `encoder` in the index meta;
    /// `overwrite` replaces an existing index (atomically, by the engine).
    ///
    /// Errors: training options (--nbits, --centroids, --seed) beside a codec
    /// directory, which fixes them.
    pub fn config(&self, encoder: serde_json::Value, overwrite: bool) -> Result<BuildConfig> {
        if let Some(dir) = self.codec_dir() {
            ensure!(
                self.nbits.is_none() && self.centroids.is_none() && self.seed.is_none(),
                "--nbits, --centroids and --seed train a codec; the codec in {} is already trained",
                dir.display()
            );
        }
        Ok(BuildConfig {
            overwrite,
            codec: self.codec_kind().unwrap_or_default(),
            num_centroids: self.centroids,
            seed: self.seed(),
            keep_embeddings: self.keep_embeddings,
            encoder,
            codec_dir: self.codec_dir().map(Path::to_path_buf),
            ..BuildConfig::default()
        })
    }
}

/// How text is encoded.
#[derive(Debug, Clone, Args)]
pub struct EncoderArgs {
    /// Documents per forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
    /// Where the model runs, and an index build's k-means and compression: cpu, cuda or
    /// cuda:N (cuda needs a build with --features cuda).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: Device,
    /// Precision of the model's linear layers on the CPU: auto (bf16 where the CPU has
    /// AVX-512 BF16, as it passes the quality gate; f32 elsewhere and on GPUs), f32 (exact),
    /// bf16 (AMX or AVX-512 BF16) or int8 (AVX-512 VNNI); f32 where the CPU lacks the
    /// instructions.
    #[arg(long, default_value = "auto", value_parser = parse_precision)]
    pub precision: Precision,
}

/// PLAID search parameters; unset ones take the defaults for k
/// (`SearchParams::for_k`: colbert-ai's, except nprobe 2 and ndocs 512 at k <= 10).
#[derive(Debug, Clone, Args)]
pub struct SearchParamArgs {
    /// Centroids probed per query token.
    #[arg(long)]
    pub nprobe: Option<usize>,
    /// Centroid score threshold for pruning.
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f32>,
    /// Candidate documents kept after the pruned centroid interaction; a quarter of
    /// them is scored exactly (default by k: 512 at k <= 10, 3072 at k <= 100, 12k above).
    #[arg(long)]
    pub ndocs: Option<usize>,
}

impl SearchParamArgs {
    /// The defaults for `k`, overridden by the options given and checked by
    /// [`SearchParams::validate`] (the server applies the same check).
    pub fn params(&self, k: usize) -> anyhow::Result<SearchParams> {
        let mut p = SearchParams::for_k(k);
        if let Some(n) = self.nprobe {
            p.nprobe = n;
        }
        if let Some(t) = self.threshold {
            p.centroid_score_threshold = t;
        }
        if let Some(n) = self.ndocs {
            p.ndocs = n;
        }
        p.validate()?;
        Ok(p)
    }
}

/// A positive, finite number of seconds (fractions allowed).
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "{text} s: give a positive number of seconds, at most a day"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// How the server treats connections: the limits that keep a slow, silent or
/// numerous client from holding it (or its shutdown) hostage.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Seconds for a request's complete header to arrive, counted from when the
    /// server starts waiting for it (also the longest a kept-alive connection waits
    /// for its next request).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub header_timeout: std::time::Duration,
    /// Seconds a connection with no request in flight may stay quiet (no byte
    /// either way) before it is closed.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    pub idle_timeout: std::time::Duration,
    /// Seconds for a request's whole body to arrive after its header (then 408).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub body_timeout: std::time::Duration,
    /// Most connections open at once (default: the open-file limit less 64, between
    /// 16 and 4096). At the cap a new connection closes the idlest one with no
    /// request in flight; if every one has a request in flight it gets 503.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
    /// Seconds requests in flight may take to finish after SIGTERM or Ctrl-C; what
    /// is still running then is cut and the process exits 0.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    pub shutdown_timeout: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;
    use std::time::Duration;

    #[test]
    fn seconds_are_positive_and_finite() {
        assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["0", "-1", "nan", "inf", "1e9", "soon"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
