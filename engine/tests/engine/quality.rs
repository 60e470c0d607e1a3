//! Search quality and agreement between the scoring paths, on the synthetic fixture.

use tartan_engine::{Index, SearchParams};

use crate::common::{build_synthetic, fixture, recall, scratch_dir};

#[test]
fn plaid_defaults_lose_at_most_002_recall_at_10_against_the_codec_ceiling() {
    let f = fixture();
    let (mut plaid, mut ceiling, mut overlap) = (0.0, 0.0, 0.0);
    for q in &f.queries {
        let exact = f.index.search_exact(q, 10).unwrap();
        let exhaustive = f.index.search_exhaustive(q, 10).unwrap();
        let hits = f.index.search(q, &SearchParams::for_k(10)).unwrap();
        plaid += recall(&hits, &exact);
        ceiling += recall(&exhaustive, &exact);
        overlap += recall(&hits, &exhaustive);
    }
    let n = f.queries.len() as f64;
    let (plaid, ceiling, overlap) = (plaid / n, ceiling / n, overlap / n);
    eprintln!(
        "recall@10 vs exact uncompressed MaxSim: PLAID {plaid:.3}, exhaustive decompressed {ceiling:.3}; \
         PLAID vs exhaustive decompressed {overlap:.3} ({} centroids, {:.1} bytes/embedding)",
        f.report.num_centroids, f.report.bytes_per_embedding
    );
    assert!(
        ceiling - plaid <= 0.02,
        "PLAID {plaid} vs ceiling {ceiling}"
    );
    assert!(
        overlap >= 0.98,
        "PLAID finds {overlap} of the exhaustive top 10"
    );
}

#[test]
fn implicit_and_explicit_decompression_agree() {
    let f = fixture();
    for (j, q) in f.queries.iter().take(10).enumerate() {
        for doc in (0..f.index.num_documents() as u32).step_by(37) {
            let implicit = f.index.score_implicit(q, doc).unwrap();
            let explicit = f.index.score_explicit(q, doc).unwrap();
            assert!(
                (implicit - explicit).abs() <= 1e-4,
                "query {j} doc {doc}: {implicit} vs {explicit}"
            );
        }
    }
}

#[test]
fn plaid_scores_are_maxsim_of_decompressed_embeddings() {
    let f = fixture();
    for q in f.queries.iter().take(20) {
        for hit in f.index.search(q, &SearchParams::for_k(10)).unwrap() {
            let explicit = f.index.score_explicit(q, hit.doc).unwrap();
            assert!(
                (hit.score - explicit).abs() <= 1e-4,
                "{} vs {explicit}",
                hit.score
            );
        }
    }
}

#[test]
fn without_pruning_plaid_ranks_as_exhaustive_maxsim() {
    let f = fixture();
    let n = f.index.num_documents();
    let params = SearchParams {
        k: 50,
        nprobe: f.index.num_centroids(),
        centroid_score_threshold: f32::NEG_INFINITY,
        ndocs: 4 * n,
    };
    for q in f.queries.iter().take(10) {
        let hits = f.index.search(q, &params).unwrap();
        let exhaustive = f.index.search_exhaustive(q, 50).unwrap();
        assert_eq!(hits, exhaustive);
        // And exhaustive equals explicit decompression, document by document.
        let mut explicit: Vec<(f32, u32)> = (0..n as u32)
            .map(|d| (f.index.score_explicit(q, d).unwrap(), d))
            .collect();
        explicit.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (hit, (score, _)) in hits.iter().zip(&explicit) {
            assert!((hit.score - score).abs() <= 1e-4);
        }
    }
}

#[test]
fn batch_search_equals_single_searches() {
    let f = fixture();
    let params = SearchParams::for_k(100);
    let batch = f.index.search_batch(&f.queries[..16], &params).unwrap();
    for (q, hits) in f.queries[..16].iter().zip(&batch) {
        assert_eq!(&f.index.search(q, &params).unwrap(), hits);
    }
}

#[test]
fn searcher_stages_compose_to_search() {
    let f = fixture();
    let params = SearchParams::for_k(10);
    let mut searcher = f.index.searcher();
    for q in f.queries.iter().take(5) {
        searcher.prepare(q).unwrap();
        let candidates = searcher.candidates(params.nprobe).unwrap();
        let pruned = searcher
            .interaction_pruned(params.centroid_score_threshold, params.ndocs)
            .unwrap();
        let shortlist = searcher.interaction_full(params.ndocs / 4).unwrap();
        assert!(pruned <= candidates.min(params.ndocs));
        assert!(shortlist <= pruned.min(params.ndocs / 4));
        let hits = searcher.rank(10).unwrap();
        assert_eq!(hits, f.index.search(q, &params).unwrap());
        assert_eq!(hits, searcher.search(q, &params).unwrap());
    }
}

#[test]
fn exact_search_finds_the_query_target_document() {
    let f = fixture();
    let found = f
        .queries
        .iter()
        .enumerate()
        .filter(|(j, q)| {
            let target = f.synthetic.query_target(*j) as u32;
            f.index
                .search_exact(q, 10)
                .unwrap()
                .iter()
                .any(|h| h.doc == target)
        })
        .count();
    assert!(
        found >= 90,
        "target in the exact top 10 for {found} of 100 queries"
    );
}

#[test]
fn scalar_codes_score_consistently() {
    let f = fixture();
    let dir = scratch_dir("scalar").join("index");
    let small =
        tartan_engine::synthetic::Synthetic::new(tartan_engine::synthetic::SyntheticConfig {
            docs: 200,
            tokens: 10,
            dim: 128,
            seed: 5,
            ..f.synthetic.config().clone()
        });
    let config = tartan_engine::BuildConfig {
        codec: tartan_engine::CodecKind::Scalar { nbits: 2 },
        num_centroids: Some(64),
        ..Default::default()
    };
    build_synthetic(&small, &dir, config);
    let index = Index::open(&dir).unwrap();
    assert_eq!(
        index.meta().codec,
        tartan_engine::CodecKind::Scalar { nbits: 2 }
    );
    let mut q = Vec::new();
    small.query(0, &mut q);
    for doc in 0..20 {
        let (i, e) = (
            index.score_implicit(&q, doc).unwrap(),
            index.score_explicit(&q, doc).unwrap(),
        );
        assert!((i - e).abs() <= 1e-4, "{i} vs {e}");
    }
    let hits = index.search(&q, &SearchParams::for_k(10)).unwrap();
    assert_eq!(hits.len(), 10);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
    #[test]
    fn any_query_scores_agree(j in 0usize..10_000, tokens in 1usize..40, doc in 0u32..1000) {
        let f = fixture();
        let mut q = Vec::new();
        f.synthetic.query(j, &mut q);
        q.truncate(tokens * 128);
        let implicit = f.index.score_implicit(&q, doc).unwrap();
        let explicit = f.index.score_explicit(&q, doc).unwrap();
        proptest::prop_assert!((implicit - explicit).abs() <= 1e-4);
    }
}

#[test]
fn candidates_grow_with_nprobe_up_to_every_document() {
    let f = fixture();
    let mut searcher = f.index.searcher();
    for q in f.queries.iter().take(5) {
        searcher.prepare(q).unwrap();
        let mut previous = 0;
        for nprobe in [1, 2, 3, 8, 16, 17, 64] {
            let n = searcher.candidates(nprobe).unwrap();
            assert!(n >= previous, "nprobe {nprobe}: {n} < {previous}");
            previous = n;
        }
        let all = searcher.candidates(f.index.num_centroids()).unwrap();
        assert_eq!(all, f.index.num_documents());
    }
}
