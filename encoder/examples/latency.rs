//! One query at a time, as `tartan serve` encodes them: the latency of encoding a single
//! 32-token query with 1 and 2 (or any) threads and each precision, and the cold start of a
//! checkpoint split into its parts. Prints one JSON object.
//!
//! ```sh
//! cargo run --release --example latency -p tartan-encoder -- \
//!     --model checkpoint=../shared/models/minilm-colbert-pylate --model bert-base \
//!     --threads 1,2 --precision f32,bf16,int8 --queries 200
//! ```
//!
//! Models: `checkpoint=DIR` (a local checkpoint), `minilm` or `bert-base` (seeded random
//! weights of that shape). Settings are measured in interleaved rounds (every setting once per
//! round, `--rounds` rounds) so that load on a shared machine falls on all of them alike;
//! each round encodes `--queries` distinct queries one at a time. Reported: p50 and p90 of the
//! whole `encode_queries(&[text])` call (tokenisation included) over all rounds, and the
//! tokenisation alone. For checkpoints, the cold start at each precision: `Encoder::load_with`
//! in total (median of 3), the tokenizer's parse alone (`tokenizers::Tokenizer::from_file`),
//! and the first query's encode.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::{args_or_exit, ModelSpec};
use serde_json::json;
use tartan_encoder::synthetic::{english_queries, random_encoder_with, SyntheticConfig};
use tartan_encoder::{Encoder, LoadOptions, Precision};

const SEED: u64 = 42;

impl ModelSpec {
    fn name(&self) -> String {
        match self {
            ModelSpec::Checkpoint(dir) => format!(
                "checkpoint:{}",
                dir.file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
            ),
            ModelSpec::Random(cfg) => format!("random:{}", cfg.name),
        }
    }

    fn load(&self, options: &LoadOptions) -> Result<Encoder, Box<dyn std::error::Error>> {
        Ok(match self {
            ModelSpec::Checkpoint(dir) => {
                Encoder::load_with(dir.to_str().ok_or("path is not UTF-8")?, options)?
            }
            ModelSpec::Random(cfg) => random_encoder_with(cfg, SEED, options)?,
        })
    }
}

struct Args {
    models: Vec<ModelSpec>,
    threads: Vec<usize>,
    precisions: Vec<Precision>,
    queries: usize,
    rounds: usize,
}

const USAGE: &str = "usage: latency [--model checkpoint=DIR|minilm|bert-base]... \
    [--threads 1,2] [--precision f32,bf16,int8] [--queries N] [--rounds N]";

fn list<T>(v: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.split(',').map(|s| f(s.trim())).collect()
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        models: Vec::new(),
        threads: vec![1, 2],
        precisions: vec![Precision::F32],
        queries: 100,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--model" => args.models.push(ModelSpec::parse(&value()?, USAGE)?),
            "--threads" => args.threads = list(&value()?, number)?,
            "--precision" => {
                args.precisions = list(&value()?, |s| s.parse().map_err(|e| format!("{e}")))?
            }
            "--queries" => args.queries = number(&value()?)?,
            "--rounds" => args.rounds = number(&value()?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.models.is_empty() {
        args.models
            .push(ModelSpec::Random(SyntheticConfig::minilm()));
    }
    if args.queries == 0 || args.rounds == 0 || args.threads.contains(&0) {
        return Err("--queries, --rounds and every thread count must be at least 1".into());
    }
    Ok(args)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The cold start at `precision` (the median of 3 loads after one that warms the page cache,
/// so the figures are the loader's, not the disk's).
fn cold_start(
    dir: &std::path::Path,
    precision: Precision,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let options = LoadOptions {
        precision,
        ..LoadOptions::default()
    };
    let path = dir.to_str().ok_or("path is not UTF-8")?;
    let _ = Encoder::load_with(path, &options)?;
    let mut loads = Vec::new();
    let mut enc = None;
    for _ in 0..3 {
        let t = Instant::now();
        enc = Some(Encoder::load_with(path, &options)?);
        loads.push(ms(t));
    }
    loads.sort_by(f64::total_cmp);
    let load_ms = loads[1];
    let enc = enc.ok_or("no encoder")?;
    let t = Instant::now();
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| format!("tokenizer: {e}"))?;
    let tokenizer_ms = ms(t);
    drop(tok);
    let t = Instant::now();
    enc.encode_queries(&["what is late interaction retrieval"])?;
    let first_query_ms = ms(t);
    Ok(json!({
        "precision": enc.precision().name(),
        "model_load_ms": load_ms,
        "of_which_tokenizer_parse_ms": tokenizer_ms,
        "first_query_encode_ms": first_query_ms,
    }))
}

fn measure(spec: &ModelSpec, args: &Args) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let queries = english_queries(args.queries);
    let mut encoders = Vec::new();
    for &precision in &args.precisions {
        for &threads in &args.threads {
            let enc = spec.load(&LoadOptions {
                precision,
                threads: Some(threads),
                ..LoadOptions::default()
            })?;
            encoders.push((format!("{}/{threads}t", enc.precision()), enc));
        }
    }
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut tokenize: Vec<f64> = Vec::new();
    for (_, enc) in &encoders {
        enc.encode_queries(&[queries[0].as_str()])?; // warm-up
    }
    for _ in 0..args.rounds {
        for (name, enc) in &encoders {
            let entry = times.entry(name.clone()).or_default();
            for q in &queries {
                let t = Instant::now();
                let e = enc.encode_queries(&[q.as_str()])?;
                entry.push(ms(t));
                std::hint::black_box(e);
            }
        }
        for q in &queries {
            let t = Instant::now();
            std::hint::black_box(encoders[0].1.tokenize_queries(&[q.as_str()])?);
            tokenize.push(ms(t));
        }
    }
    let mut settings = serde_json::Map::new();
    for (name, mut v) in times {
        v.sort_by(f64::total_cmp);
        settings.insert(
            name,
            json!({"p50_ms": percentile(&v, 0.5), "p90_ms": percentile(&v, 0.9)}),
        );
    }
    tokenize.sort_by(f64::total_cmp);
    let mut report = json!({
        "model": spec.name(),
        "query_length": encoders[0].1.query_length(),
        "queries_per_round": args.queries,
        "rounds": args.rounds,
        "encode_one_query": settings,
        "tokenize_one_query_p50_ms": percentile(&tokenize, 0.5),
    });
    if let ModelSpec::Checkpoint(dir) = spec {
        let mut cold = Vec::new();
        for &precision in &args.precisions {
            cold.push(cold_start(dir, precision)?);
        }
        report["cold_start"] = json!(cold);
    }
    Ok(report)
}

fn main() {
    let args = args_or_exit(parse_args());
    let supported: Vec<&str> = Precision::ALL
        .iter()
        .filter(|p| p.supported())
        .map(|p| p.name())
        .collect();
    let mut reports = Vec::new();
    for spec in &args.models {
        match measure(spec, &args) {
            Ok(r) => {
                eprintln!("{r}");
                reports.push(r);
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("{}", json!({"cpu_supports": supported, "models": reports}));
}
