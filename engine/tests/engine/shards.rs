//! A codec trained once (`train_codec`), shards built with it (`BuildConfig::codec_dir`)
//! and searched together (`ShardSet`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{
    recall, train_codec, BuildConfig, EngineError, Index, IndexBuilder, NoProgress, SearchHit,
    SearchParams, ShardSet, CODEC_RECORD,
};

use crate::common::scratch_dir;

fn corpus() -> Synthetic {
    Synthetic::new(SyntheticConfig {
        docs: 400,
        tokens: 16,
        dim: 32,
        seed: 5,
        ..SyntheticConfig::default()
    })
}

/// Builds documents `docs` of `synthetic` at `dir` with the codec in `codec_dir`.
fn build_part(synthetic: &Synthetic, docs: std::ops::Range<usize>, dir: &Path, codec_dir: &Path) {
    let config = BuildConfig {
        codec_dir: Some(codec_dir.to_path_buf()),
        ..BuildConfig::default()
    };
    let mut builder = IndexBuilder::new(dir, synthetic.dim(), config).unwrap();
    let mut doc = Vec::new();
    for d in docs {
        synthetic.document(d, &mut doc);
        builder.add_document(&synthetic.doc_id(d), &doc).unwrap();
    }
    builder.finish(&NoProgress).unwrap();
}

/// A codec trained on every third document, the whole corpus built with it, and four
/// shards of it built with it: (single index, shard dirs, codec dir).
fn single_and_shards(name: &str) -> (Index, Vec<PathBuf>, PathBuf, Synthetic) {
    let synthetic = corpus();
    let dir = scratch_dir(name);
    let (embeddings, lens) = synthetic.all_documents();
    let dim = synthetic.dim();
    let mut sample = Vec::new();
    let mut at = 0;
    for (d, len) in lens.iter().enumerate() {
        if d % 3 == 0 {
            sample.extend_from_slice(&embeddings[at * dim..(at + len) * dim]);
        }
        at += len;
    }
    let codec_dir = dir.join("codec");
    let config = BuildConfig {
        num_centroids: Some(64),
        ..BuildConfig::default()
    };
    let report = train_codec(&sample, dim, &codec_dir, &config, &NoProgress).unwrap();
    assert_eq!(report.num_centroids, 64);
    assert!(codec_dir.join(CODEC_RECORD).is_file());

    build_part(&synthetic, 0..400, &dir.join("single"), &codec_dir);
    let shards: Vec<PathBuf> = (0..4)
        .map(|s| {
            let path = dir.join(format!("shard-{s}"));
            build_part(&synthetic, s * 100..(s + 1) * 100, &path, &codec_dir);
            path
        })
        .collect();
    let single = Index::open(&dir.join("single")).unwrap();
    assert_eq!(single.num_centroids(), 64);
    (single, shards, codec_dir, synthetic)
}

#[test]
fn shards_from_one_codec_merge_to_the_single_index() {
    let (single, shard_dirs, _, synthetic) = single_and_shards("merge");
    let set = ShardSet::open(&shard_dirs).unwrap();
    assert_eq!(set.num_documents(), 400);
    assert_eq!(
        set.shards()[2].codec_fingerprint(),
        single.codec_fingerprint()
    );
    let queries = synthetic.queries(40);
    let k = 10;
    let mut single_recall = 0.0;
    let mut merged_recall = 0.0;
    let number: HashMap<&str, u32> = (0..single.num_documents() as u32)
        .map(|d| (single.doc_id(d), d))
        .collect();
    for q in &queries {
        // Exhaustive: the codec's exact top-k, identical ids and scores.
        let want = single.search_exhaustive(q, k).unwrap();
        let got = set.search_exhaustive(q, k).unwrap();
        let want: Vec<(&str, f32)> = want
            .iter()
            .map(|h| (single.doc_id(h.doc), h.score))
            .collect();
        let got: Vec<(&str, f32)> = got.iter().map(|h| (set.doc_id(h), h.score)).collect();
        assert_eq!(got, want);

        // PLAID at defaults: the merged shards recover at least the single index's
        // share of the exhaustive top-k (each shard ranks its own candidates).
        let truth = single.search_exhaustive(q, k).unwrap();
        let params = SearchParams::for_k(k);
        single_recall += recall(&single.search(q, &params).unwrap(), &truth);
        let merged: Vec<SearchHit> = set
            .search(q, &params)
            .unwrap()
            .iter()
            .map(|h| SearchHit {
                doc: number[set.doc_id(h)],
                score: h.score,
            })
            .collect();
        merged_recall += recall(&merged, &truth);
    }
    assert!(
        merged_recall >= single_recall,
        "merged recall {merged_recall} below the single index's {single_recall}"
    );
    let batch = set.search_batch(&queries, &SearchParams::for_k(k)).unwrap();
    assert_eq!(batch.len(), queries.len());
    assert_eq!(
        batch[3],
        set.search(&queries[3], &SearchParams::for_k(k)).unwrap()
    );
}

#[test]
fn shards_of_different_codecs_or_dims_are_refused() {
    let (_, shard_dirs, _, synthetic) = single_and_shards("refuse");
    let dir = scratch_dir("refuse-other");
    let other = dir.join("own-codec");
    let mut builder = IndexBuilder::new(&other, synthetic.dim(), BuildConfig::default()).unwrap();
    let mut doc = Vec::new();
    for d in 0..100 {
        synthetic.document(d, &mut doc);
        builder.add_document(&synthetic.doc_id(d), &doc).unwrap();
    }
    builder.finish(&NoProgress).unwrap();
    let err = ShardSet::open(&[shard_dirs[0].clone(), other.clone()]).unwrap_err();
    assert!(
        matches!(err, EngineError::IncompatibleShards { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("different codecs"), "{err}");
    let none: [PathBuf; 0] = [];
    assert!(matches!(
        ShardSet::open(&none).unwrap_err(),
        EngineError::IncompatibleShards { .. }
    ));
}

#[test]
fn codec_directories_are_checked() {
    let (_, _, codec_dir, synthetic) = single_and_shards("checked");
    let dim = synthetic.dim();
    let (embeddings, _) = synthetic.all_documents();
    // An existing directory is not replaced without overwrite, and a directory that is
    // not a codec directory never.
    let config = BuildConfig {
        num_centroids: Some(16),
        ..BuildConfig::default()
    };
    let err = train_codec(&embeddings, dim, &codec_dir, &config, &NoProgress).unwrap_err();
    assert!(matches!(err, EngineError::TargetExists { .. }), "{err}");
    let replaced = train_codec(
        &embeddings,
        dim,
        &codec_dir,
        &BuildConfig {
            overwrite: true,
            ..config.clone()
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(replaced.num_centroids, 16);
    let foreign = scratch_dir("checked-foreign");
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let err = train_codec(
        &embeddings,
        dim,
        &foreign,
        &BuildConfig {
            overwrite: true,
            ..config.clone()
        },
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a codec directory"), "{err}");
    assert!(foreign.join("notes.txt").is_file());

    let build = |codec: &Path, dim: usize| {
        let out = scratch_dir("checked-out").join("index");
        let config = BuildConfig {
            codec_dir: Some(codec.to_path_buf()),
            ..BuildConfig::default()
        };
        let mut builder = IndexBuilder::new(&out, dim, config)?;
        builder.add_document("a", &vec![1.0 / (dim as f32).sqrt(); dim])?;
        builder.finish(&NoProgress)
    };
    // A missing directory, a foreign one, another dimension, a damaged file: each a
    // clear error, and nothing built.
    let err = build(&foreign.join("nope"), dim).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = build(&foreign, dim).unwrap_err();
    assert!(err.to_string().contains("not a codec directory"), "{err}");
    let err = build(&codec_dir, 16).unwrap_err();
    assert!(err.to_string().contains("32-dim"), "{err}");
    let centroids = codec_dir.join("centroids.npy");
    let mut bytes = std::fs::read(&centroids).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&centroids, bytes).unwrap();
    let err = build(&codec_dir, dim).unwrap_err();
    assert!(matches!(err, EngineError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("centroids.npy"), "{err}");
}
