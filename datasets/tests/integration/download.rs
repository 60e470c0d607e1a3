//! `download_beir_from` against an HTTP server on 127.0.0.1 started here, serving
//! zips built in the test (from ../shared SciFact when present).

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tartan_datasets::{download_beir_from, BeirDataset, DatasetsError};
use zip::write::SimpleFileOptions;

use crate::shared_datasets;

/// What the server answers for a path.
#[derive(Clone)]
enum Reply {
    /// 200 with this body.
    Ok(Vec<u8>),
    /// 200 announcing more bytes than it sends, then closing.
    Truncated(Vec<u8>),
}

/// A one-thread HTTP/1.1 server; every request is counted. 404 for unknown paths.
struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(routes: HashMap<String, Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = serve(stream, &routes);
            }
        });
        Server { base, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, routes: &HashMap<String, Reply>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    match routes.get(&path) {
        Some(Reply::Ok(body)) => {
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
            stream.write_all(body)?;
        }
        Some(Reply::Truncated(body)) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len() * 2
            )?;
            stream.write_all(body)?;
        }
        None => {
            stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
    }
    stream.flush()
}

/// A BEIR-shaped zip `{name}/corpus.jsonl, queries.jsonl, qrels/test.tsv`: from
/// ../shared SciFact (its first `docs` documents) when present, else synthetic.
fn beir_zip(name: &str, docs: usize) -> (Vec<u8>, usize) {
    let (corpus, queries, qrels) = match shared_datasets() {
        Some(shared) => {
            let dir = shared.join("scifact");
            let corpus = std::fs::read_to_string(dir.join("corpus.jsonl")).unwrap();
            let corpus: String = corpus
                .lines()
                .take(docs)
                .map(|l| format!("{l}\n"))
                .collect();
            (
                corpus,
                std::fs::read_to_string(dir.join("queries.jsonl")).unwrap(),
                std::fs::read_to_string(dir.join("qrels/test.tsv")).unwrap(),
            )
        }
        None => {
            eprintln!("../shared absent: serving a synthetic dataset instead of SciFact");
            let corpus: String = (0..docs)
                .map(|i| {
                    format!("{{\"_id\": \"d{i}\", \"title\": \"t{i}\", \"text\": \"body {i}\"}}\n")
                })
                .collect();
            (
                corpus,
                "{\"_id\": \"q1\", \"text\": \"query\"}\n".to_string(),
                "query-id\tcorpus-id\tscore\nq1\td0\t1\n".to_string(),
            )
        }
    };
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory(format!("{name}/"), opts).unwrap();
    for (path, text) in [
        (format!("{name}/corpus.jsonl"), &corpus),
        (format!("{name}/queries.jsonl"), &queries),
        (format!("{name}/qrels/test.tsv"), &qrels),
    ] {
        zip.start_file(path, opts).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    (zip.finish().unwrap().into_inner(), corpus.lines().count())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn downloads_unzips_verifies_and_reuses() {
    let (zip, docs) = beir_zip("scifact-mini", 50);
    let server = Server::start(HashMap::from([(
        "/beir/scifact-mini.zip".to_string(),
        Reply::Ok(zip),
    )]));
    let cache = tempfile::tempdir().unwrap();
    let base = format!("{}/beir/", server.base);

    let dir = download_beir_from("scifact-mini", cache.path(), &base).unwrap();
    assert_eq!(dir, cache.path().join("scifact-mini"));
    assert_eq!(server.requests(), 1);
    let ds = BeirDataset::open(&dir).unwrap();
    assert_eq!(ds.corpus().count(), docs);
    assert_eq!(ds.splits().unwrap(), ["test"]);
    assert!(ds.qrels("test").unwrap().num_queries() > 0);
    // Only the dataset is left in the cache: the temporary download is gone.
    assert_eq!(entries(cache.path()), ["scifact-mini"]);

    // Second call: served from the cache, no request.
    let again = download_beir_from("scifact-mini", cache.path(), &base).unwrap();
    assert_eq!(again, dir);
    assert_eq!(server.requests(), 1);
}

#[test]
fn published_md5_is_checked_for_known_names() {
    // A zip that is not BEIR's scifact.zip, served under that name, fails the MD5 check.
    let (zip, _) = beir_zip("scifact", 5);
    let server = Server::start(HashMap::from([(
        "/scifact.zip".to_string(),
        Reply::Ok(zip),
    )]));
    let cache = tempfile::tempdir().unwrap();
    let err = download_beir_from("scifact", cache.path(), &server.base).unwrap_err();
    assert!(matches!(err, DatasetsError::Verification { .. }), "{err}");
    assert!(
        err.to_string().contains("5f7d1de60b170fc8027bb7898e2efca1"),
        "{err}"
    );
    assert!(
        entries(cache.path()).is_empty(),
        "nothing half-made is left"
    );
}

#[test]
fn http_errors_truncation_and_bad_archives_are_reported() {
    let (zip, _) = beir_zip("cut", 5);
    let server = Server::start(HashMap::from([
        ("/cut.zip".to_string(), Reply::Truncated(zip)),
        ("/junk.zip".to_string(), Reply::Ok(b"not a zip".to_vec())),
        ("/empty.zip".to_string(), Reply::Ok(empty_zip())),
    ]));
    let cache = tempfile::tempdir().unwrap();

    let err = download_beir_from("missing", cache.path(), &server.base)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 404") && err.contains("missing.zip"),
        "{err}"
    );
    assert!(err.contains("Offline?"), "{err}");

    let err = download_beir_from("cut", cache.path(), &server.base).unwrap_err();
    assert!(matches!(err, DatasetsError::Download { .. }), "{err}");

    let err = download_beir_from("junk", cache.path(), &server.base).unwrap_err();
    assert!(matches!(err, DatasetsError::Zip { .. }), "{err}");

    let err = download_beir_from("empty", cache.path(), &server.base)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing BEIR corpus"), "{err}");

    assert!(
        entries(cache.path()).is_empty(),
        "{:?}",
        entries(cache.path())
    );
}

fn empty_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("readme.txt", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"nothing here").unwrap();
    zip.finish().unwrap().into_inner()
}
