//! Building: round trips, numpy input, atomic publication, overwriting.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use tartan_engine::format::elias_fano;
use tartan_engine::format::npy::write_array;
use tartan_engine::{
    build_from_npy, BuildConfig, BuildProgress, EngineError, Index, IndexBuilder, NoProgress,
    SearchParams, FORMAT_VERSION,
};

use crate::common::{fixture, locate, scratch_dir, small_index};

#[test]
fn round_trip_build_open_search() {
    let dir = scratch_dir("round_trip").join("index");
    let config = BuildConfig {
        encoder: serde_json::json!({"model": "m", "doc_maxlen": 180}),
        keep_embeddings: true,
        ..BuildConfig::default()
    };
    let (synthetic, report) = small_index(&dir, config);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.num_documents(), 40);
    assert_eq!(index.num_documents(), report.num_documents);
    assert_eq!(index.num_embeddings(), report.num_embeddings);
    assert_eq!(index.num_centroids(), 16);
    assert_eq!(index.dim(), 16);
    assert_eq!(index.meta().format_version, FORMAT_VERSION);
    assert_eq!(index.meta().encoder["doc_maxlen"], 180);
    assert_eq!(index.doc_id(7), "doc7");
    assert_eq!(index.get_doc_id(40), None);
    assert_eq!(index.bytes_on_disk(), report.bytes_total);
    let mut doc = Vec::new();
    synthetic.document(7, &mut doc);
    // The same rows, stored sorted by centroid (MaxSim does not depend on the order).
    let rows = |flat: &[f32]| {
        let mut r: Vec<Vec<u32>> = flat
            .chunks(16)
            .map(|row| row.iter().map(|x| x.to_bits()).collect())
            .collect();
        r.sort();
        r
    };
    let stored = index.document_embeddings(7).unwrap();
    assert_ne!(
        stored,
        &doc[..],
        "this document's rows are stored reordered"
    );
    assert_eq!(rows(stored), rows(&doc));
    // Searching for a document's own embeddings finds it first.
    let hits = index.search(&doc, &SearchParams::for_k(5)).unwrap();
    assert_eq!(hits[0].doc, 7);
    assert_eq!(index.search_exact(&doc, 1).unwrap()[0].doc, 7);
}

#[test]
fn npy_input_builds_the_same_index_as_the_builder() {
    let base = scratch_dir("npy_input");
    let (synthetic, _) = small_index(&base.join("from_builder"), BuildConfig::default());
    let (flat, lens) = synthetic.all_documents();
    let emb = base.join("emb.npy");
    let lengths = base.join("lens.npy");
    write_array(&emb, &[flat.len() / 16, 16], &flat).unwrap();
    let lens64: Vec<i64> = lens.iter().map(|&l| l as i64).collect();
    write_array(&lengths, &[lens.len()], &lens64).unwrap();
    let ids = (0..lens.len()).map(|d| synthetic.doc_id(d)).collect();
    let config = BuildConfig {
        num_centroids: Some(16),
        ..BuildConfig::default()
    };
    build_from_npy(
        &emb,
        &lengths,
        Some(ids),
        &base.join("from_npy"),
        config,
        &NoProgress,
    )
    .unwrap();
    for file in [
        "codes.npy",
        "centroid_ids.bin",
        "centroids.npy",
        "centroid_scales.npy",
        "postings.bin",
        "doc_ids.bin",
    ] {
        let a = std::fs::read(locate(&base.join("from_builder"), file)).unwrap();
        let b = std::fs::read(locate(&base.join("from_npy"), file)).unwrap();
        assert!(a == b, "{file} differs");
    }
    // int32 lengths and default ids work too.
    let lens32: Vec<i32> = lens.iter().map(|&l| l as i32).collect();
    write_array(&lengths, &[lens.len()], &lens32).unwrap();
    let config = BuildConfig {
        num_centroids: Some(16),
        ..BuildConfig::default()
    };
    build_from_npy(&emb, &lengths, None, &base.join("ids"), config, &NoProgress).unwrap();
    assert_eq!(Index::open(&base.join("ids")).unwrap().doc_id(3), "3");
}

#[test]
fn npy_input_errors_name_the_file() {
    let base = scratch_dir("npy_errors");
    let emb = base.join("emb.npy");
    let lengths = base.join("lens.npy");
    write_array(&emb, &[6, 8], &[0.5f32; 48]).unwrap();
    write_array(&lengths, &[2], &[2i64, 3]).unwrap();
    let out = base.join("a");
    let build = |emb: &Path, lengths: &Path| {
        build_from_npy(
            emb,
            lengths,
            None,
            &out,
            BuildConfig::default(),
            &NoProgress,
        )
        .unwrap_err()
    };
    let err = build(&emb, &lengths);
    assert!(
        matches!(&err, EngineError::InvalidInput { path, .. } if path == &lengths),
        "{err}"
    );
    write_array(&lengths, &[2], &[7i64, -1]).unwrap();
    let err = build(&emb, &lengths);
    assert!(err.to_string().contains("negative"), "{err}");
    write_array(&lengths, &[2], &[3.0f32, 3.0]).unwrap();
    let err = build(&emb, &lengths);
    assert!(err.to_string().contains("int32 or int64"), "{err}");
    write_array(&emb, &[48], &[0.5f32; 48]).unwrap();
    let err = build(&emb, &lengths);
    assert!(
        matches!(&err, EngineError::InvalidInput { path, .. } if path == &emb),
        "{err}"
    );
    let err = build(&base.join("none.npy"), &lengths);
    assert!(err.to_string().contains("none.npy"), "{err}");
    assert!(!base.join("a").exists());
}

#[test]
fn existing_target_fails_unless_overwriting() {
    let base = scratch_dir("overwrite");
    let dir = base.join("index");
    small_index(&dir, BuildConfig::default());
    let err = IndexBuilder::new(&dir, 16, BuildConfig::default()).unwrap_err();
    assert!(matches!(err, EngineError::TargetExists { .. }), "{err}");
    let config = BuildConfig {
        overwrite: true,
        seed: 99,
        ..BuildConfig::default()
    };
    small_index(&dir, config);
    assert_eq!(Index::open(&dir).unwrap().meta().build.seed, 99);
    assert_eq!(
        std::fs::read_dir(&base).unwrap().count(),
        1,
        "no leftovers beside the index"
    );
}

/// Panics when the named stage starts.
struct FailAt(&'static str);

impl BuildProgress for FailAt {
    fn stage(&self, name: &str, _total: u64) {
        if name == self.0 {
            panic!("simulated crash at {name}");
        }
    }
    fn advance(&self, _n: u64) {}
}

#[test]
fn an_interrupted_build_leaves_nothing_that_opens() {
    let synthetic = &fixture().synthetic;
    for stage in ["kmeans", "compress", "write"] {
        let base = scratch_dir(&format!("interrupted_{stage}"));
        let dir = base.join("index");
        let mut builder = IndexBuilder::new(
            &dir,
            128,
            BuildConfig {
                num_centroids: Some(8),
                ..BuildConfig::default()
            },
        )
        .unwrap();
        let mut doc = Vec::new();
        for d in 0..30 {
            synthetic.document(d, &mut doc);
            builder.add_document(&synthetic.doc_id(d), &doc).unwrap();
        }
        let result = catch_unwind(AssertUnwindSafe(|| builder.finish(&FailAt(stage))));
        assert!(result.is_err());
        assert!(Index::open(&dir).is_err());
        let leftovers: Vec<_> = std::fs::read_dir(&base).unwrap().collect();
        assert!(leftovers.is_empty(), "{stage}: {leftovers:?}");
    }
    // A builder dropped before finishing cleans up too.
    let base = scratch_dir("dropped");
    let mut builder = IndexBuilder::new(&base.join("index"), 4, BuildConfig::default()).unwrap();
    builder.add_document("a", &[1.0, 0.0, 0.0, 0.0]).unwrap();
    drop(builder);
    assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
}

#[test]
fn size_per_embedding_at_2_bits_dim_128() {
    let f = fixture();
    let dir = f.index.path();
    let n = f.index.num_embeddings() as u64;
    let len = |name: &str| std::fs::metadata(locate(dir, name)).unwrap().len();
    // 32 code bytes an embedding, plus a 128-byte header.
    assert_eq!(len("codes.npy"), 32 * n + 128);
    // 8-bit centroids with a scale a row.
    let k = f.index.num_centroids() as u64;
    assert_eq!(len("centroids.npy"), 128 * k + 128);
    assert_eq!(len("centroid_scales.npy"), 4 * k + 128);
    // One Elias-Fano record a document: its length is a function of the document's
    // length and the number of centroids, about log2(k / len) + 2 bits an id.
    let records: usize = (0..f.index.num_documents() as u32)
        .map(|d| elias_fano::encoded_len(f.index.doc_len(d).unwrap(), k as u32))
        .sum();
    assert_eq!(len("centroid_ids.bin"), 16 + records as u64);
    assert!(len("centroid_ids.bin") < 2 * n);
    // Elias-Fano posting lists: at most one entry an embedding, each under 2 bytes
    // at this density, plus the table's offsets.
    assert!(len("postings.bin") <= 2 * n + 8 * k + 64);
    let postings = len("postings.bin") as f64 / n as f64;
    eprintln!(
        "bytes/embedding: {:.2} total ({} embeddings, {} centroids), postings {postings:.2}, centroid ids {:.2}",
        f.report.bytes_per_embedding,
        n,
        f.report.num_centroids,
        len("centroid_ids.bin") as f64 / n as f64
    );
}

/// A build on candle's CPU backend (the reference of the GPU path) writes the index the
/// CPU path writes: the same centroids up to rounding, the same assignments and codes
/// but for rounding ties, and the same answers.
#[cfg(feature = "candle")]
#[test]
fn a_candle_build_matches_the_cpu_build() {
    let base = scratch_dir("candle_build");
    let config = |compute| BuildConfig {
        keep_embeddings: true,
        compute,
        ..BuildConfig::default()
    };
    let (synthetic, _) = small_index(&base.join("cpu"), config(tartan_quantize::Compute::Cpu));
    let candle = tartan_quantize::Compute::parse("candle-cpu").unwrap();
    small_index(&base.join("candle"), config(candle));
    let (cpu, on_candle) = (
        Index::open(&base.join("cpu")).unwrap(),
        Index::open(&base.join("candle")).unwrap(),
    );
    let max_diff = cpu
        .centroids()
        .iter()
        .zip(on_candle.centroids())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_diff < 1e-4, "centroids differ by {max_diff}");
    let same = |file| {
        std::fs::read(locate(&base.join("cpu"), file)).unwrap()
            == std::fs::read(locate(&base.join("candle"), file)).unwrap()
    };
    assert!(same("centroid_ids.bin") && same("postings.bin"));
    let mut query = Vec::new();
    for d in 0..synthetic.num_documents() {
        synthetic.document(d, &mut query);
        let params = SearchParams::for_k(5);
        let (a, b) = (
            cpu.search(&query, &params).unwrap(),
            on_candle.search(&query, &params).unwrap(),
        );
        assert_eq!(a[0].doc, b[0].doc, "document {d}");
    }
}
