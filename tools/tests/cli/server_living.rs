//! `tartan serve` over a changing index: reload on commits (polled and on request),
//! the writable endpoints, and a bounded client loop that sees no error while adds,
//! deletes and an optimize commit.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::common::{run_ok, strs, synthetic_index, tartan, with_npy, Synthetic};
use super::server::{http, post, start_with};

fn stats(addr: SocketAddr) -> Value {
    http(addr, "GET", "/stats", None).1
}

/// Waits (bounded) until the server serves `generation`.
fn wait_generation(addr: SocketAddr, generation: u64) {
    let started = Instant::now();
    while stats(addr)["generation"].as_u64() != Some(generation) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            stats(addr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn top_id(addr: SocketAddr, query: &[Vec<f32>]) -> String {
    let (status, body) = post(addr, &json!({"embeddings": [query], "k": 3}));
    assert_eq!(status, 200, "{body}");
    body["results"][0]["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_read_only_server_follows_commits_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(80, 32, 31);
    let index = synthetic_index(dir.path(), &data);
    let server = start_with(tartan(), &index, &["--reload-interval", "0.2"]);
    let addr = server.addr;
    assert_eq!(stats(addr)["generation"], 1);
    let (status, body) = http(
        addr,
        "POST",
        "/documents",
        Some(
            json!({"ids": ["x"], "embeddings": [[vec![0.0f32; 32]]]})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(status, 403, "{body}");

    // A commit by another process: picked up by polling.
    let batch = dir.path().join("batch");
    std::fs::create_dir_all(&batch).unwrap();
    let mut more = Synthetic::new(10, 32, 32);
    more.ids = (0..10).map(|d| format!("more-{d}")).collect();
    let (e, l, ids) = more.write(&batch);
    let idx = index.to_str().unwrap();
    run_ok(&with_npy(
        &["add", "--index", idx],
        strs([&e, &l, &ids]),
        &["--quiet"],
    ));
    wait_generation(addr, 2);
    assert_eq!(top_id(addr, &more.query(4, 8, 7)), "more-4");
    run_ok(&["delete", "--index", idx, "more-4"]);
    // POST /reload answers with the generation it now serves.
    let (status, body) = http(addr, "POST", "/reload", None);
    assert_eq!(status, 200, "{body}");
    wait_generation(addr, 3);
    assert_ne!(top_id(addr, &more.query(4, 8, 7)), "more-4");
    assert_eq!(stats(addr)["deleted"], 1);
}

#[test]
fn a_writable_server_adds_and_deletes_while_clients_search() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(80, 32, 41);
    let index = synthetic_index(dir.path(), &data);
    let server = start_with(tartan(), &index, &["--writable", "--reload-interval", "0"]);
    let addr = server.addr;

    // A bounded client loop of searches for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        let query = data.query(10, 8, 5);
        std::thread::spawn(move || {
            let mut answered = 0;
            for _ in 0..2000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (status, body) = post(addr, &json!({"embeddings": [query], "k": 5}));
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["results"][0]["results"][0]["id"], "doc-10", "{body}");
                answered += 1;
            }
            answered
        })
    };

    let more = Synthetic::new(6, 32, 42);
    let docs: Vec<Vec<Vec<f32>>> = (0..6)
        .map(|d| {
            let (a, b) = (
                more.doclens[..d].iter().sum::<i64>() as usize,
                more.doclens[..=d].iter().sum::<i64>() as usize,
            );
            more.embeddings[a * 32..b * 32]
                .chunks(32)
                .map(<[f32]>::to_vec)
                .collect()
        })
        .collect();
    let ids: Vec<String> = (0..6).map(|d| format!("w-{d}")).collect();
    let body = json!({"ids": ids, "embeddings": docs});
    let (status, reply) = http(
        addr,
        "POST",
        "/documents",
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (reply["added"].as_u64(), reply["generation"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(top_id(addr, &more.query(2, 8, 3)), "w-2");
    // The same ids again: 409 naming one, nothing committed; with upsert: replaced.
    let (status, reply) = http(
        addr,
        "POST",
        "/documents",
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(status, 409, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("w-0"), "{reply}");
    let mut upsert = body.clone();
    upsert["upsert"] = json!(true);
    // Metadata rides along (one object or null a document); filters see it.
    upsert["metadata"] = json!([{"batch": "up", "n": 0}, null, {"batch": "up", "n": 2},
        {"batch": "up", "n": 3}, {"batch": "up", "n": 4}, {"batch": "up", "n": 5}]);
    let (status, reply) = http(
        addr,
        "POST",
        "/documents",
        Some(upsert.to_string().as_bytes()),
    );
    assert_eq!(
        (status, reply["replaced"].as_u64()),
        (200, Some(6)),
        "{reply}"
    );
    let (status, reply) = post(
        addr,
        &json!({"embeddings": [more.query(2, 8, 3)], "k": 10, "filter": {"batch": "up", "n": {"$gte": 2}}}),
    );
    assert_eq!(status, 200, "{reply}");
    let mut found: Vec<&str> = reply["results"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    found.sort_unstable();
    assert_eq!(found, ["w-2", "w-3", "w-4", "w-5"]);
    // Metadata that is not flat: 400 naming the document and key, nothing committed.
    let mut nested = upsert.clone();
    nested["metadata"][1] = json!({"deep": {"x": 1}});
    let (status, reply) = http(
        addr,
        "POST",
        "/documents",
        Some(nested.to_string().as_bytes()),
    );
    assert_eq!(status, 400, "{reply}");
    let message = reply["error"].as_str().unwrap();
    assert!(
        message.contains("w-1") && message.contains("deep"),
        "{message}"
    );
    // A wrong dimension is a 400.
    let bad = json!({"ids": ["bad"], "embeddings": [[[1.0, 0.0]]]});
    let (status, _) = http(addr, "POST", "/documents", Some(bad.to_string().as_bytes()));
    assert_eq!(status, 400);
    // Deletes, with an unknown id counted.
    let del = json!({"ids": ["w-2", "nope"]});
    let (status, reply) = http(
        addr,
        "DELETE",
        "/documents",
        Some(del.to_string().as_bytes()),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (reply["deleted"].as_u64(), reply["unknown"].as_u64()),
        (Some(1), Some(1))
    );
    assert_ne!(top_id(addr, &more.query(2, 8, 3)), "w-2");
    let s = stats(addr);
    assert_eq!(
        (s["writable"].as_bool(), s["documents"].as_u64()),
        (Some(true), Some(85))
    );

    stop.store(true, Ordering::Relaxed);
    let answered = client.join().unwrap();
    assert!(answered > 0);
}
