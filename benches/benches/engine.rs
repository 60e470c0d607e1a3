//! engine benches: each PLAID stage on its own, end-to-end search at k = 10 and 100,
//! exact MaxSim, and the query-centroid scores by faer against plain loops.
//!
//! The index is built once from synthetic clustered embeddings:
//! `TARTAN_BENCH_ENGINE_DOCS` (2000) documents of `TARTAN_BENCH_ENGINE_TOKENS` (30)
//! tokens at dim 128, product codes at 2 bits, default centroid count.
//!
//! ```sh
//! cargo bench -p tartan-benches --bench engine -- --measurement-time 3 --warm-up-time 1 --sample-size 20
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{
    dot, query_centroid_scores, BuildConfig, Index, IndexBuilder, NoProgress, SearchParams,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Fixture {
    index: Index,
    queries: Vec<Vec<f32>>,
    _dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn fixture() -> Fixture {
    let synthetic = Synthetic::new(SyntheticConfig {
        docs: env("TARTAN_BENCH_ENGINE_DOCS", 2000),
        tokens: env("TARTAN_BENCH_ENGINE_TOKENS", 30),
        dim: 128,
        ..SyntheticConfig::default()
    });
    let dir = std::env::temp_dir().join(format!("tartan-bench-engine-{}", std::process::id()));
    let config = BuildConfig {
        keep_embeddings: true,
        overwrite: true,
        ..BuildConfig::default()
    };
    let mut builder = IndexBuilder::new(&dir, 128, config).expect("builder");
    let mut doc = Vec::new();
    for d in 0..synthetic.num_documents() {
        synthetic.document(d, &mut doc);
        builder
            .add_document(&synthetic.doc_id(d), &doc)
            .expect("document");
    }
    builder.finish(&NoProgress).expect("build");
    let index = Index::open(&dir).expect("open");
    let queries = synthetic.queries(32);
    Fixture {
        index,
        queries,
        _dir: dir,
    }
}

/// `S` by plain loops (centroid-major), the alternative to faer.
fn centroid_scores_loops(centroids: &[f32], query: &[f32], dim: usize, out: &mut Vec<f32>) {
    let nq = query.len() / dim;
    out.clear();
    for c in centroids.chunks_exact(dim) {
        out.extend(query.chunks_exact(dim).map(|q| dot(c, q)));
    }
    debug_assert_eq!(out.len(), centroids.len() / dim * nq);
}

fn stages(c: &mut Criterion) {
    let f = fixture();
    let (index, queries) = (&f.index, &f.queries);
    let p10 = SearchParams::for_k(10);
    let mut group = c.benchmark_group(format!(
        "engine/{}docs_{}emb_{}centroids",
        index.num_documents(),
        index.num_embeddings(),
        index.num_centroids()
    ));
    let q = &queries[0];

    group.bench_function("stage1_centroid_scores_faer", |b| {
        b.iter(|| query_centroid_scores(black_box(index.centroids()), 128, black_box(q)).unwrap())
    });
    let mut out = Vec::new();
    group.bench_function("stage1_centroid_scores_loops", |b| {
        b.iter(|| centroid_scores_loops(black_box(index.centroids()), black_box(q), 128, &mut out))
    });

    let mut s = index.searcher();
    s.prepare(q).unwrap();
    group.bench_function("stage2_candidates_nprobe1", |b| {
        b.iter(|| s.candidates(p10.nprobe).unwrap())
    });
    s.candidates(p10.nprobe).unwrap();
    group.bench_function("stage3_interaction_pruned", |b| {
        b.iter(|| {
            s.interaction_pruned(p10.centroid_score_threshold, p10.ndocs)
                .unwrap()
        })
    });
    s.interaction_pruned(p10.centroid_score_threshold, p10.ndocs)
        .unwrap();
    group.bench_function("stage4_interaction_full", |b| {
        b.iter(|| s.interaction_full(p10.ndocs / 4).unwrap())
    });
    s.interaction_full(p10.ndocs / 4).unwrap();
    group.bench_function("stage5_lookup_tables", |b| b.iter(|| s.build_tables()));
    group.bench_function("stage5_rank_implicit", |b| b.iter(|| s.rank(10).unwrap()));
    let shortlist: Vec<u32> = index
        .search(
            q,
            &SearchParams {
                k: p10.ndocs / 4,
                ..p10
            },
        )
        .unwrap()
        .iter()
        .map(|h| h.doc)
        .collect();
    group.bench_function("stage5_rank_explicit_decode", |b| {
        b.iter(|| {
            shortlist
                .iter()
                .map(|&d| index.score_explicit(q, d).unwrap())
                .fold(f32::NEG_INFINITY, f32::max)
        })
    });

    let mut i = 0;
    group.bench_function("search_k10", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            index.search(&queries[i], &p10).unwrap()
        })
    });
    let p100 = SearchParams::for_k(100);
    group.bench_function("search_k100", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            index.search(&queries[i], &p100).unwrap()
        })
    });
    group.bench_function("search_exact_k10", |b| {
        b.iter(|| index.search_exact(black_box(q), 10).unwrap())
    });
    group.bench_function("search_exhaustive_decompressed_k10", |b| {
        b.iter(|| index.search_exhaustive(black_box(q), 10).unwrap())
    });
    group.finish();
}

/// Elias–Fano decoding, the format of posting lists and per-document centroid ids: a
/// 70-embedding document among 32,768 centroids and a 213-entry posting list among
/// 100,000 documents (the densities of the 100k x 70 reference corpus).
fn elias_fano(c: &mut Criterion) {
    use tartan_engine::format::elias_fano::{decode, encode};
    let mut group = c.benchmark_group("elias_fano_decode");
    for (name, n, universe) in [
        ("doc_ids_70_of_32768", 70u32, 32_768u32),
        ("posting_213_of_100000", 213, 100_000),
    ] {
        let values: Vec<u32> = (0..n)
            .map(|i| (i as u64 * universe as u64 / n as u64) as u32 + (i * 7919) % 13)
            .collect();
        let mut bytes = Vec::new();
        encode(&values, universe, &mut bytes).unwrap();
        let mut out = Vec::with_capacity(n as usize);
        group.throughput(criterion::Throughput::Elements(n as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                decode(black_box(&bytes), universe, &mut out).unwrap();
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, stages, elias_fano);
criterion_main!(benches);
