//! The manifest of one generation of an index, and `CURRENT`, the pointer to the live
//! generation's manifest.
//!
//! ```text
//! <index>/
//!   CURRENT                  one line: the live manifest's file name (replaced by rename)
//!   manifest-000003.json     Manifest (below)
//!   LOCK                     the writer's lock file (its pid), present while one writes
//!   codec-000001/            centroids.npy, centroid_scales.npy, codebooks or cutoffs+weights
//!   seg-000001/              codes.npy, centroid_ids.bin, doc_offsets.npy, postings.bin,
//!                            doc_ids.bin, [embeddings.npy]
//!   seg-000001.del-000003    roaring bitmap (portable serialisation) of the segment's
//!                            deleted documents as of generation 3
//! ```
//!
//! Every file is written once under a new name and never modified. A commit writes the
//! new files, syncs them, writes `manifest-<gen>.json` (synced), then replaces `CURRENT`
//! by renaming a synced temporary file over it and syncs the directory: a crash at any
//! moment leaves `CURRENT` naming generation N or N+1, each complete.
//!
//! ```json
//! {
//!   "format": "tartan-index", "format_version": 3, "generation": 3,
//!   "dim": 128, "codec": {"product": {"nbits": 2}}, "bytes_per_code": 32,
//!   "num_centroids": 8192,
//!   "build": {...}, "encoder": {...},
//!   "codec_dir": "codec-000001",
//!   "codec_files": {"centroids.npy": {"size": 1048704, "crc32c": 305419896}, ...},
//!   "next_file_number": 4,
//!   "segments": [
//!     {"name": "seg-000001", "num_documents": 5183, "num_embeddings": 815632,
//!      "empty_documents": 0, "has_embeddings": false, "trained": true,
//!      "residual_error": 0.021,
//!      "files": {"codes.npy": {"size": 26100352, "crc32c": 1}, ...},
//!      "deletes": {"file": "seg-000001.del-000003", "count": 12, "sum": {...}}}
//!   ]
//! }
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tartan_quantize::CodecKind;

use super::checksum::FileSum;
use super::meta::{BuildParams, FORMAT_NAME};
use crate::error::{EngineError, Result};

/// The file naming the live manifest.
pub const CURRENT: &str = "CURRENT";
/// The writer's lock file.
pub const LOCK: &str = "LOCK";
/// The format version of indexes with segments and generations.
pub const SEGMENTED_VERSION: u32 = 3;

/// The manifest of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format version ([`SEGMENTED_VERSION`]).
    pub format_version: u32,
    /// This generation's number (1 for a fresh build; each commit adds one).
    pub generation: u64,
    /// Embedding dimension.
    pub dim: usize,
    /// The residual codec.
    pub codec: CodecKind,
    /// Bytes of residual code an embedding.
    pub bytes_per_code: usize,
    /// Number of centroids.
    pub num_centroids: usize,
    /// How the codec was trained.
    pub build: BuildParams,
    /// Free-form encoder settings, so queries and added documents are encoded the way
    /// the first documents were.
    pub encoder: serde_json::Value,
    /// The directory of the centroids and the codec, shared by every segment.
    pub codec_dir: String,
    /// Size and checksum of every file of `codec_dir`.
    pub codec_files: BTreeMap<String, FileSum>,
    /// The next number to give a new segment, codec or delete file.
    pub next_file_number: u64,
    /// The segments, in document-number order.
    pub segments: Vec<SegmentEntry>,
}

/// One immutable segment as listed in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Its directory's name (`seg-NNNNNN`).
    pub name: String,
    /// Documents in the segment, deleted ones included.
    pub num_documents: usize,
    /// Embeddings in the segment.
    pub num_embeddings: usize,
    /// Documents with no embeddings.
    pub empty_documents: usize,
    /// Whether the segment keeps its uncompressed embeddings.
    pub has_embeddings: bool,
    /// Whether the segment's embeddings were part of the corpus the codec was trained on
    /// (false for added documents: they drift from the centroids).
    pub trained: bool,
    /// Mean squared reconstruction error an embedding (decoded vs given), measured on a
    /// sample at write time; compared between trained and added segments (drift).
    #[serde(default)]
    pub residual_error: Option<f64>,
    /// Size and checksum of every file of the segment.
    pub files: BTreeMap<String, FileSum>,
    /// The segment's deleted documents, if any.
    #[serde(default)]
    pub deletes: Option<DeletesEntry>,
}

/// A segment's delete file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletesEntry {
    /// The file name (`seg-NNNNNN.del-GGGGGG`), beside the segment directories.
    pub file: String,
    /// Deleted documents.
    pub count: u64,
    /// Size and checksum of the file.
    pub sum: FileSum,
}

impl Manifest {
    /// Bytes of the files this manifest lists (codec, segments, deletion bitmaps), kept
    /// embeddings excluded; the manifest file itself is not among them.
    pub fn listed_bytes(&self) -> u64 {
        let codec: u64 = self.codec_files.values().map(|f| f.size).sum();
        let segments: u64 = self
            .segments
            .iter()
            .map(|s| {
                s.files
                    .iter()
                    .filter(|(name, _)| name.as_str() != super::EMBEDDINGS)
                    .map(|(_, f)| f.size)
                    .sum::<u64>()
                    + s.deletes.as_ref().map_or(0, |d| d.sum.size)
            })
            .sum();
        codec + segments
    }

    /// The manifest file name of generation `g`.
    pub fn file_name(generation: u64) -> String {
        format!("manifest-{generation:06}.json")
    }

    /// Documents over every segment, deleted ones included.
    pub fn num_documents(&self) -> usize {
        self.segments.iter().map(|s| s.num_documents).sum()
    }

    /// Deleted documents over every segment.
    pub fn num_deleted(&self) -> u64 {
        self.segments
            .iter()
            .filter_map(|s| s.deletes.as_ref())
            .map(|d| d.count)
            .sum()
    }

    /// Embeddings over every segment.
    pub fn num_embeddings(&self) -> usize {
        self.segments.iter().map(|s| s.num_embeddings).sum()
    }

    /// Every file and directory name this generation uses (CURRENT and LOCK aside).
    pub fn referenced_names(&self) -> Vec<String> {
        let mut names = vec![Self::file_name(self.generation), self.codec_dir.clone()];
        for s in &self.segments {
            names.push(s.name.clone());
            if let Some(d) = &s.deletes {
                names.push(d.file.clone());
            }
        }
        names
    }

    /// Takes the next file number.
    pub fn take_number(&mut self) -> u64 {
        let n = self.next_file_number;
        self.next_file_number += 1;
        n
    }

    /// Parses a manifest (checks the format name and version).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
        }
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|e| EngineError::corrupt(path, format!("not a tartan manifest: {e}")))?;
        if header.format != FORMAT_NAME {
            return Err(EngineError::corrupt(
                path,
                format!("format {:?}, expected {FORMAT_NAME:?}", header.format),
            ));
        }
        if header.format_version != SEGMENTED_VERSION {
            return Err(EngineError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: header.format_version,
                oldest: super::meta::OLDEST_READABLE_VERSION,
                newest: super::meta::FORMAT_VERSION,
            });
        }
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| EngineError::corrupt(path, format!("invalid manifest: {e}")))?;
        manifest.check_names(path)?;
        Ok(manifest)
    }

    /// Every name a manifest lists must be a plain file name of the expected shape, so a
    /// damaged or hostile manifest can never point outside the index directory.
    fn check_names(&self, path: &Path) -> Result<()> {
        let plain = |n: &str, prefix: &str| {
            n.starts_with(prefix)
                && n.len() > prefix.len()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
                && !n.contains("..")
        };
        let mut ok = plain(&self.codec_dir, "codec-");
        for s in &self.segments {
            ok &= plain(&s.name, "seg-");
            ok &= s.files.keys().all(|f| plain(f, ""));
            if let Some(d) = &s.deletes {
                ok &= plain(&d.file, &format!("{}.del-", s.name));
            }
        }
        ok &= self.codec_files.keys().all(|f| plain(f, ""));
        if !ok {
            return Err(EngineError::corrupt(
                path,
                "a listed name is not a plain file name",
            ));
        }
        Ok(())
    }
}

/// Reads `CURRENT` and the manifest it names: `Ok(None)` when `dir` has no `CURRENT`.
pub fn read_current(dir: &Path) -> Result<Option<(PathBuf, Manifest)>> {
    let current = dir.join(CURRENT);
    let name = match std::fs::read_to_string(&current) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::io(&current, e)),
    };
    let name = name.trim();
    let valid = name.starts_with("manifest-")
        && name.ends_with(".json")
        && !name.contains('/')
        && !name.contains("..");
    if !valid {
        return Err(EngineError::corrupt(
            &current,
            format!("does not name a manifest: {name:?}"),
        ));
    }
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| EngineError::open(&path, e))?;
    let manifest = Manifest::parse(&path, &bytes)?;
    if Manifest::file_name(manifest.generation) != name {
        return Err(EngineError::corrupt(
            &path,
            format!("records generation {}", manifest.generation),
        ));
    }
    Ok(Some((path, manifest)))
}

/// Writes `manifest-<gen>.json` (synced) into `dir`: the first half of a commit.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(Manifest::file_name(manifest.generation));
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| EngineError::InvalidConfig {
        reason: format!("manifest cannot be serialised: {e}"),
    })?;
    write_synced(&path, &text)
}

/// Points `CURRENT` at generation `generation` by renaming a synced temporary file over
/// it, then syncs the directory: the commit point.
pub fn swap_current(dir: &Path, generation: u64) -> Result<()> {
    let tmp = dir.join(format!("{CURRENT}.tmp-{}", std::process::id()));
    write_synced(
        &tmp,
        format!("{}\n", Manifest::file_name(generation)).as_bytes(),
    )?;
    fail::fail_point!("commit.before_current_rename", |_| Err(injected(
        "commit.before_current_rename"
    )));
    let current = dir.join(CURRENT);
    std::fs::rename(&tmp, &current).map_err(|e| EngineError::io(&current, e))?;
    sync_dir(dir)
}

/// Writes `bytes` to `path` and syncs the file.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::File::create(path).map_err(|e| EngineError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| EngineError::io(path, e))
}

/// Syncs a directory (its entries: created, renamed or removed files).
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| EngineError::io(dir, e))
}

/// The error a failpoint returns in tests: what a crash at that point would leave.
/// (`fail_point!` expands to nothing unless the test build compiles failpoints in.)
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn injected(point: &str) -> EngineError {
    EngineError::Io {
        path: PathBuf::from(point),
        source: std::io::Error::other("failure injected by a test"),
    }
}
