//! Building an index: [`IndexBuilder`] (documents from memory, spilled to disk) and
//! [`build_from_npy`] (numpy files, memory-mapped).
//!
//! Both sample the corpus (seeded), train the centroids and, on held-out residuals,
//! the codec; compress every embedding in chunks of `chunk_size`; build the
//! centroid -> documents posting lists; write the files into a temporary sibling of
//! the target and rename it into place last.

mod builder;
pub(crate) mod compress;
mod config;
mod npy_input;
pub(crate) mod pipeline;
pub(crate) mod segment_writer;
mod shared_codec;
pub(crate) mod target;
pub(crate) mod train;
mod unit_norm;

pub use builder::IndexBuilder;
pub use config::{
    BuildConfig, BuildProgress, BuildReport, NoProgress, StageTime, KMEANS_POINTS_PER_CENTROID,
};
pub use npy_input::{build_from_npy, build_from_npy_with};
pub use shared_codec::{
    num_centroids_for, train_codec, train_codec_from_npy, CodecReport, CODEC_FORMAT_NAME,
    CODEC_FORMAT_VERSION, CODEC_RECORD,
};
