//! The filter language on a small corpus: every operator, the semantics of missing keys
//! and types, injection attempts, the cache.

use std::sync::Arc;

use serde_json::{json, Value};
use tartan_metadata::{Filter, SegmentStore};

use crate::common::{doc, select, write};

/// 0..=5: a small corpus with every kind of value, and gaps.
fn corpus(dir: &std::path::Path) -> SegmentStore {
    let docs = [
        doc(
            "p1",
            json!({"year": 2019, "source": "pubmed", "tags": ["covid", "vaccine"], "score": 0.5, "open": true}),
            Some("Vaccines against covid reduce transmission."),
        ),
        doc(
            "a1",
            json!({"year": 2021, "source": "arxiv", "tags": [], "open": false, "note": null}),
            Some("Transformers for protein folding."),
        ),
        doc(
            "a2",
            json!({"year": 2023.5, "source": "arxiv", "tags": ["protein"], "score": 1}),
            Some("Protein structure from sequence."),
        ),
        doc("none", json!(null), None),
        doc(
            "s1",
            json!({"year": "2020", "source": "scholar", "open": 1}),
            Some("covid"),
        ),
        doc(
            "b1",
            json!({"year": 2020, "source": "biorxiv", "tags": ["covid"], "date": "2020-03-01"}),
            None,
        ),
    ];
    write(dir, &docs).1
}

#[test]
fn every_operator_selects_what_the_language_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = corpus(dir.path());
    let cases: Vec<(Value, Vec<u32>)> = vec![
        (json!({}), vec![0, 1, 2, 3, 4, 5]),
        // The issue's example.
        (
            json!({"year": {"$gte": 2020}, "source": {"$in": ["pubmed", "arxiv"]}}),
            vec![1, 2],
        ),
        (json!({"source": "arxiv"}), vec![1, 2]),
        (json!({"source": {"$eq": "arxiv"}}), vec![1, 2]),
        // Numbers compare with numbers only: the string "2020" is not 2020.
        (json!({"year": 2020}), vec![5]),
        (json!({"year": "2020"}), vec![4]),
        (json!({"year": 2020.0}), vec![5]),
        (json!({"year": {"$gt": 2020}}), vec![1, 2]),
        (json!({"year": {"$gte": 2020, "$lt": 2023}}), vec![1, 5]),
        (json!({"year": {"$lte": 2019.5}}), vec![0]),
        (json!({"year": {"$lt": "3"}}), vec![4]),
        (
            json!({"date": {"$gte": "2020-01-01", "$lt": "2021-01-01"}}),
            vec![5],
        ),
        // Integers and floats compare as numbers.
        (json!({"score": {"$gt": 0.75}}), vec![2]),
        (json!({"score": {"$in": [1.0, 0.5]}}), vec![0, 2]),
        // Bools are not numbers, and the reverse.
        (json!({"open": true}), vec![0]),
        (json!({"open": false}), vec![1]),
        (json!({"open": 1}), vec![4]),
        (json!({"open": {"$in": [true, 1]}}), vec![0, 4]),
        // null is an explicit value; a missing key is not null.
        (json!({"note": null}), vec![1]),
        (json!({"note": {"$in": [null, "x"]}}), vec![1]),
        (json!({"note": {"$exists": true}}), vec![1]),
        (json!({"note": {"$exists": false}}), vec![0, 2, 3, 4, 5]),
        // $ne and $nin are negations: a missing key matches them.
        (json!({"source": {"$ne": "arxiv"}}), vec![0, 3, 4, 5]),
        (
            json!({"source": {"$nin": ["arxiv", "pubmed"]}}),
            vec![3, 4, 5],
        ),
        (
            json!({"source": {"$exists": true, "$ne": "arxiv"}}),
            vec![0, 4, 5],
        ),
        (json!({"year": {"$ne": 2020}}), vec![0, 1, 2, 3, 4]),
        (json!({"source": {"$in": []}}), vec![]),
        (json!({"source": {"$nin": []}}), vec![0, 1, 2, 3, 4, 5]),
        // Arrays: $contains is membership; $eq and $in look at the elements too.
        (json!({"tags": {"$contains": "covid"}}), vec![0, 5]),
        (json!({"tags": "covid"}), vec![0, 5]),
        (json!({"tags": {"$in": ["protein", "vaccine"]}}), vec![0, 2]),
        (json!({"source": {"$contains": "arxiv"}}), vec![]),
        (json!({"tags": {"$exists": true}}), vec![0, 1, 2, 5]),
        (json!({"tags": {"$ne": "covid"}}), vec![1, 2, 3, 4]),
        (json!({"tags": {"$gt": "q"}}), vec![0]),
        // Logic.
        (
            json!({"$or": [{"source": "pubmed"}, {"year": {"$gt": 2022}}]}),
            vec![0, 2],
        ),
        (
            json!({"$and": [{"source": "arxiv"}, {"year": {"$lt": 2022}}]}),
            vec![1],
        ),
        (json!({"$not": {"source": "arxiv"}}), vec![0, 3, 4, 5]),
        (json!({"year": {"$not": {"$gte": 2020}}}), vec![0, 3, 4]),
        (json!({"$not": {}}), vec![]),
        (
            json!({"$or": [{"$and": [{"tags": "covid"}, {"$not": {"year": 2019}}]}, {"open": 1}]}),
            vec![4, 5],
        ),
        // Full text (porter stemming: "vaccine" finds "Vaccines").
        (json!({"$text": "vaccine"}), vec![0]),
        (json!({"$text": "covid"}), vec![0, 4]),
        (json!({"$text": "COVID transmission"}), vec![0]),
        (json!({"$text": "protein", "source": "arxiv"}), vec![1, 2]),
        (json!({"$text": "protein", "year": {"$gt": 2022}}), vec![2]),
        (json!({"$not": {"$text": "covid"}}), vec![1, 2, 3, 5]),
        (json!({"$text": "\"covid\" OR NEAR(protein"}), vec![]),
        // Keys that no document has.
        (json!({"unknown": 1}), vec![]),
        (json!({"unknown": {"$ne": 1}}), vec![0, 1, 2, 3, 4, 5]),
    ];
    for (filter, expected) in cases {
        assert_eq!(select(&store, filter.clone()), expected, "filter {filter}");
    }
}

#[test]
fn text_filters_on_a_store_without_text_match_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = write(dir.path(), &[doc("a", json!({"k": 1}), None)]);
    assert!(!store.has_text());
    assert_eq!(
        select(&store, json!({"$text": "anything"})),
        Vec::<u32>::new()
    );
    assert_eq!(select(&store, json!({"$not": {"$text": "anything"}})), [0]);
}

#[test]
fn injection_attempts_are_plain_values_and_the_database_stays_intact() {
    let hostile = "x'); DROP TABLE documents;--";
    let quote = "a\"b' OR 1=1 --";
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = write(
        dir.path(),
        &[
            doc("0", json!({hostile: hostile, "k": quote}), Some(hostile)),
            doc(
                "1",
                json!({"k": "plain", "tags": [hostile]}),
                Some("plain words"),
            ),
            doc(hostile, json!({hostile: "other"}), None),
        ],
    );
    let cases: Vec<(Value, Vec<u32>)> = vec![
        (json!({hostile: hostile}), vec![0]),
        (json!({hostile: {"$exists": true}}), vec![0, 2]),
        (json!({hostile: {"$ne": hostile}}), vec![1, 2]),
        (json!({"k": quote}), vec![0]),
        (
            json!({"k": {"$in": [quote, hostile, "1' OR '1'='1"]}}),
            vec![0],
        ),
        (json!({"k": "1' OR '1'='1"}), vec![]),
        (json!({"tags": {"$contains": hostile}}), vec![1]),
        (json!({"$text": hostile}), vec![0]),
        (json!({"$text": "x DROP TABLE"}), vec![0]),
    ];
    for (filter, expected) in cases {
        // The SQL text holds none of the user's strings.
        let compiled = store.compile(&Filter::parse(&filter).expect("valid"));
        assert!(
            !compiled.sql.contains("DROP") && !compiled.sql.contains("1=1"),
            "{}",
            compiled.sql
        );
        assert_eq!(select(&store, filter.clone()), expected, "filter {filter}");
    }
    assert_eq!(store.bm25(hostile, 10).expect("bm25")[0].0, 0);
    // Nothing was dropped or changed.
    assert_eq!(store.count(), 3);
    assert_eq!(store.ordinal_of(hostile).expect("lookup"), Some(2));
    assert_eq!(
        store.metadata(0).expect("read").expect("doc"),
        *json!({hostile: hostile, "k": quote})
            .as_object()
            .expect("object")
    );
}

#[test]
fn repeated_filters_come_from_the_cache_whatever_their_key_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = corpus(dir.path());
    let first: Filter = r#"{"source": "arxiv", "year": {"$gt": 2020}}"#
        .parse()
        .expect("valid");
    let again: Filter = r#"{"year": {"$gt": 2020}, "source": {"$eq": "arxiv"}}"#
        .parse()
        .expect("valid");
    let a = store.evaluate(&first).expect("evaluate");
    assert_eq!(store.cached_filters(), 1);
    let b = store.evaluate(&again).expect("evaluate");
    assert!(Arc::ptr_eq(&a, &b), "the second evaluation is a cache hit");
    assert_eq!(store.cached_filters(), 1);
    assert_eq!(*a, store.evaluate_uncached(&again).expect("evaluate"));
}

#[test]
fn the_cache_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs: Vec<_> = (0..10)
        .map(|i| doc(&format!("d{i}"), json!({"k": i}), None))
        .collect();
    let (path, store) = write(dir.path(), &docs);
    drop(store);
    let store = SegmentStore::open_with(&path, tartan_metadata::StoreOptions { cache_capacity: 3 })
        .expect("open");
    for i in 0..10 {
        let filter: Filter = format!("{{\"k\": {i}}}").parse().expect("valid");
        assert_eq!(store.evaluate(&filter).expect("evaluate").len(), 1);
    }
    assert_eq!(store.cached_filters(), 3);
}
