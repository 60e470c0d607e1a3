//! `meta.json`: the index's manifest, a small JSON object.
//!
//! ```json
//! {
//!   "format": "tartan-index",
//!   "format_version": 2,
//!   "dim": 128,
//!   "codec": {"product": {"nbits": 2}},
//!   "bytes_per_code": 32,
//!   "num_documents": 5183, "num_embeddings": 815000, "num_centroids": 8192,
//!   "empty_documents": 0,
//!   "has_embeddings": false,
//!   "build": {"seed": 42, "kmeans_iterations": 4, "kmeans_points": 262144,
//!             "codec_training_points": 26214, "chunk_size": 65536,
//!             "created_by": "tartan-engine 0.1.0"},
//!   "encoder": { ...free-form, supplied by the caller... },
//!   "files": {"centroids.npy": 4194432, "codes.npy": 26080064, ...}
//! }
//! ```
//!
//! `files` records the size of every other file, so a truncated or swapped file is
//! caught when the index opens, before anything is read from it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tartan_quantize::CodecKind;

use crate::error::{EngineError, Result};

/// The `format` value of every tartan index.
pub const FORMAT_NAME: &str = "tartan-index";
/// The format version this build writes.
///
/// 3: segments and generations: `CURRENT`, a manifest a generation with the size and
/// CRC-32C of every file, a codec directory, segment directories, delete bitmaps
/// (format::manifest). 2: 8-bit centroids with a scale a row, posting lists and per-document centroid
/// ids Elias–Fano coded, embeddings sorted by centroid within a document
/// (1: f32 centroids, roaring lists, u16/u32 ids).
pub const FORMAT_VERSION: u32 = 3;
/// The oldest format version this build reads (format 2: read-only, one segment).
pub const OLDEST_READABLE_VERSION: u32 = 2;

/// The parsed `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format version the index was written in.
    pub format_version: u32,
    /// Embedding dimension.
    pub dim: usize,
    /// The residual codec and its bits a dimension.
    pub codec: CodecKind,
    /// Bytes of residual code an embedding.
    pub bytes_per_code: usize,
    /// Number of documents (including empty ones).
    pub num_documents: usize,
    /// Number of embeddings.
    pub num_embeddings: usize,
    /// Number of centroids.
    pub num_centroids: usize,
    /// Number of documents with no embeddings (never returned by search).
    pub empty_documents: usize,
    /// Whether `embeddings.npy` (uncompressed, for exact search) is present.
    pub has_embeddings: bool,
    /// How the index was built.
    pub build: BuildParams,
    /// Free-form encoder settings supplied by the caller, so queries can be encoded
    /// the way the documents were.
    pub encoder: serde_json::Value,
    /// Size in bytes of every other file of the index.
    pub files: BTreeMap<String, u64>,
}

/// Build parameters recorded in `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildParams {
    /// Seed of sampling, k-means and codec training.
    pub seed: u64,
    /// k-means iterations.
    pub kmeans_iterations: usize,
    /// Embeddings k-means was trained on.
    pub kmeans_points: usize,
    /// Held-out embeddings the residual codec was trained on.
    pub codec_training_points: usize,
    /// Embeddings a compression chunk.
    pub chunk_size: usize,
    /// The crate and version that wrote the index.
    pub created_by: String,
}

impl IndexMeta {
    /// Reads and checks `dir/meta.json` (format name and version).
    pub fn read(dir: &Path) -> Result<IndexMeta> {
        let path = dir.join(super::META);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::MissingFile { path: path.clone() },
            _ => EngineError::io(&path, e),
        })?;
        // Check the name and version first, so an older or newer format is reported
        // as such rather than as a schema mismatch.
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
        }
        let header: Header = serde_json::from_slice(&bytes)
            .map_err(|e| EngineError::corrupt(&path, format!("not a tartan meta.json: {e}")))?;
        if header.format != FORMAT_NAME {
            return Err(EngineError::corrupt(
                &path,
                format!("format {:?}, expected {FORMAT_NAME:?}", header.format),
            ));
        }
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&header.format_version) {
            return Err(EngineError::UnsupportedVersion {
                path,
                found: header.format_version,
                oldest: OLDEST_READABLE_VERSION,
                newest: FORMAT_VERSION,
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| EngineError::corrupt(&path, format!("invalid meta.json: {e}")))
    }

    /// Writes `dir/meta.json` and syncs it.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(super::META);
        let text = serde_json::to_vec_pretty(self).map_err(|e| EngineError::InvalidConfig {
            reason: format!("meta.json cannot be serialised: {e}"),
        })?;
        std::fs::write(&path, text).map_err(|e| EngineError::io(&path, e))?;
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| EngineError::io(&path, e))
    }
}
