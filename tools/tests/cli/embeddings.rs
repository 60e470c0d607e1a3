//! The numpy path: index and search precomputed embeddings, no model needed.

use tartan_engine::format::npy::write_array;

use super::common::{
    run_err, run_ok, search_args, strs, synthetic_index, with_npy, write_queries, Synthetic,
};

#[test]
fn index_and_search_npy_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(200, 32, 7);
    let index = synthetic_index(dir.path(), &data);
    assert!(index.join("CURRENT").is_file());

    let targets = [0usize, 17, 42, 99, 150, 199];
    let queries: Vec<_> = targets
        .iter()
        .map(|&d| data.query(d, 8, 1000 + d as u64))
        .collect();
    let q = dir.path().join("Q.npy");
    write_queries(&q, &queries);

    for exact in [false, true] {
        let mut args = search_args(&index, &q, &["--k", "5", "--format", "json"]);
        if exact {
            args.push("--exact");
        }
        let (stdout, _) = run_ok(&args);
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), targets.len(), "{stdout}");
        for (i, (line, &target)) in lines.iter().zip(&targets).enumerate() {
            assert_eq!(line["query"], i);
            let results = line["results"].as_array().unwrap();
            assert_eq!(results.len(), 5);
            assert_eq!(
                results[0]["id"],
                format!("doc-{target}"),
                "exact={exact}: {line}"
            );
            let scores: Vec<f64> = results
                .iter()
                .map(|r| r["score"].as_f64().unwrap())
                .collect();
            assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
            // 8 query tokens, each with a cosine below 1.
            assert!(scores[0] > 4.0 && scores[0] <= 8.0 + 1e-3, "{scores:?}");
        }
    }

    // TREC output: qid Q0 doc rank score tag.
    let (trec, _) = run_ok(&search_args(&index, &q, &["--k", "3", "--format", "trec"]));
    let first: Vec<&str> = trec.lines().next().unwrap().split(' ').collect();
    assert_eq!(first[..4], ["0", "Q0", "doc-0", "1"]);
    assert_eq!(trec.lines().count(), 3 * targets.len());
}

#[test]
fn query_embeddings_of_the_wrong_dim_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(60, 16, 3);
    let index = synthetic_index(dir.path(), &data);
    let q = dir.path().join("Q.npy");
    write_array(&q, &[1, 4, 8], &[0f32; 32]).unwrap();
    let out = run_err(&search_args(&index, &q, &[]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dim 8") && stderr.contains("dim 16"),
        "{stderr}"
    );

    // Text queries need a model; this index was built from embeddings.
    let out = run_err(&["search", "--index", index.to_str().unwrap(), "some text"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("records no model"));
}

#[test]
fn doclens_that_do_not_add_up_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(10, 16, 5);
    let (e, _, ids) = data.write(dir.path());
    let l = dir.path().join("bad.npy");
    write_array(&l, &[2], &[3i64, 4]).unwrap();
    let out_dir = dir.path().join("idx");
    let out = run_err(&with_npy(
        &["index"],
        strs([&e, &l, &ids]),
        &["--out", out_dir.to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(!out_dir.exists(), "a failed build must leave no index");
}
