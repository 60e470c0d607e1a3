//! Option groups shared by several subcommands, and their conversion into the
//! engine's and encoder's configuration types.

use clap::builder::TypedValueParser;
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

/// How the index is built.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Bits per dimension of the residual codes (1, 2 or 4).
    #[arg(long, default_value_t = 2, value_parser = clap::builder::PossibleValuesParser::new(["1", "2", "4"]).map(|s| s.parse::<u8>().expect("listed values")))]
    pub nbits: u8,
    /// Residual codec.
    #[arg(long, value_enum, default_value_t = Codec::Product)]
    pub codec: Codec,
    /// Number of k-means centroids (default: 2^floor(log2(16 * sqrt(embeddings)))).
    #[arg(long, value_name = "N")]
    pub centroids: Option<usize>,
    /// Also store the uncompressed embeddings, so exact (brute-force MaxSim) search works.
    #[arg(long)]
    pub keep_embeddings: bool,
    /// Random seed of k-means and codec training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl BuildArgs {
    /// The codec kind these options select.
    pub fn codec_kind(&self) -> CodecKind {
        match self.codec {
            Codec::Product => CodecKind::Product { nbits: self.nbits },
            Codec::Scalar => CodecKind::Scalar { nbits: self.nbits },
        }
    }

    /// The engine's build configuration, recording `encoder` in the index meta;
    /// `overwrite` replaces an existing index (atomically, by the engine).
    pub fn config(&self, encoder: serde_json::Value, overwrite: bool) -> BuildConfig {
        BuildConfig {
            overwrite,
            codec: self.codec_kind(),
            num_centroids: self.centroids,
            seed: self.seed,
            keep_embeddings: self.keep_embeddings,
            encoder,
            ..BuildConfig::default()
        }
    }
}

/// How text is encoded.
#[derive(Debug, Clone, Args)]
pub struct EncoderArgs {
    /// Documents per forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
    /// Where the model runs: cpu, cuda or cuda:N (cuda needs a build with --features cuda).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: Device,
    /// Precision of the model's linear layers on the CPU: f32 (exact), bf16 (AVX-512 BF16)
    /// or int8 (AVX-512 VNNI); f32 where the CPU lacks the instructions.
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
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
    /// them is scored exactly (default by k: 512 at k <= 10, 1024 at k <= 100).
    #[arg(long)]
    pub ndocs: Option<usize>,
}

impl SearchParamArgs {
    /// The defaults for `k`, overridden by the options given.
    pub fn params(&self, k: usize) -> SearchParams {
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
        p
    }
}
