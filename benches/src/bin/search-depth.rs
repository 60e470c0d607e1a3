//! search-depth: PLAID at depth (k = 10, 100, 1000) against exact MaxSim and the
//! codec's ceiling, with the build's time per stage.
//!
//! ```sh
//! # real token embeddings (tartan encode makes them), built here with the kept
//! # uncompressed embeddings (the exact ground truth):
//! cargo run --release -p tartan-benches --bin search-depth -- \
//!     --embeddings E.npy --doclens L.npy --queries Q.npy --before
//! # synthetic clustered embeddings (about docs x tokens of them):
//! cargo run --release -p tartan-benches --bin search-depth -- --synthetic-docs 14300 --tokens 70 --before
//! # an index built before (no build figures):
//! cargo run --release -p tartan-benches --bin search-depth -- --index idx --queries Q.npy
//! ```
//!
//! For every k of `--ks` it prints, over the queries: recall@k of exact MaxSim's top-k
//! (uncompressed embeddings) and of the ceiling's top-k (exhaustive MaxSim over the
//! decompressed embeddings), the ceiling's own recall@k of the exact top-k, latency
//! p50 / p95 of one search on one thread, and QPS on all threads. `--before` adds the
//! same rows for the settings before issue 15 (colbert-ai's k > 10 defaults, every
//! document of the final stage scored by lookup tables), timed query by query
//! interleaved with the current defaults, so both see the same machine load; each
//! setting's mean time per PLAID stage follows its row.
//! `--kmeans-points` sets the k-means sample (the build before issue 15 trained on
//! every embedding: pass a number at least the corpus size), `--parallel-weight 1` the
//! codes chosen before it (nearest entries, not score-aware). The last line is one JSON
//! object with every figure.
// Argument doc comments are --help text (clap): `[n_docs]` is a shape, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;
use serde_json::{json, Value};
use tartan_benches::{add_synthetic, percentile, stage_times, synthetic};
use tartan_engine::format::npy::MappedArray;
use tartan_engine::{
    build_from_npy, force_final_stage, recall, BuildConfig, BuildReport, FinalStage, Index,
    IndexBuilder, SearchHit, SearchParams,
};

#[derive(Parser, Debug)]
#[command(about = "PLAID recall and latency at k = 10, 100, 1000; build time per stage")]
struct Args {
    /// An existing index with kept embeddings (instead of building one).
    #[arg(long, conflicts_with_all = ["embeddings", "synthetic_docs"])]
    index: Option<PathBuf>,
    /// Token embeddings, float32 [total, dim], to build an index from.
    #[arg(long, requires = "doclens")]
    embeddings: Option<PathBuf>,
    /// Tokens per document, integer [n_docs].
    #[arg(long)]
    doclens: Option<PathBuf>,
    /// Build an index of this many synthetic documents (search-scale's generator).
    #[arg(long, conflicts_with = "embeddings")]
    synthetic_docs: Option<usize>,
    /// Mean tokens a synthetic document.
    #[arg(long, default_value_t = 70)]
    tokens: usize,
    /// Seed of the synthetic corpus and of the build.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Most embeddings k-means trains on (default: the engine's).
    #[arg(long)]
    kmeans_points: Option<usize>,
    /// Weight of the coding error along each embedding when choosing its product code
    /// (1: the nearest entries, the codes before issue 15; default: the engine's).
    #[arg(long)]
    parallel_weight: Option<f32>,
    /// Where the build runs k-means and compression: cpu, cuda, cuda:N (a build with
    /// the cuda feature) or candle-cpu.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where to build (default: a directory in the system temp dir, removed at the end).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the built index.
    #[arg(long)]
    keep: bool,
    /// Stop after the build (for measuring its peak memory alone).
    #[arg(long)]
    build_only: bool,
    /// Query embeddings, float32 [n, query_len, dim]; without it, a synthetic index's
    /// own queries.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Use at most this many queries.
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// The depths measured.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    ks: Vec<usize>,
    /// Also measure the settings before issue 15, interleaved with the current ones.
    #[arg(long)]
    before: bool,
    /// Extra settings `k,nprobe,threshold,ndocs[,tables|tables16|blocks]` (repeatable).
    #[arg(long)]
    setting: Vec<String>,
    /// Seconds of the all-threads QPS measurement of each setting.
    #[arg(long, default_value_t = 2.0)]
    qps_seconds: f64,
}

/// One setting measured: search parameters and, optionally, a forced final stage.
#[derive(Debug, Clone)]
struct Variant {
    name: String,
    params: SearchParams,
    stage: Option<FinalStage>,
}

impl Variant {
    fn parse(s: &str) -> Result<Variant> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 && parts.len() != 5 {
            bail!("--setting wants k,nprobe,threshold,ndocs[,tables|tables16|blocks], not {s:?}");
        }
        let params = SearchParams {
            k: parts[0].parse().context("k")?,
            nprobe: parts[1].parse().context("nprobe")?,
            centroid_score_threshold: parts[2].parse().context("threshold")?,
            ndocs: parts[3].parse().context("ndocs")?,
        };
        let stage = match parts.get(4) {
            None => None,
            Some(&"tables") => Some(FinalStage::Tables),
            Some(&"tables16") => Some(FinalStage::Tables16),
            Some(&"blocks") => Some(FinalStage::Blocks),
            Some(other) => bail!("final stage must be tables, tables16 or blocks, not {other}"),
        };
        Ok(Variant {
            name: format!("setting {s}"),
            params,
            stage,
        })
    }

    /// The defaults before issue 15: colbert-ai's for k > 10, lookup tables only.
    fn before(k: usize) -> Variant {
        let params = if k <= 10 {
            SearchParams::for_k(k)
        } else {
            SearchParams::colbert_ai(k)
        };
        Variant {
            name: "before".into(),
            params,
            stage: Some(FinalStage::Tables),
        }
    }
}

/// Prints build progress to stderr, one line a stage.
struct StageLog(Instant);

impl tartan_engine::BuildProgress for StageLog {
    fn stage(&self, name: &str, total: u64) {
        eprintln!(
            "[{:7.2} s] {name} ({total})",
            self.0.elapsed().as_secs_f64()
        );
    }
    fn advance(&self, _n: u64) {}
}

fn build(args: &Args, dir: &Path) -> Result<BuildReport> {
    let mut config = BuildConfig {
        seed: args.seed,
        keep_embeddings: true,
        overwrite: true,
        max_kmeans_points: args.kmeans_points,
        ..BuildConfig::default()
    };
    if let Some(weight) = args.parallel_weight {
        config.parallel_weight = weight;
    }
    config.compute = tartan_quantize::Compute::parse(&args.device)?;
    let log = StageLog(Instant::now());
    if let Some(docs) = args.synthetic_docs {
        let synthetic = synthetic(docs, args.tokens, 128, args.seed);
        config.encoder =
            json!({"synthetic": {"docs": docs, "tokens": args.tokens, "seed": args.seed}});
        let mut builder = IndexBuilder::new(dir, 128, config)?;
        add_synthetic(&mut builder, &synthetic)?;
        return Ok(builder.finish(&log)?);
    }
    let (Some(e), Some(l)) = (&args.embeddings, &args.doclens) else {
        bail!("give --index, --embeddings with --doclens, or --synthetic-docs");
    };
    Ok(build_from_npy(e, l, None, dir, config, &log)?)
}

fn load_queries(args: &Args, index: &Index) -> Result<Vec<Vec<f32>>> {
    if let Some(path) = &args.queries {
        let q = MappedArray::<f32>::open(path, &[None, None, Some(index.dim())])?;
        let per = q.shape()[1] * index.dim();
        return Ok(q
            .as_slice()
            .chunks_exact(per)
            .take(args.limit)
            .map(<[f32]>::to_vec)
            .collect());
    }
    let meta = &index.meta().encoder["synthetic"];
    let field = |name: &str| {
        meta[name]
            .as_u64()
            .with_context(|| format!("no --queries, and meta.json has no encoder.synthetic.{name}"))
    };
    let s = synthetic(
        field("docs")? as usize,
        field("tokens")? as usize,
        index.dim(),
        field("seed")?,
    );
    Ok(s.queries(args.limit))
}

/// Queries a second over all threads, for about `seconds`.
fn qps(index: &Index, queries: &[Vec<f32>], v: &Variant, seconds: f64) -> Result<f64> {
    force_final_stage(v.stage);
    let t = Instant::now();
    let mut searched = 0usize;
    while searched == 0 || t.elapsed().as_secs_f64() < seconds {
        searched += queries
            .par_iter()
            .map(|q| index.search(q, &v.params).map(|h| h.len()))
            .collect::<tartan_engine::Result<Vec<_>>>()?
            .len();
    }
    force_final_stage(None);
    Ok(searched as f64 / t.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut build_figures = Value::Null;
    let (dir, built) = match &args.index {
        Some(dir) => (dir.clone(), false),
        None => {
            let dir = args.out.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("tartan-search-depth-{}", std::process::id()))
            });
            let report = build(&args, &dir)?;
            let stages: Vec<String> = report
                .stages
                .iter()
                .map(|s| format!("{} {:.2}s", s.name, s.seconds))
                .collect();
            println!(
                "built {} documents, {} embeddings, {} centroids in {:.2} s ({:.2} bytes/embedding); per stage: {}",
                report.num_documents,
                report.num_embeddings,
                report.num_centroids,
                report.seconds,
                report.bytes_per_embedding,
                stages.join(", ")
            );
            build_figures = json!({
                "seconds": report.seconds,
                "bytes_per_embedding": report.bytes_per_embedding,
                "embeddings": report.num_embeddings,
                "centroids": report.num_centroids,
                "stages": report.stages.iter().map(|s| json!({"name": s.name, "seconds": s.seconds})).collect::<Vec<_>>(),
            });
            (dir, true)
        }
    };
    let result = if args.build_only {
        Ok(json!({"build": build_figures}))
    } else {
        measure(&args, &dir, build_figures)
    };
    if built && !args.keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    println!("{}", result?);
    Ok(())
}

fn measure(args: &Args, dir: &Path, build_figures: Value) -> Result<Value> {
    let index = Index::open(dir)?;
    if !index.has_embeddings() {
        bail!(
            "{} keeps no uncompressed embeddings: build it with --keep-embeddings",
            dir.display()
        );
    }
    let queries = load_queries(args, &index)?;
    if queries.is_empty() {
        bail!("no queries (--limit {})", args.limit);
    }
    let kmax = args.ks.iter().copied().max().unwrap_or(10);
    eprintln!(
        "{} queries over {} documents, {} embeddings, {} centroids, {} kmeans points; ground truths at k = {kmax}",
        queries.len(),
        index.num_documents(),
        index.num_embeddings(),
        index.num_centroids(),
        index.meta().build.kmeans_points
    );
    let t = Instant::now();
    // The exact and the ceiling's top-kmax; a top-k is a prefix of a top-kmax.
    let truths: Vec<(Vec<SearchHit>, Vec<SearchHit>)> = queries
        .par_iter()
        .map(|q| {
            Ok((
                index.search_exact(q, kmax)?,
                index.search_exhaustive(q, kmax)?,
            ))
        })
        .collect::<tartan_engine::Result<_>>()?;
    eprintln!("ground truths in {:.1} s", t.elapsed().as_secs_f64());

    let mut rows = Vec::new();
    for &k in &args.ks {
        let truth = |i: usize| {
            let (e, x) = &truths[i];
            (&e[..k.min(e.len())], &x[..k.min(x.len())])
        };
        let ceiling: f64 = (0..queries.len())
            .map(|i| {
                let (e, x) = truth(i);
                recall(x, e)
            })
            .sum::<f64>()
            / queries.len() as f64;
        let mut variants = vec![Variant {
            name: "default".into(),
            params: SearchParams::for_k(k),
            stage: None,
        }];
        if args.before {
            variants.push(Variant::before(k));
        }
        for s in &args.setting {
            let v = Variant::parse(s)?;
            if v.params.k == k {
                variants.push(v);
            }
        }
        // Warm the page cache and the buffers.
        for q in queries.iter().take(10) {
            for v in &variants {
                force_final_stage(v.stage);
                std::hint::black_box(index.search(q, &v.params)?);
            }
        }
        let mut times = vec![Vec::with_capacity(queries.len()); variants.len()];
        let mut vs_exact = vec![0.0; variants.len()];
        let mut vs_ceiling = vec![0.0; variants.len()];
        for (i, q) in queries.iter().enumerate() {
            let (e, x) = truth(i);
            // Query by query, every variant in turn: all see the same load. The order
            // turns every query, so no variant always finds the caches warmed by another.
            let m = variants.len();
            for j in (0..m).map(|r| (r + i) % m) {
                let v = &variants[j];
                force_final_stage(v.stage);
                let t = Instant::now();
                let hits = index.search(q, &v.params)?;
                times[j].push(t.elapsed().as_secs_f64() * 1000.0);
                vs_exact[j] += recall(&hits, e);
                vs_ceiling[j] += recall(&hits, x);
            }
        }
        force_final_stage(None);
        let n = queries.len() as f64;
        for (j, v) in variants.iter().enumerate() {
            let ms = &mut times[j];
            ms.sort_by(f64::total_cmp);
            let qps = qps(&index, &queries, v, args.qps_seconds)?;
            force_final_stage(v.stage);
            let mut stages = stage_times(&index, &queries, &v.params, false)?;
            // Stage times (the keys that start with their number) to the microsecond.
            for (_, ms) in stages
                .iter_mut()
                .filter(|(k, _)| k.starts_with(char::is_numeric))
            {
                *ms = json!((ms.as_f64().unwrap_or(0.0) * 1000.0).round() / 1000.0);
            }
            let stages = Value::Object(stages);
            force_final_stage(None);
            let p = &v.params;
            let (re, rc) = (vs_exact[j] / n, vs_ceiling[j] / n);
            println!(
                "k {k:4} {:>24} (nprobe {}, threshold {:.2}, ndocs {}, {:?}): recall@{k} of exact {re:.4} (ceiling {ceiling:.4}, {:.3} of it), of the ceiling's top-{k} {rc:.4}; p50 {:.2} ms, p95 {:.2} ms; {qps:.0} QPS on {} threads",
                v.name,
                p.nprobe,
                p.centroid_score_threshold,
                p.ndocs,
                v.stage,
                re / ceiling.max(1e-9),
                percentile(ms, 0.5),
                percentile(ms, 0.95),
                rayon::current_num_threads()
            );
            println!("         stages (mean ms, documents): {stages}");
            rows.push(json!({
                "k": k, "variant": v.name, "nprobe": p.nprobe,
                "threshold": p.centroid_score_threshold, "ndocs": p.ndocs,
                "final_stage": format!("{:?}", v.stage),
                "recall_vs_exact": re, "ceiling_recall_vs_exact": ceiling,
                "recall_vs_ceiling": rc, "p50_ms": percentile(ms, 0.5),
                "p95_ms": percentile(ms, 0.95), "qps": qps, "stages": stages,
            }));
        }
    }
    Ok(json!({
        "index": dir.display().to_string(),
        "queries": queries.len(),
        "build": build_figures,
        "rows": rows,
    }))
}
