//! The number formats the CPU forward pass can keep its linear layers in, and the choice of
//! kernel by the instructions this CPU has.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use super::bf16::{self, Bf16Rows, Bf16Weight};
use super::int8::{self, Int8Rows, Int8Weight};
use crate::error::EncoderError;

/// Precision of the linear layers' matmuls on the CPU. Everything else (embeddings, layer
/// norm, softmax, GELU, attention, accumulation) stays f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 everywhere (exact: matches PyTorch within 1e-4).
    #[default]
    F32,
    /// Weights and activations rounded to bf16, f32 sums (AVX-512 BF16).
    Bf16,
    /// Weights quantised to int8 per output column, activations per row at each call, i32
    /// sums (AVX-512 VNNI).
    Int8,
    /// The fastest precision that passes the quality gate on this CPU (the command line's and
    /// Python's default): bf16 where the CPU has AVX-512 BF16 (on SciFact with the shared
    /// MiniLM checkpoint it keeps recall@10 of the f32 exact top-10 at 0.99 and nDCG@10 within
    /// 0.002, see `docs/encoder.md`), f32 elsewhere and on GPUs. int8 fails the gate and is
    /// never chosen. Resolved at load time; an encoder never reports `Auto`.
    Auto,
}

impl Precision {
    /// Every concrete precision, in order of decreasing exactness.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::Bf16, Precision::Int8];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
            Precision::Auto => "auto",
        }
    }

    /// Whether this CPU has the instructions for `self` (always, for `Auto`).
    pub fn supported(self) -> bool {
        match self {
            Precision::F32 | Precision::Auto => true,
            Precision::Bf16 => bf16::supported(),
            Precision::Int8 => int8::supported(),
        }
    }

    /// The precision this CPU runs when `self` is asked for: `self` where the CPU has the
    /// instructions, exact f32 otherwise; `Auto` resolved (bf16 or f32).
    pub fn effective(self) -> Precision {
        match self {
            Precision::Auto if bf16::supported() => Precision::Bf16,
            Precision::Auto => Precision::F32,
            p if p.supported() => p,
            _ => Precision::F32,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = EncoderError;

    /// Parses `auto`, `f32`, `bf16` or `int8`.
    fn from_str(s: &str) -> Result<Self, EncoderError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Precision::Auto),
            "f32" | "fp32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "int8" | "i8" => Ok(Precision::Int8),
            _ => Err(EncoderError::InvalidSetting {
                name: "precision".into(),
                message: format!("{s:?} is not one of auto, f32, bf16, int8"),
            }),
        }
    }
}

/// A linear layer's weight in the layout its kernel reads.
pub(crate) enum PackedWeight {
    /// The transpose `[in, out]` row-major f32, multiplied by `gemm`: rows of output columns
    /// side by side are what `gemm` reads fastest without packing (for 32 x 3072 x 768,
    /// 0.8 ms against 9.6 ms for the `[out, in]` layout, see the `gemm_threads` example).
    F32(Vec<f32>),
    /// bf16 tiles.
    Bf16(Bf16Weight),
    /// int8 tiles.
    Int8(Int8Weight),
}

/// `[rows, cols]` row-major into `[cols, rows]` row-major, in 32 x 32 blocks so that reads
/// and writes both stay in cache.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const B: usize = 32;
    let mut t = vec![0f32; w.len()];
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    t[c * rows + r] = w[r * cols + c];
                }
            }
        }
    }
    t
}

/// Activations converted once per forward call for a reduced-precision kernel.
pub(crate) enum Prepared {
    /// f32 kernels read the activations as they are.
    None,
    /// Rounded to bf16.
    Bf16(Bf16Rows),
    /// Quantised to int8.
    Int8(Int8Rows),
}

impl PackedWeight {
    /// Packs `weight` (`[n, k]`) for `precision` where the CPU supports it and `n` fills whole
    /// 16-column tiles; f32 otherwise.
    pub(crate) fn new(weight: Vec<f32>, k: usize, n: usize, precision: Precision) -> Self {
        let tiles = n.is_multiple_of(int8::TILE) && n.is_multiple_of(bf16::TILE);
        match precision.effective() {
            Precision::Bf16 if tiles => PackedWeight::Bf16(Bf16Weight::new(&weight, k, n)),
            Precision::Int8 if tiles => PackedWeight::Int8(Int8Weight::new(&weight, k, n)),
            _ => PackedWeight::F32(transpose(&weight, n, k)),
        }
    }

    /// The precision of this weight.
    pub(crate) fn precision(&self) -> Precision {
        match self {
            PackedWeight::F32(_) => Precision::F32,
            PackedWeight::Bf16(_) => Precision::Bf16,
            PackedWeight::Int8(_) => Precision::Int8,
        }
    }

    /// Converts the activations `x` (`rows x k`) for this weight's kernel.
    pub(crate) fn prepare(&self, x: &[f32], rows: usize, k: usize) -> Prepared {
        match self {
            PackedWeight::F32(_) => Prepared::None,
            PackedWeight::Bf16(w) => Prepared::Bf16(w.prepare(x, rows, k)),
            PackedWeight::Int8(w) => Prepared::Int8(w.prepare(x, rows, k)),
        }
    }

    /// Columns `cols` of `dst` (`rows x n`, row-major) from prepared activations, for the
    /// reduced-precision kernels (f32 goes through `gemm` in the caller); `finish_rows` is
    /// called on every row once its columns `cols` are written (in chunks, for AMX).
    ///
    /// # Safety
    /// `dst` must point to `rows * n` writable values that no one else touches in `cols`,
    /// and `prepared` must come from [`PackedWeight::prepare`] of this weight.
    pub(crate) unsafe fn matmul_cols(
        &self,
        prepared: &Prepared,
        rows: usize,
        dst: *mut f32,
        n: usize,
        cols: Range<usize>,
        finish_rows: &mut dyn FnMut(Range<usize>),
    ) {
        match (self, prepared) {
            (PackedWeight::Bf16(w), Prepared::Bf16(x)) if w.uses_amx() => {
                return w.amx_matmul_cols(x, rows, dst, n, cols, finish_rows);
            }
            (PackedWeight::Bf16(w), Prepared::Bf16(x)) => w.matmul_cols(x, rows, dst, n, cols),
            (PackedWeight::Int8(w), Prepared::Int8(x)) => w.matmul_cols(x, rows, dst, n, cols),
            _ => debug_assert!(false, "prepared activations do not match the weight"),
        }
        finish_rows(0..rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_resolves_to_a_concrete_precision() {
        assert_eq!("auto".parse::<Precision>().unwrap(), Precision::Auto);
        assert_eq!(Precision::Auto.name(), "auto");
        let resolved = Precision::Auto.effective();
        assert!(Precision::ALL.contains(&resolved) && resolved != Precision::Int8);
        assert_eq!(resolved == Precision::Bf16, Precision::Bf16.supported());
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert!("fp8".parse::<Precision>().is_err());
    }
}
