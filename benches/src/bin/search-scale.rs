//! search-scale: build a PLAID index of synthetic clustered token embeddings and
//! measure it.
//!
//! ```sh
//! cargo run --release -p tartan-benches --bin search-scale -- --docs 2000 --tokens 30
//! cargo run --release -p tartan-benches --bin search-scale -- --docs 100000 --tokens 70 --threads 16
//! ```
//!
//! Prints build time and embeddings/s, bytes per embedding (index files; the kept
//! uncompressed embeddings used for the exact ground truth are reported apart),
//! single-thread latency p50/p95 at k = 10 and k = 100 (and at colbert-ai's own k = 10
//! setting, nprobe 1 and ndocs 256), QPS on all threads, recall@10
//! of PLAID against exact MaxSim on the uncompressed embeddings (and of exhaustive
//! MaxSim over the decompressed embeddings, the codec's ceiling), and the peak
//! resident memory of the search phase. The search phase runs in a child process
//! (this binary again, `--phase search`), so its peak RSS excludes the build. The last
//! line of output is one JSON object with every figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;
use serde_json::{json, Value};
use tartan_benches::{add_synthetic, percentile, stage_times, CorpusArgs};
use tartan_engine::synthetic::Synthetic;
use tartan_engine::{
    recall, BuildConfig, BuildProgress, CodecKind, Index, IndexBuilder, SearchParams,
};

#[derive(Parser, Debug, Clone)]
#[command(about = "Build and measure a PLAID index of synthetic token embeddings")]
struct Args {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Bits a dimension of the residual codes (1, 2 or 4).
    #[arg(long, default_value_t = 2)]
    nbits: u8,
    /// Codec family: product or scalar.
    #[arg(long, default_value = "product")]
    codec: String,
    /// Threads for building and for the QPS measurement (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Queries timed (each at k = 10 and k = 100).
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Queries whose recall@10 is measured against exact MaxSim.
    #[arg(long, default_value_t = 100)]
    recall_queries: usize,
    /// Most embeddings k-means trains on (default: the engine's, 16 a centroid).
    #[arg(long)]
    kmeans_points: Option<usize>,
    /// Where to build the index (default: a directory in the system temp dir, removed
    /// at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the index directory at the end.
    #[arg(long)]
    keep: bool,
    /// Internal: `search` runs only the search phase on `--dir`.
    #[arg(long, hide = true)]
    phase: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("rayon pool")?;
    let synthetic = args.corpus.synthetic();
    if args.phase.as_deref() == Some("search") {
        let dir = args.dir.clone().context("--phase search needs --dir")?;
        let out = search_phase(&args, &synthetic, &dir, threads)?;
        println!("{out}");
        return Ok(());
    }

    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tartan-search-scale-{}", std::process::id()))
    });
    let build = build_phase(&args, &synthetic, &dir)?;
    for line in [
        format!(
            "built {} documents, {} embeddings, {} centroids in {:.2} s ({:.0} embeddings/s; generating them took {:.2} s more)",
            build["documents"], build["embeddings"], build["centroids"],
            build["build_seconds"].as_f64().unwrap_or(0.0),
            build["embeddings_per_second"].as_f64().unwrap_or(0.0),
            build["generate_seconds"].as_f64().unwrap_or(0.0)
        ),
        format!(
            "index: {:.2} bytes/embedding ({} bytes); per file: {}",
            build["bytes_per_embedding"].as_f64().unwrap_or(0.0),
            build["index_bytes"],
            build["bytes_per_embedding_by_file"]
        ),
    ] {
        println!("{line}");
    }

    // The search phase in a fresh process, so its peak RSS is its own.
    let exe = std::env::current_exe().context("locating this binary")?;
    // The same arguments, less any --dir (given again below).
    let mut passed = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(a) = given.next() {
        if a == "--dir" {
            given.next();
        } else if !a.starts_with("--dir=") {
            passed.push(a);
        }
    }
    let child = Command::new(exe)
        .args(passed)
        .args(["--phase", "search", "--dir"])
        .arg(&dir)
        .output()
        .context("running the search phase")?;
    if !child.status.success() {
        bail!(
            "search phase failed: {}",
            String::from_utf8_lossy(&child.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&child.stdout);
    let search: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .context("parsing the search phase's output")?;
    println!(
        "single thread: k=10 p50 {:.2} ms p95 {:.2} ms; k=100 p50 {:.2} ms p95 {:.2} ms; QPS ({} threads, k=10) {:.0}",
        search["latency_ms_k10_p50"].as_f64().unwrap_or(0.0),
        search["latency_ms_k10_p95"].as_f64().unwrap_or(0.0),
        search["latency_ms_k100_p50"].as_f64().unwrap_or(0.0),
        search["latency_ms_k100_p95"].as_f64().unwrap_or(0.0),
        threads,
        search["qps_k10"].as_f64().unwrap_or(0.0)
    );
    println!(
        "recall@10 vs exact MaxSim: PLAID {:.3}, exhaustive decompressed (codec ceiling) {:.3}; PLAID vs exhaustive decompressed {:.3}",
        search["recall10_vs_exact"].as_f64().unwrap_or(0.0),
        search["ceiling_recall10_vs_exact"].as_f64().unwrap_or(0.0),
        search["recall10_vs_exhaustive"].as_f64().unwrap_or(0.0)
    );
    println!(
        "colbert-ai's k=10 setting (nprobe 1, ndocs 256): recall@10 vs exact {:.3}, single thread p50 {:.2} ms p95 {:.2} ms",
        search["recall10_vs_exact_colbert_k10"].as_f64().unwrap_or(0.0),
        search["latency_ms_k10_colbert_p50"].as_f64().unwrap_or(0.0),
        search["latency_ms_k10_colbert_p95"].as_f64().unwrap_or(0.0)
    );
    println!(
        "stage times at k=10 (ms, single thread): {}",
        search["stage_ms_k10"]
    );
    println!(
        "search phase peak RSS {:.1} MiB (index files {:.1} MiB)",
        search["search_peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
        build["index_bytes"].as_f64().unwrap_or(0.0) / 1048576.0
    );
    if !args.keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }

    let mut all = json!({
        "docs": args.corpus.docs, "tokens": args.corpus.tokens, "dim": args.corpus.dim, "nbits": args.nbits,
        "codec": args.codec, "threads": threads,
    });
    for part in [build, search] {
        if let (Some(all), Value::Object(part)) = (all.as_object_mut(), part) {
            all.extend(part);
        }
    }
    println!("{all}");
    Ok(())
}

/// Prints build progress to stderr, one line a stage.
struct StageLog(Instant);

impl BuildProgress for StageLog {
    fn stage(&self, name: &str, total: u64) {
        eprintln!(
            "[{:7.2} s] {name} ({total})",
            self.0.elapsed().as_secs_f64()
        );
    }
    fn advance(&self, _n: u64) {}
}

fn build_phase(args: &Args, synthetic: &Synthetic, dir: &Path) -> Result<Value> {
    let codec = match args.codec.as_str() {
        "product" => CodecKind::Product { nbits: args.nbits },
        "scalar" => CodecKind::Scalar { nbits: args.nbits },
        other => bail!("--codec must be product or scalar, not {other}"),
    };
    let config = BuildConfig {
        codec,
        seed: args.corpus.seed,
        keep_embeddings: true,
        overwrite: true,
        max_kmeans_points: args.kmeans_points,
        encoder: json!({"synthetic": {"docs": args.corpus.docs, "tokens": args.corpus.tokens, "seed": args.corpus.seed}}),
        ..BuildConfig::default()
    };
    let started = Instant::now();
    let mut builder = IndexBuilder::new(dir, args.corpus.dim, config)?;
    // Documents are generated in parallel batches (not timed) and added in order.
    let generating = add_synthetic(&mut builder, synthetic)?;
    let report = builder.finish(&StageLog(started))?;
    let seconds = started.elapsed().as_secs_f64() - generating;
    let n = report.num_embeddings as f64;
    let mut by_file = serde_json::Map::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "embeddings.npy" {
            let per = entry.metadata()?.len() as f64 / n;
            by_file.insert(name, json!((per * 1000.0).round() / 1000.0));
        }
    }
    Ok(json!({
        "documents": report.num_documents,
        "embeddings": report.num_embeddings,
        "centroids": report.num_centroids,
        "build_seconds": seconds,
        "generate_seconds": generating,
        "embeddings_per_second": n / seconds,
        "index_bytes": report.bytes_total,
        "bytes_per_embedding": report.bytes_per_embedding,
        "bytes_per_embedding_by_file": by_file,
        "kept_embeddings_bytes": report.bytes_embeddings,
        "kmeans_points": Index::open(dir)?.meta().build.kmeans_points,
    }))
}

/// Latencies of one search a query on this thread, in ms, sorted.
fn latencies(index: &Index, queries: &[Vec<f32>], params: &SearchParams) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        std::hint::black_box(index.search(q, params)?);
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// Peak resident set of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn search_phase(args: &Args, synthetic: &Synthetic, dir: &Path, threads: usize) -> Result<Value> {
    let queries: Vec<Vec<f32>> = synthetic.queries(args.queries.max(1));
    let opened = Instant::now();
    let index = Index::open(dir)?;
    let open_ms = opened.elapsed().as_secs_f64() * 1000.0;

    // Warm the page cache and the scratch buffers, then time.
    let colbert = SearchParams::colbert_ai(10);
    latencies(
        &index,
        &queries[..queries.len().min(20)],
        &SearchParams::for_k(10),
    )?;
    let k10 = latencies(&index, &queries, &SearchParams::for_k(10))?;
    let k100 = latencies(&index, &queries, &SearchParams::for_k(100))?;
    let k10_colbert = latencies(&index, &queries, &colbert)?;

    let stages = Value::Object(stage_times(
        &index,
        &queries,
        &SearchParams::for_k(10),
        true,
    )?);

    let params = SearchParams::for_k(10);
    let rounds = 2000usize.div_ceil(queries.len());
    let t = Instant::now();
    let mut searched = 0usize;
    while searched == 0 || t.elapsed().as_secs_f64() < 2.0 {
        // Index::search_batch over every query, repeated, without copying them.
        searched += (0..rounds * queries.len())
            .into_par_iter()
            .map(|i| {
                index
                    .search(&queries[i % queries.len()], &params)
                    .map(|h| h.len())
            })
            .collect::<tartan_engine::Result<Vec<_>>>()?
            .len();
    }
    let qps = searched as f64 / t.elapsed().as_secs_f64();
    let rss = peak_rss();

    let recall_queries = &queries[..args.recall_queries.min(queries.len())];
    let (mut plaid, mut ceiling, mut overlap, mut plaid_colbert) = (0.0, 0.0, 0.0, 0.0);
    for q in recall_queries {
        let exact = index.search_exact(q, 10)?;
        let exhaustive = index.search_exhaustive(q, 10)?;
        let hits = index.search(q, &params)?;
        plaid += recall(&hits, &exact);
        ceiling += recall(&exhaustive, &exact);
        overlap += recall(&hits, &exhaustive);
        plaid_colbert += recall(&index.search(q, &colbert)?, &exact);
    }
    let n = recall_queries.len().max(1) as f64;
    Ok(json!({
        "open_ms": open_ms,
        "latency_ms_k10_p50": percentile(&k10, 0.5),
        "latency_ms_k10_p95": percentile(&k10, 0.95),
        "latency_ms_k10_colbert_p50": percentile(&k10_colbert, 0.5),
        "latency_ms_k10_colbert_p95": percentile(&k10_colbert, 0.95),
        "latency_ms_k100_p50": percentile(&k100, 0.5),
        "latency_ms_k100_p95": percentile(&k100, 0.95),
        "qps_k10": qps,
        "qps_threads": threads,
        "search_peak_rss_bytes": rss,
        "recall10_vs_exact": plaid / n,
        "ceiling_recall10_vs_exact": ceiling / n,
        "recall10_vs_exact_colbert_k10": plaid_colbert / n,
        "recall10_vs_exhaustive": overlap / n,
        "stage_ms_k10": stages,
        "recall_queries": recall_queries.len(),
        "timed_queries": queries.len(),
    }))
}
