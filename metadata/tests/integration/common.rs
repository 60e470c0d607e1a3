//! Writing small stores for the tests.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tartan_metadata::{Filter, SegmentStore, SegmentStoreWriter, FILE_NAME};

/// One document: external id, metadata (an object or null), text.
pub struct Doc {
    pub id: String,
    pub metadata: Value,
    pub text: Option<String>,
}

pub fn doc(id: &str, metadata: Value, text: Option<&str>) -> Doc {
    Doc {
        id: id.to_owned(),
        metadata,
        text: text.map(str::to_owned),
    }
}

/// Writes `docs` with ordinals 0, 1, ... into `dir/metadata.sqlite` and opens it.
pub fn write(dir: &Path, docs: &[Doc]) -> (PathBuf, SegmentStore) {
    let path = dir.join(FILE_NAME);
    let mut writer = SegmentStoreWriter::create(&path).expect("create");
    for (ordinal, doc) in docs.iter().enumerate() {
        writer
            .add(
                u32::try_from(ordinal).expect("small"),
                &doc.id,
                doc.metadata.as_object(),
                doc.text.as_deref(),
            )
            .expect("add");
    }
    writer.finish().expect("finish");
    let store = SegmentStore::open(&path).expect("open");
    (path, store)
}

/// The ordinals a JSON filter selects.
pub fn select(store: &SegmentStore, filter: Value) -> Vec<u32> {
    let filter = Filter::parse(&filter).expect("valid filter");
    store.evaluate(&filter).expect("evaluate").iter().collect()
}

/// Where the shared data lives, when it is there.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    if dir.join("datasets/scifact/corpus.jsonl").exists() {
        Some(dir.to_path_buf())
    } else {
        eprintln!("skipping {test}: ../shared/datasets/scifact is not present");
        None
    }
}
