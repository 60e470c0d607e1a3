//! The living index: adds, upserts, deletes, optimize, the writer lock, checksums and
//! in-place replacement.

use std::collections::HashSet;

use tartan_engine::synthetic::Synthetic;
use tartan_engine::{
    BuildConfig, EngineError, Index, IndexBuilder, IndexWriter, NoProgress, SearchParams,
};

use crate::common::{batch, scratch_dir, small_corpus};

/// Builds documents `range` of `s` at `dir` with kept embeddings.
fn build(s: &Synthetic, range: std::ops::Range<usize>, dir: &std::path::Path, overwrite: bool) {
    let config = BuildConfig {
        num_centroids: Some(32),
        keep_embeddings: true,
        overwrite,
        ..BuildConfig::default()
    };
    let mut b = IndexBuilder::new(dir, s.dim(), config).unwrap();
    let mut doc = Vec::new();
    for d in range {
        s.document(d, &mut doc);
        b.add_document(&s.doc_id(d), &doc).unwrap();
    }
    b.finish(&NoProgress).unwrap();
}

fn all_ids(index: &Index, query: &[f32]) -> Vec<String> {
    let params = SearchParams {
        k: index.num_documents() + 5,
        ..SearchParams::for_k(10)
    };
    index
        .search(query, &params)
        .unwrap()
        .iter()
        .map(|h| index.doc_id(h.doc).to_owned())
        .collect()
}

#[test]
fn added_documents_are_found_and_an_existing_id_refuses_the_whole_batch() {
    let dir = scratch_dir("living-add").join("idx");
    let s = small_corpus(120, 5);
    build(&s, 0..100, &dir, false);
    let mut w = IndexWriter::open(&dir).unwrap();
    let (ids, e, l) = batch(&s, 100..120);
    let r = w.add(&ids, &e, &l, false, &NoProgress).unwrap();
    assert_eq!((r.generation, r.added), (2, 20));
    // One id already there: an error naming it, nothing committed.
    let (ids2, e2, l2) = batch(&s, 95..105);
    let err = w.add(&ids2, &e2, &l2, false, &NoProgress).unwrap_err();
    assert!(
        matches!(&err, EngineError::DuplicateId { id } if id == &s.doc_id(95)),
        "{err}"
    );
    drop(w);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.generation(), 2);
    assert_eq!(index.num_segments(), 2);
    assert_eq!(index.num_live_documents(), 120);
    // Every added document is its own best match by exact search and by PLAID.
    let mut doc = Vec::new();
    for d in [100, 107, 119] {
        s.document(d, &mut doc);
        let hits = index.search(&doc, &SearchParams::for_k(1)).unwrap();
        assert_eq!(index.doc_id(hits[0].doc), s.doc_id(d));
        let exact = index.search_exact(&doc, 1).unwrap();
        assert_eq!(index.doc_id(exact[0].doc), s.doc_id(d));
    }
    // Ids stay unique over the index.
    let found: HashSet<String> = (0..index.num_documents() as u32)
        .map(|d| index.doc_id(d).to_owned())
        .collect();
    assert_eq!(found.len(), 120);
}

#[test]
fn deleted_documents_are_never_returned_and_optimize_keeps_the_results() {
    let dir = scratch_dir("living-delete").join("idx");
    let s = small_corpus(150, 9);
    build(&s, 0..150, &dir, false);
    let gone: Vec<String> = (0..150).step_by(7).map(|d| s.doc_id(d)).collect();
    let mut w = IndexWriter::open(&dir).unwrap();
    let mut asked = gone.clone();
    asked.push("no-such-id".into());
    let r = w.delete(&asked).unwrap();
    assert_eq!(r.deleted, gone.len());
    assert_eq!(r.unknown, vec!["no-such-id".to_string()]);
    // Deleting again: every id is unknown now, nothing committed.
    let again = w.delete(&gone).unwrap();
    assert_eq!(
        (again.deleted, again.unknown.len(), again.generation),
        (0, gone.len(), 2)
    );
    drop(w);
    let index = Index::open(&dir).unwrap();
    let gone_set: HashSet<&String> = gone.iter().collect();
    let queries = s.queries(20);
    let mut before = Vec::new();
    for q in &queries {
        let ids = all_ids(&index, q);
        assert!(ids.iter().all(|id| !gone_set.contains(id)));
        assert_eq!(
            ids.len(),
            150 - gone.len(),
            "every live document comes back at k >= n"
        );
        let exact = index.search_exact(q, 150).unwrap();
        assert!(exact
            .iter()
            .all(|h| !gone_set.contains(&index.doc_id(h.doc).to_owned())));
        let top: Vec<(String, f32)> = index
            .search(q, &SearchParams::for_k(10))
            .unwrap()
            .iter()
            .map(|h| (index.doc_id(h.doc).to_owned(), h.score))
            .collect();
        before.push(top);
    }
    let bytes_before = index.bytes_on_disk();
    drop(index);
    let mut w = IndexWriter::open(&dir).unwrap();
    let r = w.optimize().unwrap();
    assert_eq!(r.merged_segments, 1);
    drop(w);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.num_segments(), 1);
    assert_eq!(index.num_documents(), 150 - gone.len());
    assert!(index.deleted().is_empty());
    assert!(index.bytes_on_disk() < bytes_before);
    for (q, want) in queries.iter().zip(&before) {
        let got: Vec<(String, f32)> = index
            .search(q, &SearchParams::for_k(10))
            .unwrap()
            .iter()
            .map(|h| (index.doc_id(h.doc).to_owned(), h.score))
            .collect();
        assert_eq!(&got, want);
    }
    // Nothing of the replaced generations is left.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("seg-")).count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.starts_with("manifest-")).count(),
        1,
        "{names:?}"
    );
}

#[test]
fn upsert_replaces_in_one_commit_and_many_adds_are_merged() {
    let dir = scratch_dir("living-upsert").join("idx");
    let s = small_corpus(60, 21);
    let other = small_corpus(60, 22);
    build(&s, 0..40, &dir, false);
    let mut w = IndexWriter::open(&dir).unwrap();
    // Document 3's id now carries other's document 3.
    let (_, e, l) = batch(&other, 3..4);
    let r = w.add(&[s.doc_id(3)], &e, &l, true, &NoProgress).unwrap();
    assert_eq!((r.added, r.deleted), (1, 1));
    // One document a commit, past the segment limit: merged automatically.
    for d in 40..60 {
        let (ids, e, l) = batch(&s, d..d + 1);
        w.add(&ids, &e, &l, false, &NoProgress).unwrap();
        assert!(w.index().num_segments() <= tartan_engine::MAX_SEGMENTS);
    }
    drop(w);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.num_live_documents(), 60);
    let mut doc = Vec::new();
    other.document(3, &mut doc);
    let hit = index.search_exact(&doc, 1).unwrap()[0];
    assert_eq!(index.doc_id(hit.doc), s.doc_id(3));
    assert!((hit.score - doc.len() as f32 / 32.0).abs() < 1e-3);
}

#[test]
fn one_writer_at_a_time() {
    let dir = scratch_dir("living-lock").join("idx");
    let s = small_corpus(30, 2);
    build(&s, 0..30, &dir, false);
    let w = IndexWriter::open(&dir).unwrap();
    let err = IndexWriter::open(&dir).unwrap_err();
    assert!(matches!(err, EngineError::Locked { pid, .. } if pid == std::process::id()));
    drop(w);
    IndexWriter::open(&dir).unwrap();
}

#[test]
fn a_flipped_byte_in_any_file_is_caught_by_open_or_verify() {
    let dir = scratch_dir("living-checksums").join("idx");
    let s = small_corpus(40, 4);
    build(&s, 0..40, &dir, false);
    let mut w = IndexWriter::open(&dir).unwrap();
    w.delete(&[s.doc_id(1)]).unwrap();
    drop(w);
    let index = Index::open(&dir).unwrap();
    let verified = index.verify(&|_| {}).unwrap();
    assert!(verified.files >= 10);
    let m = index.manifest().unwrap().clone();
    drop(index);
    let mut files: Vec<std::path::PathBuf> = m
        .codec_files
        .keys()
        .map(|n| dir.join(&m.codec_dir).join(n))
        .collect();
    for seg in &m.segments {
        files.extend(seg.files.keys().map(|n| dir.join(&seg.name).join(n)));
        files.extend(seg.deletes.iter().map(|d| dir.join(&d.file)));
    }
    for path in files {
        let original = std::fs::read(&path).unwrap();
        // One byte in the header region and one in the data region.
        for at in [3usize, original.len() - 1] {
            let mut damaged = original.clone();
            damaged[at] ^= 0x5a;
            std::fs::write(&path, &damaged).unwrap();
            let caught = match Index::open(&dir) {
                Err(e) => e.to_string(),
                Ok(index) => match index.verify(&|_| {}) {
                    Err(e) => e.to_string(),
                    Ok(_) => panic!("a flip at {at} of {} went unnoticed", path.display()),
                },
            };
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(caught.contains(&name), "{caught} does not name {name}");
        }
        std::fs::write(&path, &original).unwrap();
    }
}

#[test]
fn replacing_an_index_commits_a_new_generation_in_place() {
    let dir = scratch_dir("living-replace").join("idx");
    let s = small_corpus(50, 6);
    build(&s, 0..30, &dir, false);
    let old = Index::open(&dir).unwrap();
    build(&s, 0..50, &dir, true);
    let new = Index::open(&dir).unwrap();
    assert_eq!((new.generation(), new.num_documents()), (2, 50));
    // The old snapshot still answers from its mapped files.
    let q = &s.queries(1)[0];
    assert!(!old.search(q, &SearchParams::for_k(5)).unwrap().is_empty());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("codec-")).count(),
        1,
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("tmp-")), "{names:?}");
    // A directory that is not an index is never replaced.
    let foreign = scratch_dir("living-replace-foreign").join("x");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let config = BuildConfig {
        overwrite: true,
        ..BuildConfig::default()
    };
    let err = IndexBuilder::new(&foreign, 32, config).unwrap_err();
    assert!(err.to_string().contains("not a tartan index"), "{err}");
    assert!(foreign.join("notes.txt").exists());
}

#[test]
fn a_format_2_index_opens_read_only_and_upgrades_in_place() {
    let base = scratch_dir("living-upgrade");
    let s = small_corpus(40, 8);
    let v3 = base.join("v3");
    build(&s, 0..40, &v3, false);
    let index = Index::open(&v3).unwrap();
    // The same files, flat, with a format-2 meta.json.
    let v2 = base.join("v2");
    std::fs::create_dir_all(&v2).unwrap();
    let m = index.manifest().unwrap();
    let mut files = std::collections::BTreeMap::new();
    for (dir, names) in [
        (&m.codec_dir, m.codec_files.keys().collect::<Vec<_>>()),
        (&m.segments[0].name, m.segments[0].files.keys().collect()),
    ] {
        for name in names {
            let bytes = std::fs::read(v3.join(dir).join(name)).unwrap();
            files.insert(name.clone(), bytes.len() as u64);
            std::fs::write(v2.join(name), bytes).unwrap();
        }
    }
    let mut meta = index.meta().clone();
    meta.format_version = 2;
    meta.files = files;
    std::fs::write(v2.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    let old = Index::open(&v2).unwrap();
    assert_eq!(old.generation(), 0);
    let q = &s.queries(1)[0];
    let want = index.search(q, &SearchParams::for_k(5)).unwrap();
    assert_eq!(old.search(q, &SearchParams::for_k(5)).unwrap(), want);
    let err = IndexWriter::open(&v2).unwrap_err();
    assert!(
        matches!(err, EngineError::ReadOnlyFormat { found: 2, .. }),
        "{err}"
    );
    assert_eq!(tartan_engine::upgrade(&v2).unwrap(), 1);
    assert!(!v2.join("meta.json").exists());
    let new = Index::open(&v2).unwrap();
    assert_eq!(new.generation(), 1);
    assert_eq!(new.search(q, &SearchParams::for_k(5)).unwrap(), want);
    new.verify(&|_| {}).unwrap();
    // The old snapshot still reads its (linked) files.
    assert_eq!(old.search(q, &SearchParams::for_k(5)).unwrap(), want);
    IndexWriter::open(&v2)
        .unwrap()
        .delete(&[s.doc_id(0)])
        .unwrap();
}
