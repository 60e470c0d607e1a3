//! End to end on real data: a SciFact subset and the small real checkpoint in
//! ../shared (skipped with a message when absent).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tartan_datasets::{evaluate, BeirDataset, Measure, Run};

use super::common::{
    json_rankings, run_err, run_ok, scifact_subset, search_args, search_index_args, shared_dir,
    stats, strs, with_npy,
};

fn assert_close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-12, "{what}: report {a} vs datasets {b}");
}

/// `../shared`, the checkpoint's path and a fresh temporary directory; `None` (the test
/// skips, saying why) when `../shared` is absent.
fn real_data(test: &str) -> Option<(PathBuf, String, tempfile::TempDir)> {
    let shared = shared_dir(test)?;
    let model = shared.join("models/minilm-colbert-pylate");
    let model = model.to_str().unwrap().to_owned();
    Some((shared, model, tempfile::tempdir().unwrap()))
}

/// `COMMAND INPUT --model MODEL AFTER`: a command that encodes the texts of `input`.
fn model_args<'a>(
    command: &'a str,
    input: &'a Path,
    model: &'a str,
    after: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![command, input.to_str().unwrap(), "--model", model];
    args.extend_from_slice(after);
    args
}

/// `eval --dataset DATA --model MODEL --index-dir INDEX --output OUTPUT AFTER`.
fn eval_args<'a>(
    (data, model): (&'a Path, &'a str),
    (index, output): (&'a Path, &'a Path),
    after: &[&'a str],
) -> Vec<&'a str> {
    let [data, index, output] = strs([data, index, output]);
    let mut args = vec!["eval", "--dataset", data, "--model", model];
    args.extend(["--index-dir", index, "--output", output]);
    args.extend_from_slice(after);
    args
}

#[test]
fn eval_search_index_encode_on_scifact_subset() {
    let Some((shared, model, tmp)) = real_data("eval_search_index_encode_on_scifact_subset") else {
        return;
    };
    let model = model.as_str();
    let data = tmp.path().join("scifact-sub");
    scifact_subset(&shared, &data, 8, 30);
    let index = tmp.path().join("index");
    let output = tmp.path().join("out");
    let first_eval = eval_args(
        (&data, model),
        (&index, &output),
        &["--compare-exact", "--centroids", "32", "--quiet"],
    );
    let (stdout, stderr) = run_ok(&first_eval);
    assert!(stderr.contains("building index"), "{stderr}");
    for needle in [
        "nDCG@10",
        "Recall@100",
        "MRR@10",
        "plaid",
        "exact",
        "p50",
        "p95",
        "QPS",
        "recall@10 of the exact top-10",
        "ceiling",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }

    // The report's metrics are the datasets crate's on the written run files.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(output.join("report.json")).unwrap())
            .unwrap();
    let qrels = BeirDataset::open(&data).unwrap().qrels("test").unwrap();
    let measures = [Measure::Ndcg(10), Measure::Recall(100), Measure::Mrr(10)];
    for (method, file) in [
        ("plaid", "run.plaid.trec"),
        ("exact", "run.exact.trec"),
        ("ceiling", "run.ceiling.trec"),
    ] {
        let run = Run::read_trec(&output.join(file)).unwrap();
        assert_eq!(run.num_queries(), 8);
        let eval = evaluate(&qrels, &run, &measures);
        assert_eq!(eval.num_queries(), 8);
        let m = &report[method];
        assert_close(
            m["ndcg@10"].as_f64().unwrap(),
            eval.mean(Measure::Ndcg(10)).unwrap(),
            method,
        );
        assert_close(
            m["recall@100"].as_f64().unwrap(),
            eval.mean(Measure::Recall(100)).unwrap(),
            method,
        );
        assert_close(
            m["mrr@10"].as_f64().unwrap(),
            eval.mean(Measure::Mrr(10)).unwrap(),
            method,
        );
        // The printed table shows the same numbers.
        let row = stdout.lines().find(|l| l.starts_with(method)).unwrap();
        assert!(
            row.contains(&format!("{:.4}", eval.mean(Measure::Ndcg(10)).unwrap())),
            "{row}"
        );
    }
    for key in [
        "plaid_recall_of_exact_top10",
        "ceiling_recall_of_exact_top10",
        "plaid_recall_of_ceiling_top10",
    ] {
        let overlap = report[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&overlap), "{key}: {overlap}");
    }
    assert_eq!(report["queries"], 8);
    assert!(report["latency_encode"]["p95_ms"].as_f64().unwrap() > 0.0);

    // A second run reuses the index.
    let (_, stderr) = run_ok(&first_eval);
    assert!(stderr.contains("reusing index"), "{stderr}");

    // `tartan search` with the same k gives the run eval wrote.
    let (trec, _) = run_ok(&search_index_args(
        &index,
        &[
            "--queries",
            data.to_str().unwrap(),
            "--k",
            "100",
            "--format",
            "trec",
        ],
    ));
    let plaid_run = std::fs::read_to_string(output.join("run.plaid.trec")).unwrap();
    let first_hits = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                (c[0].to_string(), c[2].to_string())
            })
            .collect()
    };
    let searched: BTreeSet<_> = first_hits(&trec).into_iter().collect();
    let evaluated: BTreeSet<_> = first_hits(&plaid_run).into_iter().collect();
    assert!(
        evaluated.is_subset(&searched),
        "eval's run differs from search's"
    );

    // --hybrid needs the stored text: an index without it is not reused silently.
    let mut hybrid_args = first_eval.clone();
    hybrid_args.push("--hybrid");
    let out = super::common::run_err(&hybrid_args);
    assert!(String::from_utf8_lossy(&out.stderr).contains("BM25 needs the stored text"));
    // BM25, PLAID and their fusion on a filtered subset, in a fresh index.
    let hybrid_index = tmp.path().join("hybrid-index");
    let hybrid_output = tmp.path().join("hybrid-out");
    let (stdout, _) = run_ok(&eval_args(
        (&data, model),
        (&hybrid_index, &hybrid_output),
        &[
            "--centroids",
            "32",
            "--hybrid",
            "--filter",
            r#"{"$text": "cell"}"#,
            "--quiet",
        ],
    ));
    for row in ["plaid", "bm25", "hybrid"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(row)),
            "{row}: {stdout}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hybrid_output.join("report.json")).unwrap())
            .unwrap();
    let allowed = report["allowed_documents"].as_u64().unwrap();
    assert!(allowed > 0 && allowed < report["index"]["documents"].as_u64().unwrap());
    for method in ["bm25", "hybrid"] {
        let ndcg = report[method]["ndcg@10"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ndcg), "{method}: {ndcg}");
    }

    // A tiny corpus (the first 10 documents) for the text store and the .npy path.
    let tiny = tmp.path().join("tiny.jsonl");
    let corpus = std::fs::read_to_string(data.join("corpus.jsonl")).unwrap();
    // Each line's BEIR "metadata" object carries its position.
    let lines: Vec<String> = corpus
        .lines()
        .take(10)
        .enumerate()
        .map(|(i, line)| {
            let mut doc: serde_json::Value = serde_json::from_str(line).unwrap();
            doc["metadata"] = serde_json::json!({"position": i});
            doc.to_string()
        })
        .collect();
    std::fs::write(&tiny, lines.join("\n") + "\n").unwrap();
    let first_ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let query = "cellular differentiation in the developing brain";

    // Index with stored text and kept embeddings; search shows the text.
    let text_index = tmp.path().join("with-text");
    run_ok(&model_args(
        "index",
        &tiny,
        model,
        &[
            "--out",
            text_index.to_str().unwrap(),
            "--store-text",
            "--keep-embeddings",
            "--centroids",
            "8",
            "--quiet",
        ],
    ));
    let (json_out, _) = run_ok(&search_index_args(
        &text_index,
        &["--format", "json", "--k", "3", query],
    ));
    let v: serde_json::Value = serde_json::from_str(json_out.lines().next().unwrap()).unwrap();
    assert!(!v["results"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["results"][0]["text"].as_str().unwrap().len() > 20, "{v}");
    let (table, _) = run_ok(&["search", "--index", text_index.to_str().unwrap(), query]);
    assert!(table.starts_with(&format!("query 0: {query}")), "{table}");
    // --verbose times a one-shot search's steps.
    let (_, err) = run_ok(&[
        "search",
        "--verbose",
        "--index",
        text_index.to_str().unwrap(),
        query,
    ]);
    let steps = err
        .lines()
        .find(|l| l.starts_with("time per step: "))
        .unwrap_or_else(|| panic!("no time per step in {err:?}"));
    for step in ["index open", "model load", "encode", "search", "output"] {
        assert!(
            steps.contains(&format!("{step} ")),
            "{step} missing: {steps}"
        );
    }
    // The index records the precision its documents were encoded at.
    let meta = tartan_engine::Index::open(&text_index)
        .unwrap()
        .meta()
        .encoder
        .clone();
    assert!(
        ["f32", "bf16"].contains(&meta["precision"].as_str().unwrap_or_default()),
        "{meta}"
    );

    // The corpus's metadata filters; BM25 and hybrid search read the stored text.
    let json_hits = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = search_index_args(&text_index, &["--format", "json", "--k", "10"]);
        args.extend_from_slice(extra);
        args.push(query);
        let (out, _) = run_ok(&args);
        let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        v["results"].as_array().unwrap().clone()
    };
    let filtered = json_hits(&["--filter", r#"{"position": {"$lt": 3}}"#]);
    assert_eq!(filtered.len(), 3, "{filtered:?}");
    assert!(filtered
        .iter()
        .all(|h| first_ids[..3].contains(&h["id"].as_str().unwrap().to_owned())));
    let lexical = json_hits(&["--lexical"]);
    assert!(!lexical.is_empty());
    // The best BM25 hit holds one of the query's rarer words (FTS5 keeps "in", "the").
    let top = lexical[0]["text"].as_str().unwrap().to_lowercase();
    assert!(
        ["brain", "develop", "cellular", "differentiat"]
            .iter()
            .any(|w| top.contains(w)),
        "{top}"
    );
    let hybrid = json_hits(&["--hybrid", "--rrf-k", "30"]);
    assert_eq!(hybrid.len(), 10);
    let with_word = json_hits(&["--filter", r#"{"$text": "brain"}"#]);
    assert!(!with_word.is_empty());
    assert!(with_word
        .iter()
        .all(|h| h["text"].as_str().unwrap().to_lowercase().contains("brain")));

    // The server: the same filter, lexical and hybrid modes, texts in the replies.
    let server = super::server::start_with(super::common::tartan(), &text_index, &[]);
    let ask = |body: serde_json::Value| -> Vec<serde_json::Value> {
        let (status, reply) = super::server::post(server.addr, &body);
        assert_eq!(status, 200, "{reply}");
        reply["results"][0]["results"].as_array().unwrap().clone()
    };
    let filtered = ask(serde_json::json!({"queries": [query], "filter": {"position": {"$lt": 3}}}));
    assert_eq!(filtered.len(), 3);
    let lexical_reply = ask(serde_json::json!({"queries": [query], "mode": "lexical", "k": 10}));
    assert_eq!(lexical_reply, lexical);
    let hybrid_reply = ask(serde_json::json!({"queries": [query], "mode": "hybrid", "rrf_k": 30}));
    assert_eq!(hybrid_reply, hybrid);
    assert!(hybrid_reply.iter().all(|h| h["text"].is_string()));
    drop(server);

    // encode -> .npy -> index --embeddings -> search --query-embeddings: exact
    // search ranks exactly as exact search of the index built from the same text.
    let e = tmp.path().join("E.npy");
    let l = tmp.path().join("L.npy");
    let ids = tmp.path().join("ids.txt");
    run_ok(&with_npy(
        &["encode", tiny.to_str().unwrap(), "--model", model],
        strs([&e, &l, &ids]),
        &["--quiet"],
    ));
    let queries_txt = tmp.path().join("q.txt");
    std::fs::write(&queries_txt, format!("{query}\n")).unwrap();
    let q = tmp.path().join("Q.npy");
    run_ok(&model_args(
        "encode",
        &queries_txt,
        model,
        &[
            "--as-queries",
            "--embeddings",
            q.to_str().unwrap(),
            "--quiet",
        ],
    ));
    let npy_index = tmp.path().join("from-npy");
    run_ok(&with_npy(
        &["index"],
        strs([&e, &l, &ids]),
        &[
            "--out",
            npy_index.to_str().unwrap(),
            "--keep-embeddings",
            "--centroids",
            "8",
            "--quiet",
        ],
    ));
    // The first query's ids, scores to 4 decimals (the two indexes round alike).
    let ranking = |out: &str| -> Vec<(String, String)> {
        json_rankings(out)[0]
            .iter()
            .map(|(id, score)| (id.clone(), format!("{score:.4}")))
            .collect()
    };
    let (from_npy, _) = run_ok(&search_args(
        &npy_index,
        &q,
        &["--exact", "--k", "5", "--format", "json"],
    ));
    let (from_text, _) = run_ok(&search_index_args(
        &text_index,
        &["--exact", "--k", "5", "--format", "json", query],
    ));
    assert_eq!(ranking(&from_npy).len(), 5);
    assert_eq!(ranking(&from_npy), ranking(&from_text));
}

/// PLAID at its default parameters for k = 100 (nprobe 4, threshold 0.45, ndocs 3072)
/// and for k = 10 (nprobe 2, threshold 0.5, ndocs 512) against the codec's ceiling (exhaustive MaxSim over every document's
/// decompressed embeddings) and exact MaxSim over the uncompressed embeddings, on real
/// token embeddings: 100 SciFact queries over their relevant documents and 400 others,
/// encoded by the real checkpoint.
///
/// Recall@10 is measured against the exact top-10, as the ColBERTv2 / PLAID figures
/// are (on SciFact: the 2-bit scalar codec's ceiling 0.840, next-plaid and PyLate's
/// PLAID 0.822); PLAID may lose at most 0.02 of the ceiling's. (colbert-ai's own k = 10
/// setting, nprobe 1 and ndocs 256, loses more on these tokens: see
/// docs/benchmarks.md, "Search settings".)
#[test]
fn plaid_keeps_the_codec_ceiling_on_real_scifact_tokens() {
    let Some((shared, model, tmp)) =
        real_data("plaid_keeps_the_codec_ceiling_on_real_scifact_tokens")
    else {
        return;
    };
    let model = model.as_str();
    let data = tmp.path().join("scifact-sub");
    scifact_subset(&shared, &data, 100, 400);
    // At both default settings, k = 100 and k = 10 (the second run reuses the index).
    for (k, ndocs) in [(100, 3072), (10, 512)] {
        let output = tmp.path().join(format!("out-k{k}"));
        let k_arg = k.to_string();
        let (stdout, _) = run_ok(&eval_args(
            (&data, model),
            (&tmp.path().join("index"), &output),
            &["--compare-exact", "--k", &k_arg, "--quiet"],
        ));
        eprintln!("{stdout}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(output.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(report["k"], k);
        assert_eq!(
            report["params"]["ndocs"], ndocs,
            "default parameters for k = {k}"
        );
        let get = |key: &str| report[key].as_f64().unwrap();
        let (plaid_of_ceiling, plaid_of_exact, ceiling_of_exact) = (
            get("plaid_recall_of_ceiling_top10"),
            get("plaid_recall_of_exact_top10"),
            get("ceiling_recall_of_exact_top10"),
        );
        eprintln!(
            "k = {k}: recall@10: PLAID of the ceiling {plaid_of_ceiling:.3}, of exact \
             {plaid_of_exact:.3}; ceiling of exact {ceiling_of_exact:.3}; {:.2} bytes/embedding",
            report["index"]["bytes_per_embedding"].as_f64().unwrap()
        );
        // PLAID's pruning loses at most 0.02 recall@10 against the ceiling ...
        assert!(
            plaid_of_exact >= ceiling_of_exact - 0.02,
            "k = {k}: PLAID {plaid_of_exact} vs ceiling {ceiling_of_exact}"
        );
        // ... and the 2-bit product codes keep most of exact MaxSim's top 10.
        assert!(ceiling_of_exact >= 0.8, "{ceiling_of_exact}");
        assert!(plaid_of_ceiling >= 0.95, "k = {k}: {plaid_of_ceiling}");
    }
}

#[test]
fn optimize_retrains_from_stored_texts() {
    let Some((shared, model, tmp)) = real_data("optimize_retrains_from_stored_texts") else {
        return;
    };
    let model = model.as_str();
    let corpus = std::fs::read_to_string(shared.join("datasets/scifact/corpus.jsonl")).unwrap();
    let lines: Vec<&str> = corpus.lines().take(90).collect();
    let first = tmp.path().join("first.jsonl");
    let second = tmp.path().join("second.jsonl");
    std::fs::write(&first, lines[..40].join("\n")).unwrap();
    std::fs::write(&second, lines[40..].join("\n")).unwrap();
    let gone: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
    let gone = gone["_id"].as_str().unwrap();

    let build = |name: &str, store_text: bool| {
        let idx = tmp.path().join(name);
        let idx = idx.to_str().unwrap().to_owned();
        let mut args = model_args(
            "index",
            &first,
            model,
            &["--out", &idx, "--centroids", "16", "--quiet"],
        );
        if store_text {
            args.push("--store-text");
        }
        run_ok(&args);
        run_ok(&["add", "--index", &idx, second.to_str().unwrap(), "--quiet"]);
        run_ok(&["delete", "--index", &idx, gone]);
        idx
    };

    // With stored texts: re-encoded with the recorded model, one trained segment.
    let idx = build("with-text", true);
    assert!(stats(&idx)["drift"]["added_share"].as_f64().unwrap() > 0.5);
    let (_, stderr) = run_ok(&[
        "optimize",
        "--index",
        &idx,
        "--retrain",
        "--centroids",
        "16",
        "--quiet",
    ]);
    assert!(
        stderr.contains("re-encoded the stored texts of 89 documents"),
        "{stderr}"
    );
    let s = stats(&idx);
    assert_eq!(s["segments"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["documents"], 89);
    assert_eq!(s["drift"]["added_share"].as_f64(), Some(0.0), "{s}");
    // Ids survive: a document is found (top 3) by its own title.
    let doc: serde_json::Value = serde_json::from_str(lines[60]).unwrap();
    let (stdout, _) = run_ok(&[
        "search",
        "--index",
        &idx,
        "--k",
        "3",
        "--format",
        "json",
        doc["title"].as_str().unwrap(),
    ]);
    let hit: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let top: Vec<&serde_json::Value> = hit["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert!(top.contains(&&doc["_id"]), "{stdout}");
    assert!(!stdout.contains(&format!("\"{gone}\"")), "{stdout}");

    // Without: a clear refusal, nothing changed.
    let idx = build("without-text", false);
    let before = stats(&idx)["generation"].clone();
    let out = run_err(&["optimize", "--index", &idx, "--retrain", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("have no stored text to re-encode"),
        "{stderr}"
    );
    assert_eq!(stats(&idx)["generation"], before);
}
