//! Metadata and filters end to end: `--metadata` beside `--embeddings` for `index` and
//! `add`, `search --filter`, `POST /search` with `"filter"`; malformed filters (exit 2,
//! HTTP 400, naming the offending part); SQL-injection strings as keys and values,
//! which stay plain values (exact matches only, the index intact).

use std::path::Path;

use serde_json::{json, Value};

use super::common::{
    run_err, run_ok, search_args, strs, tartan, with_npy, write_queries, Synthetic,
};
use super::server::{post, start_with};

const DROP_DOCUMENTS: &str = "x'); DROP TABLE documents;--";
const DROP_METADATA: &str = "\" OR 1=1; DROP TABLE metadata;--";

/// Document `d`'s metadata: `bucket` d % 10, `source` one of three (one an injection
/// attempt), `tags`; document 7 also has a key that is an injection attempt.
fn metadata_line(id: &str, d: usize) -> Value {
    let sources = ["pubmed", "arxiv", DROP_DOCUMENTS];
    let mut m = json!({
        "id": id,
        "bucket": d % 10,
        "source": sources[d % 3],
        "tags": if d % 4 == 0 { json!(["four", DROP_METADATA]) } else { json!(["other"]) },
    });
    if d == 7 {
        m[DROP_METADATA] = json!(1);
    }
    m
}

fn write_metadata(path: &Path, ids: &[String], offset: usize) {
    let lines: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(d, id)| metadata_line(id, d + offset).to_string())
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The ids `search --filter FILTER` returns (k 200, exact, JSON output).
fn filtered_ids(index: &Path, queries: &Path, filter: &str) -> Vec<String> {
    let (out, _) = run_ok(&search_args(
        index,
        queries,
        &["--k", "200", "--format", "json", "--filter", filter],
    ));
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    sorted_ids(&v["results"])
}

/// The `id` of each hit in a JSON `results` array, sorted.
fn sorted_ids(results: &Value) -> Vec<String> {
    let mut ids: Vec<String> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn ids_where(n: usize, prefix: &str, keep: impl Fn(usize) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = (0..n)
        .filter(|&d| keep(d))
        .map(|d| format!("{prefix}{d}"))
        .collect();
    ids.sort();
    ids
}

#[test]
fn filters_through_the_cli_and_the_server_with_injection_attempts_as_plain_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(120, 16, 11);
    let (e, l, ids) = data.write(dir.path());
    let metadata = dir.path().join("M.jsonl");
    write_metadata(&metadata, &data.ids, 0);
    let index = dir.path().join("index");
    run_ok(&with_npy(
        &["index"],
        strs([&e, &l, &ids]),
        &[
            "--metadata",
            metadata.to_str().unwrap(),
            "--out",
            index.to_str().unwrap(),
            "--centroids",
            "32",
            "--quiet",
        ],
    ));
    let q = dir.path().join("Q.npy");
    write_queries(&q, &[data.query(3, 6, 1)]);

    // Filters select exactly the matching documents, every one of them (k is larger).
    assert_eq!(
        filtered_ids(&index, &q, r#"{"bucket": 3}"#),
        ids_where(120, "doc-", |d| d % 10 == 3)
    );
    assert_eq!(
        filtered_ids(
            &index,
            &q,
            r#"{"bucket": {"$gte": 8}, "tags": {"$contains": "four"}}"#
        ),
        ids_where(120, "doc-", |d| d % 10 >= 8 && d % 4 == 0)
    );
    // Injection attempts as values, tags and keys: exact matches only.
    let by_value = json!({ "source": DROP_DOCUMENTS }).to_string();
    assert_eq!(
        filtered_ids(&index, &q, &by_value),
        ids_where(120, "doc-", |d| d % 3 == 2)
    );
    let by_tag = json!({ "tags": { "$contains": DROP_METADATA } }).to_string();
    assert_eq!(
        filtered_ids(&index, &q, &by_tag),
        ids_where(120, "doc-", |d| d % 4 == 0)
    );
    let by_key = json!({ DROP_METADATA: 1 }).to_string();
    assert_eq!(filtered_ids(&index, &q, &by_key), ["doc-7"]);
    let near_miss = json!({ "source": "x'); DROP TABLE documents;" }).to_string();
    assert!(filtered_ids(&index, &q, &near_miss).is_empty());

    // A malformed filter is a usage error naming the offending part.
    for (filter, part) in [
        (r#"{"bucket": {"$between": [1, 2]}}"#, "bucket.$between"),
        (
            r#"{"$and": [{"bucket": 1}, {"bucket": {"$gt": true}}]}"#,
            "$and[1].bucket.$gt",
        ),
        ("{bucket: 1}", "JSON"),
    ] {
        let out = run_err(&search_args(&index, &q, &["--filter", filter]));
        assert_eq!(out.status.code(), Some(2), "{filter}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(part), "{filter}: {stderr}");
    }

    // `add` stores the new documents' metadata.
    let more = Synthetic::new(30, 16, 12);
    let sub = dir.path().join("more");
    std::fs::create_dir_all(&sub).unwrap();
    let (e2, l2, ids2) = more.write(&sub);
    let new_ids: Vec<String> = (0..30).map(|d| format!("new-{d}")).collect();
    std::fs::write(&ids2, new_ids.join("\n") + "\n").unwrap();
    let metadata2 = sub.join("M.jsonl");
    write_metadata(&metadata2, &new_ids, 0);
    run_ok(&with_npy(
        &["add", "--index", index.to_str().unwrap()],
        strs([&e2, &l2, &ids2]),
        &["--metadata", metadata2.to_str().unwrap(), "--quiet"],
    ));
    let mut want = ids_where(120, "doc-", |d| d % 10 == 3);
    want.extend(ids_where(30, "new-", |d| d % 10 == 3));
    want.sort();
    assert_eq!(filtered_ids(&index, &q, r#"{"bucket": 3}"#), want);
    // Metadata for an id that is not among the added documents is refused.
    let out = run_err(&with_npy(
        &["add", "--index", index.to_str().unwrap()],
        strs([&e2, &l2, &ids2]),
        &["--metadata", metadata.to_str().unwrap(), "--upsert"],
    ));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not among the documents"));

    // The server: the same filters, the same injection strings, 400 for bad ones.
    let server = start_with(tartan(), &index, &[]);
    let ask = |filter: Value| {
        let (status, reply) = post(
            server.addr,
            &json!({"embeddings": [data.query(3, 6, 1)], "k": 100, "filter": filter}),
        );
        assert_eq!(status, 200, "{reply}");
        sorted_ids(&reply["results"][0]["results"])
    };
    assert_eq!(ask(json!({"bucket": 3})), want);
    assert_eq!(
        ask(json!({ "source": DROP_DOCUMENTS, "bucket": {"$lt": 3} })),
        {
            let mut w = ids_where(120, "doc-", |d| d % 3 == 2 && d % 10 < 3);
            w.extend(ids_where(30, "new-", |d| d % 3 == 2 && d % 10 < 3));
            w.sort();
            w
        }
    );
    assert_eq!(ask(json!({ DROP_METADATA: 1 })), ["doc-7", "new-7"]);
    assert!(ask(json!({"$text": "anything"})).is_empty());
    for (filter, part) in [
        (json!({"bucket": {"$between": [1, 2]}}), "bucket.$between"),
        (json!({"$or": []}), "$or"),
        (json!([1, 2]), "object"),
    ] {
        let (status, reply) = post(
            server.addr,
            &json!({"embeddings": [data.query(3, 6, 1)], "filter": filter}),
        );
        assert_eq!(status, 400, "{reply}");
        let message = reply["error"].as_str().unwrap();
        assert!(message.contains(part), "{message}");
    }
    let (status, reply) = post(
        server.addr,
        &json!({"queries": ["words"], "mode": "lexical"}),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("--store-text"));
    drop(server);

    // Every file intact; an unfiltered search still answers.
    run_ok(&["verify", "--index", index.to_str().unwrap()]);
    assert_eq!(filtered_ids(&index, &q, "{}").len(), 150);
}
