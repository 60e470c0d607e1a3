//! The living index from the command line: add, delete, optimize, stats, verify.

use super::common::{
    run_err, run_ok, stats, strs, synthetic_index, with_npy, write_queries, Synthetic,
};

fn top_id(index: &str, q: &std::path::Path) -> String {
    let (stdout, _) = run_ok(&[
        "search",
        "--index",
        index,
        "--query-embeddings",
        q.to_str().unwrap(),
        "--k",
        "3",
        "--format",
        "json",
    ]);
    let line: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    line["results"][0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn add_delete_optimize_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let first = Synthetic::new(150, 32, 3);
    let index = synthetic_index(dir.path(), &first);
    let idx = index.to_str().unwrap();

    // A batch sharing ids with the index: refused whole, naming the id.
    let batch_dir = dir.path().join("batch");
    std::fs::create_dir_all(&batch_dir).unwrap();
    let mut second = Synthetic::new(40, 32, 4);
    let (e, l, ids) = second.write(&batch_dir);
    let (e, l, ids) = (
        e.to_str().unwrap(),
        l.to_str().unwrap(),
        ids.to_str().unwrap(),
    );
    let out = run_err(&with_npy(&["add", "--index", idx], [e, l, ids], &[]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("doc-0"));
    assert_eq!(stats(idx)["generation"], 1);

    // New ids: one commit, one more segment.
    second.ids = (0..40).map(|d| format!("new-{d}")).collect();
    second.write(&batch_dir);
    run_ok(&with_npy(
        &["add", "--index", idx],
        [e, l, ids],
        &["--quiet"],
    ));
    let s = stats(idx);
    assert_eq!(
        (s["generation"].as_u64(), s["documents"].as_u64()),
        (Some(2), Some(190))
    );
    assert_eq!(s["segments"].as_array().unwrap().len(), 2);
    assert!(s["drift"]["added_share"].as_f64().unwrap() > 0.1);
    let q = dir.path().join("Q.npy");
    write_queries(&q, &[second.query(17, 8, 99)]);
    assert_eq!(top_id(idx, &q), "new-17");

    // Deletes: unknown ids are counted, deleted documents never come back.
    let (_, stderr) = run_ok(&["delete", "--index", idx, "new-17", "doc-5", "no-such-id"]);
    assert!(
        stderr.contains("deleted 2 documents (1 unknown ids)"),
        "{stderr}"
    );
    assert_ne!(top_id(idx, &q), "new-17");
    assert_eq!(stats(idx)["deleted"], 2);

    // Optimize: one segment, no deleted documents, same answers.
    let before = top_id(idx, &q);
    run_ok(&["optimize", "--index", idx, "--quiet"]);
    let s = stats(idx);
    assert_eq!(
        (
            s["segments"].as_array().unwrap().len(),
            s["deleted"].as_u64()
        ),
        (1, Some(0))
    );
    assert_eq!(s["documents"], 188);
    assert_eq!(top_id(idx, &q), before);

    // Verify reads everything; a flipped byte in the codes is named.
    let (stdout, _) = run_ok(&["verify", "--index", idx, "--quiet"]);
    assert!(stdout.starts_with("ok:"), "{stdout}");
    let seg = s["segments"][0]["name"].as_str().unwrap();
    let codes = index.join(seg).join("codes.npy");
    let mut bytes = std::fs::read(&codes).unwrap();
    let n = bytes.len();
    bytes[n - 7] ^= 0x21;
    std::fs::write(&codes, &bytes).unwrap();
    let out = run_err(&["verify", "--index", idx, "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("codes.npy"));
}

#[test]
fn add_hints_at_retraining_past_half_the_embeddings_added() {
    let dir = tempfile::tempdir().unwrap();
    let index = synthetic_index(dir.path(), &Synthetic::new(60, 32, 5));
    let idx = index.to_str().unwrap();
    let add = |name: &str, docs: usize, seed: u64| {
        let batch = dir.path().join(name);
        std::fs::create_dir_all(&batch).unwrap();
        let mut s = Synthetic::new(docs, 32, seed);
        s.ids = (0..docs).map(|d| format!("{name}-{d}")).collect();
        let (e, l, ids) = s.write(&batch);
        let npy = strs([&e, &l, &ids]);
        let (_, stderr) = run_ok(&with_npy(&["add", "--index", idx], npy, &["--quiet"]));
        (stderr, stats(idx)["drift"]["added_share"].as_f64().unwrap())
    };
    let (stderr, share) = add("a", 30, 6);
    assert!(share > 0.2 && share < 0.5, "{share}");
    assert!(!stderr.contains("hint:"), "{stderr}");
    let (stderr, share) = add("b", 60, 7);
    assert!(share > 0.5, "{share}");
    assert!(
        stderr.contains("hint:") && stderr.contains("--retrain"),
        "{stderr}"
    );
}
