//! Shared fixtures: small synthetic corpora and indexes built from them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{BuildConfig, BuildReport, Index, IndexBuilder, NoProgress};

/// A scratch directory under cargo's target tmp dir, emptied first.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("engine-tests-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small corpus for the living-index tests: `docs` documents of about 10 tokens at dim 32.
pub fn small_corpus(docs: usize, seed: u64) -> Synthetic {
    Synthetic::new(SyntheticConfig {
        docs,
        tokens: 10,
        dim: 32,
        topics: 12,
        words_per_topic: 6,
        query_tokens: 6,
        seed,
        ..SyntheticConfig::default()
    })
}

/// Documents `range` of `s` as (ids, embeddings, lengths).
pub fn batch(s: &Synthetic, range: std::ops::Range<usize>) -> (Vec<String>, Vec<f32>, Vec<usize>) {
    let (mut ids, mut all, mut lens) = (Vec::new(), Vec::new(), Vec::new());
    let mut doc = Vec::new();
    for d in range {
        s.document(d, &mut doc);
        ids.push(s.doc_id(d));
        lens.push(doc.len() / s.dim());
        all.extend_from_slice(&doc);
    }
    (ids, all, lens)
}

/// Builds an index of the whole synthetic corpus at `dir`.
pub fn build_synthetic(synthetic: &Synthetic, dir: &Path, config: BuildConfig) -> BuildReport {
    let mut builder = IndexBuilder::new(dir, synthetic.dim(), config).unwrap();
    let mut doc = Vec::new();
    for d in 0..synthetic.num_documents() {
        synthetic.document(d, &mut doc);
        builder.add_document(&synthetic.doc_id(d), &doc).unwrap();
    }
    builder.finish(&NoProgress).unwrap()
}

/// The shared quality fixture: 1,000 documents of about 20 tokens at dim 128,
/// default centroid count, kept embeddings, and 100 queries.
pub struct Fixture {
    pub synthetic: Synthetic,
    pub index: Index,
    pub report: BuildReport,
    pub queries: Vec<Vec<f32>>,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let synthetic = Synthetic::new(SyntheticConfig {
            docs: 1000,
            tokens: 20,
            dim: 128,
            seed: 11,
            ..SyntheticConfig::default()
        });
        let dir = scratch_dir("fixture").join("index");
        let config = BuildConfig {
            keep_embeddings: true,
            encoder: serde_json::json!({"name": "synthetic", "query_length": 32}),
            ..BuildConfig::default()
        };
        let report = build_synthetic(&synthetic, &dir, config);
        let index = Index::open(&dir).unwrap();
        let queries = synthetic.queries(100);
        Fixture {
            synthetic,
            index,
            report,
            queries,
        }
    })
}

/// A small index (dim 16, 40 documents) for format and edge-case tests.
pub fn small_index(dir: &Path, config: BuildConfig) -> (Synthetic, BuildReport) {
    let synthetic = Synthetic::new(SyntheticConfig::small());
    let config = BuildConfig {
        num_centroids: Some(16),
        ..config
    };
    let report = build_synthetic(&synthetic, dir, config);
    (synthetic, report)
}

pub use tartan_engine::recall;

/// Where file `name` of the current generation of the index in `dir` lives: in the
/// codec directory, the (first) segment's directory, or `dir` itself (`CURRENT`, the
/// manifest: name it "manifest").
pub fn locate(dir: &Path, name: &str) -> PathBuf {
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    let manifest_name = current.trim();
    if name == "manifest" {
        return dir.join(manifest_name);
    }
    if name == "CURRENT" {
        return dir.join(name);
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(manifest_name)).unwrap()).unwrap();
    if m["codec_files"].get(name).is_some() {
        return dir.join(m["codec_dir"].as_str().unwrap()).join(name);
    }
    dir.join(m["segments"][0]["name"].as_str().unwrap())
        .join(name)
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
