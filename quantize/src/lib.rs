//! k-means centroids and residual codecs for tartan, a PLAID-style ColBERT index.
//!
//! - [`Centroids::train`]: spherical k-means on a seeded sample (ColBERTv2), with
//!   assignment as a blocked matrix product (faer) in parallel (rayon);
//!   [`Centroids::assign`] gives the nearest centroid of any number of embeddings.
//! - [`ResidualCodec`]: residual = embedding - centroid, coded in `nbits` bits a
//!   dimension by product codes (default) or ColBERTv2 scalar codes; decode, and a
//!   per-query [`QueryLut`] that scores codes without decoding them.
//!
//! Every buffer is a flat row-major `n x dim` `&[f32]`. Invalid input is a
//! [`QuantizeError`], never a panic; the per-embedding hot calls (`encode_into`,
//! `decode_into`, `QueryLut::score`) only assert buffer lengths, a caller bug.
#![deny(missing_docs)]

mod centroids;
mod check;
mod codec;
mod error;
mod lloyd;
mod nearest;
mod simd;

pub use centroids::{default_num_centroids, Centroids, KMeansConfig, DEFAULT_POINTS_PER_CENTROID};
pub use codec::pack::{pack_codes, unpack_codes};
pub use codec::{
    CodecKind, Compressed, ProductCodec, QueryLut, ResidualCodec, ScalarCodec, TrainConfig,
    CODEBOOK_SIZE,
};
pub use error::{QuantizeError, Result};
