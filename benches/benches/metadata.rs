//! metadata benches: filter evaluation alone (SQL + bitmap) on a segment store of
//! `TARTAN_BENCH_METADATA_DOCS` (1 000 000) documents, at selectivities 50%, 10%, 1% and
//! 0.1%, against a baseline measured in the same run: SQLite reading every ordinal (the
//! filter `{}` as one SQL statement). Also a complement, two fields intersected and a
//! union (bitmaps combined, and as one SQL statement), a repeated filter served by the
//! LRU cache, and writing a one-document store (with its fsync).
//!
//! Each document has `bucket` (an integer 0..1000 spread over the ordinals, so
//! `{"bucket": {"$lt": n}}` selects n/1000 of them), `source` (one of four strings) and
//! `year` (2000..2025). Writing the store is timed once and printed.
//!
//! ```sh
//! cargo bench -p tartan-benches --bench metadata
//! ```

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use tartan_metadata::{Filter, SegmentStore, SegmentStoreWriter, StoreOptions, FILE_NAME};

fn docs() -> u32 {
    std::env::var("TARTAN_BENCH_METADATA_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

struct Fixture {
    store: SegmentStore,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture() -> Fixture {
    let n = docs();
    let dir = std::env::temp_dir().join(format!("tartan-bench-metadata-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    let path = dir.join(FILE_NAME);
    let sources = ["pubmed", "arxiv", "biorxiv", "scholar"];
    let start = Instant::now();
    let mut writer = SegmentStoreWriter::create(&path).expect("writer");
    for i in 0..n {
        // A multiplicative spread: every bucket value is equally frequent and the
        // ordinals of one bucket are scattered, as a real field's would be.
        let bucket = (u64::from(i) * 7919) % 1000;
        let metadata = json!({
            "bucket": bucket,
            "source": sources[(i % 4) as usize],
            "year": 2000 + i % 25,
        });
        writer
            .add(i, &format!("doc-{i}"), metadata.as_object(), None)
            .expect("add");
    }
    writer.finish().expect("finish");
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "metadata bench: wrote {n} documents in {:.2} s, {:.1} MiB",
        start.elapsed().as_secs_f64(),
        bytes as f64 / (1 << 20) as f64
    );
    let start = Instant::now();
    let store = SegmentStore::open_with(&path, StoreOptions::default()).expect("open");
    eprintln!(
        "metadata bench: opened in {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    Fixture { store, dir }
}

fn filter(text: &str) -> Filter {
    text.parse().expect("bench filter")
}

fn benches(c: &mut Criterion) {
    let fixture = fixture();
    let store = &fixture.store;
    let mut group = c.benchmark_group("metadata_filter");
    group
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    // Baseline: SQLite reading every ordinal (the filter {} as one SQL statement).
    let all = Filter::all();
    group.bench_function("baseline: read every ordinal", |b| {
        b.iter(|| store.evaluate_in_sql(black_box(&all)).expect("evaluate"))
    });
    let cases = [
        ("50%", r#"{"bucket": {"$lt": 500}}"#),
        ("10%", r#"{"bucket": {"$lt": 100}}"#),
        ("1%", r#"{"bucket": {"$lt": 10}}"#),
        ("0.1%", r#"{"bucket": {"$lt": 1}}"#),
        ("0.1% eq", r#"{"bucket": 0}"#),
        ("99%", r#"{"bucket": {"$gte": 10}}"#),
        ("99% as $not of 1%", r#"{"$not": {"bucket": {"$lt": 10}}}"#),
        (
            "10% and source (2.5%)",
            r#"{"bucket": {"$lt": 100}, "source": "pubmed"}"#,
        ),
        (
            "1% or 0.1%",
            r#"{"$or": [{"bucket": {"$lt": 10}}, {"year": 2000, "bucket": 500}]}"#,
        ),
    ];
    for (name, text) in cases {
        let filter = filter(text);
        let selected = store.evaluate_uncached(&filter).expect("evaluate").len();
        eprintln!("metadata bench: {name}: {text} selects {selected}");
        group.bench_function(name, |b| {
            b.iter(|| {
                store
                    .evaluate_uncached(black_box(&filter))
                    .expect("evaluate")
            })
        });
    }
    // The combined filters again, as one SQL statement (INTERSECT, EXCEPT, UNION).
    for (name, text) in &cases[6..] {
        let filter = filter(text);
        group.bench_function(format!("{name}, one SQL statement"), |b| {
            b.iter(|| store.evaluate_in_sql(black_box(&filter)).expect("evaluate"))
        });
    }
    let cached = filter(r#"{"bucket": {"$lt": 100}}"#);
    store.evaluate(&cached).expect("evaluate");
    group.bench_function("10% cached", |b| {
        b.iter(|| store.evaluate(black_box(&cached)).expect("evaluate"))
    });
    group.finish();
    write_one(c, &fixture.dir);
}

/// A one-document store written and fsynced: the metadata share of a one-document add.
fn write_one(c: &mut Criterion, dir: &std::path::Path) {
    let metadata = json!({"bucket": 7, "source": "pubmed", "year": 2024});
    let mut next = 0u64;
    c.bench_function("metadata_write_one_document", |b| {
        b.iter(|| {
            next += 1;
            let path = dir.join(format!("one-{next}.sqlite"));
            let mut writer = SegmentStoreWriter::create(&path).expect("writer");
            writer
                .add(0, "doc-new", metadata.as_object(), Some("a short text"))
                .expect("add");
            writer.finish().expect("finish");
            std::fs::remove_file(&path).expect("remove");
        })
    });
}

criterion_group!(metadata, benches);
criterion_main!(metadata);
