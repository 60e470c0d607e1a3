//! Hub ids resolved with hf-hub against a tiny HTTP server on 127.0.0.1 that serves the
//! shared PyLate checkpoint in the hub's URL layout. One test function: it sets process-wide
//! environment variables (HF_HOME, HF_ENDPOINT).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::shared_or_skip;
use tartan_encoder::{Device, Encoder, EncoderError};

const REPO: &str = "tartan-test/minilm-colbert-pylate";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Files of the model directory, relative paths.
fn list_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Serves `/api/models/{REPO}/revision/main` and `/{REPO}/resolve/main/{file}` with the
/// headers hf-hub 0.4.3 reads (etag, x-repo-commit, content-range), honouring `Range`.
fn serve(root: PathBuf, listener: TcpListener, downloads: Arc<AtomicUsize>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let root = root.clone();
        let downloads = downloads.clone();
        std::thread::spawn(move || {
            let _ = handle(stream, &root, &downloads);
        });
    }
}

fn handle(mut stream: TcpStream, root: &Path, downloads: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut range: Option<(u64, Option<u64>)> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                let spec = v.trim().trim_start_matches("bytes=");
                let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
                range = Some((a.parse().unwrap_or(0), b.parse().ok()));
            }
        }
    }
    let api = format!("/api/models/{REPO}/revision/main");
    let prefix = format!("/{REPO}/resolve/main/");
    if path == api {
        let siblings: Vec<_> = list_files(root)
            .into_iter()
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        let body = serde_json::json!({"sha": COMMIT, "siblings": siblings}).to_string();
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let file = path.strip_prefix(&prefix).map(|f| root.join(f));
    let Some(file) = file.filter(|f| f.is_file()) else {
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    let mut bytes = Vec::new();
    std::fs::File::open(&file)?.read_to_end(&mut bytes)?;
    let size = bytes.len() as u64;
    let (start, end) = match range {
        Some((a, b)) => (
            a.min(size),
            b.map_or(size.saturating_sub(1), |b| b.min(size.saturating_sub(1))),
        ),
        None => (0, size.saturating_sub(1)),
    };
    if end > start {
        downloads.fetch_add(1, Ordering::SeqCst);
    }
    let body = if size == 0 {
        &[][..]
    } else {
        &bytes[start as usize..=end as usize]
    };
    // A distinct etag per file: it names the blob in the cache.
    let etag = format!(
        "{:x}-{size}",
        file.to_string_lossy()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
    );
    write!(
        stream,
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{size}\r\n\
         ETag: \"{etag}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    Ok(())
}

#[test]
fn hub_ids_resolve_into_the_hf_cache_and_fail_clearly_offline() {
    let Some(shared) = shared_or_skip("hub_ids_resolve_into_the_hf_cache") else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let downloads = Arc::new(AtomicUsize::new(0));
    let root = shared.join("models/minilm-colbert-pylate");
    {
        let downloads = downloads.clone();
        std::thread::spawn(move || serve(root, listener, downloads));
    }
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("HF_HOME", home.path());
    std::env::set_var("HF_ENDPOINT", format!("http://127.0.0.1:{port}"));
    std::env::remove_var("HF_HUB_OFFLINE");

    let enc = Encoder::load(REPO, Device::Cpu).unwrap();
    assert_eq!(enc.dim(), 128);
    let snapshot = home
        .path()
        .join("hub/models--tartan-test--minilm-colbert-pylate/snapshots")
        .join(COMMIT);
    assert!(snapshot.join("model.safetensors").exists());
    assert!(snapshot.join("1_Dense/model.safetensors").exists());
    assert!(
        !snapshot.join("README.md").exists(),
        "only checkpoint files are fetched"
    );
    let fetched = downloads.load(Ordering::SeqCst);
    assert!(fetched >= 4, "{fetched} downloads");

    // Same vectors as the local directory.
    let local = common::minilm(&shared);
    let t = ["hub resolution works"];
    assert_eq!(
        enc.encode_queries(&t).unwrap(),
        local.encode_queries(&t).unwrap()
    );

    // Cached: a second load downloads nothing, and works with the server gone.
    Encoder::load(REPO, Device::Cpu).unwrap();
    assert_eq!(downloads.load(Ordering::SeqCst), fetched);
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
    Encoder::load(REPO, Device::Cpu).unwrap();
    std::env::set_var("HF_HUB_OFFLINE", "1");
    Encoder::load(REPO, Device::Cpu).unwrap();
    std::env::remove_var("HF_HUB_OFFLINE");

    // Offline with nothing cached: the error names the cache and asks for a directory.
    let err = Encoder::load("colbert-ir/colbertv2.0", Device::Cpu).unwrap_err();
    assert!(matches!(err, EncoderError::HubUnavailable { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("pass a local model directory"), "{msg}");
    assert!(msg.contains("models--colbert-ir--colbertv2.0"), "{msg}");
    assert!(
        msg.contains(&home.path().join("hub").display().to_string()),
        "{msg}"
    );
}
