//! `tartan train`: centroids and a residual codec trained once, into a codec directory
//! that `tartan index --codec DIR` builds with (the shards of one corpus).

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use clap::Args;
use tartan_engine::format::npy_input::NpyInput;
use tartan_engine::{num_centroids_for, BuildConfig, CodecReport};
use tartan_quantize::{default_num_centroids, CodecKind};

use crate::args::Codec;
use crate::progress::BuildBars;
use crate::Globals;

/// Train a codec once, for several indexes (shards) built with it.
///
/// `tartan train --embeddings SAMPLE.npy --out CODEC_DIR`, with SAMPLE float32
/// [n, dim] token embeddings (L2-normalised): a sample of the corpus is enough, as a
/// build samples anyway. --doclens L.npy, when given, must sum to n (a check that the
/// sample is whole documents). --shard-embeddings N sizes the default centroid
/// count for the indexes built with it (2^floor(log2(16 * sqrt(N))), the count an index
/// of N embeddings gets) rather than for the sample.
///
/// Then `tartan index --embeddings E_i.npy --doclens L_i.npy --codec CODEC_DIR --out
/// shard_i` quantises each shard with these centroids and this codec, so the shards'
/// scores compare and `tartan search --index shard_0 --index shard_1 ...` merges
/// their top-k.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TrainArgs {
    /// Token embeddings to train on, float32 [n, dim].
    #[arg(long, value_name = "SAMPLE.npy")]
    pub embeddings: PathBuf,
    /// Tokens per document of the sample, integer [n_docs], summing to n (checked).
    #[arg(long, value_name = "L.npy")]
    pub doclens: Option<PathBuf>,
    /// The codec directory to create.
    #[arg(long, short, value_name = "CODEC_DIR")]
    pub out: PathBuf,
    /// Replace an existing codec directory at --out.
    #[arg(long)]
    pub force: bool,
    /// Embeddings one index built with the codec will hold (a shard): sizes the default
    /// centroid count (default: the sample's size).
    #[arg(long, value_name = "N", conflicts_with = "centroids")]
    pub shard_embeddings: Option<usize>,
    /// Bits per dimension of the residual codes (1, 2 or 4).
    #[arg(long, default_value_t = 2, value_parser = crate::args::parse_nbits)]
    pub nbits: u8,
    /// Residual codec.
    #[arg(long, value_enum, default_value_t = Codec::Product)]
    pub codec: Codec,
    /// Number of k-means centroids.
    #[arg(long, value_name = "N")]
    pub centroids: Option<usize>,
    /// Random seed of sampling, k-means and codec training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Runs `tartan train`.
pub fn run(args: TrainArgs, globals: Globals) -> Result<()> {
    let sample = NpyInput::open(&args.embeddings)?;
    let rows = sample.shape().first().copied().unwrap_or(0);
    if let Some(doclens) = &args.doclens {
        let sum: u64 = NpyInput::open(doclens)?.lengths()?.iter().sum();
        ensure!(
            sum == rows as u64,
            "{}: lengths sum to {sum} but {} holds {rows} rows",
            doclens.display(),
            args.embeddings.display()
        );
    }
    let num_centroids = match (args.centroids, args.shard_embeddings) {
        (Some(k), _) => Some(k),
        (None, Some(n)) => {
            let k = num_centroids_for(n, rows);
            if k < default_num_centroids(n) {
                eprintln!(
                    "note: {} centroids suit {n} embeddings, but a sample of {rows} trains {k}",
                    default_num_centroids(n)
                );
            }
            Some(k)
        }
        (None, None) => None,
    };
    let config = BuildConfig {
        codec: match args.codec {
            Codec::Product => CodecKind::Product { nbits: args.nbits },
            Codec::Scalar => CodecKind::Scalar { nbits: args.nbits },
        },
        num_centroids,
        seed: args.seed,
        overwrite: args.force,
        ..BuildConfig::default()
    };
    drop(sample);
    let bars = BuildBars::new(globals.quiet);
    let report =
        tartan_engine::train_codec_from_npy(&args.embeddings, &args.out, &config, &bars)
            .with_context(|| format!("cannot train a codec on {}", args.embeddings.display()))?;
    bars.finish();
    print_report(&report);
    if globals.verbose {
        super::index::print_stages(&report.stages);
    }
    Ok(())
}

fn print_report(report: &CodecReport) {
    eprintln!(
        "trained {} centroids and a {:?} codec (dim {}) on {} + {} embeddings in {:.1}s -> {}",
        report.num_centroids,
        report.codec,
        report.dim,
        report.kmeans_points,
        report.codec_training_points,
        report.seconds,
        report.dir.display()
    );
}
