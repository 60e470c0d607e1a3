//! Checks a build device (`--device cuda`) against the CPU path on the same data: the
//! k-means centroids trained from the same sample and seed, every embedding's nearest
//! centroid, and every residual code; and times each on both.
//!
//! ```sh
//! cargo run --release -p tartan-benches --features cuda --bin compute-check -- \
//!     --embeddings E.npy --device cuda
//! cargo run --release -p tartan-benches --bin compute-check -- --synthetic-docs 14300 --device candle-cpu
//! ```
//!
//! It exits non-zero when the device's centroids differ from the CPU's by more than
//! `--tolerance`, or when fewer than `--min-agreement` of the assignments or codes are
//! the same (a point whose two best centroids score within rounding of each other may
//! go to either; nothing else may differ). The last line is one JSON object with every
//! figure. Recall on the device's index: `search-depth --device cuda`.

use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::json;
use tartan_engine::format::npy::MappedArray;
use tartan_quantize::{
    default_num_centroids, Centroids, CodecKind, Compute, KMeansConfig, ResidualCodec,
};

#[derive(Parser, Debug)]
#[command(about = "Check a build device against the CPU: centroids, assignments, codes")]
struct Args {
    /// Token embeddings, float32 [n, dim].
    #[arg(long, conflicts_with = "synthetic_docs")]
    embeddings: Option<std::path::PathBuf>,
    /// A synthetic corpus of this many documents instead (dim 128).
    #[arg(long)]
    synthetic_docs: Option<usize>,
    /// Tokens a synthetic document on average.
    #[arg(long, default_value_t = 70)]
    tokens: usize,
    /// The device to check: cuda, cuda:N or candle-cpu.
    #[arg(long, default_value = "cuda")]
    device: String,
    /// Centroids (default: the engine's for the corpus size).
    #[arg(long)]
    centroids: Option<usize>,
    /// k-means training points a centroid (the engine's default: 16).
    #[arg(long, default_value_t = 16)]
    points_per_centroid: usize,
    /// Seed of the sample, k-means and codec.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Largest centroid difference allowed.
    #[arg(long, default_value_t = 1e-3)]
    tolerance: f32,
    /// Least share of assignments and of codes that must agree.
    #[arg(long, default_value_t = 0.999)]
    min_agreement: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device =
        Compute::parse(&args.device).with_context(|| format!("--device {}", args.device))?;
    ensure!(
        device != Compute::Cpu,
        "--device names the device to check against the cpu"
    );
    let (embeddings, dim) = load(&args)?;
    let n = embeddings.len() / dim;
    let k = args.centroids.unwrap_or_else(|| default_num_centroids(n));
    let sample_rows = (k * args.points_per_centroid).min(n);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    let picked = rand::seq::index::sample(&mut rng, n, sample_rows).into_vec();
    let sample: Vec<f32> = picked
        .iter()
        .flat_map(|&i| embeddings[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    eprintln!(
        "{n} embeddings of dim {dim}, {k} centroids, k-means on {sample_rows}, device {}",
        device.name()
    );
    let config = KMeansConfig {
        num_centroids: Some(k),
        iterations: 4,
        seed: args.seed,
        max_points: None,
    };

    let timed = |f: &dyn Fn() -> Result<Centroids>| -> Result<(Centroids, f64)> {
        let start = Instant::now();
        Ok((f()?, start.elapsed().as_secs_f64()))
    };
    let (cpu, kmeans_cpu) =
        timed(&|| Ok(Centroids::train_on(&Compute::Cpu, &sample, dim, &config)?))?;
    let (on_device, kmeans_device) =
        timed(&|| Ok(Centroids::train_on(&device, &sample, dim, &config)?))?;
    let centroid_diff = cpu
        .as_slice()
        .iter()
        .zip(on_device.as_slice())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);

    // Assignments and codes against the CPU's centroids and one codec.
    let (ids, _) = cpu.assign_on(&Compute::Cpu, &embeddings)?;
    let mut residuals = embeddings.clone();
    for (row, &c) in residuals.chunks_exact_mut(dim).zip(&ids) {
        row.iter_mut()
            .zip(cpu.row(c as usize))
            .for_each(|(x, m)| *x -= m);
    }
    let codec_rows = (1 << 16).min(n);
    let codec = ResidualCodec::train(
        CodecKind::Product { nbits: 2 },
        &residuals[..codec_rows * dim],
        dim,
        args.seed,
    )?;
    let start = Instant::now();
    let compressed_cpu = codec.compress_on(&Compute::Cpu, &cpu, &embeddings)?;
    let compress_cpu = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let compressed_device = codec.compress_on(&device, &cpu, &embeddings)?;
    let compress_device = start.elapsed().as_secs_f64();
    let same_ids = agreement(
        &compressed_cpu.centroid_ids,
        &compressed_device.centroid_ids,
        1,
    );
    let bpe = codec.bytes_per_embedding();
    let same_codes = agreement(&compressed_cpu.codes, &compressed_device.codes, bpe);

    println!(
        "centroids: max difference {centroid_diff:.2e}; k-means {kmeans_cpu:.2} s cpu, {kmeans_device:.2} s {}",
        device.name()
    );
    println!(
        "compress: same centroid {same_ids:.5}, same code {same_codes:.5}; {compress_cpu:.2} s cpu, {compress_device:.2} s {}",
        device.name()
    );
    println!(
        "{}",
        json!({
            "device": device.name(), "embeddings": n, "dim": dim, "centroids": k,
            "kmeans_points": sample_rows, "centroid_max_diff": centroid_diff,
            "kmeans_seconds": {"cpu": kmeans_cpu, "device": kmeans_device},
            "same_centroid": same_ids, "same_code": same_codes,
            "compress_seconds": {"cpu": compress_cpu, "device": compress_device},
        })
    );
    if centroid_diff > args.tolerance {
        bail!(
            "centroids differ by {centroid_diff:.2e}, above --tolerance {}",
            args.tolerance
        );
    }
    if same_ids < args.min_agreement || same_codes < args.min_agreement {
        bail!("agreement below --min-agreement {}", args.min_agreement);
    }
    Ok(())
}

/// The share of `width`-wide rows of `a` and `b` that are equal.
fn agreement<T: PartialEq>(a: &[T], b: &[T], width: usize) -> f64 {
    let rows = a.len() / width;
    let same = a
        .chunks_exact(width)
        .zip(b.chunks_exact(width))
        .filter(|(x, y)| x == y)
        .count();
    same as f64 / rows.max(1) as f64
}

/// The embeddings to check on (`n x dim`) and their dimension.
fn load(args: &Args) -> Result<(Vec<f32>, usize)> {
    if let Some(path) = &args.embeddings {
        let array = MappedArray::<f32>::open(path, &[None, None])
            .with_context(|| format!("cannot read {}", path.display()))?;
        let dim = array.shape()[1];
        return Ok((array.as_slice().to_vec(), dim));
    }
    let docs = args
        .synthetic_docs
        .context("give --embeddings or --synthetic-docs")?;
    let (flat, _) = tartan_benches::synthetic(docs, args.tokens, 128, args.seed).all_documents();
    Ok((flat, 128))
}
