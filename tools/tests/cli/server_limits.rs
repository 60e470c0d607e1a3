//! `tartan serve` against hostile clients on 127.0.0.1: half a header, a stalled
//! body upload, silent and kept-alive idle connections, more connections than the
//! cap, and hundreds of idle connections under `ulimit -n 256`. In each case valid
//! requests are still answered and SIGTERM ends the process with status 0 within the
//! shutdown deadline. Every client is bounded (read timeouts, counted loops).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::common::{synthetic_index, tartan, Synthetic};
use super::server::{http, post, start_with, Server};

/// A small index, its data and a scratch directory (kept alive by the caller).
fn setup(seed: u64) -> (tempfile::TempDir, Synthetic, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(60, 16, seed);
    let index = synthetic_index(dir.path(), &data);
    (dir, data, index)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Whether the server closes `stream` within `within` (reading and discarding
/// whatever it sends first); the time it took.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < within {
        let left = within
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            // Reset by the server: closed as well.
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// A valid search answered with the right document.
fn assert_answers(addr: SocketAddr, data: &Synthetic, doc: usize) {
    let (status, reply) = post(
        addr,
        &json!({"embeddings": [data.query(doc, 4, 7)], "k": 2}),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["results"][0]["results"][0]["id"],
        format!("doc-{doc}")
    );
}

fn sigterm(server: &Server) {
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
}

/// Waits (at most `within`) for the server to exit: its status, the time taken and
/// its stderr.
fn wait_exit(server: &mut Server, within: Duration) -> (ExitStatus, Duration, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < within,
            "the server did not exit within {within:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut err) = server.child.stderr.take() {
        err.read_to_string(&mut stderr).unwrap();
    }
    (status, started.elapsed(), stderr)
}

/// A request whose header is complete and whose body stops after 10 of 1,000 bytes.
fn stalled_upload(addr: SocketAddr) -> TcpStream {
    let mut stream = connect(addr);
    let head = format!(
        "POST /search HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"embeddi"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

#[test]
fn half_a_header_neither_blocks_requests_nor_holds_shutdown() {
    let (_dir, data, index) = setup(21);
    // Timeouts far longer than the test: only the shutdown itself may free us.
    let mut server = start_with(
        tartan(),
        &index,
        &[
            "--header-timeout",
            "300",
            "--idle-timeout",
            "300",
            "--shutdown-timeout",
            "3",
        ],
    );
    let addr = server.addr;
    let mut halves: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Le")
                .unwrap();
            s
        })
        .collect();
    assert_answers(addr, &data, 3);
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&server);
    let (status, took, stderr) = wait_exit(&mut server, Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{stderr}");
    // Idle connections close at once: no need to wait for the deadline.
    assert!(took < Duration::from_secs(3), "{took:?}\n{stderr}");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    for s in &mut halves {
        assert!(closed_within(s, Duration::from_secs(2)).is_some());
    }
}

#[test]
fn header_and_idle_timeouts_close_connections() {
    let (_dir, data, index) = setup(22);
    let mut server = start_with(
        tartan(),
        &index,
        &["--header-timeout", "1", "--idle-timeout", "0.5"],
    );
    let addr = server.addr;

    // Silent: closed by the idle timeout.
    let mut silent = connect(addr);
    let took = closed_within(&mut silent, Duration::from_secs(5)).expect("silent stays open");
    assert!(took >= Duration::from_millis(400), "{took:?}");

    // A header trickled a byte every 200 ms is never idle: the header timeout ends it.
    let mut slow = connect(addr);
    let started = Instant::now();
    let mut closed = false;
    for b in b"GET /health HTTP/1.1\r\nHost: slowly-but-surely-x\r\n"
        .iter()
        .take(40)
    {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    assert!(
        closed || closed_within(&mut slow, Duration::from_secs(2)).is_some(),
        "a trickled header kept its connection open for {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Kept alive after a response, then idle: closed.
    let mut kept = connect(addr);
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut kept, Duration::from_secs(5)).is_some());

    assert_answers(addr, &data, 8);
    sigterm(&server);
    let (status, _, stderr) = wait_exit(&mut server, Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{stderr}");
}

#[test]
fn a_stalled_body_gets_408_and_cannot_delay_shutdown_past_the_deadline() {
    let (_dir, data, index) = setup(23);
    let mut server = start_with(
        tartan(),
        &index,
        &["--body-timeout", "1", "--shutdown-timeout", "1"],
    );
    let addr = server.addr;

    // The body timeout answers a stalled upload with 408.
    let mut stalled = stalled_upload(addr);
    let started = Instant::now();
    let mut reply = Vec::new();
    let _ = stalled.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("request body not received"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_answers(addr, &data, 5);
    drop(stalled);
    sigterm(&server);
    let (status, _, stderr) = wait_exit(&mut server, Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{stderr}");

    // With a body timeout past the shutdown deadline, the deadline cuts the upload.
    let mut server = start_with(
        tartan(),
        &index,
        &["--body-timeout", "300", "--shutdown-timeout", "1"],
    );
    let addr = server.addr;
    let _stalled: Vec<TcpStream> = (0..2).map(|_| stalled_upload(addr)).collect();
    assert_answers(addr, &data, 6);
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&server);
    let (status, took, stderr) = wait_exit(&mut server, Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}\n{stderr}"
    );
    assert!(stderr.contains("deadline passed"), "{stderr}");
}

#[test]
fn the_connection_cap_makes_room_and_refuses_only_when_all_are_busy() {
    let (_dir, data, index) = setup(24);
    let mut server = start_with(
        tartan(),
        &index,
        &[
            "--max-connections",
            "8",
            "--idle-timeout",
            "300",
            "--header-timeout",
            "300",
            "--body-timeout",
            "300",
            "--shutdown-timeout",
            "1",
        ],
    );
    let addr = server.addr;

    // Forty idle connections, five times the cap: requests still get through.
    let _idle: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    for doc in [1, 2, 3] {
        assert_answers(addr, &data, doc);
    }
    let (_, stats) = http(addr, "GET", "/stats", None);
    // (Each request closes its own connection, so one eviction can be enough.)
    assert!(
        stats["connections_evicted"].as_u64().unwrap() >= 1,
        "{stats}"
    );

    // Every slot holding a request in flight: a new connection is told so and closed.
    let mut busy: Vec<TcpStream> = (0..8).map(|_| stalled_upload(addr)).collect();
    // Once every upload's header has been read (a moment on a loaded machine), a new
    // connection is refused at once; a few bounded tries absorb the scheduling delay.
    // An upload whose header the server had not read yet counts as idle and may have
    // been evicted for a later one: each try that is not refused adds an upload, so the
    // slots fill with requests in flight.
    let mut reply = String::new();
    for attempt in 0..5 {
        if attempt > 0 {
            busy.push(stalled_upload(addr));
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut extra = connect(addr);
        extra
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let started = Instant::now();
        let mut bytes = Vec::new();
        let _ = extra.read_to_end(&mut bytes);
        reply = String::from_utf8_lossy(&bytes).into_owned();
        if reply.starts_with("HTTP/1.1 503") {
            assert!(started.elapsed() < Duration::from_secs(3));
            break;
        }
    }
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
    let body: Value = serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("too many connections"));

    sigterm(&server);
    let (status, took, stderr) = wait_exit(&mut server, Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// `tartan` under `ulimit -n 256`.
fn tartan_with_256_descriptors() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "ulimit -n 256 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_tartan"),
    ]);
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

#[cfg(unix)]
#[test]
fn hundreds_of_idle_connections_cannot_exhaust_descriptors() {
    let (_dir, data, index) = setup(25);
    // The default cap follows the descriptor limit; an explicit cap over it relies
    // on closing idle connections when accept runs out of descriptors.
    for extra in [&[][..], &["--max-connections", "1000"][..]] {
        let mut args = vec!["--idle-timeout", "300", "--header-timeout", "300"];
        args.extend_from_slice(extra);
        let mut server = start_with(tartan_with_256_descriptors(), &index, &args);
        let addr = server.addr;
        let idle: Vec<TcpStream> = (0..375).map(|_| connect(addr)).collect();
        std::thread::sleep(Duration::from_millis(300));
        for doc in [10, 20, 30] {
            assert_answers(addr, &data, doc);
        }
        let (status, health) = http(addr, "GET", "/health", None);
        assert_eq!((status, &health["status"]), (200, &json!("ok")));
        drop(idle);
        sigterm(&server);
        let (status, _, stderr) = wait_exit(&mut server, Duration::from_secs(10));
        assert!(status.success(), "{extra:?}: {status:?}\n{stderr}");
    }
}
