//! The quality gate of the encoder's reduced precisions: a BEIR collection encoded in f32 and
//! in each reduced precision, every query scored by exact MaxSim against every document, and
//! per precision: recall@10 of the f32 top-10, nDCG@10 against the qrels next to f32's, the
//! cosine between the f32 and reduced vectors, and the encoding speed.
//!
//! ```sh
//! cargo run --release -p tartan-benches --bin encoder-precision -- \
//!     --model ../shared/models/minilm-colbert-pylate --dataset ../shared/datasets/scifact \
//!     --precision bf16,int8
//! ```
//!
//! Exact search over the uncompressed vectors isolates the encoder: an index built from them
//! adds its own (equal) compression error on top. Prints one JSON object.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;
use serde_json::json;
use tartan_datasets::{evaluate, BeirDataset, Measure, Run};
use tartan_encoder::{Embeddings, Encoder, LoadOptions, Precision};
use tartan_engine::maxsim;

#[derive(Parser)]
#[command(about = "Quality gate of the encoder's reduced precisions (exact MaxSim on BEIR)")]
struct Args {
    /// Model directory.
    #[arg(long)]
    model: String,
    /// BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/).
    #[arg(long)]
    dataset: PathBuf,
    /// Qrels split.
    #[arg(long, default_value = "test")]
    split: String,
    /// Reduced precisions to compare with f32, comma-separated.
    #[arg(long, default_value = "bf16,int8", value_delimiter = ',')]
    precision: Vec<String>,
    /// Use only the first N documents (0: all).
    #[arg(long, default_value_t = 0)]
    max_docs: usize,
    /// Documents per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
}

const K: usize = 10;

struct Encoded {
    precision: Precision,
    docs: Vec<Embeddings>,
    queries: Vec<Embeddings>,
    docs_per_s: f64,
}

fn encode(args: &Args, precision: Precision, docs: &[&str], queries: &[&str]) -> Result<Encoded> {
    let enc = Encoder::load_with(
        &args.model,
        &LoadOptions {
            precision,
            ..LoadOptions::default()
        },
    )
    .with_context(|| format!("loading {}", args.model))?;
    if enc.precision() != precision {
        bail!(
            "this CPU cannot run {precision} (it would fall back to {})",
            enc.precision()
        );
    }
    let t = Instant::now();
    let d = enc.encode_documents(docs, args.batch_size)?;
    let docs_per_s = docs.len() as f64 / t.elapsed().as_secs_f64();
    let q = enc.encode_queries(queries)?;
    Ok(Encoded {
        precision,
        docs: d,
        queries: q,
        docs_per_s,
    })
}

/// Exact MaxSim (the engine's) top-`k` document indices of every query, best first.
fn top_k(e: &Encoded, k: usize) -> Vec<Vec<(usize, f32)>> {
    e.queries
        .par_iter()
        .map(|q| {
            let mut scored: Vec<(usize, f32)> = e
                .docs
                .iter()
                .enumerate()
                .map(|(i, d)| (i, maxsim(&q.data, &d.data, q.dim)))
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            scored.truncate(k);
            scored
        })
        .collect()
}

/// Mean and minimum cosine between corresponding rows (both sides are unit vectors).
fn cosines(a: &[Embeddings], b: &[Embeddings]) -> (f64, f64) {
    let (mut sum, mut min, mut n) = (0f64, f64::MAX, 0usize);
    for (x, y) in a.iter().zip(b) {
        for (u, v) in x.iter_rows().zip(y.iter_rows()) {
            let c = tartan_engine::dot(u, v) as f64;
            sum += c;
            min = min.min(c);
            n += 1;
        }
    }
    (sum / n.max(1) as f64, min)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut reduced = Vec::new();
    for name in &args.precision {
        reduced.push(name.parse::<Precision>()?);
    }
    let data = BeirDataset::open(&args.dataset)?;
    let mut corpus = Vec::new();
    for doc in data.corpus() {
        corpus.push(doc?);
        if args.max_docs > 0 && corpus.len() == args.max_docs {
            break;
        }
    }
    let (queries, qrels) = data.split(&args.split)?;
    let doc_texts: Vec<String> = corpus.iter().map(|d| d.text_for_encoding()).collect();
    let doc_refs: Vec<&str> = doc_texts.iter().map(String::as_str).collect();
    let query_refs: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
    eprintln!(
        "{} documents, {} queries; threads {}",
        doc_refs.len(),
        query_refs.len(),
        rayon::current_num_threads()
    );

    let mut encoded = vec![encode(&args, Precision::F32, &doc_refs, &query_refs)?];
    for &p in &reduced {
        encoded.push(encode(&args, p, &doc_refs, &query_refs)?);
    }
    let mut reports = Vec::new();
    let mut f32_top: Vec<HashSet<usize>> = Vec::new();
    let mut f32_ndcg = 0.0;
    for e in &encoded {
        let top = top_k(e, 100);
        let mut run = Run::new();
        for (q, hits) in queries.iter().zip(&top) {
            run.add_query(&q.id);
            for &(d, s) in hits {
                run.insert(&q.id, &corpus[d].id, s as f64)?;
            }
        }
        let eval = evaluate(&qrels, &run, &[Measure::Ndcg(K)]);
        let ndcg = eval.mean(Measure::Ndcg(K)).unwrap_or(0.0);
        let tops: Vec<HashSet<usize>> = top
            .iter()
            .map(|h| h.iter().take(K).map(|&(d, _)| d).collect())
            .collect();
        let mut report = json!({
            "precision": e.precision.name(),
            "ndcg_at_10": ndcg,
            "documents_per_s": e.docs_per_s,
        });
        if e.precision == Precision::F32 {
            f32_top = tops;
            f32_ndcg = ndcg;
        } else {
            let recall: f64 = tops
                .iter()
                .zip(&f32_top)
                .map(|(got, want)| got.intersection(want).count() as f64 / want.len().max(1) as f64)
                .sum::<f64>()
                / tops.len().max(1) as f64;
            let (doc_cos, doc_min) = cosines(&encoded[0].docs, &e.docs);
            let (q_cos, q_min) = cosines(&encoded[0].queries, &e.queries);
            report["recall_at_10_of_f32_top_10"] = json!(recall);
            report["ndcg_at_10_minus_f32"] = json!(ndcg - f32_ndcg);
            report["document_vector_cosine_mean"] = json!(doc_cos);
            report["document_vector_cosine_min"] = json!(doc_min);
            report["query_vector_cosine_mean"] = json!(q_cos);
            report["query_vector_cosine_min"] = json!(q_min);
            report["passes_gate"] = json!(recall >= 0.99 && (ndcg - f32_ndcg).abs() <= 0.002);
        }
        eprintln!("{report}");
        reports.push(report);
    }
    println!(
        "{}",
        json!({
            "model": args.model,
            "dataset": args.dataset,
            "documents": doc_refs.len(),
            "queries": query_refs.len(),
            "threads": rayon::current_num_threads(),
            "precisions": reports,
        })
    );
    Ok(())
}
