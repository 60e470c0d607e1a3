//! Edge cases of building and searching, each with defined behaviour or a clear error.

use tartan_engine::{BuildConfig, EngineError, Index, IndexBuilder, NoProgress, SearchParams};

use crate::common::{fixture, scratch_dir, small_index};

#[test]
fn k_zero_and_k_beyond_the_corpus() {
    let f = fixture();
    let q = &f.queries[0];
    assert!(f
        .index
        .search(q, &SearchParams::for_k(0))
        .unwrap()
        .is_empty());
    assert!(f.index.search_exact(q, 0).unwrap().is_empty());
    let n = f.index.num_documents();
    let all = f.index.search_exact(q, n + 50).unwrap();
    assert_eq!(all.len(), n);
    let hits = f.index.search(q, &SearchParams::for_k(n + 50)).unwrap();
    assert!(!hits.is_empty() && hits.len() <= n);
    let mut docs: Vec<u32> = hits.iter().map(|h| h.doc).collect();
    docs.sort_unstable();
    docs.dedup();
    assert_eq!(docs.len(), hits.len(), "no document twice");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn bad_queries_are_clear_errors() {
    let f = fixture();
    let p = SearchParams::for_k(10);
    assert!(matches!(
        f.index.search(&[], &p),
        Err(EngineError::EmptyQuery)
    ));
    assert!(matches!(
        f.index.search_exact(&[], 10),
        Err(EngineError::EmptyQuery)
    ));
    assert!(matches!(
        f.index.search(&[0.1; 100], &p),
        Err(EngineError::DimensionMismatch {
            expected: 128,
            found: 100,
            ..
        })
    ));
    let mut q = f.queries[0].clone();
    q[130] = f32::NAN;
    assert!(matches!(
        f.index.search(&q, &p),
        Err(EngineError::NonFinite {
            row: 1,
            column: 2,
            ..
        })
    ));
    let zero_probe = SearchParams { nprobe: 0, ..p };
    assert!(matches!(
        f.index.search(&f.queries[0], &zero_probe),
        Err(EngineError::InvalidConfig { .. })
    ));
}

#[test]
fn empty_corpus_is_an_error_and_leaves_nothing() {
    let base = scratch_dir("empty_corpus");
    let builder = IndexBuilder::new(&base.join("index"), 8, BuildConfig::default()).unwrap();
    assert!(matches!(
        builder.finish(&NoProgress),
        Err(EngineError::EmptyCorpus)
    ));
    let mut builder = IndexBuilder::new(&base.join("index"), 8, BuildConfig::default()).unwrap();
    builder.add_document("only-empty", &[]).unwrap();
    assert!(matches!(
        builder.finish(&NoProgress),
        Err(EngineError::EmptyCorpus)
    ));
    assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
}

#[test]
fn documents_without_embeddings_keep_their_place_and_never_match() {
    let dir = scratch_dir("zero_docs").join("index");
    let mut builder = IndexBuilder::new(
        &dir,
        4,
        BuildConfig {
            num_centroids: Some(2),
            keep_embeddings: true,
            ..BuildConfig::default()
        },
    )
    .unwrap();
    builder.add_document("empty-first", &[]).unwrap();
    builder
        .add_document("x", &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
        .unwrap();
    builder.add_document("empty-middle", &[]).unwrap();
    builder.add_document("y", &[0.0, 0.0, 1.0, 0.0]).unwrap();
    let report = builder.finish(&NoProgress).unwrap();
    assert_eq!((report.num_documents, report.num_embeddings), (4, 3));
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.meta().empty_documents, 2);
    assert_eq!(index.doc_len(0), Some(0));
    assert_eq!(index.doc_id(2), "empty-middle");
    let q = [0.5, 0.5, 0.5, 0.5];
    let everything = SearchParams {
        k: 10,
        nprobe: 2,
        centroid_score_threshold: f32::NEG_INFINITY,
        ndocs: 100,
    };
    for hits in [
        index.search(&q, &everything).unwrap(),
        index.search_exact(&q, 10).unwrap(),
        index.search_exhaustive(&q, 10).unwrap(),
    ] {
        let docs: Vec<u32> = hits.iter().map(|h| h.doc).collect();
        assert_eq!(docs.len(), 2);
        assert!(docs.contains(&1) && docs.contains(&3));
    }
    assert_eq!(index.score_explicit(&q, 0).unwrap(), 0.0);
}

#[test]
fn bad_documents_are_rejected_where_they_are_added() {
    let base = scratch_dir("bad_docs");
    let mut builder = IndexBuilder::new(&base.join("index"), 4, BuildConfig::default()).unwrap();
    assert!(matches!(
        builder.add_document("a", &[1.0; 6]),
        Err(EngineError::DimensionMismatch {
            expected: 4,
            found: 6,
            ..
        })
    ));
    let err = builder
        .add_document("b", &[1.0, 0.0, 0.0, 0.0, 0.0, f32::INFINITY, 0.0, 0.0])
        .unwrap_err();
    assert!(
        matches!(
            &err,
            EngineError::NonFinite {
                row: 1,
                column: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"b\""), "{err}");
    builder.add_document("dup", &[1.0, 0.0, 0.0, 0.0]).unwrap();
    // A repeated id is refused when added (the segment's store has one row an id).
    assert!(matches!(
        builder.add_document("dup", &[0.0, 1.0, 0.0, 0.0]),
        Err(EngineError::DuplicateId { id }) if id == "dup"
    ));
}

#[test]
fn invalid_configurations_are_refused_up_front() {
    let dir = scratch_dir("bad_config").join("index");
    for (dim, config) in [
        (0, BuildConfig::default()),
        (
            12,
            BuildConfig {
                codec: tartan_engine::CodecKind::Product { nbits: 3 },
                ..BuildConfig::default()
            },
        ),
        (
            8,
            BuildConfig {
                chunk_size: 0,
                ..BuildConfig::default()
            },
        ),
    ] {
        assert!(matches!(
            IndexBuilder::new(&dir, dim, config),
            Err(EngineError::InvalidConfig { .. })
        ));
    }
    let mut builder = IndexBuilder::new(
        &dir,
        4,
        BuildConfig {
            num_centroids: Some(5),
            ..BuildConfig::default()
        },
    )
    .unwrap();
    builder.add_document("a", &[1.0, 0.0, 0.0, 0.0]).unwrap();
    assert!(matches!(
        builder.finish(&NoProgress),
        Err(EngineError::InvalidConfig { .. })
    ));
}

#[test]
fn exact_search_needs_kept_embeddings() {
    let dir = scratch_dir("no_kept").join("index");
    small_index(&dir, BuildConfig::default());
    let index = Index::open(&dir).unwrap();
    assert!(!index.has_embeddings());
    assert!(matches!(
        index.search_exact(&[0.1; 16], 3),
        Err(EngineError::NoEmbeddings)
    ));
    assert!(!dir.join("embeddings.npy").exists());
}

#[test]
fn tiny_corpora_build_with_default_settings() {
    let dir = scratch_dir("tiny").join("index");
    let mut builder = IndexBuilder::new(&dir, 8, BuildConfig::default()).unwrap();
    // One unit-norm embedding.
    let unit = [8f32.sqrt().recip(); 8];
    builder.add_document("one", &unit).unwrap();
    let report = builder.finish(&NoProgress).unwrap();
    assert_eq!(report.num_centroids, 1);
    let index = Index::open(&dir).unwrap();
    let hits = index.search(&unit, &SearchParams::for_k(10)).unwrap();
    assert_eq!(hits.len(), 1);
    assert!((hits[0].score - index.score_explicit(&unit, 0).unwrap()).abs() < 1e-4);
}
