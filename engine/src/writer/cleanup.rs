//! Removing what no generation needs: files of unfinished commits (a crashed writer),
//! and those of generations a commit replaced. Only names of the index's own shapes are
//! touched; anything else in the directory is left alone.

use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::format::manifest::{Manifest, CURRENT, LOCK};

/// Whether `name` is of a shape the index writes (and so may remove when unreferenced).
pub(crate) fn ours(name: &str) -> bool {
    name.starts_with("manifest-")
        || name.starts_with("codec-")
        || name.starts_with("seg-")
        || name.starts_with(&format!("{CURRENT}.tmp-"))
        || name.starts_with("tmp-")
}

/// Removes every entry of `dir` of the index's shapes that `manifest` does not
/// reference; returns what was removed. Readers that mapped a removed file keep
/// reading it (the data lives until they unmap); a reader opening the old generation
/// at that moment retries on the new one ([`crate::Index::open`]).
pub fn remove_unreferenced(dir: &Path, manifest: &Manifest) -> Result<Vec<PathBuf>> {
    let keep = manifest.referenced_names();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| EngineError::io(dir, e))? {
        let entry = entry.map_err(|e| EngineError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == CURRENT || name == LOCK || !ours(&name) || keep.contains(&name) {
            continue;
        }
        let path = entry.path();
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io(&path, e)),
        }
    }
    removed.sort();
    Ok(removed)
}

/// Removes the build staging directories (`.<name>.tartan-tmp-<pid>-<n>`) that dead
/// processes left beside `target`; returns what was removed.
pub fn remove_stale_staging(target: &Path) -> Result<Vec<PathBuf>> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(Vec::new());
    };
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.tartan-tmp-");
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest
            .split(['-', '.'])
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !super::lock::process_alive(p)) {
            let path = entry.path();
            let result = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if result.is_ok() {
                removed.push(path);
            }
        }
    }
    removed.sort();
    Ok(removed)
}
