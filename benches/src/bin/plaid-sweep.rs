//! plaid-sweep: PLAID's recall and latency over a grid of search parameters, on an
//! index of real (or any) token embeddings and a `.npy` of query embeddings.
//!
//! ```sh
//! # an index with the uncompressed embeddings kept (the exact ground truth):
//! tartan index --embeddings E.npy --doclens L.npy --keep-embeddings --out idx
//! tartan encode --model M --as-queries --embeddings Q.npy queries.jsonl
//! cargo run --release -p tartan-benches --bin plaid-sweep -- --index idx --queries Q.npy \
//!     --grid 1,0.5,256,64 --grid 1,0.5,256,256
//! ```
//!
//! Each `--grid nprobe,threshold,ndocs,exact` runs stages 1-4 with those settings,
//! scores `exact` documents (stage 4's keep) by implicit decompression and prints, over
//! the queries: recall@10 of exact MaxSim's top-10 (uncompressed embeddings), the same
//! for exhaustive MaxSim over the decompressed embeddings (the codec's ceiling), the
//! loss against that ceiling, and single-thread latency p50 / mean. With no `--grid`
//! it sweeps the k = 10 and k = 100 defaults and a few variants of them. The last line
//! is one JSON array with every figure.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;
use serde_json::json;
use tartan_engine::format::npy::MappedArray;
use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{recall, Index, SearchHit, SearchParams};

#[derive(Parser, Debug)]
#[command(about = "PLAID recall and latency over a grid of search parameters")]
struct Args {
    /// Index directory (built with the uncompressed embeddings kept).
    #[arg(long)]
    index: PathBuf,
    /// Query embeddings, float32 `[n, query_len, dim]`; without it, the index must be a
    /// `search-scale --keep` index and its synthetic queries are generated.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Use at most this many queries.
    #[arg(long, default_value_t = 300)]
    limit: usize,
    /// One setting: `nprobe,threshold,ndocs,exact` (repeatable).
    #[arg(long)]
    grid: Vec<String>,
}

/// One point of the grid.
#[derive(Debug, Clone, Copy)]
struct Point {
    nprobe: usize,
    threshold: f32,
    ndocs: usize,
    exact: usize,
}

impl Point {
    fn parse(s: &str) -> Result<Point> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            bail!("--grid wants nprobe,threshold,ndocs,exact, not {s:?}");
        }
        Ok(Point {
            nprobe: parts[0].parse().context("nprobe")?,
            threshold: parts[1].parse().context("threshold")?,
            ndocs: parts[2].parse().context("ndocs")?,
            exact: parts[3].parse().context("exact")?,
        })
    }

    fn defaults(k: usize) -> Point {
        let p = SearchParams::for_k(k);
        Point {
            nprobe: p.nprobe,
            threshold: p.centroid_score_threshold,
            ndocs: p.ndocs,
            exact: (p.ndocs / 4).max(k),
        }
    }
}

/// The queries `search-scale` times, for an index it built and kept.
fn synthetic_queries(index: &Index, n: usize) -> Result<Vec<Vec<f32>>> {
    let meta = &index.meta().encoder["synthetic"];
    let field = |name: &str| {
        meta[name].as_u64().with_context(|| {
            format!("no --queries, and the index records no encoder.synthetic.{name}")
        })
    };
    let synthetic = Synthetic::new(SyntheticConfig {
        docs: field("docs")? as usize,
        tokens: field("tokens")? as usize,
        dim: index.dim(),
        seed: field("seed")?,
        ..SyntheticConfig::default()
    });
    Ok(synthetic.queries(n))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let index = Index::open(&args.index)?;
    if !index.has_embeddings() {
        bail!(
            "{} keeps no uncompressed embeddings: build it with --keep-embeddings",
            args.index.display()
        );
    }
    let owned = match &args.queries {
        Some(path) => {
            let q = MappedArray::<f32>::open(path, &[None, None, Some(index.dim())])?;
            let per = q.shape()[1] * index.dim();
            q.as_slice()
                .chunks_exact(per)
                .take(args.limit)
                .map(<[f32]>::to_vec)
                .collect()
        }
        None => synthetic_queries(&index, args.limit)?,
    };
    let queries: Vec<&[f32]> = owned.iter().map(Vec::as_slice).collect();
    if queries.is_empty() {
        bail!(
            "no queries to sweep (--limit {} over the query file)",
            args.limit
        );
    }
    let grid: Vec<Point> = if args.grid.is_empty() {
        let d10 = Point::defaults(10);
        let d100 = Point::defaults(100);
        vec![
            d10,
            Point { exact: 128, ..d10 },
            Point { exact: 256, ..d10 },
            Point { nprobe: 2, ..d10 },
            d100,
        ]
    } else {
        args.grid
            .iter()
            .map(|s| Point::parse(s))
            .collect::<Result<_>>()?
    };
    eprintln!(
        "{} queries over {} documents, {} embeddings, {} centroids",
        queries.len(),
        index.num_documents(),
        index.num_embeddings(),
        index.num_centroids()
    );

    // Ground truths, in parallel.
    let truths: Vec<(Vec<SearchHit>, Vec<SearchHit>)> = queries
        .par_iter()
        .map(|q| Ok((index.search_exact(q, 10)?, index.search_exhaustive(q, 10)?)))
        .collect::<tartan_engine::Result<_>>()?;
    let ceiling: f64 = truths.iter().map(|(e, x)| recall(x, e)).sum::<f64>() / queries.len() as f64;

    let mut rows = Vec::new();
    let mut searcher = index.searcher();
    for p in grid {
        let (mut vs_exact, mut vs_ceiling) = (0.0, 0.0);
        let mut ms = Vec::with_capacity(queries.len());
        for (q, (exact, exhaustive)) in queries.iter().zip(&truths) {
            let t = Instant::now();
            searcher.prepare(q)?;
            searcher.candidates(p.nprobe)?;
            searcher.widen_candidates(p.ndocs.max(10));
            searcher.interaction_pruned(p.threshold, p.ndocs.max(10))?;
            searcher.interaction_full(p.exact.max(10))?;
            let hits = searcher.rank(10)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            vs_exact += recall(&hits, exact);
            vs_ceiling += recall(&hits, exhaustive);
        }
        let n = queries.len() as f64;
        ms.sort_by(f64::total_cmp);
        let (p50, mean) = (ms[ms.len() / 2], ms.iter().sum::<f64>() / n);
        println!(
            "nprobe {:2} threshold {:5.2} ndocs {:5} exact {:5}: recall@10 of exact {:.4} (ceiling {:.4}, loss {:.4}), of the ceiling's top-10 {:.4}; p50 {:.2} ms, mean {:.2} ms",
            p.nprobe, p.threshold, p.ndocs, p.exact, vs_exact / n, ceiling, ceiling - vs_exact / n, vs_ceiling / n, p50, mean
        );
        rows.push(json!({
            "nprobe": p.nprobe, "threshold": p.threshold, "ndocs": p.ndocs, "exact": p.exact,
            "recall10_vs_exact": vs_exact / n, "ceiling_recall10_vs_exact": ceiling,
            "recall10_vs_ceiling": vs_ceiling / n, "p50_ms": p50, "mean_ms": mean,
        }));
    }
    println!("{}", serde_json::Value::Array(rows));
    Ok(())
}
