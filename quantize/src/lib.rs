//! k-means centroids and residual codecs for tartan, a PLAID-style ColBERT index.
//!
//! - [`Centroids::train`]: spherical k-means on a seeded sample (ColBERTv2), with
//!   assignment as a blocked matrix product (faer) in parallel (rayon);
//!   [`Centroids::assign`] gives the nearest centroid of any number of embeddings.
//! - [`ResidualCodec`]: residual = embedding - centroid, coded in `nbits` bits a
//!   dimension by product codes (default) or ColBERTv2 scalar codes; decode, and a
//!   per-query [`QueryLut`] that scores codes without decoding them.
//!
//! - [`Compute`]: where the nearest-centroid searches and the encoding of a build run:
//!   this machine's cores, or (the `candle` feature) a candle device, a CUDA GPU with
//!   the `cuda` feature ([`Centroids::train_on`], [`ResidualCodec::compress_on`]).
//!
//! Every buffer is a flat row-major `n x dim` `&[f32]`. Invalid input is a
//! [`QuantizeError`], never a panic; the per-embedding hot calls (`encode_into`,
//! `decode_into`, `QueryLut::score`) only assert buffer lengths, a caller bug.
//!
//! ```
//! use tartan_quantize::{Centroids, CodecKind, KMeansConfig, ResidualCodec};
//! # fn main() -> tartan_quantize::Result<()> {
//! // 512 unit vectors of dim 8 near 4 directions.
//! let dim = 8;
//! let mut points = Vec::new();
//! for i in 0..512 {
//!     let mut v: Vec<f32> = (0..dim).map(|d| ((i * 7 + d * 3) % 11) as f32 * 0.01).collect();
//!     v[i % 4] += 1.0;
//!     let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
//!     points.extend(v.iter().map(|x| x / norm));
//! }
//! let config = KMeansConfig { num_centroids: Some(4), ..KMeansConfig::default() };
//! let centroids = Centroids::train(&points, dim, &config)?;
//! let assigned = centroids.assign(&points)?;
//! let residuals: Vec<f32> = points
//!     .chunks_exact(dim)
//!     .zip(&assigned)
//!     .flat_map(|(p, &c)| p.iter().zip(centroids.row(c as usize)).map(|(x, c)| x - c))
//!     .collect();
//!
//! // 2 bits a dimension: 2 bytes an embedding at dim 8.
//! let codec = ResidualCodec::train(CodecKind::Product { nbits: 2 }, &residuals, dim, 7)?;
//! let codes = codec.encode(&residuals)?;
//! assert_eq!(codec.bytes_per_embedding(), 2);
//! let mut rebuilt = vec![0.0; dim];
//! codec.decode_into(centroids.row(assigned[0] as usize), &codes[..2], &mut rebuilt);
//! // Scoring a code against a query needs no decoding.
//! let lut = codec.query_lut(&points[..dim]);
//! let direct: f32 = points[..dim].iter().zip(&rebuilt).map(|(q, x)| q * x).sum();
//! let centroid: f32 = points[..dim].iter().zip(centroids.row(assigned[0] as usize)).map(|(q, c)| q * c).sum();
//! assert!((centroid + lut.score(&codes[..2]) - direct).abs() < 1e-4);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "candle")]
mod candle_kernels;
mod centroids;
mod check;
mod codec;
mod compute;
mod error;
mod lloyd;
mod nearest;

pub use centroids::{default_num_centroids, Centroids, KMeansConfig, DEFAULT_POINTS_PER_CENTROID};
pub use codec::pack::{pack_codes, unpack_codes};
pub use codec::{
    CodecKind, Compressed, ProductCodec, QueryLut, ResidualCodec, ScalarCodec, TrainConfig,
    CODEBOOK_SIZE, DEFAULT_PARALLEL_WEIGHT,
};
pub use compute::Compute;
pub use error::{QuantizeError, Result};
