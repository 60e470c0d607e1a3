//! quantize benches: one k-means iteration (faer path vs linfa), the matrix product
//! alone as the roofline, and encode / decode / lookup-table throughput of both codec
//! families on one thread and on all threads.
//!
//! Sizes (environment): `TARTAN_BENCH_KMEANS_POINTS` (262144) x 128 points with
//! `TARTAN_BENCH_KMEANS_CENTROIDS` (8192) centroids; linfa runs on
//! `TARTAN_BENCH_LINFA_POINTS` (16384) x `TARTAN_BENCH_LINFA_CENTROIDS` (1024), where the
//! faer path is measured again for the comparison. Codec benches code
//! `TARTAN_BENCH_CODEC_POINTS` (16384) embeddings against 8192 centroids.
//!
//! ```sh
//! cargo bench -p tartan-benches --bench quantize -- --measurement-time 3 --warm-up-time 1 --sample-size 10
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::{Xoshiro256Plus, Xoshiro256PlusPlus};
use rayon::prelude::*;
use tartan_quantize::{Centroids, CodecKind, QueryLut, ResidualCodec, TrainConfig};

const DIM: usize = 128;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Unit vectors around `topics` random directions (token-embedding-like).
fn embeddings(n: usize, topics: usize, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let centres: Vec<f32> = (0..topics * DIM)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let mut out = Vec::with_capacity(n * DIM);
    for i in 0..n {
        let c = &centres[(i % topics) * DIM..][..DIM];
        let x: Vec<f32> = c.iter().map(|&v| v + rng.gen_range(-0.6..0.6)).collect();
        let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        out.extend(x.iter().map(|v| v / norm));
    }
    out
}

/// The first `k` points as (normalised) centroids: the start of an iteration.
fn first_rows_as_centroids(points: &[f32], k: usize) -> Centroids {
    Centroids::from_vec(points[..k * DIM].to_vec(), DIM).unwrap()
}

/// points x centroids^T with the same blocking as the assignment kernel, scores thrown
/// away: what an iteration would cost if assignment and update were free.
fn blocked_matmul(points: &[f32], centroids: &[f32]) {
    points.par_chunks(256 * DIM).for_each_init(
        || vec![0f32; 256 * 1024],
        |tile, block| {
            let rows = block.len() / DIM;
            let lhs = MatRef::from_row_major_slice(block, rows, DIM);
            for chunk in centroids.chunks(1024 * DIM) {
                let cols = chunk.len() / DIM;
                let rhs = MatRef::from_row_major_slice(chunk, cols, DIM);
                matmul(
                    MatMut::from_row_major_slice_mut(&mut tile[..rows * cols], rows, cols),
                    Accum::Replace,
                    lhs,
                    rhs.transpose(),
                    1.0f32,
                    Par::Seq,
                );
                black_box(&tile[0]);
            }
        },
    );
}

fn linfa_iteration(points: &Array2<f32>, init: &Array2<f32>) -> Array2<f32> {
    let dataset = DatasetBase::from(points.clone());
    KMeans::params_with_rng(init.nrows(), Xoshiro256Plus::seed_from_u64(0))
        .n_runs(1)
        .max_n_iterations(1)
        .tolerance(1e-12)
        .init_method(KMeansInit::Precomputed(init.clone()))
        .fit(&dataset)
        .unwrap()
        .centroids()
        .clone()
}

fn kmeans(c: &mut Criterion) {
    let n = env("TARTAN_BENCH_KMEANS_POINTS", 262_144);
    let k = env("TARTAN_BENCH_KMEANS_CENTROIDS", 8_192);
    let points = embeddings(n, 1000, 1);
    let init = first_rows_as_centroids(&points, k);
    let mut group = c.benchmark_group(format!("kmeans/{n}x{DIM}/k{k}"));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("matmul_roofline", |b| {
        b.iter(|| blocked_matmul(&points, init.as_slice()))
    });
    group.bench_function("iteration_faer", |b| {
        b.iter(|| {
            let mut c = init.clone();
            c.refine(&points, 1).unwrap();
            c
        })
    });
    group.bench_function("assign_faer", |b| b.iter(|| init.assign(&points).unwrap()));
    group.finish();

    let n = env("TARTAN_BENCH_LINFA_POINTS", 16_384);
    let k = env("TARTAN_BENCH_LINFA_CENTROIDS", 1_024);
    let points = embeddings(n, 1000, 2);
    let init = first_rows_as_centroids(&points, k);
    let points_nd = Array2::from_shape_vec((n, DIM), points.clone()).unwrap();
    let init_nd = Array2::from_shape_vec((k, DIM), init.as_slice().to_vec()).unwrap();
    let mut group = c.benchmark_group(format!("kmeans/{n}x{DIM}/k{k}"));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("iteration_faer", |b| {
        b.iter(|| {
            let mut c = init.clone();
            c.refine(&points, 1).unwrap();
            c
        })
    });
    group.bench_function("iteration_linfa", |b| {
        b.iter(|| linfa_iteration(&points_nd, &init_nd))
    });
    group.finish();
}

struct CodecBench {
    centroids: Centroids,
    embeddings: Vec<f32>,
    residuals: Vec<f32>,
    codecs: Vec<ResidualCodec>,
}

fn codec_setup() -> CodecBench {
    let n = env("TARTAN_BENCH_CODEC_POINTS", 16_384);
    let k = 8_192;
    let pool = embeddings(k + n, 1000, 3);
    let centroids = first_rows_as_centroids(&pool, k);
    let embeddings = pool[k * DIM..].to_vec();
    let ids = centroids.assign(&embeddings).unwrap();
    let residuals: Vec<f32> = embeddings
        .chunks_exact(DIM)
        .zip(&ids)
        .flat_map(|(x, &id)| {
            let c = centroids.row(id as usize);
            x.iter().zip(c).map(|(a, b)| a - b).collect::<Vec<_>>()
        })
        .collect();
    let config = TrainConfig {
        max_samples: 16_384,
        iterations: 4,
        ..TrainConfig::default()
    };
    let codecs = CodecKind::ALL
        .iter()
        .map(|&kind| ResidualCodec::train_with(kind, &residuals, DIM, &config).unwrap())
        .collect();
    CodecBench {
        centroids,
        embeddings,
        residuals,
        codecs,
    }
}

fn label(codec: &ResidualCodec) -> String {
    match codec.kind() {
        CodecKind::Product { nbits } => format!("product{nbits}"),
        CodecKind::Scalar { nbits } => format!("scalar{nbits}"),
    }
}

fn codecs(c: &mut Criterion) {
    let s = codec_setup();
    let n = s.embeddings.len() / DIM;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let threads = rayon::current_num_threads();

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(n as u64));
    // Encode = assign to 8192 centroids + code the residual (the index-building path).
    for codec in &s.codecs[..2] {
        for (name, pool) in [("1thread", Some(&one)), ("all_threads", None)] {
            let run = || codec.compress(&s.centroids, &s.embeddings).unwrap();
            let id = BenchmarkId::new(format!("compress_{}", label(codec)), name);
            group.bench_function(id, |b| match pool {
                Some(p) => b.iter(|| p.install(run)),
                None => b.iter(run),
            });
        }
    }
    group.bench_function(BenchmarkId::new("assign_only", "1thread"), |b| {
        b.iter(|| one.install(|| s.centroids.assign(&s.embeddings).unwrap()))
    });
    // Residual coding alone, and decoding, per family and bits, on one thread.
    for codec in &s.codecs {
        group.bench_function(
            BenchmarkId::new(format!("encode_{}", label(codec)), "1thread"),
            |b| b.iter(|| one.install(|| codec.encode(&s.residuals).unwrap())),
        );
    }
    let ids = s.centroids.assign(&s.embeddings).unwrap();
    for codec in &s.codecs {
        let codes = codec.encode(&s.residuals).unwrap();
        let bpe = codec.bytes_per_embedding();
        group.bench_function(
            BenchmarkId::new(format!("decode_{}", label(codec)), "1thread"),
            |b| {
                let mut out = vec![0f32; DIM];
                b.iter(|| {
                    for (code, &id) in codes.chunks_exact(bpe).zip(&ids) {
                        codec.decode_into(s.centroids.row(id as usize), code, &mut out);
                        black_box(&out);
                    }
                })
            },
        );
        group.bench_function(
            BenchmarkId::new(
                format!("decode_{}", label(codec)),
                format!("{threads}threads"),
            ),
            |b| b.iter(|| codec.decode(&s.centroids, &ids, &codes).unwrap()),
        );
        group.bench_function(
            BenchmarkId::new(format!("lut_score_{}", label(codec)), "1thread"),
            |b| {
                let mut lut = QueryLut::new();
                codec.query_lut_into(&s.embeddings[..DIM], &mut lut);
                b.iter(|| {
                    codes
                        .chunks_exact(bpe)
                        .map(|code| lut.score(code))
                        .fold(0.0f32, f32::max)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, kmeans, codecs);
criterion_main!(benches);
