//! ColBERTv2's scalar residual codes: every dimension bucketised against cutoffs shared
//! by all dimensions, `nbits` bits a dimension, packed in colbert-ai's bit order
//! (see [`crate::pack_codes`]).
//!
//! Training pools the values of a sample of residuals: the cutoffs are the quantiles
//! `i / 2^nbits` (`i = 1 .. 2^nbits - 1`) and the weights the quantiles
//! `(i + 0.5) / 2^nbits` (`i = 0 .. 2^nbits - 1`), with linear interpolation as
//! `torch.quantile`. A value's code is the number of cutoffs strictly below it
//! (`torch.bucketize`), and it decodes to `weights[code]`; decoding goes byte by byte
//! through a 256-entry table of the `8 / nbits` weights a byte value stands for.

use super::pack::{slot_bits, slot_code};
use super::tables::SlotTables;
use crate::check;
use crate::error::{QuantizeError, Result};

/// A trained scalar codec.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarCodec {
    dim: usize,
    nbits: u8,
    cutoffs: Vec<f32>,
    weights: Vec<f32>,
    /// `[byte value][slot]`: the weights a byte decodes to (`256 x 8 / nbits`).
    byte_table: Vec<f32>,
    /// `[slot][code]`: the bits of `code` at `slot` of a byte (`8 / nbits x 2^nbits`).
    slot_bits: Vec<u8>,
}

impl ScalarCodec {
    /// Trains cutoffs and weights on the pooled `values` of a residual sample (`n x dim`,
    /// checked and sampled by the caller; each dimension counts alike, so the order is free).
    pub(crate) fn train(mut values: Vec<f32>, dim: usize, nbits: u8) -> Result<Self> {
        check::packable(dim, nbits)?;
        values.sort_unstable_by(f32::total_cmp);
        let options = 1usize << nbits;
        let cutoffs = (1..options)
            .map(|i| quantile(&values, i as f64 / options as f64))
            .collect();
        let weights = (0..options)
            .map(|i| quantile(&values, (i as f64 + 0.5) / options as f64))
            .collect();
        Self::from_buckets(dim, nbits, cutoffs, weights)
    }

    /// Wraps persisted buckets: `2^nbits - 1` non-decreasing cutoffs and `2^nbits`
    /// weights.
    pub fn from_buckets(
        dim: usize,
        nbits: u8,
        cutoffs: Vec<f32>,
        weights: Vec<f32>,
    ) -> Result<Self> {
        let per_byte = check::packable(dim, nbits)?;
        let options = 1usize << nbits;
        if cutoffs.len() != options - 1 {
            return Err(QuantizeError::DimensionMismatch {
                what: "scalar bucket cutoffs",
                expected: options - 1,
                found: cutoffs.len(),
            });
        }
        if weights.len() != options {
            return Err(QuantizeError::DimensionMismatch {
                what: "scalar bucket weights",
                expected: options,
                found: weights.len(),
            });
        }
        check::finite(&cutoffs, cutoffs.len().max(1), "scalar bucket cutoffs")?;
        check::finite(&weights, weights.len(), "scalar bucket weights")?;
        if cutoffs.windows(2).any(|w| w[0] > w[1]) {
            return Err(QuantizeError::InvalidParameters {
                reason: format!("scalar bucket cutoffs are not sorted: {cutoffs:?}"),
            });
        }
        let nb = nbits as usize;
        let mut byte_table = vec![0f32; 256 * per_byte];
        for (v, entry) in byte_table.chunks_exact_mut(per_byte).enumerate() {
            for (slot, w) in entry.iter_mut().enumerate() {
                *w = weights[slot_code(v as u8, slot, nb) as usize];
            }
        }
        let mut bits = vec![0u8; per_byte * options];
        for slot in 0..per_byte {
            for code in 0..options {
                bits[slot * options + code] = slot_bits(code as u8, slot, nb);
            }
        }
        Ok(Self {
            dim,
            nbits,
            cutoffs,
            weights,
            byte_table,
            slot_bits: bits,
        })
    }

    /// The bucket cutoffs (`2^nbits - 1`, non-decreasing).
    pub fn cutoffs(&self) -> &[f32] {
        &self.cutoffs
    }

    /// The bucket weights (`2^nbits`): what each code decodes to.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bits a dimension (1, 2 or 4).
    pub fn nbits(&self) -> u8 {
        self.nbits
    }

    /// The bucket of one value: the number of cutoffs strictly below it.
    #[inline]
    pub fn bucket(&self, value: f32) -> u8 {
        self.cutoffs.iter().filter(|&&c| c < value).count() as u8
    }

    /// Codes one residual.
    pub(crate) fn encode_into(&self, residual: &[f32], out: &mut [u8]) {
        self.pack(residual, |&v| self.bucket(v), out)
    }

    /// Packs one residual's buckets (one a dimension, each below `2^nbits`) into its code.
    #[cfg(feature = "candle")]
    pub(crate) fn pack_buckets(&self, buckets: &[u8], out: &mut [u8]) {
        self.pack(buckets, |&b| b, out)
    }

    /// Packs the buckets of `values` (`bucket` of each) into code bytes.
    #[inline(always)]
    fn pack<T>(&self, values: &[T], bucket: impl Fn(&T) -> u8, out: &mut [u8]) {
        let per_byte = 8 / self.nbits as usize;
        let options = 1usize << self.nbits;
        for (chunk, o) in values.chunks_exact(per_byte).zip(out.iter_mut()) {
            let mut byte = 0u8;
            for (slot, v) in chunk.iter().enumerate() {
                byte |= self.slot_bits[slot * options + bucket(v) as usize];
            }
            *o = byte;
        }
    }
}

impl SlotTables for ScalarCodec {
    #[inline]
    fn slot(&self, _s: usize) -> &[f32] {
        &self.byte_table
    }
}

/// The `q`-quantile of sorted values with linear interpolation (`torch.quantile`).
fn quantile(sorted: &[f32], q: f64) -> f32 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (f64::from(sorted[lo]), f64::from(sorted[hi]));
    (a + (b - a) * (pos - lo as f64)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_torch() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 0.125), 0.5);
        assert_eq!(quantile(&v, 1.0), 4.0);
    }

    #[test]
    fn buckets_follow_torch_bucketize() {
        let codec =
            ScalarCodec::from_buckets(4, 2, vec![-1.0, 0.0, 1.0], vec![-2.0, -0.5, 0.5, 2.0])
                .unwrap();
        assert_eq!(codec.bucket(-1.0), 0); // equal to a cutoff stays in the lower bucket
        assert_eq!(codec.bucket(-0.5), 1);
        assert_eq!(codec.bucket(0.0), 1);
        assert_eq!(codec.bucket(0.5), 2);
        assert_eq!(codec.bucket(3.0), 3);
    }

    #[test]
    fn trains_quantile_buckets() {
        // Uniform values 0..1000 in every dimension: 2-bit cutoffs at the quartiles.
        let residuals: Vec<f32> = (0..1000).flat_map(|i| [i as f32; 4]).collect();
        let codec = ScalarCodec::train(residuals, 4, 2).unwrap();
        assert_eq!(codec.cutoffs(), &[249.75, 499.5, 749.25]);
        assert_eq!(codec.weights(), &[124.875, 374.625, 624.375, 874.125]);
    }

    #[test]
    fn from_buckets_rejects_bad_parameters() {
        let bad = |c: Vec<f32>, w: Vec<f32>| ScalarCodec::from_buckets(8, 1, c, w).unwrap_err();
        assert!(matches!(
            bad(vec![], vec![0.0, 1.0]),
            QuantizeError::DimensionMismatch { .. }
        ));
        assert!(matches!(
            bad(vec![0.0], vec![0.0]),
            QuantizeError::DimensionMismatch { .. }
        ));
        assert!(matches!(
            bad(vec![f32::NAN], vec![0.0, 1.0]),
            QuantizeError::NonFinite { .. }
        ));
        let unsorted = ScalarCodec::from_buckets(4, 2, vec![1.0, 0.0, 2.0], vec![0.0; 4]);
        assert!(matches!(
            unsorted,
            Err(QuantizeError::InvalidParameters { .. })
        ));
    }
}
