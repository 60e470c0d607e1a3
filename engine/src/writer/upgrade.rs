//! `upgrade`: a format-2 index (every file in one directory, `meta.json`) rewritten in
//! place as generation 1 of format 3, its files hard-linked (copied where links are
//! not possible) into a codec and a segment directory.

use std::path::Path;

use super::lock::WriterLock;
use crate::build::segment_writer::sum_files;
use crate::build::target::remove_format2_files;
use crate::error::{EngineError, Result};
use crate::format::manifest::{
    swap_current, sync_dir, write_manifest, Manifest, SegmentEntry, SEGMENTED_VERSION,
};
use crate::format::meta::FORMAT_NAME;
use crate::format::EMBEDDINGS;
use crate::index::Index;
use crate::segment::codec_file_names;

/// Upgrades the index in `dir` to the current format; returns its generation (an
/// index already in the current format is left as it is).
pub fn upgrade(dir: &Path) -> Result<u64> {
    if !dir.is_dir() {
        return Err(EngineError::NoIndex {
            path: dir.to_path_buf(),
        });
    }
    let _lock = WriterLock::acquire(dir)?;
    let old = Index::open(dir)?;
    if let Some(m) = old.manifest() {
        return Ok(m.generation);
    }
    let meta = old.meta().clone();
    drop(old);
    let (codec_dir, seg_dir) = ("codec-000001", "seg-000002");
    let link = |name: &str, to: &str| -> Result<()> {
        let (from, to_dir) = (dir.join(name), dir.join(to));
        std::fs::create_dir_all(&to_dir).map_err(|e| EngineError::io(&to_dir, e))?;
        let target = to_dir.join(name);
        let _ = std::fs::remove_file(&target);
        std::fs::hard_link(&from, &target)
            .or_else(|_| std::fs::copy(&from, &target).map(|_| ()))
            .map_err(|e| EngineError::io(&target, e))
    };
    for name in codec_file_names(meta.codec) {
        link(name, codec_dir)?;
    }
    let mut data = vec![
        crate::format::CODES,
        crate::format::CENTROID_IDS,
        crate::format::DOC_OFFSETS,
        crate::format::POSTINGS,
        crate::format::DOC_IDS,
    ];
    if meta.has_embeddings {
        data.push(EMBEDDINGS);
    }
    for name in data {
        link(name, seg_dir)?;
    }
    sync_dir(&dir.join(codec_dir))?;
    sync_dir(&dir.join(seg_dir))?;
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: SEGMENTED_VERSION,
        generation: 1,
        dim: meta.dim,
        codec: meta.codec,
        bytes_per_code: meta.bytes_per_code,
        num_centroids: meta.num_centroids,
        build: meta.build.clone(),
        encoder: meta.encoder.clone(),
        codec_dir: codec_dir.into(),
        codec_files: sum_files(&dir.join(codec_dir))?,
        next_file_number: 3,
        segments: vec![SegmentEntry {
            name: seg_dir.into(),
            num_documents: meta.num_documents,
            num_embeddings: meta.num_embeddings,
            empty_documents: meta.empty_documents,
            has_embeddings: meta.has_embeddings,
            trained: true,
            residual_error: None,
            files: sum_files(&dir.join(seg_dir))?,
            deletes: None,
        }],
    };
    write_manifest(dir, &manifest)?;
    swap_current(dir, 1)?;
    // The new generation must open before the old files go.
    Index::open(dir)?;
    remove_format2_files(dir)?;
    Ok(1)
}
