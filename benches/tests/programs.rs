//! The bench programs end to end on a small synthetic corpus: `search-scale` builds,
//! keeps and measures an index, `plaid-sweep` sweeps search settings over it.

use std::process::Command;

use serde_json::Value;

/// The JSON value on the last line of a program's standard output.
fn last_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("some output")).expect("JSON last line")
}

#[test]
fn search_scale_then_plaid_sweep_on_a_small_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let report = last_json(
        &Command::new(env!("CARGO_BIN_EXE_search-scale"))
            .args(["--docs", "300", "--tokens", "12", "--queries", "10"])
            .args(["--recall-queries", "5", "--threads", "1", "--keep", "--dir"])
            .arg(&index)
            .output()
            .unwrap(),
    );
    assert_eq!(report["documents"], 300);
    for key in [
        "bytes_per_embedding",
        "latency_ms_k10_p50",
        "latency_ms_k10_colbert_p50",
        "latency_ms_k100_p50",
        "qps_k10",
        "search_peak_rss_bytes",
    ] {
        let x = report[key].as_f64().unwrap_or(-1.0);
        assert!(x > 0.0, "{key}: {x}");
    }
    for key in [
        "recall10_vs_exact",
        "ceiling_recall10_vs_exact",
        "recall10_vs_exact_colbert_k10",
    ] {
        let r = report[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&r), "{key}: {r}");
    }
    assert!(index.join("CURRENT").exists(), "--keep keeps the index");

    // Every centroid probed, nothing pruned and every document scored exactly: PLAID
    // is then exhaustive search over the decompressed embeddings, the ceiling itself.
    let rows = last_json(
        &Command::new(env!("CARGO_BIN_EXE_plaid-sweep"))
            .arg("--index")
            .arg(&index)
            .args(["--limit", "8", "--grid", "2,0.5,512,128"])
            .args(["--grid", "100000,-1,100000,100000"])
            .output()
            .unwrap(),
    );
    let rows = rows.as_array().expect("one row a setting");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["nprobe"], 2);
    let r = rows[0]["recall10_vs_ceiling"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&r), "{r}");
    assert_eq!(rows[1]["recall10_vs_ceiling"].as_f64(), Some(1.0));
    assert_eq!(
        rows[1]["recall10_vs_exact"], rows[1]["ceiling_recall10_vs_exact"],
        "exhaustive PLAID finds what the ceiling finds"
    );
}
