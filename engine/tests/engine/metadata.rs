//! Metadata and text in every segment: written by builds, adds, merges and re-training,
//! read back by id, turned into bitmaps by filters, searched with BM25; and filtered
//! search's guarantee (never fewer than `min(k, matching)` hits, no recall lost on a
//! small allowed set).

use roaring::RoaringBitmap;
use serde_json::{json, Map, Value};
use tartan_engine::metadata::Filter;
use tartan_engine::synthetic::Synthetic;
use tartan_engine::{
    BuildConfig, EngineError, Index, IndexBuilder, IndexWriter, NoProgress, SearchParams,
    StoredFields, DIRECT_SCORING_MAX_EMBEDDINGS,
};

use crate::common::{batch, scratch_dir, small_corpus};

/// Document `d`'s metadata: `n` = d, `parity`, `tags` of its divisors among 2, 3, 5.
fn meta(d: usize) -> Map<String, Value> {
    let tags: Vec<&str> = [(2, "two"), (3, "three"), (5, "five")]
        .iter()
        .filter(|(p, _)| d % p == 0)
        .map(|&(_, t)| t)
        .collect();
    let v = json!({"n": d, "parity": if d % 2 == 0 { "even" } else { "odd" }, "tags": tags});
    v.as_object().unwrap().clone()
}

fn text(d: usize) -> String {
    format!(
        "document number{d} about {}",
        ["cats", "dogs", "birds"][d % 3]
    )
}

fn fields(range: std::ops::Range<usize>) -> Vec<StoredFields> {
    range
        .map(|d| StoredFields {
            metadata: Some(meta(d)),
            text: Some(text(d)),
        })
        .collect()
}

fn build(s: &Synthetic, range: std::ops::Range<usize>, dir: &std::path::Path) {
    let config = BuildConfig {
        num_centroids: Some(32),
        keep_embeddings: true,
        ..BuildConfig::default()
    };
    let mut b = IndexBuilder::new(dir, s.dim(), config).unwrap();
    let mut doc = Vec::new();
    for d in range {
        s.document(d, &mut doc);
        b.add_document_with(&s.doc_id(d), &doc, Some(&meta(d)), Some(&text(d)))
            .unwrap();
    }
    b.finish(&NoProgress).unwrap();
}

/// The synthetic number of each document `filter` selects, sorted.
fn selected(index: &Index, s: &Synthetic, filter: &str) -> Vec<usize> {
    let filter: Filter = filter.parse().unwrap();
    let mut found: Vec<usize> = index
        .filter(&filter)
        .unwrap()
        .iter()
        .map(|doc| number_of(s, index.doc_id(doc)))
        .collect();
    found.sort_unstable();
    found
}

fn number_of(s: &Synthetic, id: &str) -> usize {
    (0..s.num_documents()).find(|&d| s.doc_id(d) == id).unwrap()
}

/// Every live document's stored fields agree with what was given for its id.
fn check_fields(index: &Index, s: &Synthetic) {
    for doc in 0..index.num_documents() as u32 {
        if index.is_deleted(doc) {
            continue;
        }
        let d = number_of(s, index.doc_id(doc));
        assert_eq!(index.metadata(doc).unwrap(), meta(d), "document {d}");
        assert_eq!(index.text(doc).unwrap(), Some(text(d)), "document {d}");
    }
}

#[test]
fn metadata_follows_documents_through_adds_deletes_merges_and_retraining() {
    let dir = scratch_dir("metadata-living").join("idx");
    let s = small_corpus(90, 21);
    build(&s, 0..60, &dir);
    let index = Index::open(&dir).unwrap();
    assert!(index.manifest().unwrap().segments[0]
        .files
        .contains_key("metadata.sqlite"));
    check_fields(&index, &s);
    let evens: Vec<usize> = (0..60).step_by(2).collect();
    assert_eq!(selected(&index, &s, r#"{"parity": "even"}"#), evens);
    assert_eq!(
        selected(&index, &s, r#"{"n": {"$gte": 10, "$lt": 13}}"#),
        [10, 11, 12]
    );
    drop(index);

    let mut w = IndexWriter::open(&dir).unwrap();
    let (ids, e, l) = batch(&s, 60..90);
    let r = w
        .add_with(&ids, &e, &l, &fields(60..90), false, &NoProgress)
        .unwrap();
    assert_eq!(r.added, 30);
    // Deleted documents leave every filter's result.
    w.delete(&[s.doc_id(0), s.doc_id(62)]).unwrap();
    let index = w.index();
    check_fields(index, &s);
    let want: Vec<usize> = (0..90).filter(|d| d % 30 == 0 && *d != 0).collect();
    assert_eq!(
        selected(
            index,
            &s,
            r#"{"$and": [{"tags": {"$contains": "five"}}, {"tags": "three"}], "parity": "even"}"#
        ),
        want
    );
    assert_eq!(selected(index, &s, r#"{"n": {"$in": [0, 62, 63]}}"#), [63]);
    assert_eq!(
        index.filter(&Filter::all()).unwrap().len() as usize,
        index.num_live_documents()
    );
    // BM25 over the text of both segments, deleted documents never returned.
    let hits = index.bm25("number62 number63 cats", 100, None).unwrap();
    assert_eq!(number_of(&s, index.doc_id(hits[0].doc)), 63);
    assert!(hits.iter().all(|h| !index.is_deleted(h.doc)));
    assert_eq!(hits.len(), 89 / 3 + 1 - 1); // every "cats" document (d % 3 == 0) but 0
    let allowed = index
        .filter(&r#"{"n": {"$lt": 30}}"#.parse().unwrap())
        .unwrap();
    let within = index.bm25("cats", 100, Some(&allowed)).unwrap();
    assert_eq!(within.len(), 9); // 3, 6, ..., 27
    assert!(within.iter().all(|h| allowed.contains(h.doc)));

    // Merging copies the kept rows in their new order.
    w.optimize().unwrap();
    let index = w.index();
    assert_eq!(index.num_segments(), 1);
    assert_eq!(index.num_documents(), 88);
    check_fields(index, &s);
    index.verify(&|_| {}).unwrap();
    assert_eq!(
        selected(index, &s, r#"{"$text": "dogs", "n": {"$gte": 80}}"#),
        [82, 85, 88]
    );

    // Re-training rewrites the segment, rows included.
    w.retrain(&BuildConfig::default(), &NoProgress).unwrap();
    check_fields(w.index(), &s);
    w.index().verify(&|_| {}).unwrap();

    // Re-training on given embeddings (as re-encoded texts would be): counts that do
    // not match the live documents are refused and commit nothing.
    let index = w.index();
    let (mut all, mut lens) = (Vec::new(), Vec::new());
    for doc in index.live_documents() {
        let rows = index.document_embeddings(doc).unwrap();
        lens.push(rows.len() / index.dim());
        all.extend_from_slice(rows);
    }
    let generation = index.generation();
    let err = w
        .retrain_from(&all, &lens[1..], &BuildConfig::default(), &NoProgress)
        .unwrap_err();
    assert!(
        err.to_string().contains("88 live documents, got 87"),
        "{err}"
    );
    let err = w
        .retrain_from(&all[1..], &lens, &BuildConfig::default(), &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("values were given"), "{err}");
    let mut bad = all.clone();
    bad[5] = f32::NAN;
    assert!(w
        .retrain_from(&bad, &lens, &BuildConfig::default(), &NoProgress)
        .is_err());
    assert_eq!(w.index().generation(), generation);
    w.retrain_from(&all, &lens, &BuildConfig::default(), &NoProgress)
        .unwrap();
    assert_eq!(w.index().generation(), generation + 1);
    assert!(!w.index().has_embeddings()); // kept only when the config says so
    check_fields(w.index(), &s);
    w.index().verify(&|_| {}).unwrap();
}

#[test]
fn invalid_metadata_is_refused_naming_the_document_and_nothing_is_committed() {
    let dir = scratch_dir("metadata-invalid").join("idx");
    let s = small_corpus(30, 21);
    build(&s, 0..20, &dir);
    let mut w = IndexWriter::open(&dir).unwrap();
    let (ids, e, l) = batch(&s, 20..30);
    let mut f = fields(20..30);
    f[3].metadata = Some(json!({"nested": {"a": 1}}).as_object().unwrap().clone());
    let err = w
        .add_with(&ids, &e, &l, &f, false, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, EngineError::Metadata(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&s.doc_id(23)) && message.contains("nested"),
        "{message}"
    );
    let err = w
        .add_with(&ids, &e, &l, &f[..4], false, &NoProgress)
        .unwrap_err();
    assert!(
        err.to_string().contains("4 metadata/text entries for 10"),
        "{err}"
    );
    assert_eq!(w.index().num_documents(), 20);
    drop(w);
    // The builder refuses the document and stays usable.
    let config = BuildConfig {
        num_centroids: Some(8),
        ..BuildConfig::default()
    };
    let mut b = IndexBuilder::new(&dir.with_extension("b"), s.dim(), config).unwrap();
    let mut doc = Vec::new();
    s.document(0, &mut doc);
    let bad = json!({"k": [1, 2]});
    let err = b
        .add_document_with("x", &doc, bad.as_object(), None)
        .unwrap_err();
    assert!(err.to_string().contains("`x`"), "{err}");
    b.add_document_with("x", &doc, Some(&meta(0)), None)
        .unwrap();
    assert_eq!(b.num_documents(), 1);
}

#[test]
fn documents_without_a_store_match_as_documents_without_metadata() {
    // An index written before metadata existed: its segment lists no metadata.sqlite.
    let dir = scratch_dir("metadata-absent").join("idx");
    let s = small_corpus(40, 21);
    build(&s, 0..30, &dir);
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    let manifest_path = dir.join(current.trim());
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let seg = manifest["segments"][0]["name"].as_str().unwrap().to_owned();
    manifest["segments"][0]["files"]
        .as_object_mut()
        .unwrap()
        .remove("metadata.sqlite");
    std::fs::remove_file(dir.join(&seg).join("metadata.sqlite")).unwrap();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let index = Index::open(&dir).unwrap();
    index.verify(&|_| {}).unwrap();
    assert_eq!(index.metadata(3).unwrap(), Map::new());
    assert_eq!(index.text(3).unwrap(), None);
    assert!(!index.has_text());
    assert_eq!(selected(&index, &s, "{}").len(), 30);
    assert_eq!(selected(&index, &s, r#"{"n": {"$ne": 3}}"#).len(), 30);
    assert_eq!(selected(&index, &s, r#"{"n": 3}"#), Vec::<usize>::new());
    assert_eq!(
        selected(&index, &s, r#"{"$text": "cats"}"#),
        Vec::<usize>::new()
    );
    drop(index);
    // New segments carry metadata; a merge gives the old documents ids only.
    let mut w = IndexWriter::open(&dir).unwrap();
    let (ids, e, l) = batch(&s, 30..40);
    w.add_with(&ids, &e, &l, &fields(30..40), false, &NoProgress)
        .unwrap();
    assert_eq!(
        selected(w.index(), &s, r#"{"n": {"$exists": false}}"#),
        (0..30).collect::<Vec<_>>()
    );
    w.optimize().unwrap();
    let index = w.index();
    assert_eq!(
        selected(index, &s, r#"{"n": {"$gte": 35}}"#),
        [35, 36, 37, 38, 39]
    );
    assert_eq!(
        selected(index, &s, r#"{"n": {"$exists": false}}"#).len(),
        30
    );
    index.verify(&|_| {}).unwrap();
}

/// Filtered PLAID search against the exhaustive ranking restricted to the allowed set.
fn check_filtered(index: &Index, query: &[f32], allowed: &RoaringBitmap, k: usize) {
    let params = SearchParams::for_k(k);
    let hits = index.search_within(query, &params, allowed).unwrap();
    let live: Vec<u32> = allowed
        .iter()
        .filter(|&d| !index.is_deleted(d) && index.doc_len(d).unwrap_or(0) > 0)
        .collect();
    assert_eq!(
        hits.len(),
        k.min(live.len()),
        "k {k}, {} allowed",
        live.len()
    );
    assert!(hits.iter().all(|h| live.contains(&h.doc)));
    let small = live
        .iter()
        .map(|&d| index.doc_len(d).unwrap())
        .sum::<usize>()
        <= DIRECT_SCORING_MAX_EMBEDDINGS;
    if small {
        // Scored directly: exactly the codec's top-k over the allowed documents.
        let all = index
            .search_exhaustive(query, index.num_documents())
            .unwrap();
        let want: Vec<u32> = all
            .iter()
            .filter(|h| allowed.contains(h.doc))
            .take(k)
            .map(|h| h.doc)
            .collect();
        let got: Vec<u32> = hits.iter().map(|h| h.doc).collect();
        assert_eq!(got, want);
    }
}

mod filtered_search {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn index() -> &'static (Synthetic, Index) {
        static INDEX: OnceLock<(Synthetic, Index)> = OnceLock::new();
        INDEX.get_or_init(|| {
            let dir = scratch_dir("metadata-filtered").join("idx");
            // About 20,000 embeddings: broad sets take the PLAID path, small ones are
            // scored directly.
            let s = small_corpus(2000, 21);
            build(&s, 0..2000, &dir);
            let mut w = IndexWriter::open(&dir).unwrap();
            let gone: Vec<String> = (0..2000).step_by(7).map(|d| s.doc_id(d)).collect();
            w.delete(&gone).unwrap();
            drop(w);
            (s, Index::open(&dir).unwrap())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

        /// Any allowed set, any k: `min(k, allowed live documents)` hits, all allowed;
        /// a small set gives exactly the exhaustive top-k within it.
        #[test]
        fn never_fewer_than_min_k_matching(
            docs in proptest::collection::btree_set(0u32..420, 0..60),
            k in 1usize..40,
            q in 0usize..20,
        ) {
            let (s, index) = index();
            let allowed: RoaringBitmap = docs.into_iter().collect();
            let query = &s.queries(20)[q];
            check_filtered(index, query, &allowed, k);
        }

        /// Broad sets (strided ranges, up to every document): the PLAID path too.
        #[test]
        fn never_fewer_than_min_k_matching_on_broad_sets(
            lo in 0u32..2000,
            len in 0u32..2100,
            step in 1usize..4,
            k in 1usize..40,
            q in 0usize..20,
        ) {
            let (s, index) = index();
            let allowed: RoaringBitmap = (lo..lo + len).step_by(step).collect();
            let query = &s.queries(20)[q];
            check_filtered(index, query, &allowed, k);
        }
    }

    /// Filters of every selectivity, through `Index::filter`.
    #[test]
    fn filters_of_every_selectivity() {
        let (s, index) = index();
        let queries = s.queries(10);
        for filter in [
            "{}",
            r#"{"parity": "odd"}"#,
            r#"{"tags": {"$contains": "five"}}"#,
            r#"{"n": {"$lt": 12}}"#,
            r#"{"n": {"$lt": 1500}}"#,
            r#"{"n": 1999}"#,
            r#"{"n": 7}"#,
        ] {
            let allowed = index.filter(&filter.parse().unwrap()).unwrap();
            for q in &queries {
                for k in [1, 10, 50] {
                    check_filtered(index, q, &allowed, k);
                }
            }
        }
    }
}
