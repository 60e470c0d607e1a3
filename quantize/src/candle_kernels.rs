//! The build's nearest-centroid search and residual encoding as candle tensor
//! operations ([`crate::Compute::Candle`]): one matrix product and an argmax a block of
//! points, on whatever device candle was given.
//!
//! Blocks are sized so that a score tile stays under [`TILE_VALUES`] floats on the
//! device; the centroids and codebooks go to the device once a call.

use candle_core::{DType, Device, Tensor, D};

use crate::codec::{Compressed, ProductCodec, ResidualCodec, ScalarCodec, CODEBOOK_SIZE};
use crate::nearest::Targets;
use crate::{Centroids, QuantizeError, Result};

/// Most score values a block computes at once (256 MB of f32).
const TILE_VALUES: usize = 1 << 26;

impl From<candle_core::Error> for QuantizeError {
    fn from(e: candle_core::Error) -> Self {
        QuantizeError::device(e)
    }
}

/// Rows a block takes when each row needs `per_row` values of a score tile.
fn block_rows(per_row: usize) -> usize {
    (TILE_VALUES / per_row.max(1)).max(1)
}

/// The targets' rows transposed (`dim x k`) and their bias (`1 x k`), on `device`.
struct DeviceTargets {
    transposed: Tensor,
    bias: Option<Tensor>,
    k: usize,
}

impl DeviceTargets {
    fn upload(device: &Device, targets: Targets<'_>) -> Result<Self> {
        let k = targets.rows.len() / targets.dim;
        let transposed = Tensor::from_slice(targets.rows, (k, targets.dim), device)?
            .t()?
            .contiguous()?;
        let bias = targets
            .bias
            .map(|b| Tensor::from_slice(b, (1, k), device))
            .transpose()?;
        Ok(Self {
            transposed,
            bias,
            k,
        })
    }

    /// Best target id and score of each row of `x` (`n x dim`, on the device).
    fn nearest(&self, x: &Tensor) -> Result<(Vec<u32>, Vec<f32>)> {
        let mut scores = x.matmul(&self.transposed)?;
        if let Some(bias) = &self.bias {
            scores = scores.broadcast_add(bias)?;
        }
        let ids = scores.argmax(D::Minus1)?.to_vec1::<u32>()?;
        let best = scores.max(D::Minus1)?.to_vec1::<f32>()?;
        Ok((ids, best))
    }
}

/// [`crate::Compute::nearest`] on `device`.
pub(crate) fn nearest(
    device: &Device,
    points: &[f32],
    targets: Targets<'_>,
    ids: &mut [u32],
    scores: &mut [f32],
) -> Result<()> {
    let dim = targets.dim;
    let on_device = DeviceTargets::upload(device, targets)?;
    let rows = block_rows(on_device.k);
    for ((block, ids), scores) in points
        .chunks(rows * dim)
        .zip(ids.chunks_mut(rows))
        .zip(scores.chunks_mut(rows))
    {
        let x = Tensor::from_slice(block, (block.len() / dim, dim), device)?;
        let (best_ids, best_scores) = on_device.nearest(&x)?;
        ids.copy_from_slice(&best_ids);
        scores.copy_from_slice(&best_scores);
    }
    Ok(())
}

/// [`ResidualCodec::compress_on`] on `device`: every embedding's nearest centroid, its
/// residual, and the residual's code, block by block.
pub(crate) fn compress(
    device: &Device,
    codec: &ResidualCodec,
    centroids: &Centroids,
    embeddings: &[f32],
) -> Result<Compressed> {
    let dim = centroids.dim();
    let n = embeddings.len() / dim;
    let bpe = codec.bytes_per_embedding();
    let targets = DeviceTargets::upload(device, centroids.targets())?;
    let rows_tensor = Tensor::from_slice(centroids.as_slice(), (centroids.len(), dim), device)?;
    let encoder = DeviceEncoder::upload(device, codec)?;
    let rows = block_rows(targets.k.max(encoder.values_per_row()));
    let mut out = Compressed {
        centroid_ids: Vec::with_capacity(n),
        codes: Vec::with_capacity(n * bpe),
    };
    for block in embeddings.chunks(rows * dim) {
        let x = Tensor::from_slice(block, (block.len() / dim, dim), device)?;
        let (ids, _) = targets.nearest(&x)?;
        let picked = Tensor::from_slice(&ids, ids.len(), device)?;
        let residuals = (x - rows_tensor.index_select(&picked, 0)?)?;
        encoder.encode(codec, &residuals, &mut out.codes)?;
        out.centroid_ids.extend_from_slice(&ids);
    }
    refine_score_aware(codec, centroids, embeddings, &mut out);
    Ok(out)
}

/// The score-aware refinement of the device's nearest codes
/// ([`ResidualCodec::with_parallel_weight`]), on this machine's cores: a coordinate
/// descent a code, cheap beside the assignment the device did.
fn refine_score_aware(
    codec: &ResidualCodec,
    centroids: &Centroids,
    embeddings: &[f32],
    out: &mut Compressed,
) {
    use rayon::prelude::*;
    let ResidualCodec::Product(product) = codec else {
        return;
    };
    if product.parallel_weight() == 1.0 {
        return;
    }
    let (dim, bpe) = (centroids.dim(), codec.bytes_per_embedding());
    out.codes
        .par_chunks_mut(bpe)
        .zip(embeddings.par_chunks(dim))
        .zip(out.centroid_ids.par_iter())
        .for_each_init(
            || vec![0f32; dim],
            |residual, ((code, x), &id)| {
                for ((r, v), c) in residual.iter_mut().zip(x).zip(centroids.row(id as usize)) {
                    *r = v - c;
                }
                codec.refine_score_aware(x, residual, code);
            },
        );
}

/// A codec's tables on the device.
enum DeviceEncoder {
    /// Codebooks `slots x sub_dim x 256` and their bias `slots x 1 x 256`
    /// (`-|entry|^2 / 2`).
    Product { books: Tensor, bias: Tensor },
    /// Bucket cutoffs `1 x 1 x (2^nbits - 1)`.
    Scalar { cutoffs: Tensor },
}

impl DeviceEncoder {
    fn upload(device: &Device, codec: &ResidualCodec) -> Result<Self> {
        Ok(match codec {
            ResidualCodec::Product(p) => {
                let (slots, sd) = (p.dim() / p.sub_dim(), p.sub_dim());
                let books = Tensor::from_slice(p.codebooks(), (slots, CODEBOOK_SIZE, sd), device)?;
                let bias = (books.sqr()?.sum_keepdim(D::Minus1)? * -0.5)?
                    .transpose(1, 2)?
                    .contiguous()?;
                let books = books.transpose(1, 2)?.contiguous()?;
                DeviceEncoder::Product { books, bias }
            }
            ResidualCodec::Scalar(s) => {
                let cutoffs = s.cutoffs();
                DeviceEncoder::Scalar {
                    cutoffs: Tensor::from_slice(cutoffs, (1, 1, cutoffs.len()), device)?,
                }
            }
        })
    }

    /// Score values a row needs at once.
    fn values_per_row(&self) -> usize {
        match self {
            DeviceEncoder::Product { books, .. } => books.dims()[0] * CODEBOOK_SIZE,
            DeviceEncoder::Scalar { cutoffs } => cutoffs.dims()[2] * 128,
        }
    }

    /// Appends the codes of `residuals` (`n x dim`, on the device) to `codes`.
    fn encode(&self, codec: &ResidualCodec, residuals: &Tensor, codes: &mut Vec<u8>) -> Result<()> {
        let (n, dim) = residuals.dims2()?;
        match (self, codec) {
            (DeviceEncoder::Product { books, bias }, ResidualCodec::Product(p)) => {
                product_codes(p, books, bias, residuals, n, dim, codes)
            }
            (DeviceEncoder::Scalar { cutoffs }, ResidualCodec::Scalar(s)) => {
                scalar_codes(s, cutoffs, residuals, n, dim, codes)
            }
            _ => unreachable!("the encoder was uploaded from this codec"),
        }
    }
}

/// Every sub-vector's nearest codebook entry: per sub-space one batched product
/// `residuals_s x book_s` plus the bias, then an argmax.
fn product_codes(
    codec: &ProductCodec,
    books: &Tensor,
    bias: &Tensor,
    residuals: &Tensor,
    n: usize,
    dim: usize,
    codes: &mut Vec<u8>,
) -> Result<()> {
    let sd = codec.sub_dim();
    let slots = dim / sd;
    let sub = residuals
        .reshape((n, slots, sd))?
        .transpose(0, 1)?
        .contiguous()?;
    let best = sub
        .matmul(books)?
        .broadcast_add(bias)?
        .argmax(D::Minus1)?
        .t()?
        .contiguous()?
        .to_dtype(DType::U8)?;
    codes.extend(best.flatten_all()?.to_vec1::<u8>()?);
    Ok(())
}

/// Every value's bucket (the number of cutoffs strictly below it) on the device, packed
/// into bytes here.
fn scalar_codes(
    codec: &ScalarCodec,
    cutoffs: &Tensor,
    residuals: &Tensor,
    n: usize,
    dim: usize,
    codes: &mut Vec<u8>,
) -> Result<()> {
    let buckets = residuals
        .reshape((n, dim, 1))?
        .broadcast_gt(cutoffs)?
        .to_dtype(DType::U8)?
        .sum(D::Minus1)?
        .flatten_all()?
        .to_vec1::<u8>()?;
    let bpe = codec.dim() * codec.nbits() as usize / 8;
    let start = codes.len();
    codes.resize(start + n * bpe, 0);
    for (row, out) in buckets
        .chunks_exact(dim)
        .zip(codes[start..].chunks_exact_mut(bpe))
    {
        codec.pack_buckets(row, out);
    }
    Ok(())
}
