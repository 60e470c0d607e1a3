//! tartan-engine: the compressed on-disk ColBERT index, its builder, PLAID search and
//! exact MaxSim.
//!
//! - Build: [`IndexBuilder`] (documents from memory, spilled to disk as they arrive)
//!   or [`build_from_npy`] (numpy files, memory-mapped). Centroids and the residual
//!   codec come from `tartan_quantize`; the directory layout is in [`mod@format`].
//! - Open: [`Index::open`] memory-maps and validates the files.
//! - Search: [`Index::search`] (PLAID, defaults from [`SearchParams::for_k`]),
//!   [`Index::search_batch`] (rayon), [`Index::search_exact`] (brute-force MaxSim over
//!   kept uncompressed embeddings), [`Index::search_exhaustive`] (MaxSim over every
//!   decompressed document, the codec's ceiling).
//!
//! The engine takes embeddings, never text: an index can be built from embeddings made
//! by tartan's encoder, PyLate, colbert-ai or anything else.
//!
//! ```
//! use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
//! use tartan_engine::{BuildConfig, Index, IndexBuilder, NoProgress, SearchParams};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 40 small documents of L2-normalised token embeddings (dim 16).
//! let corpus = Synthetic::new(SyntheticConfig::small());
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("demo.idx");
//! let config = BuildConfig { num_centroids: Some(16), ..BuildConfig::default() };
//! let mut builder = IndexBuilder::new(&path, corpus.dim(), config)?;
//! let mut doc = Vec::new();
//! for d in 0..corpus.num_documents() {
//!     corpus.document(d, &mut doc);
//!     builder.add_document(&corpus.doc_id(d), &doc)?;
//! }
//! builder.finish(&NoProgress)?;
//!
//! let index = Index::open(&path)?; // memory-mapped, checked once
//! let mut query = Vec::new();
//! corpus.query(0, &mut query);
//! let hits = index.search(&query, &SearchParams::for_k(3))?;
//! assert_eq!(hits.len(), 3);
//! println!("{} {:.3}", index.doc_id(hits[0].doc), hits[0].score);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("the index format is little endian and mapped without conversion");

mod build;
mod error;
pub mod format;
mod index;
mod search;
mod segment;
mod shards;
mod stored;
pub mod synthetic;
mod verify;
mod writer;

pub use build::{
    build_from_npy, build_from_npy_with, num_centroids_for, train_codec, train_codec_from_npy,
    BuildConfig, BuildProgress, BuildReport, CodecReport, IndexBuilder, NoProgress, StageTime,
    CODEC_FORMAT_NAME, CODEC_FORMAT_VERSION, CODEC_RECORD, KMEANS_POINTS_PER_CENTROID,
};
pub use error::{EngineError, Result};
pub use format::meta::{BuildParams, IndexMeta, FORMAT_VERSION, OLDEST_READABLE_VERSION};
pub use index::Index;
pub use search::{
    dot, force_final_stage, maxsim, query_centroid_scores, recall, FinalStage, Scoring, SearchHit,
    SearchParams, Searcher, DIRECT_SCORING_MAX_EMBEDDINGS, WIDEN_FACTOR,
};
pub use shards::{merge_top_k, ShardHit, ShardSet};
pub use stored::StoredFields;
/// The metadata crate: [`metadata::Filter`], [`metadata::reciprocal_rank_fusion`] and the
/// per-segment store the engine writes.
pub use tartan_metadata as metadata;
pub use tartan_quantize::CodecKind;
pub use verify::VerifyReport;
pub use writer::{upgrade, CommitReport, IndexWriter, MAX_SEGMENTS};
