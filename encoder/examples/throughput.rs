//! CPU throughput of the encoder, and the workload that `encoder/bench/torch_throughput.py`
//! replays on PyTorch for the comparison (`encoder/bench/compare_torch.sh` runs both).
//!
//! ```sh
//! cargo run --release --example throughput -p tartan-encoder -- \
//!     --model checkpoint=../shared/models/minilm-colbert-pylate --model bert-base \
//!     --workload workload.json
//! ```
//!
//! Models: `checkpoint=DIR` (a local checkpoint), `bert-base` or `minilm` (seeded random
//! weights of that shape). Documents are English (checkpoints) or synthetic (random models)
//! texts longer than the document length, so every one is 180 tokens: batches of 32 x 180.
//! Queries are short texts padded with `[MASK]` to the query length (32). Both are tokenised
//! once; the timed part is [`Encoder::encode_inputs`] (forward pass, projection,
//! normalisation, padding and skiplist removal), the same part the PyTorch script times, and
//! `documents_e2e_tokens_per_s` adds tokenisation. `--workload` writes the token ids, masks
//! and model descriptions as JSON for the PyTorch side. Prints one JSON object.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{args_or_exit, ModelSpec};
use serde_json::json;
use tartan_encoder::synthetic::{
    english_documents, english_queries, random_encoder_with, synthetic_texts, SyntheticConfig,
};
use tartan_encoder::{Encoder, LoadOptions, ModelInput, Precision};

const BATCH: usize = 32;
const SEED: u64 = 42;

struct Args {
    models: Vec<ModelSpec>,
    doc_batches: usize,
    queries: usize,
    reps: usize,
    workload: Option<PathBuf>,
    precision: Precision,
}

const USAGE: &str = "usage: throughput [--model checkpoint=DIR|bert-base|minilm]... \
    [--doc-batches N] [--queries N] [--reps N] [--workload FILE.json] \
    [--precision auto|f32|bf16|int8]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        models: Vec::new(),
        doc_batches: 2,
        queries: 128,
        reps: 1,
        workload: None,
        precision: Precision::Auto,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--model" => args.models.push(ModelSpec::parse(&value()?, USAGE)?),
            "--doc-batches" => args.doc_batches = number(value()?)?,
            "--queries" => args.queries = number(value()?)?,
            "--reps" => args.reps = number(value()?)?,
            "--workload" => args.workload = Some(PathBuf::from(value()?)),
            "--precision" => {
                args.precision = value()?.parse().map_err(|e| format!("{flag}: {e}"))?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.models.is_empty() {
        args.models
            .push(ModelSpec::Random(SyntheticConfig::minilm()));
        args.models
            .push(ModelSpec::Random(SyntheticConfig::bert_base()));
    }
    if args.doc_batches == 0 || args.queries == 0 || args.reps == 0 {
        return Err("--doc-batches, --queries and --reps must be at least 1".into());
    }
    Ok(args)
}

fn inputs_json(inputs: &[ModelInput]) -> serde_json::Value {
    json!({
        "ids": inputs.iter().map(|x| x.ids.clone()).collect::<Vec<_>>(),
        "attention_mask": inputs.iter().map(|x| x.attention_mask.clone()).collect::<Vec<_>>(),
        "keep": inputs.iter().map(|x| x.keep.clone()).collect::<Vec<_>>(),
    })
}

/// Median seconds of `reps` runs of `f` (after one warm-up run).
fn median_secs(
    reps: usize,
    mut f: impl FnMut() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<f64, Box<dyn std::error::Error>> {
    f()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn measure(
    spec: &ModelSpec,
    args: &Args,
) -> Result<(serde_json::Value, serde_json::Value), Box<dyn std::error::Error>> {
    let n_docs = BATCH * args.doc_batches;
    let options = LoadOptions {
        precision: args.precision,
        ..LoadOptions::default()
    };
    let (enc, name, description, docs, queries) = match spec {
        ModelSpec::Checkpoint(dir) => {
            let dir = dir.to_str().ok_or("checkpoint path is not UTF-8")?;
            let enc = Encoder::load_with(dir, &options)?;
            let name = format!(
                "checkpoint:{}",
                dir.trim_end_matches('/').rsplit('/').next().unwrap_or(dir)
            );
            let description = json!({"kind": "checkpoint", "path": std::fs::canonicalize(dir)?});
            (
                enc,
                name,
                description,
                english_documents(n_docs),
                english_queries(args.queries),
            )
        }
        ModelSpec::Random(cfg) => {
            let enc = random_encoder_with(cfg, SEED, &options)?;
            let description = json!({
                "kind": "random", "num_layers": cfg.num_layers, "hidden_size": cfg.hidden_size,
                "num_heads": cfg.num_heads, "intermediate_size": cfg.intermediate_size,
                "vocab_size": cfg.vocab_size, "dim": cfg.dim,
            });
            (
                enc,
                format!("random:{}", cfg.name),
                description,
                synthetic_texts(n_docs, 200, cfg.vocab_size, 1),
                synthetic_texts(args.queries, 12, cfg.vocab_size, 2),
            )
        }
    };
    let doc_refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let query_refs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let doc_inputs = enc.tokenize_documents(&doc_refs)?;
    let query_inputs = enc.tokenize_queries(&query_refs)?;
    let tokens: usize = doc_inputs.iter().map(ModelInput::len).sum();

    let doc_s = median_secs(args.reps, || {
        enc.encode_inputs(&doc_inputs, BATCH)?;
        Ok(())
    })?;
    let e2e_s = median_secs(args.reps, || {
        enc.encode_documents(&doc_refs, BATCH)?;
        Ok(())
    })?;
    let query_s = median_secs(args.reps, || {
        enc.encode_inputs(&query_inputs, BATCH)?;
        Ok(())
    })?;
    let report = json!({
        "model": name,
        "precision": enc.precision().name(),
        "documents": doc_inputs.len(),
        "document_tokens": tokens,
        "max_document_length": doc_inputs.iter().map(ModelInput::len).max(),
        "queries": query_inputs.len(),
        "query_length": enc.query_length(),
        "tokens_per_s": (tokens as f64 / doc_s).round(),
        "documents_e2e_tokens_per_s": (tokens as f64 / e2e_s).round(),
        "queries_per_s": (query_inputs.len() as f64 / query_s).round(),
    });
    let workload = json!({
        "model": name,
        "description": description,
        "batch_size": BATCH,
        "documents": inputs_json(&doc_inputs),
        "queries": inputs_json(&query_inputs),
    });
    Ok((report, workload))
}

fn main() {
    let args = args_or_exit(parse_args());
    let mut reports = Vec::new();
    let mut workloads = Vec::new();
    for spec in &args.models {
        match measure(spec, &args) {
            Ok((report, workload)) => {
                eprintln!("{report}");
                reports.push(report);
                workloads.push(workload);
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Some(path) = &args.workload {
        let text = json!({ "models": workloads }).to_string();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: writing {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let out = json!({
        "impl": format!("tartan (CPU forward pass, {})", args.precision.effective()),
        "threads": rayon::current_num_threads(),
        "reps": args.reps,
        "models": reports,
    });
    println!("{out}");
}
