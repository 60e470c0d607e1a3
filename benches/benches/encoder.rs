//! Encoder throughput on the CPU: documents at batch 32 x 180 tokens (tokens/s) for the
//! shared MiniLM ColBERT checkpoint (skipped when ../shared is absent) and for a BERT-base
//! sized model with seeded random weights, and query encoding (queries/s).
//!
//! `cargo bench -p tartan-benches --bench encoder`; criterion's "thrpt" is tokens/s for the
//! document groups and queries/s for the query group.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tartan_encoder::synthetic::{
    english_documents, english_queries, random_encoder, synthetic_texts, SyntheticConfig,
};
use tartan_encoder::{Device, Encoder};

const BATCH: usize = 32;

fn shared_checkpoint() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/models/minilm-colbert-pylate"
    ));
    if p.join("model.safetensors").is_file() {
        Some(p)
    } else {
        eprintln!(
            "skipping the MiniLM checkpoint benches: {} is absent",
            p.display()
        );
        None
    }
}

fn bench_documents(c: &mut Criterion) {
    let mut g = c.benchmark_group("encoder_documents_32x180");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let mut cases: Vec<(String, Encoder, Vec<String>)> = Vec::new();
    if let Some(dir) = shared_checkpoint() {
        let enc = Encoder::load(dir.to_str().unwrap_or_default(), Device::Cpu).expect("checkpoint");
        cases.push(("minilm_checkpoint".into(), enc, english_documents(BATCH)));
    }
    let cfg = SyntheticConfig::bert_base();
    let enc = random_encoder(&cfg, 42, Device::Cpu).expect("random BERT-base");
    cases.push((
        "bert_base_random".into(),
        enc,
        synthetic_texts(BATCH, 200, cfg.vocab_size, 1),
    ));
    for (name, enc, texts) in &cases {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens: usize = enc
            .tokenize_documents(&refs)
            .expect("tokenize")
            .iter()
            .map(|x| x.len())
            .sum();
        g.throughput(Throughput::Elements(tokens as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| enc.encode_documents(&refs, BATCH).expect("encode"))
        });
    }
    g.finish();
}

fn bench_queries(c: &mut Criterion) {
    let mut g = c.benchmark_group("encoder_queries");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let enc = match shared_checkpoint() {
        Some(dir) => {
            Encoder::load(dir.to_str().unwrap_or_default(), Device::Cpu).expect("checkpoint")
        }
        None => random_encoder(&SyntheticConfig::minilm(), 42, Device::Cpu).expect("random MiniLM"),
    };
    let texts = english_queries(BATCH);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    g.throughput(Throughput::Elements(refs.len() as u64));
    g.bench_function("minilm_32_queries", |b| {
        b.iter(|| enc.encode_queries(&refs).expect("encode"))
    });
    g.finish();
}

criterion_group!(benches, bench_documents, bench_queries);
criterion_main!(benches);
