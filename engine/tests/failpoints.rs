//! Crash injection at every step of a write (the `fail` crate, compiled in for tests):
//! after each injected failure the index opens at the last complete generation, every
//! committed document is found, nothing uncommitted is visible, and the next writer
//! removes what the failed write left. One test, run in sequence: failpoints are
//! process-wide.

use std::path::Path;

use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{BuildConfig, Index, IndexBuilder, IndexWriter, NoProgress};

fn corpus() -> Synthetic {
    Synthetic::new(SyntheticConfig {
        docs: 60,
        tokens: 8,
        dim: 32,
        topics: 10,
        words_per_topic: 5,
        query_tokens: 4,
        seed: 13,
        ..SyntheticConfig::default()
    })
}

fn build(
    s: &Synthetic,
    docs: std::ops::Range<usize>,
    dir: &Path,
    overwrite: bool,
) -> tartan_engine::Result<()> {
    let config = BuildConfig {
        num_centroids: Some(16),
        keep_embeddings: true,
        overwrite,
        ..BuildConfig::default()
    };
    let mut b = IndexBuilder::new(dir, s.dim(), config)?;
    let mut doc = Vec::new();
    for d in docs {
        s.document(d, &mut doc);
        b.add_document(&s.doc_id(d), &doc)?;
    }
    b.finish(&NoProgress).map(|_| ())
}

fn ids_of(index: &Index) -> Vec<String> {
    let mut ids: Vec<String> = (0..index.num_documents() as u32)
        .filter(|&d| !index.is_deleted(d))
        .map(|d| index.doc_id(d).to_owned())
        .collect();
    ids.sort();
    ids
}

fn expected(s: &Synthetic, docs: impl Iterator<Item = usize>) -> Vec<String> {
    let mut ids: Vec<String> = docs.map(|d| s.doc_id(d)).collect();
    ids.sort();
    ids
}

/// Names in `dir` that no generation references (what a crash left).
fn strays(dir: &Path) -> Vec<String> {
    let index = Index::open(dir).unwrap();
    let keep = index.manifest().unwrap().referenced_names();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "CURRENT" && !keep.contains(n))
        .collect()
}

#[test]
fn every_step_of_every_write_fails_safe() {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("failpoints-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let s = corpus();
    let mut doc = Vec::new();
    let batch = |range: std::ops::Range<usize>, doc: &mut Vec<f32>| {
        let (mut ids, mut all, mut lens) = (Vec::new(), Vec::new(), Vec::new());
        for d in range {
            s.document(d, doc);
            ids.push(s.doc_id(d));
            lens.push(doc.len() / 32);
            all.extend_from_slice(doc);
        }
        (ids, all, lens)
    };

    let write_points = [
        "segment.after_codes",
        "segment.after_metadata",
        "add.after_segment",
        "delete.after_bitmaps",
        "merge.after_segment",
        "commit.after_manifest",
        "commit.before_current_rename",
        "commit.after_swap",
    ];
    let scenario = fail::FailScenario::setup();
    for (case, point) in write_points.iter().enumerate() {
        let dir = root.join(format!("w{case}"));
        build(&s, 0..40, &dir, false).unwrap();
        fail::cfg(*point, "return").unwrap();
        // Each operation in turn; an operation the point does not lie on commits.
        let mut w = IndexWriter::open(&dir).unwrap();
        let (ids, e, l) = batch(40..50, &mut doc);
        let added = w.add(&ids, &e, &l, false, &NoProgress);
        drop(w);
        let mut w = IndexWriter::open(&dir).unwrap();
        let deleted = w.delete(&[s.doc_id(0), s.doc_id(1)]);
        drop(w);
        let mut w = IndexWriter::open(&dir).unwrap();
        let optimized = w.optimize();
        drop(w);
        fail::cfg(*point, "off").unwrap();

        // "after_swap" fails after the commit point: the change is committed.
        let committed = |r: bool| r || *point == "commit.after_swap";
        let index = Index::open(&dir).unwrap();
        let mut want: Vec<usize> = (0..40).collect();
        if committed(added.is_ok()) {
            want.extend(40..50);
        }
        if committed(deleted.is_ok()) {
            want.retain(|&d| d > 1);
        }
        assert_eq!(ids_of(&index), expected(&s, want.into_iter()), "{point}");
        assert!(
            added.is_err() || deleted.is_err() || optimized.is_err(),
            "{point} was never reached"
        );
        // Every listed file is intact, and the next writer removes the leftovers.
        index.verify(&|_| {}).unwrap();
        drop(index);
        drop(IndexWriter::open(&dir).unwrap());
        assert_eq!(strays(&dir), Vec::<String>::new(), "{point}");
        assert!(!dir.join("LOCK").exists());
    }

    // Builds: a fresh build and a replacement, failing before and after the commit.
    for (case, point) in [
        "segment.after_codes",
        "segment.after_metadata",
        "build.before_commit",
        "build.after_commit",
    ]
    .iter()
    .enumerate()
    {
        let fresh = root.join(format!("b{case}"));
        fail::cfg(*point, "return").unwrap();
        let r = build(&s, 0..40, &fresh, false);
        fail::cfg(*point, "off").unwrap();
        if r.is_err() {
            assert!(
                !fresh.exists(),
                "{point}: a failed fresh build left {}",
                fresh.display()
            );
        }
        let siblings: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("tartan-tmp"))
            .collect();
        assert!(siblings.is_empty(), "{point}: {siblings:?}");

        let dir = root.join(format!("r{case}"));
        build(&s, 0..30, &dir, false).unwrap();
        fail::cfg(*point, "return").unwrap();
        let r = build(&s, 0..60, &dir, true);
        fail::cfg(*point, "off").unwrap();
        let index = Index::open(&dir).unwrap();
        let n = index.num_live_documents();
        if r.is_ok() || *point == "build.after_commit" {
            assert_eq!(n, 60, "{point}");
        } else {
            assert_eq!(n, 30, "{point}");
        }
        index.verify(&|_| {}).unwrap();
        drop(index);
        drop(IndexWriter::open(&dir).unwrap());
        assert_eq!(strays(&dir), Vec::<String>::new(), "{point}");
    }
    scenario.teardown();
    let _ = std::fs::remove_dir_all(&root);
}
