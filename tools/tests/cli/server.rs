//! `tartan serve` on 127.0.0.1: concurrent clients, malformed requests, oversized
//! bodies, every reply checked, the server still answering after them, and a clean
//! shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::common::{synthetic_index, tartan, Synthetic};

/// One HTTP/1.1 exchange over a fresh connection: (status, JSON body).
pub(super) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading an oversized body and close.
    let _ = stream.write_all(body);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP reply: {text:?}"));
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{method} {path} -> {status} without a JSON body:\n{text}"
    );
    let value = serde_json::from_str(body).unwrap_or_else(|e| panic!("bad JSON {body:?}: {e}"));
    (status, value)
}

pub(super) fn post(addr: SocketAddr, body: &Value) -> (u16, Value) {
    http(addr, "POST", "/search", Some(body.to_string().as_bytes()))
}

pub(super) struct Server {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(index: &std::path::Path) -> Server {
    start_with(tartan(), index, &[])
}

/// Starts `cmd serve` on `index` (port 0) with the test limits and `extra` options.
pub(super) fn start_with(mut cmd: Command, index: &std::path::Path, extra: &[&str]) -> Server {
    let mut child = cmd
        .args([
            "serve",
            "--index",
            index.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--max-concurrent",
            "2",
            "--max-body-bytes",
            "65536",
            "--max-k",
            "100",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    Server { child, addr }
}

fn expect_error(reply: (u16, Value), status: u16, needle: &str) {
    assert_eq!(reply.0, status, "{}", reply.1);
    let message = reply.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {}", reply.1));
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[test]
fn server_answers_checks_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(120, 16, 11);
    let index = synthetic_index(dir.path(), &data);
    let mut server = start(&index);
    let addr = server.addr;

    let (status, health) = http(addr, "GET", "/health", None);
    assert_eq!((status, &health["status"]), (200, &json!("ok")));

    // Concurrent clients: 8 threads x 4 requests, more than the 2 search slots.
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8usize {
            let data = &data;
            s.spawn(move || {
                for r in 0..4usize {
                    let doc = (t * 13 + r * 29) % 120;
                    let q = data.query(doc, 6, (t * 100 + r) as u64);
                    let (status, reply) = post(addr, &json!({"embeddings": [q], "k": 3}));
                    assert_eq!(status, 200, "{reply}");
                    let hits = reply["results"][0]["results"].as_array().unwrap();
                    // PLAID may find fewer candidates than k in a tiny index.
                    assert!((1..=3).contains(&hits.len()), "{reply}");
                    assert_eq!(hits[0]["id"], format!("doc-{doc}"), "{reply}");
                    assert!(hits[0]["score"].as_f64().unwrap() > 3.0);
                }
            });
        }
    });
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    // Two queries at once, exact search, explicit PLAID parameters.
    let two = json!({"embeddings": [data.query(5, 4, 1), data.query(6, 4, 2)], "k": 2,
                     "nprobe": 4, "threshold": 0.3, "ndocs": 64});
    let (status, reply) = post(addr, &two);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["results"].as_array().unwrap().len(), 2);
    assert_eq!(reply["results"][1]["results"][0]["id"], "doc-6");
    let (status, reply) = post(
        addr,
        &json!({"embeddings": [data.query(9, 4, 3)], "k": 1, "exact": true}),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["results"][0]["results"][0]["id"], "doc-9");

    // Malformed and invalid requests: a 4xx with a JSON error each.
    expect_error(
        http(addr, "POST", "/search", Some(b"{\"embeddings\": [[[0.1, ")),
        400,
        "",
    );
    expect_error(
        http(addr, "POST", "/search", Some(b"not json at all")),
        400,
        "",
    );
    expect_error(post(addr, &json!({"embeddings": "nope"})), 422, "");
    expect_error(
        post(addr, &json!({"embeddings": [[[0.5, 0.5]]]})),
        400,
        "expected 16 dimensions",
    );
    expect_error(
        post(addr, &json!({"embeddings": [[]]})),
        400,
        "token vectors",
    );
    expect_error(
        post(addr, &json!({"embeddings": [data.query(1, 2, 4)], "k": 0})),
        400,
        "k must be",
    );
    expect_error(
        post(
            addr,
            &json!({"embeddings": [data.query(1, 2, 4)], "k": 101}),
        ),
        400,
        "k must be",
    );
    expect_error(
        post(addr, &json!({"embeddings": [data.query(1, 2, 4)], "k": -1})),
        422,
        "",
    );
    expect_error(post(addr, &json!({"k": 3})), 400, "give \"queries\"");
    expect_error(
        post(addr, &json!({"queries": ["text"], "k": 3})),
        400,
        "no model",
    );
    expect_error(
        post(addr, &json!({"embeddings": [data.query(1, 2, 4)], "kk": 3})),
        422,
        "unknown field",
    );
    let big = format!("{{\"embeddings\": [[[{}0.0]]]}}", "0.0, ".repeat(40_000));
    expect_error(http(addr, "POST", "/search", Some(big.as_bytes())), 413, "");
    expect_error(http(addr, "GET", "/search", None), 405, "");
    expect_error(http(addr, "GET", "/nowhere", None), 404, "no such route");

    // Still serving after all of that.
    let (status, reply) = post(addr, &json!({"embeddings": [data.query(77, 5, 9)]}));
    assert_eq!(status, 200, "{reply}");
    assert!(!reply["results"][0]["results"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(reply["results"][0]["results"][0]["id"], "doc-77");
    let (status, stats) = http(addr, "GET", "/stats", None);
    assert_eq!(status, 200);
    assert_eq!(stats["documents"], 120);
    assert_eq!(stats["dim"], 16);
    assert_eq!(stats["queries_served"], 32 + 2 + 1 + 1);
    assert_eq!(stats["errors"], 14);
    assert!(stats["uptime_seconds"].as_f64().unwrap() > 0.0);

    // SIGTERM: a clean exit.
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
}
