//! shard-fanout: how a query fanned out to many shards would behave, from one shard's
//! measured latency distribution.
//!
//! ```sh
//! # a 1M-embedding shard (search-scale keeps its index with --keep):
//! cargo run --release -p tartan-benches --bin search-scale -- --docs 33000 --tokens 30 --dir target/shard-1m --keep
//! cargo run --release -p tartan-benches --bin shard-fanout -- --index target/shard-1m
//! ```
//!
//! Times `--queries` queries one at a time on one thread at k = 10 and k = 100 (queries
//! are the first 32 decompressed token embeddings of random documents, or
//! `--query-embeddings Q.npy`), prints the distribution (p50, p90, p99, p99.9, max),
//! the cost of merging S shards' top-k lists (`merge_top_k`), and the predicted p50
//! and p99 of a query fanned out to S shards: the maximum of S draws from the measured
//! distribution plus the merge, over 100,000 simulated queries. The last line is one
//! JSON object with every figure.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{json, Value};
use tartan_engine::format::npy_input::NpyInput;
use tartan_engine::{merge_top_k, Index, SearchParams};

#[derive(Parser, Debug)]
#[command(about = "One shard's latency distribution, and a fan-out to S shards predicted from it")]
struct Args {
    /// The shard: any tartan index.
    #[arg(long)]
    index: PathBuf,
    /// Query embeddings, float32 [n, tokens, dim] (default: from random documents).
    #[arg(long)]
    query_embeddings: Option<PathBuf>,
    /// Queries timed at each k.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Shard counts to predict.
    #[arg(long, value_delimiter = ',', default_value = "4,16,64,256")]
    shards: Vec<usize>,
    /// Seed of the query choice and the simulation.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let index = Index::open(&args.index)
        .with_context(|| format!("cannot open {}", args.index.display()))?;
    let queries = match &args.query_embeddings {
        Some(path) => {
            let array = NpyInput::open(path)?;
            let [n, len, dim] = array.shape()[..] else {
                anyhow::bail!("{}: expected [n, tokens, dim]", path.display());
            };
            anyhow::ensure!(
                dim == index.dim(),
                "query dim {dim}, index dim {}",
                index.dim()
            );
            let data = array.f32s()?;
            data.chunks_exact(len * dim)
                .take(n.min(args.queries))
                .map(<[f32]>::to_vec)
                .collect::<Vec<_>>()
        }
        None => document_queries(&index, args.queries, args.seed)?,
    };
    println!(
        "shard: {} documents, {} embeddings; {} queries, one at a time on one thread",
        index.num_live_documents(),
        index.num_embeddings(),
        queries.len()
    );
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    let mut report = serde_json::Map::new();
    report.insert("documents".into(), json!(index.num_live_documents()));
    report.insert("embeddings".into(), json!(index.num_embeddings()));
    for k in [10usize, 100] {
        let params = SearchParams::for_k(k);
        let mut searcher = index.searcher();
        for q in queries.iter().take(50) {
            searcher.search(q, &params)?;
        }
        let mut times = Vec::with_capacity(queries.len());
        let mut lists = Vec::new();
        for q in &queries {
            let t = Instant::now();
            let hits = searcher.search(q, &params)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if lists.is_empty() {
                lists.push(hits);
            }
        }
        times.sort_by(f64::total_cmp);
        let one = distribution(&times);
        println!("k = {k}: one shard (ms) {}", describe(&one));
        let mut fanout = serde_json::Map::new();
        for &s in &args.shards {
            let merge_ms = merge_cost(&lists[0], s, k);
            let (p50, p99) = simulate(&times, s, merge_ms, &mut rng);
            println!(
                "  {s:>4} shards: merge {:.4} ms; predicted p50 {p50:.2} ms, p99 {p99:.2} ms ({:.2}x / {:.2}x one shard's)",
                merge_ms,
                p50 / one["p50"].as_f64().unwrap_or(1.0),
                p99 / one["p99"].as_f64().unwrap_or(1.0)
            );
            fanout.insert(
                s.to_string(),
                json!({"merge_ms": merge_ms, "p50_ms": p50, "p99_ms": p99}),
            );
        }
        report.insert(
            format!("k{k}"),
            json!({"one_shard_ms": one, "fanout": fanout}),
        );
    }
    println!("{}", Value::Object(report));
    Ok(())
}

/// `n` queries: the first 32 decompressed token embeddings of random live documents.
fn document_queries(index: &Index, n: usize, seed: u64) -> Result<Vec<Vec<f32>>> {
    let live: Vec<u32> = index.live_documents().collect();
    anyhow::ensure!(!live.is_empty(), "the index holds no documents");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed);
    let mut out = Vec::with_capacity(n);
    let mut doc = Vec::new();
    while out.len() < n {
        let d = live[rng.gen_range(0..live.len())];
        index.decompress_document(d, &mut doc)?;
        if doc.is_empty() {
            continue;
        }
        out.push(doc[..doc.len().min(32 * index.dim())].to_vec());
    }
    Ok(out)
}

/// p50, p90, p99, p99.9 and max of sorted `times`.
fn distribution(times: &[f64]) -> Value {
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    json!({"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999), "max": at(1.0)})
}

fn describe(d: &Value) -> String {
    ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|q| format!("{q} {:.2}", d[q].as_f64().unwrap_or(0.0)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds to merge `shards` copies of a top-k list (the ingress's work).
fn merge_cost(hits: &[tartan_engine::SearchHit], shards: usize, k: usize) -> f64 {
    let lists: Vec<_> = (0..shards).map(|_| hits.to_vec()).collect();
    let reps = 2000;
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(merge_top_k(std::hint::black_box(&lists), k));
    }
    t.elapsed().as_secs_f64() * 1e3 / reps as f64
}

/// p50 and p99 over 100,000 simulated fanned-out queries: the slowest of `shards`
/// draws from `times`, plus the merge.
fn simulate(
    times: &[f64],
    shards: usize,
    merge_ms: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> (f64, f64) {
    let trials = 100_000;
    let mut totals: Vec<f64> = (0..trials)
        .map(|_| {
            (0..shards)
                .map(|_| times[rng.gen_range(0..times.len())])
                .fold(0.0, f64::max)
                + merge_ms
        })
        .collect();
    totals.sort_by(f64::total_cmp);
    (totals[trials / 2], totals[trials * 99 / 100])
}
