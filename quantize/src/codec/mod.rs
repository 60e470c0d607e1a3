//! The residual codec (residual = embedding - its centroid) in two families behind one
//! interface: encode to bytes, decode, and a per-query lookup table for scoring codes
//! without decoding them.
//!
//! Both families spend `nbits` bits a dimension, so `dim * nbits / 8` bytes an embedding
//! (32 at dim 128 and 2 bits):
//! - [`CodecKind::Product`] (the default): sub-vectors of `8 / nbits` dimensions, each
//!   one byte into a 256-entry k-means codebook of its sub-space (8 dims at 1 bit, 4 at
//!   2 bits, 2 at 4 bits).
//! - [`CodecKind::Scalar`]: ColBERTv2's per-dimension quantile buckets, bit-packed in
//!   colbert-ai's order.

mod lut;
pub(crate) mod pack;
mod product;
mod scalar;
mod tables;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::centroids::Centroids;
use crate::check;
use crate::compute::Compute;
use crate::error::{QuantizeError, Result};
use crate::nearest::{nearest_block, Scratch, BLOCK_ROWS};

pub use lut::QueryLut;
pub use product::{ProductCodec, CODEBOOK_SIZE, DEFAULT_PARALLEL_WEIGHT};
pub use scalar::ScalarCodec;

/// Which codec family, at how many bits a dimension (1, 2 or 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodecKind {
    /// Product codes: sub-vectors of `8 / nbits` dimensions, one byte each.
    Product {
        /// Bits a dimension: 1, 2 or 4.
        nbits: u8,
    },
    /// ColBERTv2 scalar codes: `nbits` bits a dimension.
    Scalar {
        /// Bits a dimension: 1, 2 or 4.
        nbits: u8,
    },
}

impl Default for CodecKind {
    /// Product codes at 2 bits a dimension.
    fn default() -> Self {
        CodecKind::Product { nbits: 2 }
    }
}

impl CodecKind {
    /// Every kind there is: product codes at 1, 2 and 4 bits, then scalar codes at 1, 2
    /// and 4 bits.
    pub const ALL: [CodecKind; 6] = [
        CodecKind::Product { nbits: 1 },
        CodecKind::Product { nbits: 2 },
        CodecKind::Product { nbits: 4 },
        CodecKind::Scalar { nbits: 1 },
        CodecKind::Scalar { nbits: 2 },
        CodecKind::Scalar { nbits: 4 },
    ];

    /// Bits a dimension.
    pub fn nbits(self) -> u8 {
        match self {
            CodecKind::Product { nbits } | CodecKind::Scalar { nbits } => nbits,
        }
    }

    /// Bytes a code of a `dim`-dimensional residual takes (`dim * nbits / 8`), or why
    /// this kind cannot code that dimension.
    pub fn bytes_per_embedding(self, dim: usize) -> Result<usize> {
        let per_byte = check::packable(dim, self.nbits())?;
        Ok(dim / per_byte)
    }
}

/// Settings of [`ResidualCodec::train_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainConfig {
    /// Seed of the residual sample and of the codebooks' k-means.
    pub seed: u64,
    /// The most residuals trained on (a seeded sample when there are more).
    pub max_samples: usize,
    /// Lloyd iterations of each product-code codebook.
    pub iterations: usize,
}

impl Default for TrainConfig {
    /// Seed 12345, at most 65,536 residuals (256 per codebook entry), 10 iterations.
    fn default() -> Self {
        Self {
            seed: 12345,
            max_samples: 256 * CODEBOOK_SIZE,
            iterations: 10,
        }
    }
}

/// A trained residual codec of either family.
#[derive(Clone, Debug, PartialEq)]
pub enum ResidualCodec {
    /// Product codes.
    Product(ProductCodec),
    /// ColBERTv2 scalar codes.
    Scalar(ScalarCodec),
}

/// Centroid ids and packed residual codes of many embeddings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compressed {
    /// The nearest centroid of each embedding.
    pub centroid_ids: Vec<u32>,
    /// `n x bytes_per_embedding` residual codes.
    pub codes: Vec<u8>,
}

impl ResidualCodec {
    /// Trains a codec on residuals (embedding - assigned centroid), `n x dim`, with the
    /// default [`TrainConfig`] and the given seed.
    pub fn train(kind: CodecKind, residuals: &[f32], dim: usize, seed: u64) -> Result<Self> {
        let config = TrainConfig {
            seed,
            ..TrainConfig::default()
        };
        Self::train_with(kind, residuals, dim, &config)
    }

    /// Trains a codec with explicit settings.
    ///
    /// Errors: [`QuantizeError::UnsupportedNbits`], [`QuantizeError::UnpackableDim`],
    /// [`QuantizeError::ZeroDim`], [`QuantizeError::EmptyInput`],
    /// [`QuantizeError::DimensionMismatch`], [`QuantizeError::NonFinite`].
    pub fn train_with(
        kind: CodecKind,
        residuals: &[f32],
        dim: usize,
        config: &TrainConfig,
    ) -> Result<Self> {
        kind.bytes_per_embedding(dim)?;
        check::rows(residuals, dim, "residuals")?;
        let sample =
            crate::lloyd::sample_rows(residuals, dim, config.max_samples.max(1), config.seed);
        Ok(match kind {
            CodecKind::Product { nbits } => {
                ResidualCodec::Product(ProductCodec::train(&sample, dim, nbits, config)?)
            }
            CodecKind::Scalar { nbits } => {
                ResidualCodec::Scalar(ScalarCodec::train(sample.into_owned(), dim, nbits)?)
            }
        })
    }

    /// The family and bits a dimension.
    pub fn kind(&self) -> CodecKind {
        match self {
            ResidualCodec::Product(c) => CodecKind::Product { nbits: c.nbits() },
            ResidualCodec::Scalar(c) => CodecKind::Scalar { nbits: c.nbits() },
        }
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        match self {
            ResidualCodec::Product(c) => c.dim(),
            ResidualCodec::Scalar(c) => c.dim(),
        }
    }

    /// Bytes of one code: `dim * nbits / 8` (32 at dim 128, 2 bits).
    pub fn bytes_per_embedding(&self) -> usize {
        self.dim() * self.kind().nbits() as usize / 8
    }

    /// Dimensions a code byte covers (`8 / nbits`).
    fn sub_dim(&self) -> usize {
        8 / self.kind().nbits() as usize
    }

    /// The same codec, compressing product codes with `weight` on the reconstruction
    /// error's part along the embedding ([`ProductCodec::with_parallel_weight`]; 1 = the
    /// nearest entries). Scalar codes are chosen per dimension and ignore it. Errors:
    /// [`QuantizeError::InvalidParameters`] unless `weight` is finite and at least 1.
    pub fn with_parallel_weight(self, weight: f32) -> Result<Self> {
        match self {
            ResidualCodec::Product(c) => c.with_parallel_weight(weight).map(ResidualCodec::Product),
            ResidualCodec::Scalar(c) => {
                product::check_parallel_weight(weight)?;
                Ok(ResidualCodec::Scalar(c))
            }
        }
    }

    /// Re-codes a product `code` of `embedding` (whose `residual` it codes) for the
    /// score-aware loss ([`ProductCodec::with_parallel_weight`]); scalar codes stay.
    pub(crate) fn refine_score_aware(&self, embedding: &[f32], residual: &[f32], code: &mut [u8]) {
        if let ResidualCodec::Product(c) = self {
            c.refine_score_aware(embedding, residual, code);
        }
    }

    /// Codes one residual into `out`: the nearest code, whatever the parallel weight
    /// (the score-aware choice needs the embedding: [`ResidualCodec::compress`]).
    ///
    /// Panics when `residual.len() != dim()` or `out.len() != bytes_per_embedding()`
    /// (a caller bug, not bad data). Non-finite values give some valid code.
    pub fn encode_into(&self, residual: &[f32], out: &mut [u8]) {
        assert_eq!(residual.len(), self.dim(), "residual length");
        assert_eq!(out.len(), self.bytes_per_embedding(), "code length");
        match self {
            ResidualCodec::Product(c) => c.encode_into(residual, out),
            ResidualCodec::Scalar(c) => c.encode_into(residual, out),
        }
    }

    /// Codes many residuals (`n x dim`) in parallel: `n x bytes_per_embedding` bytes.
    /// An empty input gives an empty result.
    pub fn encode(&self, residuals: &[f32]) -> Result<Vec<u8>> {
        if residuals.is_empty() {
            return Ok(Vec::new());
        }
        let n = check::rows(residuals, self.dim(), "residuals")?;
        let bpe = self.bytes_per_embedding();
        let mut out = vec![0u8; n * bpe];
        out.par_chunks_mut(BLOCK_ROWS * bpe)
            .zip(residuals.par_chunks(BLOCK_ROWS * self.dim()))
            .for_each(|(codes, block)| {
                for (code, r) in codes
                    .chunks_exact_mut(bpe)
                    .zip(block.chunks_exact(self.dim()))
                {
                    self.encode_into(r, code);
                }
            });
        Ok(out)
    }

    /// Assigns every embedding (`n x dim`) to its nearest centroid and codes its residual,
    /// block by block in parallel (the fused path of index building). Product codes are
    /// then refined for the codec's parallel weight
    /// ([`ResidualCodec::with_parallel_weight`]).
    pub fn compress(&self, centroids: &Centroids, embeddings: &[f32]) -> Result<Compressed> {
        self.compress_on(&Compute::Cpu, centroids, embeddings)
    }

    /// [`ResidualCodec::compress`] on `compute`. Errors: as [`ResidualCodec::compress`],
    /// and [`QuantizeError::Device`].
    pub fn compress_on(
        &self,
        compute: &Compute,
        centroids: &Centroids,
        embeddings: &[f32],
    ) -> Result<Compressed> {
        let dim = self.dim();
        if centroids.dim() != dim {
            return Err(QuantizeError::DimensionMismatch {
                what: "centroid dimension",
                expected: dim,
                found: centroids.dim(),
            });
        }
        if embeddings.is_empty() {
            return Ok(Compressed {
                centroid_ids: Vec::new(),
                codes: Vec::new(),
            });
        }
        let n = check::rows(embeddings, dim, "embeddings")?;
        #[cfg(feature = "candle")]
        if let Compute::Candle(device) = compute {
            return crate::candle_kernels::compress(device, self, centroids, embeddings);
        }
        #[cfg(not(feature = "candle"))]
        let Compute::Cpu = compute;
        let bpe = self.bytes_per_embedding();
        let mut ids = vec![0u32; n];
        let mut codes = vec![0u8; n * bpe];
        let targets = centroids.targets();
        ids.par_chunks_mut(BLOCK_ROWS)
            .zip(codes.par_chunks_mut(BLOCK_ROWS * bpe))
            .zip(embeddings.par_chunks(BLOCK_ROWS * dim))
            .for_each_init(
                || (Scratch::default(), vec![0f32; BLOCK_ROWS], vec![0f32; dim]),
                |(scratch, scores, residual), ((ids, codes), block)| {
                    let scores = &mut scores[..ids.len()];
                    nearest_block(block, targets, ids, scores, scratch);
                    for ((x, &id), code) in block
                        .chunks_exact(dim)
                        .zip(ids.iter())
                        .zip(codes.chunks_exact_mut(bpe))
                    {
                        for ((r, &v), &c) in
                            residual.iter_mut().zip(x).zip(centroids.row(id as usize))
                        {
                            *r = v - c;
                        }
                        self.encode_into(residual, code);
                        self.refine_score_aware(x, residual, code);
                    }
                },
            );
        Ok(Compressed {
            centroid_ids: ids,
            codes,
        })
    }

    /// `out = centroid + decoded residual` for one code.
    ///
    /// Panics when a length does not match `dim()` / `bytes_per_embedding()` (a caller
    /// bug, not bad data).
    #[inline]
    pub fn decode_into(&self, centroid: &[f32], code: &[u8], out: &mut [f32]) {
        assert_eq!(centroid.len(), self.dim(), "centroid length");
        assert_eq!(out.len(), self.dim(), "output length");
        assert_eq!(code.len(), self.bytes_per_embedding(), "code length");
        match self {
            ResidualCodec::Product(c) => {
                tables::decode_into(c, self.sub_dim(), centroid, code, out)
            }
            ResidualCodec::Scalar(c) => tables::decode_into(c, self.sub_dim(), centroid, code, out),
        }
    }

    /// Decodes many embeddings from their centroid ids and codes (`n x dim` out).
    pub fn decode(
        &self,
        centroids: &Centroids,
        centroid_ids: &[u32],
        codes: &[u8],
    ) -> Result<Vec<f32>> {
        let dim = self.dim();
        let bpe = self.bytes_per_embedding();
        if centroids.dim() != dim {
            return Err(QuantizeError::DimensionMismatch {
                what: "centroid dimension",
                expected: dim,
                found: centroids.dim(),
            });
        }
        if codes.len() != centroid_ids.len() * bpe {
            return Err(QuantizeError::DimensionMismatch {
                what: "codes (centroid ids x bytes per embedding)",
                expected: centroid_ids.len() * bpe,
                found: codes.len(),
            });
        }
        if let Some(&id) = centroid_ids
            .iter()
            .find(|&&id| id as usize >= centroids.len())
        {
            return Err(QuantizeError::CentroidOutOfRange {
                id,
                num_centroids: centroids.len(),
            });
        }
        let mut out = vec![0f32; centroid_ids.len() * dim];
        out.par_chunks_mut(BLOCK_ROWS * dim)
            .zip(codes.par_chunks(BLOCK_ROWS * bpe))
            .zip(centroid_ids.par_chunks(BLOCK_ROWS))
            .for_each(|((out, codes), ids)| {
                for ((o, code), &id) in out
                    .chunks_exact_mut(dim)
                    .zip(codes.chunks_exact(bpe))
                    .zip(ids)
                {
                    self.decode_into(centroids.row(id as usize), code, o);
                }
            });
        Ok(out)
    }

    /// The lookup table of query vector `q` (`dim` floats):
    /// `lut.score(code) == q . decoded residual`.
    ///
    /// Panics when `q.len() != dim()` (a caller bug).
    pub fn query_lut(&self, q: &[f32]) -> QueryLut {
        let mut lut = QueryLut::new();
        self.query_lut_into(q, &mut lut);
        lut
    }

    /// [`ResidualCodec::query_lut`] into an existing table, reusing its memory.
    pub fn query_lut_into(&self, q: &[f32], lut: &mut QueryLut) {
        assert_eq!(q.len(), self.dim(), "query vector length");
        match self {
            ResidualCodec::Product(c) => tables::fill_lut(c, self.sub_dim(), q, lut),
            ResidualCodec::Scalar(c) => tables::fill_lut(c, self.sub_dim(), q, lut),
        }
    }
}
