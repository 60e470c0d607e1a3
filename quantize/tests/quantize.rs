//! Integration tests of tartan-quantize: k-means, both codec families at 1, 2 and 4
//! bits, the query lookup table, persistence and every error path.

use std::sync::OnceLock;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tartan_quantize::{
    pack_codes, unpack_codes, Centroids, CodecKind, KMeansConfig, ProductCodec, QuantizeError,
    QueryLut, ResidualCodec, ScalarCodec, TrainConfig,
};

const KINDS: [CodecKind; 6] = CodecKind::ALL;

fn gaussian(rng: &mut impl Rng) -> f32 {
    // Box-Muller.
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    let v: f64 = rng.gen();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

fn normalise(x: &mut [f32]) {
    let n = dot(x, x).sqrt();
    x.iter_mut().for_each(|v| *v /= n);
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

fn unit_centers(k: usize, dim: usize, rng: &mut impl Rng) -> Vec<f32> {
    let mut c: Vec<f32> = (0..k * dim).map(|_| gaussian(rng)).collect();
    c.chunks_exact_mut(dim).for_each(normalise);
    c
}

/// ColBERT-like token embeddings: unit vectors around topic centres, with per-dimension
/// noise scales and a shared low-rank component (what makes residuals structured).
fn clustered(n: usize, dim: usize, topics: usize, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let centers = unit_centers(topics, dim, &mut rng);
    let factors = unit_centers(2, dim, &mut rng);
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centers[(i % topics) * dim..][..dim];
        let (t0, t1) = (gaussian(&mut rng), gaussian(&mut rng));
        let mut x: Vec<f32> = (0..dim)
            .map(|d| {
                let scale = 0.03 + 0.12 * (d % 8) as f32 / 8.0;
                c[d] + scale * gaussian(&mut rng) + 0.15 * (t0 * factors[d] + t1 * factors[dim + d])
            })
            .collect();
        normalise(&mut x);
        out.extend_from_slice(&x);
    }
    out
}

struct Fixture {
    dim: usize,
    embeddings: Vec<f32>,
    centroids: Centroids,
    ids: Vec<u32>,
    residuals: Vec<f32>,
    codecs: Vec<ResidualCodec>,
}

/// One clustered data set with centroids and all six codecs, trained once.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dim = 32;
        let embeddings = clustered(3000, dim, 40, 1);
        let config = KMeansConfig {
            num_centroids: Some(32),
            ..KMeansConfig::default()
        };
        let centroids = Centroids::train(&embeddings, dim, &config).unwrap();
        let ids = centroids.assign(&embeddings).unwrap();
        let residuals = residuals(&embeddings, &centroids, &ids);
        let codecs = KINDS
            .iter()
            .map(|&k| ResidualCodec::train(k, &residuals, dim, 3).unwrap())
            .collect();
        Fixture {
            dim,
            embeddings,
            centroids,
            ids,
            residuals,
            codecs,
        }
    })
}

fn residuals(embeddings: &[f32], centroids: &Centroids, ids: &[u32]) -> Vec<f32> {
    let dim = centroids.dim();
    embeddings
        .chunks_exact(dim)
        .zip(ids)
        .flat_map(|(x, &id)| {
            x.iter()
                .zip(centroids.row(id as usize))
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn decode_residual(codec: &ResidualCodec, code: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; codec.dim()];
    codec.decode_into(&vec![0.0; codec.dim()], code, &mut out);
    out
}

// ---------------------------------------------------------------- k-means

#[test]
fn kmeans_recovers_well_separated_clusters() {
    let (dim, clusters, per) = (32, 8, 60);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let centers = unit_centers(clusters, dim, &mut rng);
    let mut points = Vec::new();
    let mut truth = Vec::new();
    for i in 0..clusters * per {
        let c = &centers[(i % clusters) * dim..][..dim];
        let mut x: Vec<f32> = c.iter().map(|&v| v + 0.02 * gaussian(&mut rng)).collect();
        normalise(&mut x);
        points.extend_from_slice(&x);
        truth.push(i % clusters);
    }
    for seed in [1, 2, 3] {
        // Random initialisation (as colbert-ai / faiss) needs a few centroids a cluster
        // to hit every cluster; each centroid must then sit inside one true cluster.
        let config = KMeansConfig {
            num_centroids: Some(64),
            iterations: 5,
            seed,
            max_points: None,
        };
        let c = Centroids::train(&points, dim, &config).unwrap();
        for t in centers.chunks_exact(dim) {
            let best = (0..c.len())
                .map(|j| cosine(t, c.row(j)))
                .fold(-1.0, f32::max);
            assert!(best > 0.99, "seed {seed}: a true centre is missed ({best})");
        }
        let ids = c.assign(&points).unwrap();
        let mut owner = vec![usize::MAX; c.len()];
        for (&id, &t) in ids.iter().zip(&truth) {
            let o = &mut owner[id as usize];
            assert!(
                *o == usize::MAX || *o == t,
                "seed {seed}: centroid {id} mixes clusters"
            );
            *o = t;
        }
    }
    // From a rough start with one centroid a cluster, refinement lands on the centres.
    let rough: Vec<f32> = centers
        .iter()
        .map(|&v| v + 0.05 * gaussian(&mut rng))
        .collect();
    let mut c = Centroids::from_vec(rough, dim).unwrap();
    c.refine(&points, 3).unwrap();
    for (j, t) in centers.chunks_exact(dim).enumerate() {
        assert!(cosine(t, c.row(j)) > 0.999);
    }
}

#[test]
fn kmeans_is_deterministic_for_a_seed() {
    let points = clustered(1200, 16, 10, 2);
    let config = |seed| KMeansConfig {
        num_centroids: Some(24),
        iterations: 4,
        seed,
        max_points: Some(1000),
    };
    let a = Centroids::train(&points, 16, &config(7)).unwrap();
    let b = Centroids::train(&points, 16, &config(7)).unwrap();
    let other = Centroids::train(&points, 16, &config(8)).unwrap();
    assert_eq!(a.as_slice(), b.as_slice());
    assert_ne!(a.as_slice(), other.as_slice());
    assert_eq!((a.len(), a.dim()), (24, 16));
}

#[test]
fn assignment_is_the_max_inner_product() {
    let f = fixture();
    for (x, &id) in f.embeddings.chunks_exact(f.dim).zip(&f.ids).take(500) {
        let best = (0..f.centroids.len())
            .map(|j| dot(x, f.centroids.row(j)))
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(dot(x, f.centroids.row(id as usize)) >= best - 1e-5);
    }
    assert!(f.centroids.assign(&[]).unwrap().is_empty());
}

// ---------------------------------------------------------------- packing

/// colbert-ai's packing written out literally: each code's bits LSB first, the bit
/// stream packed MSB first (np.packbits), here with bitvec.
fn colbert_reference_pack(codes: &[u8], nbits: u8) -> Vec<u8> {
    use bitvec::prelude::*;
    let mut bits: BitVec<u8, Msb0> = BitVec::new();
    for &c in codes {
        for b in 0..nbits {
            bits.push((c >> b) & 1 == 1);
        }
    }
    bits.into_vec()
}

fn codes_strategy() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![Just(1u8), Just(2u8), Just(4u8)].prop_flat_map(|nbits| {
        let per_byte = 8 / nbits as usize;
        (0usize..20).prop_flat_map(move |bytes| {
            (
                Just(nbits),
                proptest::collection::vec(0u8..(1 << nbits), bytes * per_byte),
            )
        })
    })
}

/// No regression file: integration tests have no lib.rs for proptest to sit beside.
fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config(256))]

    #[test]
    fn packing_round_trips_in_colbert_order((nbits, codes) in codes_strategy()) {
        let packed = pack_codes(&codes, nbits).unwrap();
        prop_assert_eq!(&packed, &colbert_reference_pack(&codes, nbits));
        prop_assert_eq!(unpack_codes(&packed, nbits).unwrap(), codes);
    }

    #[test]
    fn unpacking_round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40),
                                       nbits in prop_oneof![Just(1u8), Just(2u8), Just(4u8)]) {
        let codes = unpack_codes(&bytes, nbits).unwrap();
        prop_assert_eq!(pack_codes(&codes, nbits).unwrap(), bytes);
    }
}

#[test]
fn scalar_codes_are_packed_buckets() {
    let f = fixture();
    for codec in &f.codecs {
        let ResidualCodec::Scalar(scalar) = codec else {
            continue;
        };
        let nbits = scalar.nbits();
        for r in f.residuals.chunks_exact(f.dim).take(200) {
            let mut code = vec![0u8; codec.bytes_per_embedding()];
            codec.encode_into(r, &mut code);
            let buckets: Vec<u8> = r.iter().map(|&v| scalar.bucket(v)).collect();
            assert_eq!(unpack_codes(&code, nbits).unwrap(), buckets);
            let decoded = decode_residual(codec, &code);
            let expected: Vec<f32> = buckets
                .iter()
                .map(|&b| scalar.weights()[b as usize])
                .collect();
            assert_eq!(decoded, expected);
            // Inside the cutoffs, the error is at most the width of the value's bucket.
            let cut = scalar.cutoffs();
            for ((&v, &d), &b) in r.iter().zip(&decoded).zip(&buckets) {
                let b = b as usize;
                if b > 0 && b < cut.len() {
                    assert!((v - d).abs() <= cut[b] - cut[b - 1]);
                }
            }
        }
    }
}

#[test]
fn product_codes_pick_the_nearest_codebook_entry() {
    let f = fixture();
    for codec in &f.codecs {
        let ResidualCodec::Product(product) = codec else {
            continue;
        };
        let sd = product.sub_dim();
        for r in f.residuals.chunks_exact(f.dim).take(100) {
            let mut code = vec![0u8; codec.bytes_per_embedding()];
            codec.encode_into(r, &mut code);
            for (s, (x, &b)) in r.chunks_exact(sd).zip(&code).enumerate() {
                let book = &product.codebooks()[s * 256 * sd..][..256 * sd];
                let dist = |e: usize| -> f32 {
                    x.iter()
                        .zip(&book[e * sd..][..sd])
                        .map(|(a, c)| (a - c) * (a - c))
                        .sum()
                };
                let best = (0..256).map(dist).fold(f32::INFINITY, f32::min);
                assert!(dist(b as usize) <= best + 1e-5);
            }
        }
    }
}

// ---------------------------------------------------------------- codecs

#[test]
fn bytes_per_embedding_is_dim_times_nbits_over_8() {
    for kind in KINDS {
        assert_eq!(
            kind.bytes_per_embedding(128).unwrap(),
            16 * kind.nbits() as usize
        );
    }
    assert_eq!(CodecKind::default(), CodecKind::Product { nbits: 2 });
    for codec in &fixture().codecs {
        assert_eq!(
            codec.bytes_per_embedding(),
            32 * codec.kind().nbits() as usize / 8
        );
        assert_eq!(codec.dim(), 32);
    }
}

#[test]
fn decode_error_is_bounded_and_shrinks_with_bits() {
    let f = fixture();
    // Held out: residuals of fresh embeddings from the same distribution.
    let fresh = clustered(1000, f.dim, 40, 99);
    let ids = f.centroids.assign(&fresh).unwrap();
    let held_out = residuals(&fresh, &f.centroids, &ids);
    let energy: f32 = held_out.iter().map(|v| v * v).sum();
    for family in 0..2 {
        let mut last = energy;
        for codec in &f.codecs[family * 3..family * 3 + 3] {
            let codes = codec.encode(&held_out).unwrap();
            let mut err = 0.0f32;
            for (r, code) in held_out
                .chunks_exact(f.dim)
                .zip(codes.chunks_exact(codec.bytes_per_embedding()))
            {
                let d = decode_residual(codec, code);
                err += r
                    .iter()
                    .zip(&d)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>();
            }
            eprintln!(
                "{:?}: relative squared error {:.4}",
                codec.kind(),
                err / energy
            );
            assert!(err < last, "{:?}: {err} not below {last}", codec.kind());
            last = err;
        }
        // 4 bits keep more than 80% of the residual energy in both families.
        assert!(last < 0.2 * energy, "{last} vs {energy}");
    }
}

#[test]
fn product_codes_reconstruct_at_least_as_well_as_scalar_codes() {
    let f = fixture();
    let fresh = clustered(2000, f.dim, 40, 77);
    let mut cosines = Vec::new();
    for codec in &f.codecs {
        let c = codec.compress(&f.centroids, &fresh).unwrap();
        let decoded = codec
            .decode(&f.centroids, &c.centroid_ids, &c.codes)
            .unwrap();
        let mean = fresh
            .chunks_exact(f.dim)
            .zip(decoded.chunks_exact(f.dim))
            .map(|(a, b)| cosine(a, b))
            .sum::<f32>()
            / 2000.0;
        eprintln!("{:?}: mean cosine {mean:.4}", codec.kind());
        cosines.push(mean);
    }
    for nbits in 0..3 {
        assert!(
            cosines[nbits] >= cosines[3 + nbits],
            "{:?} {} < {:?} {}",
            KINDS[nbits],
            cosines[nbits],
            KINDS[3 + nbits],
            cosines[3 + nbits]
        );
    }
}

/// `|e|^2 + (weight - 1) (e . x)^2` of `code` for embedding `x` and its `residual`.
fn score_aware_loss(
    codec: &ResidualCodec,
    weight: f32,
    x: &[f32],
    residual: &[f32],
    code: &[u8],
) -> f32 {
    let decoded = decode_residual(codec, code);
    let e: Vec<f32> = residual.iter().zip(&decoded).map(|(r, d)| r - d).collect();
    dot(&e, &e) + (weight - 1.0) * dot(&e, x).powi(2)
}

#[test]
fn score_aware_codes_lower_the_score_aware_loss() {
    let f = fixture();
    let n = 1000;
    let some = &f.embeddings[..n * f.dim];
    for codec in f
        .codecs
        .iter()
        .filter(|c| matches!(c.kind(), CodecKind::Product { .. }))
    {
        let nearest = codec.encode(&f.residuals[..n * f.dim]).unwrap();
        let weight = tartan_quantize::DEFAULT_PARALLEL_WEIGHT;
        assert!(weight > 1.0);
        let aware = codec.compress(&f.centroids, some).unwrap();
        let bpe = codec.bytes_per_embedding();
        let (mut before, mut after, mut changed) = (0f64, 0f64, 0);
        for i in 0..n {
            let (x, r) = (
                &some[i * f.dim..][..f.dim],
                &f.residuals[i * f.dim..][..f.dim],
            );
            let (plain, chosen) = (&nearest[i * bpe..][..bpe], &aware.codes[i * bpe..][..bpe]);
            let (b, a) = (
                score_aware_loss(codec, weight, x, r, plain),
                score_aware_loss(codec, weight, x, r, chosen),
            );
            assert!(
                a <= b + 1e-6,
                "{:?} row {i}: loss {a} above the nearest code's {b}",
                codec.kind()
            );
            changed += usize::from(plain != chosen);
            before += b as f64;
            after += a as f64;
        }
        assert!(
            changed > 0 && after < before,
            "{:?}: nothing refined",
            codec.kind()
        );
        // The plain squared error can only grow: the nearest entries minimise it.
        let squared = |codes: &[u8]| -> f64 {
            (0..n)
                .map(|i| {
                    score_aware_loss(
                        codec,
                        1.0,
                        &some[i * f.dim..][..f.dim],
                        &f.residuals[i * f.dim..][..f.dim],
                        &codes[i * bpe..][..bpe],
                    ) as f64
                })
                .sum()
        };
        assert!(squared(&aware.codes) >= squared(&nearest) - 1e-6);
    }
}

#[test]
fn parallel_weight_is_checked_and_applies_to_product_codes_only() {
    let f = fixture();
    for codec in &f.codecs {
        for bad in [0.5, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                codec.clone().with_parallel_weight(bad),
                Err(QuantizeError::InvalidParameters { .. })
            ));
        }
        let plain = codec.clone().with_parallel_weight(1.0).unwrap();
        let some = &f.embeddings[..300 * f.dim];
        let aware = codec.compress(&f.centroids, some).unwrap();
        let nearest = plain.compress(&f.centroids, some).unwrap();
        assert_eq!(aware.centroid_ids, nearest.centroid_ids);
        if let CodecKind::Scalar { .. } = codec.kind() {
            assert_eq!(aware.codes, nearest.codes, "scalar codes ignore the weight");
        }
    }
}

#[test]
fn compress_is_assign_then_encode() {
    let f = fixture();
    let some = &f.embeddings[..300 * f.dim];
    for codec in &f.codecs {
        // The nearest codes (weight 1): what `encode` gives for the residuals.
        let codec = &codec.clone().with_parallel_weight(1.0).unwrap();
        let c = codec.compress(&f.centroids, some).unwrap();
        assert_eq!(c.centroid_ids, f.ids[..300]);
        assert_eq!(c.codes, codec.encode(&f.residuals[..300 * f.dim]).unwrap());
        let decoded = codec
            .decode(&f.centroids, &c.centroid_ids, &c.codes)
            .unwrap();
        let mut one = vec![0.0; f.dim];
        codec.decode_into(
            f.centroids.row(c.centroid_ids[7] as usize),
            &c.codes[7 * codec.bytes_per_embedding()..][..codec.bytes_per_embedding()],
            &mut one,
        );
        assert_eq!(&decoded[7 * f.dim..8 * f.dim], &one[..]);
    }
}

proptest! {
    #![proptest_config(proptest_config(64))]

    #[test]
    fn lut_score_equals_q_dot_decoded_residual(
        which in 0usize..6,
        q in proptest::collection::vec(-1.0f32..1.0, 32),
        r in proptest::collection::vec(-0.4f32..0.4, 32),
    ) {
        let codec = &fixture().codecs[which];
        let mut code = vec![0u8; codec.bytes_per_embedding()];
        codec.encode_into(&r, &mut code);
        let decoded = decode_residual(codec, &code);
        let lut = codec.query_lut(&q);
        prop_assert_eq!(lut.len(), codec.bytes_per_embedding());
        let exact = dot(&q, &decoded);
        prop_assert!((lut.score(&code) - exact).abs() <= 1e-5, "{} vs {}", lut.score(&code), exact);
    }
}

#[test]
fn query_lut_into_reuses_the_table() {
    let f = fixture();
    let mut lut = QueryLut::new();
    assert!(lut.is_empty());
    for codec in &f.codecs {
        for q in f.embeddings.chunks_exact(f.dim).take(5) {
            codec.query_lut_into(q, &mut lut);
            assert_eq!(lut, codec.query_lut(q));
        }
    }
}

#[test]
fn engine_facing_types_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Centroids>();
    check::<ResidualCodec>();
    check::<QueryLut>();
    check::<CodecKind>();
    check::<QuantizeError>();
}

// ---------------------------------------------------------------- persistence

#[test]
fn codecs_rebuild_from_their_persisted_parts() {
    for codec in &fixture().codecs {
        let rebuilt = match codec {
            ResidualCodec::Product(p) => ResidualCodec::Product(
                ProductCodec::from_codebooks(p.dim(), p.nbits(), p.codebooks().to_vec()).unwrap(),
            ),
            ResidualCodec::Scalar(s) => ResidualCodec::Scalar(
                ScalarCodec::from_buckets(
                    s.dim(),
                    s.nbits(),
                    s.cutoffs().to_vec(),
                    s.weights().to_vec(),
                )
                .unwrap(),
            ),
        };
        assert_eq!(&rebuilt, codec);
    }
    let f = fixture();
    let again = Centroids::from_vec(f.centroids.as_slice().to_vec(), f.dim).unwrap();
    assert_eq!(again, f.centroids);
}

#[test]
fn codec_kind_serialises() {
    for kind in KINDS {
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(serde_json::from_str::<CodecKind>(&json).unwrap(), kind);
    }
    assert_eq!(
        serde_json::to_string(&CodecKind::Product { nbits: 2 }).unwrap(),
        r#"{"product":{"nbits":2}}"#
    );
}

#[test]
fn training_is_deterministic_and_handles_tiny_inputs() {
    let f = fixture();
    for kind in KINDS {
        let a = ResidualCodec::train(kind, &f.residuals[..500 * f.dim], f.dim, 4).unwrap();
        let b = ResidualCodec::train(kind, &f.residuals[..500 * f.dim], f.dim, 4).unwrap();
        assert_eq!(a, b);
        // One residual: fewer distinct samples than codebook entries, still a codec.
        let one = ResidualCodec::train(kind, &f.residuals[..f.dim], f.dim, 4).unwrap();
        assert_eq!(
            one.encode(&f.residuals[..f.dim]).unwrap().len(),
            one.bytes_per_embedding()
        );
    }
    let config = TrainConfig {
        max_samples: 100,
        iterations: 2,
        ..TrainConfig::default()
    };
    ResidualCodec::train_with(
        CodecKind::Product { nbits: 2 },
        &f.residuals,
        f.dim,
        &config,
    )
    .unwrap();
}

// ---------------------------------------------------------------- errors

#[test]
fn kmeans_errors() {
    let cfg = KMeansConfig::default();
    assert_eq!(
        Centroids::train(&[1.0; 4], 0, &cfg),
        Err(QuantizeError::ZeroDim)
    );
    assert_eq!(
        Centroids::train(&[], 4, &cfg),
        Err(QuantizeError::EmptyInput)
    );
    assert!(matches!(
        Centroids::train(&[1.0; 10], 3, &cfg),
        Err(QuantizeError::DimensionMismatch { .. })
    ));
    let mut data = vec![1.0f32; 12];
    data[7] = f32::NAN;
    assert!(matches!(
        Centroids::train(&data, 4, &cfg),
        Err(QuantizeError::NonFinite {
            row: 1,
            column: 3,
            ..
        })
    ));
    data[7] = f32::NEG_INFINITY;
    assert!(matches!(
        Centroids::train(&data, 4, &cfg),
        Err(QuantizeError::NonFinite { .. })
    ));
    let too_many = KMeansConfig {
        num_centroids: Some(4),
        ..KMeansConfig::default()
    };
    assert_eq!(
        Centroids::train(&[0.5; 12], 4, &too_many),
        Err(QuantizeError::TooManyCentroids {
            requested: 4,
            points: 3
        })
    );
    let zero = KMeansConfig {
        num_centroids: Some(0),
        ..KMeansConfig::default()
    };
    assert!(matches!(
        Centroids::train(&[0.5; 12], 4, &zero),
        Err(QuantizeError::TooManyCentroids { .. })
    ));

    assert_eq!(
        Centroids::from_vec(vec![], 4),
        Err(QuantizeError::EmptyInput)
    );
    assert!(matches!(
        Centroids::from_vec(vec![1.0; 5], 4),
        Err(QuantizeError::DimensionMismatch { .. })
    ));
    let c = Centroids::from_vec(vec![1.0; 8], 4).unwrap();
    assert!(matches!(
        c.assign(&[1.0; 6]),
        Err(QuantizeError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        c.assign(&[f32::NAN; 4]),
        Err(QuantizeError::NonFinite { .. })
    ));
    let mut c2 = c.clone();
    assert_eq!(c2.refine(&[], 1), Err(QuantizeError::EmptyInput));
}

#[test]
fn codec_errors() {
    let r = vec![0.1f32; 64];
    for kind in [
        CodecKind::Product { nbits: 3 },
        CodecKind::Scalar { nbits: 0 },
        CodecKind::Scalar { nbits: 8 },
    ] {
        assert_eq!(
            ResidualCodec::train(kind, &r, 8, 1),
            Err(QuantizeError::UnsupportedNbits {
                nbits: kind.nbits()
            })
        );
    }
    assert_eq!(
        ResidualCodec::train(CodecKind::Product { nbits: 2 }, &r[..60], 6, 1),
        Err(QuantizeError::UnpackableDim {
            dim: 6,
            nbits: 2,
            multiple: 4
        })
    );
    assert_eq!(
        ResidualCodec::train(CodecKind::Scalar { nbits: 1 }, &r[..60], 12, 1),
        Err(QuantizeError::UnpackableDim {
            dim: 12,
            nbits: 1,
            multiple: 8
        })
    );
    assert_eq!(
        CodecKind::Product { nbits: 4 }.bytes_per_embedding(3),
        Err(QuantizeError::UnpackableDim {
            dim: 3,
            nbits: 4,
            multiple: 2
        })
    );
    for kind in KINDS {
        assert_eq!(
            ResidualCodec::train(kind, &[], 8, 1),
            Err(QuantizeError::EmptyInput)
        );
        assert_eq!(
            ResidualCodec::train(kind, &r, 0, 1),
            Err(QuantizeError::ZeroDim)
        );
        assert!(matches!(
            ResidualCodec::train(kind, &r[..60], 8, 1),
            Err(QuantizeError::DimensionMismatch { .. })
        ));
        let mut bad = r.clone();
        bad[9] = f32::INFINITY;
        assert!(matches!(
            ResidualCodec::train(kind, &bad, 8, 1),
            Err(QuantizeError::NonFinite {
                row: 1,
                column: 1,
                ..
            })
        ));
        let codec = ResidualCodec::train(kind, &r, 8, 1).unwrap();
        assert!(matches!(
            codec.encode(&bad),
            Err(QuantizeError::NonFinite { .. })
        ));
        assert!(matches!(
            codec.encode(&r[..7]),
            Err(QuantizeError::DimensionMismatch { .. })
        ));
        let wrong_dim = Centroids::from_vec(vec![1.0; 16], 16).unwrap();
        assert!(matches!(
            codec.compress(&wrong_dim, &r),
            Err(QuantizeError::DimensionMismatch { .. })
        ));
        let centroids = Centroids::from_vec(vec![1.0; 16], 8).unwrap();
        let bpe = codec.bytes_per_embedding();
        assert_eq!(
            codec.decode(&centroids, &[2], &vec![0; bpe]),
            Err(QuantizeError::CentroidOutOfRange {
                id: 2,
                num_centroids: 2
            })
        );
        assert!(matches!(
            codec.decode(&centroids, &[0, 1], &vec![0; bpe]),
            Err(QuantizeError::DimensionMismatch { .. })
        ));
    }
}

// ---------------------------------------------------------------- candle compute

/// Candle's CPU backend against the CPU path: the same kernels' answers up to float
/// rounding (what the GPU path is checked by where no GPU is).
#[cfg(feature = "candle")]
mod candle_compute {
    use super::*;
    use tartan_quantize::Compute;

    fn reference() -> Compute {
        Compute::parse("candle-cpu").unwrap()
    }

    #[test]
    fn assignment_matches_the_cpu_path_up_to_ties() {
        let f = fixture();
        let (ids, scores) = f.centroids.assign_on(&reference(), &f.embeddings).unwrap();
        let (cpu_ids, cpu_scores) = f.centroids.assign_on(&Compute::Cpu, &f.embeddings).unwrap();
        assert_eq!(cpu_ids, f.ids);
        for i in 0..ids.len() {
            assert!((scores[i] - cpu_scores[i]).abs() < 1e-5, "row {i}");
            if ids[i] != cpu_ids[i] {
                let x = &f.embeddings[i * f.dim..][..f.dim];
                let a = dot(x, f.centroids.row(ids[i] as usize));
                let b = dot(x, f.centroids.row(cpu_ids[i] as usize));
                assert!(
                    (a - b).abs() < 1e-5,
                    "row {i}: a different centroid, not a tie"
                );
            }
        }
    }

    #[test]
    fn kmeans_matches_the_cpu_path() {
        let f = fixture();
        let config = KMeansConfig {
            num_centroids: Some(32),
            ..KMeansConfig::default()
        };
        let on_candle = Centroids::train_on(&reference(), &f.embeddings, f.dim, &config).unwrap();
        let max_diff = on_candle
            .as_slice()
            .iter()
            .zip(f.centroids.as_slice())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max_diff < 1e-4, "centroids differ by {max_diff}");
    }

    #[test]
    fn compression_matches_the_cpu_path() {
        let f = fixture();
        for codec in &f.codecs {
            for codec in [
                codec.clone(),
                codec.clone().with_parallel_weight(1.0).unwrap(),
            ] {
                let on_candle = codec
                    .compress_on(&reference(), &f.centroids, &f.embeddings)
                    .unwrap();
                let cpu = codec.compress(&f.centroids, &f.embeddings).unwrap();
                assert_eq!(
                    on_candle.centroid_ids,
                    cpu.centroid_ids,
                    "{:?}",
                    codec.kind()
                );
                let bpe = codec.bytes_per_embedding();
                let differing = on_candle
                    .codes
                    .chunks_exact(bpe)
                    .zip(cpu.codes.chunks_exact(bpe))
                    .filter(|(a, b)| a != b)
                    .count();
                // Rounding ties only: a handful of the 3,000 codes at most.
                assert!(
                    differing <= 6,
                    "{:?}: {differing} codes differ",
                    codec.kind()
                );
            }
        }
    }

    #[test]
    fn empty_input_and_errors_match_the_cpu_path() {
        let f = fixture();
        let codec = &f.codecs[0];
        let empty = codec.compress_on(&reference(), &f.centroids, &[]).unwrap();
        assert!(empty.centroid_ids.is_empty() && empty.codes.is_empty());
        assert!(matches!(
            codec.compress_on(&reference(), &f.centroids, &f.embeddings[..f.dim - 1]),
            Err(QuantizeError::DimensionMismatch { .. })
        ));
    }
}

/// Wide embeddings (more than 128 sub-spaces: dim 1024 at 2 bits) compress with the
/// score-aware pass like narrow ones.
#[test]
fn wide_embeddings_compress_score_aware() {
    let dim = 1024;
    let embeddings = clustered(300, dim, 4, 5);
    let config = KMeansConfig {
        num_centroids: Some(4),
        ..KMeansConfig::default()
    };
    let centroids = Centroids::train(&embeddings, dim, &config).unwrap();
    let ids = centroids.assign(&embeddings).unwrap();
    let residuals = residuals(&embeddings, &centroids, &ids);
    let codec = ResidualCodec::train(CodecKind::Product { nbits: 2 }, &residuals, dim, 3).unwrap();
    let aware = codec.compress(&centroids, &embeddings).unwrap();
    let nearest = codec.encode(&residuals).unwrap();
    let bpe = codec.bytes_per_embedding();
    let weight = tartan_quantize::DEFAULT_PARALLEL_WEIGHT;
    for i in 0..300 {
        let (x, r) = (&embeddings[i * dim..][..dim], &residuals[i * dim..][..dim]);
        let (a, b) = (
            score_aware_loss(&codec, weight, x, r, &aware.codes[i * bpe..][..bpe]),
            score_aware_loss(&codec, weight, x, r, &nearest[i * bpe..][..bpe]),
        );
        assert!(a <= b + 1e-5, "row {i}: {a} above {b}");
    }
}
