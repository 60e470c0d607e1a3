//! Streams a collection and reports documents, seconds and peak resident memory.
//!
//! ```sh
//! cargo run --release -p tartan-datasets --example stream_corpus -- ../shared/datasets/scifact/corpus.jsonl
//! cargo run --release -p tartan-datasets --example stream_corpus -- collection.tsv.gz
//! ```
//! A `.jsonl[.gz]` file is read as a BEIR corpus, anything else as `pid<TAB>text`.

use std::time::Instant;

use tartan_datasets::{CorpusDoc, CorpusReader, Result, TsvCorpusReader};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: stream_corpus <corpus.jsonl[.gz] | collection.tsv[.gz]>");
        std::process::exit(2);
    };
    let path = std::path::PathBuf::from(path);
    let start = Instant::now();
    let docs: Box<dyn Iterator<Item = Result<CorpusDoc>>> =
        if path.to_string_lossy().contains(".jsonl") {
            Box::new(CorpusReader::open(&path)?)
        } else {
            Box::new(TsvCorpusReader::open(&path)?)
        };
    let (mut n, mut chars) = (0u64, 0usize);
    for doc in docs {
        let doc = doc?;
        n += 1;
        chars += doc.text_for_encoding().len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} documents, {chars} bytes of text, {secs:.2} s ({:.0} docs/s), peak RSS {:.1} MiB",
        n as f64 / secs,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
