//! Product codes: the residual cut into sub-vectors of `8 / nbits` dimensions, each
//! coded by the byte of its nearest entry (L2) in a 256-entry codebook of its own
//! sub-space, trained by k-means on a sample of residuals.

use rayon::prelude::*;

use super::tables::SlotTables;
use super::TrainConfig;
use crate::check;
use crate::compute::Compute;
use crate::error::{QuantizeError, Result};
use crate::lloyd::{self, Geometry};

/// Entries of every sub-space codebook (one byte a sub-vector).
pub const CODEBOOK_SIZE: usize = 256;

/// Codebook entries the encoder scores at once (one AVX register of f32).
const LANES: usize = 8;

/// The default weight of the reconstruction error's part along the embedding
/// ([`ProductCodec::parallel_weight`]): 2 raised the exact-MaxSim ceiling at every depth
/// on SciFact (docs/benchmarks-depth.md), 4 and above lost at k = 10.
pub const DEFAULT_PARALLEL_WEIGHT: f32 = 2.0;

/// Passes of the score-aware refinement over all sub-spaces (a second pass measured no
/// better).
const REFINE_PASSES: usize = 1;

/// A trained product codec: `dim / sub_dim` codebooks of 256 x `sub_dim` floats.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductCodec {
    dim: usize,
    nbits: u8,
    sub_dim: usize,
    /// `[sub-space][entry][sub_dim]`.
    codebooks: Vec<f32>,
    /// `[sub-space][entry / LANES][sub_dim][entry % LANES]`: the encoder scores
    /// `LANES` entries at once from one contiguous run.
    blocked: Vec<f32>,
    /// `[sub-space][entry]`: `-|entry|^2 / 2`, so that argmax `r.e - |e|^2/2` is the
    /// nearest entry.
    bias: Vec<f32>,
    /// Weight of the reconstruction error's part along the embedding when compressing
    /// (1 = the nearest entries).
    parallel_weight: f32,
}

impl ProductCodec {
    /// Trains the codebooks on `sample` (`n x dim` residuals, checked and sampled by the
    /// caller), with `config`'s iterations and seed.
    pub(crate) fn train(
        sample: &[f32],
        dim: usize,
        nbits: u8,
        config: &TrainConfig,
    ) -> Result<Self> {
        let sub_dim = check::packable(dim, nbits)?;
        let n = sample.len() / dim;
        let slots = dim / sub_dim;
        let books: Vec<Vec<f32>> = (0..slots)
            .into_par_iter()
            .map(|s| {
                let mut sub = Vec::with_capacity(n * sub_dim);
                for x in sample.chunks_exact(dim) {
                    sub.extend_from_slice(&x[s * sub_dim..(s + 1) * sub_dim]);
                }
                let seed = config.seed ^ (s as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                lloyd::kmeans(
                    &sub,
                    sub_dim,
                    CODEBOOK_SIZE,
                    (config.iterations, seed),
                    Geometry::Euclidean,
                    &Compute::Cpu,
                )
            })
            .collect::<Result<_>>()?;
        Self::from_codebooks(dim, nbits, books.concat())
    }

    /// Wraps persisted codebooks, laid out `[sub-space][entry][sub_dim]` (so
    /// `dim / (8 / nbits) * 256 * (8 / nbits)` floats).
    pub fn from_codebooks(dim: usize, nbits: u8, codebooks: Vec<f32>) -> Result<Self> {
        let sub_dim = check::packable(dim, nbits)?;
        let expected = dim * CODEBOOK_SIZE;
        if codebooks.len() != expected {
            return Err(QuantizeError::DimensionMismatch {
                what: "product codebooks",
                expected,
                found: codebooks.len(),
            });
        }
        check::finite(&codebooks, sub_dim, "product codebooks")?;
        let slots = dim / sub_dim;
        let mut blocked = vec![0f32; codebooks.len()];
        let mut bias = vec![0f32; slots * CODEBOOK_SIZE];
        for s in 0..slots {
            let book = &codebooks[s * CODEBOOK_SIZE * sub_dim..(s + 1) * CODEBOOK_SIZE * sub_dim];
            let t = &mut blocked[s * CODEBOOK_SIZE * sub_dim..(s + 1) * CODEBOOK_SIZE * sub_dim];
            for (e, entry) in book.chunks_exact(sub_dim).enumerate() {
                for (d, &v) in entry.iter().enumerate() {
                    t[(e / LANES) * sub_dim * LANES + d * LANES + e % LANES] = v;
                }
                bias[s * CODEBOOK_SIZE + e] = -0.5 * lloyd::dot(entry, entry);
            }
        }
        Ok(Self {
            dim,
            nbits,
            sub_dim,
            codebooks,
            blocked,
            bias,
            parallel_weight: DEFAULT_PARALLEL_WEIGHT,
        })
    }

    /// The same codebooks, compressing with `weight` on the reconstruction error's part
    /// along the embedding: [`crate::ResidualCodec::compress`] then picks the codes
    /// that minimise `|e|^2 + (weight - 1) (e . x / |x|)^2 |x|^2`, `e` the error and `x`
    /// the embedding, instead of the nearest entries (`weight` 1). MaxSim scores are dot
    /// products with the embeddings, so an error along an embedding moves its scores more
    /// than one across it (ScaNN's score-aware quantization, Guo et al. 2020). Decoding
    /// is unchanged; the weight is not persisted (a loaded codec has
    /// [`DEFAULT_PARALLEL_WEIGHT`]). Errors: [`QuantizeError::InvalidParameters`] unless
    /// `weight` is finite and at least 1.
    pub fn with_parallel_weight(mut self, weight: f32) -> Result<Self> {
        check_parallel_weight(weight)?;
        self.parallel_weight = weight;
        Ok(self)
    }

    /// The weight of the reconstruction error's part along the embedding when
    /// compressing ([`ProductCodec::with_parallel_weight`]).
    pub fn parallel_weight(&self) -> f32 {
        self.parallel_weight
    }

    /// The codebooks, `[sub-space][entry][sub_dim]` row-major.
    pub fn codebooks(&self) -> &[f32] {
        &self.codebooks
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bits a dimension (1, 2 or 4).
    pub fn nbits(&self) -> u8 {
        self.nbits
    }

    /// Dimensions a sub-vector (`8 / nbits`).
    pub fn sub_dim(&self) -> usize {
        self.sub_dim
    }

    /// Codes one residual: the nearest codebook entry of every sub-vector.
    pub(crate) fn encode_into(&self, residual: &[f32], out: &mut [u8]) {
        encode_dispatch(self, residual, out)
    }

    #[inline(always)]
    fn encode_generic(&self, residual: &[f32], out: &mut [u8]) {
        match self.sub_dim {
            2 => self.encode_fixed::<2>(residual, out),
            4 => self.encode_fixed::<4>(residual, out),
            8 => self.encode_fixed::<8>(residual, out),
            _ => unreachable!("sub_dim is 8 / nbits with nbits in {{1, 2, 4}}"),
        }
    }

    /// Per sub-space: the scores `r.e - |e|^2/2` of `LANES` entries at a time stay in
    /// registers, each lane keeping its best score and the chunk it came from; the
    /// lanes are merged at the end (lowest entry on ties).
    #[inline(always)]
    fn encode_fixed<const SD: usize>(&self, residual: &[f32], out: &mut [u8]) {
        for (s, (x, o)) in residual.chunks_exact(SD).zip(out.iter_mut()).enumerate() {
            let bias = &self.bias[s * CODEBOOK_SIZE..(s + 1) * CODEBOOK_SIZE];
            let book = &self.blocked[s * CODEBOOK_SIZE * SD..(s + 1) * CODEBOOK_SIZE * SD];
            let mut best = [f32::NEG_INFINITY; LANES];
            let mut at = [0u32; LANES];
            for (c, (columns, b)) in book
                .chunks_exact(SD * LANES)
                .zip(bias.chunks_exact(LANES))
                .enumerate()
            {
                let mut v = [0f32; LANES];
                v.copy_from_slice(b);
                for (&xd, column) in x.iter().zip(columns.chunks_exact(LANES)) {
                    for l in 0..LANES {
                        v[l] += xd * column[l];
                    }
                }
                let c = c as u32;
                for l in 0..LANES {
                    let better = v[l] > best[l];
                    best[l] = if better { v[l] } else { best[l] };
                    at[l] = if better { c } else { at[l] };
                }
            }
            *o = best_entry(&best, &at) as u8;
        }
    }
}

impl ProductCodec {
    /// Refines `code` (the nearest entries of `residual`'s sub-vectors) towards the
    /// score-aware loss `|e|^2 + (parallel_weight - 1) (e . x)^2`, with `e` the
    /// reconstruction error and `x` the embedding (`|x| = 1` for ColBERT's): one
    /// sub-space at a time, the others fixed, [`REFINE_PASSES`] times over all sub-spaces
    /// (or until nothing changes). Each step can only lower the loss. Nothing to do at
    /// weight 1.
    pub(crate) fn refine_score_aware(&self, embedding: &[f32], residual: &[f32], code: &mut [u8]) {
        if self.parallel_weight != 1.0 {
            let extra = self.parallel_weight - 1.0;
            refine_dispatch(self, embedding, residual, code, extra)
        }
    }

    #[inline(always)]
    fn refine_generic(&self, x: &[f32], r: &[f32], code: &mut [u8], extra: f32) {
        match self.sub_dim {
            2 => self.refine_fixed::<2>(x, r, code, extra),
            4 => self.refine_fixed::<4>(x, r, code, extra),
            8 => self.refine_fixed::<8>(x, r, code, extra),
            _ => unreachable!("sub_dim is 8 / nbits with nbits in {{1, 2, 4}}"),
        }
    }

    #[inline(always)]
    fn refine_fixed<const SD: usize>(&self, x: &[f32], r: &[f32], code: &mut [u8], extra: f32) {
        let slots = code.len();
        // parallel[s] = e_s . x_s for the current code of sub-space s: on the stack up to
        // 128 sub-spaces (dim 512 at 2 bits), on the heap beyond.
        let (mut stack, mut heap) = ([0f32; 128], Vec::new());
        let parallel: &mut [f32] = if slots <= stack.len() {
            &mut stack[..slots]
        } else {
            heap.resize(slots, 0.0);
            &mut heap
        };
        let mut total = 0f32;
        for s in 0..slots {
            let entry = &self.codebooks[(s * CODEBOOK_SIZE + code[s] as usize) * SD..][..SD];
            let mut v = 0f32;
            for d in 0..SD {
                v += (r[s * SD + d] - entry[d]) * x[s * SD + d];
            }
            parallel[s] = v;
            total += v;
        }
        for _ in 0..REFINE_PASSES {
            let mut changed = false;
            for s in 0..slots {
                let xs = &x[s * SD..(s + 1) * SD];
                let rs = &r[s * SD..(s + 1) * SD];
                let rx: f32 = (0..SD).map(|d| rs[d] * xs[d]).sum();
                // The error's parallel part with entry j: t - entry_j . x_s.
                let t = total - parallel[s] + rx;
                let bias = &self.bias[s * CODEBOOK_SIZE..(s + 1) * CODEBOOK_SIZE];
                let book = &self.blocked[s * CODEBOOK_SIZE * SD..(s + 1) * CODEBOOK_SIZE * SD];
                // Minimise |r_s - e_j|^2 + extra (t - e_j . x_s)^2, i.e. maximise
                // 2 (r_s . e_j - |e_j|^2 / 2) - extra (t - e_j . x_s)^2.
                let mut best = [f32::NEG_INFINITY; LANES];
                let mut at = [0u32; LANES];
                for (c, (columns, b)) in book
                    .chunks_exact(SD * LANES)
                    .zip(bias.chunks_exact(LANES))
                    .enumerate()
                {
                    let mut near = [0f32; LANES];
                    near.copy_from_slice(b);
                    let mut along = [0f32; LANES];
                    for d in 0..SD {
                        let column = &columns[d * LANES..(d + 1) * LANES];
                        for l in 0..LANES {
                            near[l] += rs[d] * column[l];
                            along[l] += xs[d] * column[l];
                        }
                    }
                    let c = c as u32;
                    for l in 0..LANES {
                        let miss = t - along[l];
                        let v = 2.0 * near[l] - extra * miss * miss;
                        let better = v > best[l];
                        best[l] = if better { v } else { best[l] };
                        at[l] = if better { c } else { at[l] };
                    }
                }
                let winner = best_entry(&best, &at);
                if winner != code[s] as usize {
                    changed = true;
                    code[s] = winner as u8;
                    let entry = &self.codebooks[(s * CODEBOOK_SIZE + winner) * SD..][..SD];
                    let e_x: f32 = (0..SD).map(|d| entry[d] * xs[d]).sum();
                    let new = rx - e_x;
                    total += new - parallel[s];
                    parallel[s] = new;
                }
            }
            if !changed {
                break;
            }
        }
    }
}

/// [`QuantizeError::InvalidParameters`] unless `weight` is finite and at least 1.
pub(crate) fn check_parallel_weight(weight: f32) -> Result<()> {
    if weight.is_finite() && weight >= 1.0 {
        Ok(())
    } else {
        Err(QuantizeError::InvalidParameters {
            reason: format!("parallel weight {weight} must be finite and at least 1"),
        })
    }
}

/// The entry of the best lane's best chunk, `best[l]` and `at[l]` being lane `l`'s best
/// score and the chunk it came from (the lowest entry on ties).
#[inline(always)]
fn best_entry(best: &[f32; LANES], at: &[u32; LANES]) -> usize {
    let mut winner = (0usize, f32::NEG_INFINITY);
    for l in 0..LANES {
        let entry = at[l] as usize * LANES + l;
        if best[l] > winner.1 || (best[l] == winner.1 && entry < winner.0) {
            winner = (entry, best[l]);
        }
    }
    winner.0
}

/// [`ProductCodec::refine_generic`] compiled for AVX2 + FMA and for the baseline.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn refine_dispatch(codec: &ProductCodec, x: &[f32], r: &[f32], code: &mut [u8], extra: f32) {
    codec.refine_generic(x, r, code, extra)
}

/// [`ProductCodec::encode_generic`] compiled for AVX2 + FMA (8 codebook entries a
/// register) and for the baseline, chosen at run time (`multiversion` cannot take
/// `self`, hence a free function).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn encode_dispatch(codec: &ProductCodec, residual: &[f32], out: &mut [u8]) {
    codec.encode_generic(residual, out)
}

impl SlotTables for ProductCodec {
    #[inline]
    fn slot(&self, s: usize) -> &[f32] {
        let len = CODEBOOK_SIZE * self.sub_dim;
        &self.codebooks[s * len..(s + 1) * len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_residuals_are_coded_exactly() {
        // 3 distinct residuals, far fewer than 256 codebook entries.
        let base = [
            [0.5f32, -0.25, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [-1.0, 2.0, 0.5, 0.5],
        ];
        let residuals: Vec<f32> = (0..10).flat_map(|i| base[i % 3]).collect();
        let codec = ProductCodec::train(&residuals, 4, 2, &TrainConfig::default()).unwrap();
        for r in base {
            let mut code = [0u8; 1];
            codec.encode_into(&r, &mut code);
            let mut out = [0f32; 4];
            super::super::tables::decode_into(&codec, 4, &[0.0; 4], &code, &mut out);
            assert_eq!(out, r);
        }
    }

    #[test]
    fn from_codebooks_checks_length_and_values() {
        assert!(matches!(
            ProductCodec::from_codebooks(8, 2, vec![0.0; 10]),
            Err(QuantizeError::DimensionMismatch { .. })
        ));
        let mut books = vec![0.0; 8 * CODEBOOK_SIZE];
        books[5] = f32::INFINITY;
        assert!(matches!(
            ProductCodec::from_codebooks(8, 2, books),
            Err(QuantizeError::NonFinite { .. })
        ));
        assert!(matches!(
            ProductCodec::from_codebooks(6, 2, vec![0.0; 6 * CODEBOOK_SIZE]),
            Err(QuantizeError::UnpackableDim { .. })
        ));
    }
}
