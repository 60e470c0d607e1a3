//! Checks a device against the CPU on identical seeded random BERT weights (MiniLM and
//! BERT-base shapes, built in place: no checkpoint needed) and times both.
//!
//! ```sh
//! cargo run --release --example gpu_check -p tartan-encoder -- --device cpu --doc-batches 1
//! cargo build --release --features cuda --example gpu_check -p tartan-encoder   # then, on a GPU:
//! gpu_check --device cuda --doc-batches 8
//! ```
//!
//! Prints one JSON object: per model, the max |CPU - device| over every document and query
//! vector, and documents' tokens/s (batch 32 x 180 tokens) and queries/s on both. The CPU side
//! is always f32; `--precision bf16` runs the device side in bf16 (candle's BERT in bf16 on a
//! GPU, the AVX-512 BF16 kernels on a CPU), so the max difference is then bf16's error.

mod common;

use std::time::Instant;

use common::args_or_exit;
use serde_json::json;
use tartan_encoder::synthetic::{
    random_encoder, random_encoder_with, synthetic_texts, SyntheticConfig,
};
use tartan_encoder::{Device, Embeddings, Encoder, LoadOptions, Precision};

const BATCH: usize = 32;
const SEED: u64 = 42;

struct Args {
    device: Device,
    precision: Precision,
    doc_batches: usize,
    queries: usize,
    models: Vec<SyntheticConfig>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        device: Device::Cuda(0),
        precision: Precision::F32,
        doc_batches: 4,
        queries: 256,
        models: vec![SyntheticConfig::minilm(), SyntheticConfig::bert_base()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--device" => args.device = value()?.parse().map_err(|e| format!("{e}"))?,
            "--precision" => args.precision = value()?.parse().map_err(|e| format!("{e}"))?,
            "--doc-batches" => args.doc_batches = value()?.parse().map_err(|e| format!("{e}"))?,
            "--queries" => args.queries = value()?.parse().map_err(|e| format!("{e}"))?,
            "--models" => {
                args.models = value()?
                    .split(',')
                    .map(|m| match m {
                        "minilm" => Ok(SyntheticConfig::minilm()),
                        "bert-base" => Ok(SyntheticConfig::bert_base()),
                        other => Err(format!("unknown model {other} (minilm, bert-base)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => {
                return Err(
                    "usage: gpu_check [--device cuda|cuda:N|cpu] [--precision f32|bf16|int8] \
                            [--doc-batches N] \
                            [--queries N] [--models minilm,bert-base]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.doc_batches == 0 || args.queries == 0 {
        return Err("--doc-batches and --queries must be at least 1".into());
    }
    Ok(args)
}

struct Run {
    docs: Vec<Embeddings>,
    queries: Vec<Embeddings>,
    tokens_per_s: f64,
    queries_per_s: f64,
}

/// Encodes once to warm up (kernels, cuBLAS handles), then times documents and queries.
fn run(enc: &Encoder, docs: &[&str], queries: &[&str]) -> Result<Run, Box<dyn std::error::Error>> {
    let tokens: usize = enc.tokenize_documents(docs)?.iter().map(|x| x.len()).sum();
    enc.encode_documents(&docs[..BATCH.min(docs.len())], BATCH)?;
    enc.encode_queries(&queries[..BATCH.min(queries.len())])?;
    let t = Instant::now();
    let d = enc.encode_documents(docs, BATCH)?;
    let doc_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let q = enc.encode_queries(queries)?;
    let query_s = t.elapsed().as_secs_f64();
    Ok(Run {
        docs: d,
        queries: q,
        tokens_per_s: tokens as f64 / doc_s,
        queries_per_s: queries.len() as f64 / query_s,
    })
}

fn max_abs_diff(a: &[Embeddings], b: &[Embeddings]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            if x.data.len() != y.data.len() {
                return f32::INFINITY;
            }
            x.data
                .iter()
                .zip(&y.data)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

fn main() {
    let args = args_or_exit(parse_args());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut reports = Vec::new();
    for cfg in &args.models {
        let report = (|| -> Result<serde_json::Value, Box<dyn std::error::Error>> {
            let doc_texts = synthetic_texts(BATCH * args.doc_batches, 200, cfg.vocab_size, 1);
            let query_texts = synthetic_texts(args.queries, 12, cfg.vocab_size, 2);
            let docs: Vec<&str> = doc_texts.iter().map(String::as_str).collect();
            let queries: Vec<&str> = query_texts.iter().map(String::as_str).collect();
            let cpu = run(&random_encoder(cfg, SEED, Device::Cpu)?, &docs, &queries)?;
            let options = LoadOptions {
                device: args.device,
                precision: args.precision,
                ..LoadOptions::default()
            };
            let dev_encoder = random_encoder_with(cfg, SEED, &options)?;
            let dev = run(&dev_encoder, &docs, &queries)?;
            Ok(json!({
                "model": cfg.name,
                "device_precision": dev_encoder.precision().name(),
                "layers": cfg.num_layers, "hidden_size": cfg.hidden_size, "dim": cfg.dim,
                "documents": docs.len(), "tokens_per_document": 180, "batch_size": BATCH,
                "queries": queries.len(),
                "max_abs_diff_documents": max_abs_diff(&cpu.docs, &dev.docs),
                "max_abs_diff_queries": max_abs_diff(&cpu.queries, &dev.queries),
                "cpu_tokens_per_s": cpu.tokens_per_s.round(),
                "device_tokens_per_s": dev.tokens_per_s.round(),
                "cpu_queries_per_s": cpu.queries_per_s.round(),
                "device_queries_per_s": dev.queries_per_s.round(),
            }))
        })()
        .unwrap_or_else(|e| json!({"model": cfg.name, "error": e.to_string()}));
        eprintln!("{report}");
        reports.push(report);
    }
    let out = json!({
        "device": args.device.to_string(),
        "precision_asked": args.precision.name(),
        "dtype": "f32",
        "cpu_threads": threads,
        "cuda_feature": cfg!(feature = "cuda"),
        "seed": SEED,
        "models": reports,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
