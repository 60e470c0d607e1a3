//! BM25 over stored text: ranking, restriction to allowed documents, and its quality on
//! SciFact (the shared data set) as a check that the FTS5 setup is sound.

use std::collections::{HashMap, HashSet};

use roaring::RoaringBitmap;
use serde_json::{json, Value};

use crate::common::{doc, shared_dir, write};

#[test]
fn more_occurrences_rank_higher_and_scores_are_higher_is_better() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = write(
        dir.path(),
        &[
            doc(
                "once",
                json!(null),
                Some("a study of mice and a study of men"),
            ),
            doc("none", json!(null), Some("nothing relevant here at all")),
            doc("many", json!(null), Some("mice mice mice studied")),
            doc("untexted", json!(null), None),
            doc("other", json!(null), Some("men only")),
        ],
    );
    let hits = store.bm25("MICE", 10).expect("bm25");
    let ordinals: Vec<u32> = hits.iter().map(|h| h.0).collect();
    assert_eq!(ordinals, [2, 0]);
    assert!(hits[0].1 > hits[1].1 && hits[1].1 > 0.0, "{hits:?}");
    // Any word matches; the porter stemmer joins "studies" and "study".
    let ordinals: Vec<u32> = store
        .bm25("studies men", 10)
        .expect("bm25")
        .iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(ordinals.len(), 3);
    assert!(ordinals.contains(&4) && ordinals.contains(&0) && ordinals.contains(&2));
    assert_eq!(store.bm25("mice", 1).expect("bm25").len(), 1);
    assert!(store.bm25("mice", 0).expect("bm25").is_empty());
    assert!(store.bm25("zebra", 10).expect("bm25").is_empty());
    assert!(store.bm25("  -- ** ", 10).expect("bm25").is_empty());
    // FTS5 syntax is plain words, never a syntax error.
    for query in [
        "\"unbalanced",
        "mice NEAR(men",
        "text: mice",
        "^mice*",
        "AND OR NOT",
        "a:b(c)",
    ] {
        store
            .bm25(query, 10)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}

#[test]
fn a_restriction_returns_the_best_allowed_documents_and_never_fewer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs: Vec<_> = (0..50)
        .map(|i| {
            let text = format!("{} filler", "term ".repeat(i % 7 + 1));
            doc(&format!("d{i}"), json!({"even": i % 2 == 0}), Some(&text))
        })
        .collect();
    let (_, store) = write(dir.path(), &docs);
    let even = store
        .evaluate(&r#"{"even": true}"#.parse().expect("filter"))
        .expect("evaluate");
    let within = store.bm25_within("term", 10, Some(&even)).expect("bm25");
    assert_eq!(within.len(), 10);
    assert!(within.iter().all(|(o, _)| o % 2 == 0));
    // The same as the unrestricted full list, filtered.
    let all = store.bm25("term", 50).expect("bm25");
    let expected: Vec<(u32, f32)> = all
        .into_iter()
        .filter(|(o, _)| even.contains(*o))
        .take(10)
        .collect();
    assert_eq!(within, expected);
    let one = RoaringBitmap::from_iter([49]);
    assert_eq!(
        store
            .bm25_within("term", 10, Some(&one))
            .expect("bm25")
            .len(),
        1
    );
}

#[test]
fn a_store_without_text_has_no_lexical_hits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = write(dir.path(), &[doc("a", json!({"k": "mice"}), None)]);
    assert!(store.bm25("mice", 10).expect("bm25").is_empty());
}

fn read_jsonl(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect()
}

/// BEIR reports nDCG@10 = 0.665 for BM25 (Elasticsearch) on SciFact. FTS5's BM25 with
/// the porter stemmer over title and abstract lands close; a broken tokenizer, query
/// quoting or score sign would not.
#[test]
fn bm25_on_scifact_is_in_the_range_beir_reports() {
    let Some(shared) = shared_dir("bm25_on_scifact_is_in_the_range_beir_reports") else {
        return;
    };
    let scifact = shared.join("datasets/scifact");
    let corpus = read_jsonl(&scifact.join("corpus.jsonl"));
    let docs: Vec<_> = corpus
        .iter()
        .map(|d| {
            let text = format!(
                "{} {}",
                d["title"].as_str().unwrap_or(""),
                d["text"].as_str().unwrap_or("")
            );
            doc(d["_id"].as_str().expect("id"), json!(null), Some(&text))
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = write(dir.path(), &docs);
    let queries: HashMap<String, String> = read_jsonl(&scifact.join("queries.jsonl"))
        .into_iter()
        .map(|q| {
            (
                q["_id"].as_str().expect("id").to_owned(),
                q["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect();
    let mut relevant: HashMap<String, HashSet<String>> = HashMap::new();
    for line in std::fs::read_to_string(scifact.join("qrels/test.tsv"))
        .expect("qrels")
        .lines()
        .skip(1)
    {
        let fields: Vec<&str> = line.split('\t').collect();
        relevant
            .entry(fields[0].to_owned())
            .or_default()
            .insert(fields[1].to_owned());
    }
    let mut total = 0.0;
    for (query, relevant) in &relevant {
        let hits = store.bm25(&queries[query], 10).expect("bm25");
        let dcg: f64 = hits
            .iter()
            .enumerate()
            .filter(|(_, (ordinal, _))| relevant.contains(&docs[*ordinal as usize].id))
            .map(|(rank, _)| 1.0 / (rank as f64 + 2.0).log2())
            .sum();
        let ideal: f64 = (0..relevant.len().min(10))
            .map(|r| 1.0 / (r as f64 + 2.0).log2())
            .sum();
        total += dcg / ideal;
    }
    let ndcg = total / relevant.len() as f64;
    eprintln!(
        "SciFact BM25 nDCG@10 over {} test queries: {ndcg:.4}",
        relevant.len()
    );
    assert!(ndcg > 0.65, "nDCG@10 {ndcg:.4}");
}
