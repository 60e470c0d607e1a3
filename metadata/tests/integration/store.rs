//! Writing and reading a segment's store: round trips, refusals, immutability.

use std::sync::Arc;

use serde_json::json;
use tartan_metadata::{MetadataError, SegmentStore, SegmentStoreWriter, FILE_NAME};

use crate::common::{doc, write};

#[test]
fn metadata_text_and_ids_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = json!({"year": 2021, "score": 0.25, "open": true, "note": null,
                       "source": "pubmed", "tags": ["z", "a", "z"], "empty": []});
    let (_, store) = write(
        dir.path(),
        &[
            doc("a", first.clone(), Some("first text")),
            doc("b", json!(null), None),
            doc("c", json!({}), Some("")),
        ],
    );
    assert_eq!(store.count(), 3);
    assert!(store.has_text());
    assert_eq!(store.metadata(0).expect("read"), first.as_object().cloned());
    assert_eq!(store.metadata(1).expect("read"), Some(Default::default()));
    assert_eq!(store.metadata(3).expect("read"), None);
    assert_eq!(store.text(0).expect("read").as_deref(), Some("first text"));
    assert_eq!(store.text(1).expect("read"), None);
    assert_eq!(store.text(2).expect("read").as_deref(), Some(""));
    assert_eq!(store.text(9).expect("read"), None);
    assert_eq!(store.id(2).expect("read").as_deref(), Some("c"));
    assert_eq!(store.ordinal_of("b").expect("read"), Some(1));
    assert_eq!(store.ordinal_of("nope").expect("read"), None);
    let ids = store.ids().expect("read");
    assert_eq!(ids, [(0, "a".into()), (1, "b".into()), (2, "c".into())]);
}

#[test]
fn ordinals_may_have_gaps_but_must_increase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(FILE_NAME);
    let mut writer = SegmentStoreWriter::create(&path).expect("create");
    writer.add(5, "five", None, None).expect("add");
    writer.add(9, "nine", None, None).expect("add");
    let err = writer
        .add(9, "again", None, None)
        .expect_err("not increasing");
    assert!(matches!(
        err,
        MetadataError::OrdinalOutOfOrder {
            previous: 9,
            found: 9,
            ..
        }
    ));
    assert!(err
        .to_string()
        .contains("document `again`: ordinal 9 follows ordinal 9"));
    writer.finish().expect("finish");
    let store = SegmentStore::open(&path).expect("open");
    assert_eq!(
        store.ids().expect("ids"),
        [(5, "five".into()), (9, "nine".into())]
    );
    // $not complements within the documents there are, gaps and all.
    assert_eq!(
        store
            .ordinals()
            .expect("ordinals")
            .iter()
            .collect::<Vec<_>>(),
        [5, 9]
    );
    assert_eq!(
        crate::common::select(&store, json!({"$not": {"k": 1}})),
        [5, 9]
    );
}

#[test]
fn every_document_is_visited_in_order_with_its_metadata_and_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = [
        doc("a", json!({"k": 1, "tags": ["x", "y"]}), Some("text a")),
        doc("b", json!(null), None),
        doc("c", json!({"z": null, "e": []}), Some("text c")),
        doc("d", json!({"k": "last"}), None),
    ];
    let (_, store) = write(dir.path(), &docs);
    let mut seen = Vec::new();
    store
        .for_each_document(|d| {
            seen.push(d);
            Ok::<(), MetadataError>(())
        })
        .expect("walk");
    assert_eq!(seen.len(), docs.len());
    for (ordinal, (stored, written)) in seen.iter().zip(&docs).enumerate() {
        assert_eq!(stored.ordinal as usize, ordinal);
        assert_eq!(stored.id, written.id);
        assert_eq!(
            stored.metadata,
            written.metadata.as_object().cloned().unwrap_or_default()
        );
        assert_eq!(stored.text, written.text);
    }
    // An error from the visitor stops the walk and comes back.
    let mut visited = 0;
    let err = store
        .for_each_document(|_| {
            visited += 1;
            Err(MetadataError::InvalidArgument("stop".into()))
        })
        .expect_err("stopped");
    assert_eq!(visited, 1);
    assert!(err.to_string().contains("stop"));
}

#[test]
fn a_refused_row_leaves_nothing_and_the_writer_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(FILE_NAME);
    let mut writer = SegmentStoreWriter::create(&path).expect("create");
    writer
        .add(0, "a", json!({"k": 1}).as_object(), None)
        .expect("add");
    let err = writer
        .add(
            1,
            "bad",
            json!({"k": 1, "nested": {"x": 1}}).as_object(),
            Some("t"),
        )
        .expect_err("nested");
    assert_eq!(
        err.to_string(),
        "document `bad`: metadata key `nested`: nested objects are not supported (metadata is a flat object)"
    );
    let err = writer.add(1, "a", None, None).expect_err("duplicate id");
    assert!(
        matches!(err, MetadataError::DuplicateId { ref id } if id == "a"),
        "{err}"
    );
    writer
        .add(1, "bad", None, None)
        .expect("the id is free again");
    writer.finish().expect("finish");
    let store = SegmentStore::open(&path).expect("open");
    assert_eq!(store.count(), 2);
    assert_eq!(store.metadata(1).expect("read"), Some(Default::default()));
    assert!(!store.has_text(), "the refused row's text was not stored");
}

#[test]
fn the_writer_never_overwrites_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, b"precious").expect("write");
    let err = SegmentStoreWriter::create(&path).expect_err("exists");
    assert!(matches!(err, MetadataError::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), b"precious");
}

#[test]
fn a_finished_file_stands_alone_and_reading_never_changes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, store) = write(
        dir.path(),
        &[
            doc("a", json!({"k": "v"}), Some("some words")),
            doc("b", json!({"k": 2}), None),
        ],
    );
    let before = std::fs::read(&path).expect("read");
    assert_eq!(crate::common::select(&store, json!({"k": "v"})), [0]);
    assert_eq!(store.bm25("words", 5).expect("bm25").len(), 1);
    drop(store);
    let store = SegmentStore::open(&path).expect("reopen");
    assert_eq!(
        store.metadata(1).expect("read").expect("doc")["k"],
        json!(2)
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [FILE_NAME],
        "no -wal, -shm or -journal beside the file"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "bytes unchanged"
    );
}

#[test]
fn a_read_only_copy_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, store) = write(dir.path(), &[doc("a", json!({"k": 1}), None)]);
    drop(store);
    let mut permissions = std::fs::metadata(&path).expect("stat").permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions).expect("chmod");
    let store = SegmentStore::open(&path).expect("open read-only file");
    assert_eq!(store.count(), 1);
}

#[test]
fn paths_with_uri_characters_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join("seg ?#%& 1");
    std::fs::create_dir(&odd).expect("mkdir");
    let (_, store) = write(&odd, &[doc("a", json!({"k": 1}), None)]);
    assert_eq!(store.count(), 1);
}

#[test]
fn foreign_damaged_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = SegmentStore::open(dir.path().join("none.sqlite")).expect_err("missing");
    assert!(matches!(missing, MetadataError::Io { .. }), "{missing}");

    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(&garbage, vec![0x5a; 8192]).expect("write");
    let err = SegmentStore::open(&garbage).expect_err("garbage");
    assert!(matches!(err, MetadataError::Corrupt { .. }), "{err}");

    let foreign = dir.path().join("foreign.sqlite");
    let conn = rusqlite::Connection::open(&foreign).expect("create");
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .expect("fill");
    drop(conn);
    let err = SegmentStore::open(&foreign).expect_err("foreign");
    assert!(
        err.to_string()
            .contains("not a tartan metadata database: application id"),
        "{err}"
    );

    let (path, store) = write(&dir.path().join("."), &[doc("a", json!({}), None)]);
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    let err = SegmentStore::open(&path).expect_err("future version");
    assert!(
        err.to_string()
            .contains("format version 99; this build reads version 1"),
        "{err}"
    );

    let (truncated_path, store) = {
        let sub = dir.path().join("t");
        std::fs::create_dir(&sub).expect("mkdir");
        let docs: Vec<_> = (0..2000)
            .map(|i| crate::common::doc(&format!("d{i}"), json!({"k": i}), Some("text text")))
            .collect();
        write(&sub, &docs)
    };
    drop(store);
    let bytes = std::fs::read(&truncated_path).expect("read");
    std::fs::write(&truncated_path, &bytes[..bytes.len() / 2]).expect("truncate");
    // Opening may or may not notice (pages are read lazily); a query must not panic.
    if let Ok(store) = SegmentStore::open(&truncated_path) {
        let filter = "{\"k\": {\"$gte\": 0}}".parse().expect("filter");
        let _ = store.evaluate(&filter);
        let _ = store.metadata(1999);
        let _ = store.bm25("text", 10);
    }
}

#[test]
fn a_store_is_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SegmentStore>();
    let dir = tempfile::tempdir().expect("tempdir");
    let docs: Vec<_> = (0..100)
        .map(|i| doc(&format!("d{i}"), json!({"k": i % 10}), None))
        .collect();
    let (_, store) = write(dir.path(), &docs);
    let store = Arc::new(store);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let filter = format!("{{\"k\": {t}}}").parse().expect("filter");
                store.evaluate(&filter).expect("evaluate").len()
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().expect("thread"), 10);
    }
}
