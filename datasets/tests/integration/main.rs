//! Integration tests of tartan-datasets (one test binary).

mod download;
mod fixture;
mod shared;

use std::path::PathBuf;

/// `../shared/datasets` from the workspace, or `None` (with the reason printed)
/// when it is absent.
pub fn shared_datasets() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/datasets"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

/// The committed fixture directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}
