//! filtered-search: what a metadata filter does to PLAID's recall and latency, and
//! where scoring the allowed documents directly beats candidate generation.
//!
//! ```sh
//! cargo build --release -p tartan-benches --bin filtered-search
//! # synthetic: ~1M embeddings, built here with a metadata field `bucket` (0..1000)
//! target/release/filtered-search --docs 33000 --tokens 30
//! # real token embeddings: an index with kept embeddings and a .npy of queries
//! target/release/filtered-search --index IDX --queries Q.npy
//! ```
//!
//! Each document gets `bucket` = a hash of its number mod 1000, so `bucket < n` selects
//! n/1000 of the documents, spread evenly: 50%, 10%, 1% and 0.1%. For each selectivity,
//! over the queries (k = 10, PLAID at its k = 10 defaults, one search thread):
//! - recall@10 of the exact filtered top-10 (brute-force MaxSim over the kept
//!   embeddings of the allowed documents) against the unfiltered recall@10 of the exact
//!   top-10;
//! - p50 latency of the filtered search against the unfiltered one;
//! - hits returned against `min(10, allowed)`;
//! - filter evaluation time alone (SQL + bitmap), uncached and cached (synthetic index,
//!   whose segment stores hold `bucket`; a given index's allowed sets are bitmaps).
//!
//! Then the switch: direct scoring (every allowed document by implicit decompression)
//! of random sets of growing size against unfiltered PLAID's p50, which is where
//! `DIRECT_SCORING_MAX_EMBEDDINGS` belongs. The last line is one JSON object.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use tartan_engine::format::npy::MappedArray;
use tartan_engine::metadata::{Filter, RoaringBitmap};
use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{
    recall, BuildConfig, Index, IndexBuilder, NoProgress, SearchHit, SearchParams,
    DIRECT_SCORING_MAX_EMBEDDINGS,
};

#[derive(Parser, Debug)]
#[command(about = "Filtered search: recall, latency and the direct-scoring switch")]
struct Args {
    /// An index with kept embeddings (instead of building a synthetic one).
    #[arg(long, requires = "queries")]
    index: Option<PathBuf>,
    /// Query embeddings for --index, float32 `[n, query_len, dim]`.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Synthetic documents.
    #[arg(long, default_value_t = 33_000)]
    docs: usize,
    /// Mean tokens a synthetic document.
    #[arg(long, default_value_t = 30)]
    tokens: usize,
    /// Queries measured.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Where the synthetic index goes (default: the system temp dir, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// `bucket` of document `d`: a hash mod 1000, so ranges of buckets are spread evenly.
fn bucket(d: u32) -> u32 {
    let mut z = u64::from(d).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % 1000) as u32
}

fn p50(times: &mut [Duration]) -> f64 {
    times.sort_unstable();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Builds the synthetic index with `bucket` metadata; returns it and its queries.
fn synthetic(args: &Args, dir: &std::path::Path) -> Result<(Index, Vec<Vec<f32>>)> {
    let s = Synthetic::new(SyntheticConfig {
        docs: args.docs,
        tokens: args.tokens,
        dim: 128,
        seed: 5,
        ..SyntheticConfig::default()
    });
    let out = dir.join("filtered-search-index");
    let config = BuildConfig {
        keep_embeddings: true,
        overwrite: true,
        ..BuildConfig::default()
    };
    let started = Instant::now();
    let mut b = IndexBuilder::new(&out, s.dim(), config)?;
    let mut doc = Vec::new();
    for d in 0..s.num_documents() {
        s.document(d, &mut doc);
        let meta = json!({"bucket": bucket(d as u32)});
        b.add_document_with(&s.doc_id(d), &doc, meta.as_object(), None)?;
    }
    b.finish(&NoProgress)?;
    eprintln!("built in {:.1}s", started.elapsed().as_secs_f64());
    Ok((Index::open(&out)?, s.queries(args.limit)))
}

fn read_queries(path: &std::path::Path, dim: usize, limit: usize) -> Result<Vec<Vec<f32>>> {
    let array = MappedArray::<f32>::open(path, &[None, None, Some(dim)])
        .with_context(|| format!("cannot read {}", path.display()))?;
    let shape = array.shape().to_vec();
    let per = shape[1] * dim;
    Ok(array
        .as_slice()
        .chunks_exact(per)
        .take(limit)
        .map(<[f32]>::to_vec)
        .collect())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = std::env::temp_dir().join(format!("filtered-search-{}", std::process::id()));
    let dir = args.dir.clone().unwrap_or_else(|| tmp.clone());
    std::fs::create_dir_all(&dir)?;
    let (index, queries, with_store) = match (&args.index, &args.queries) {
        (Some(i), Some(q)) => {
            let index = Index::open(i)?;
            let queries = read_queries(q, index.dim(), args.limit)?;
            (index, queries, false)
        }
        (None, _) => {
            let (index, queries) = synthetic(&args, &dir)?;
            (index, queries, true)
        }
        (Some(_), None) => bail!("--index needs --queries"),
    };
    if !index.has_embeddings() {
        bail!("the index keeps no uncompressed embeddings (the exact ground truth)");
    }
    let params = SearchParams::for_k(10);
    let n_docs = index.num_documents() as u32;
    eprintln!(
        "{} documents, {} embeddings, {} queries",
        n_docs,
        index.num_embeddings(),
        queries.len()
    );

    // Unfiltered baseline.
    let exact_all: Vec<Vec<SearchHit>> = queries
        .iter()
        .map(|q| index.search_exact(q, 10))
        .collect::<tartan_engine::Result<_>>()?;
    let mut times = Vec::new();
    let mut recalls = Vec::new();
    for _ in 0..2 {
        times.clear();
        recalls.clear();
        for (q, exact) in queries.iter().zip(&exact_all) {
            let t = Instant::now();
            let hits = index.search(q, &params)?;
            times.push(t.elapsed());
            recalls.push(recall(&hits, exact));
        }
    }
    let base_p50 = p50(&mut times);
    let base_recall = mean(&recalls);
    println!("unfiltered: recall@10 {base_recall:.4}, p50 {base_p50:.3} ms");

    let mut rows = Vec::new();
    for per_mille in [500u32, 100, 10, 1] {
        let filter: Filter = format!(r#"{{"bucket": {{"$lt": {per_mille}}}}}"#).parse()?;
        let (allowed, eval_ms, cached_us) = if with_store {
            // A fresh snapshot: the stores' caches are empty.
            let fresh = Index::open(index.path())?;
            let t = Instant::now();
            let allowed = fresh.filter(&filter)?;
            let eval_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let again = fresh.filter(&filter)?;
            let cached_us = t.elapsed().as_secs_f64() * 1e6;
            assert_eq!(again, allowed);
            (allowed, Some(eval_ms), Some(cached_us))
        } else {
            let allowed: RoaringBitmap = (0..n_docs)
                .filter(|&d| bucket(d) < per_mille && !index.is_deleted(d))
                .collect();
            (allowed, None, None)
        };
        let allowed_embeddings: usize = allowed.iter().filter_map(|d| index.doc_len(d)).sum();
        let mut recalls = Vec::new();
        let mut times = Vec::new();
        let mut short = 0usize;
        for q in &queries {
            let exact = index.search_exact_within(q, 10, &allowed)?;
            let t = Instant::now();
            let hits = index.search_within(q, &params, &allowed)?;
            times.push(t.elapsed());
            if hits.len() < exact.len() {
                short += 1;
            }
            if !exact.is_empty() {
                recalls.push(recall(&hits, &exact));
            }
        }
        let row = json!({
            "selects": f64::from(per_mille) / 1000.0,
            "allowed_documents": allowed.len(),
            "allowed_embeddings": allowed_embeddings,
            "direct_scoring": allowed_embeddings <= DIRECT_SCORING_MAX_EMBEDDINGS,
            "recall_at_10": mean(&recalls),
            "recall_vs_unfiltered": mean(&recalls) - base_recall,
            "p50_ms": p50(&mut times),
            "p50_ratio": p50(&mut times) / base_p50,
            "queries_short_of_min_k_matching": short,
            "filter_eval_ms": eval_ms,
            "filter_cached_us": cached_us,
        });
        println!(
            "{:>5.1}%: {} docs ({} embeddings, {}), recall@10 {:.4} ({:+.4} vs unfiltered), p50 {:.3} ms ({:.2}x), short {}{}",
            f64::from(per_mille) / 10.0,
            allowed.len(),
            allowed_embeddings,
            if allowed_embeddings <= DIRECT_SCORING_MAX_EMBEDDINGS { "direct" } else { "PLAID" },
            mean(&recalls),
            mean(&recalls) - base_recall,
            row["p50_ms"].as_f64().unwrap_or_default(),
            row["p50_ratio"].as_f64().unwrap_or_default(),
            short,
            match (eval_ms, cached_us) {
                (Some(e), Some(c)) => format!(", filter {e:.2} ms ({c:.1} us cached)"),
                _ => String::new(),
            }
        );
        rows.push(row);
    }

    // The switch: direct scoring of evenly spread sets of growing size, against
    // unfiltered PLAID.
    let mut sweep: Vec<Value> = Vec::new();
    for per_mille in [1u32, 2, 5, 10, 20, 50, 100] {
        let set: RoaringBitmap = (0..n_docs)
            .filter(|&d| bucket(d) < per_mille && !index.is_deleted(d))
            .collect();
        if set.is_empty() {
            continue;
        }
        let embeddings: usize = set.iter().filter_map(|d| index.doc_len(d)).sum();
        let mut times = Vec::new();
        for q in queries.iter().take(30) {
            let t = Instant::now();
            index.search_exhaustive_within(q, 10, &set)?;
            times.push(t.elapsed());
        }
        let ms = p50(&mut times);
        println!(
            "direct scoring of {} docs ({embeddings} embeddings): p50 {ms:.3} ms ({:.2}x unfiltered PLAID)",
            set.len(),
            ms / base_p50
        );
        sweep.push(json!({"documents": set.len(), "embeddings": embeddings, "p50_ms": ms, "ratio": ms / base_p50}));
    }
    println!(
        "{}",
        json!({
            "documents": n_docs,
            "embeddings": index.num_embeddings(),
            "queries": queries.len(),
            "unfiltered": {"recall_at_10": base_recall, "p50_ms": base_p50},
            "filtered": rows,
            "direct_scoring": sweep,
            "direct_scoring_max_embeddings": DIRECT_SCORING_MAX_EMBEDDINGS,
        })
    );
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}
