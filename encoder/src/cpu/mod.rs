//! The CPU forward pass of BERT, written for one query as much as for a batch of documents.
//!
//! candle runs one op at a time, each allocating its output and using one thread for the
//! small matrices of a single 32-token query. Here the layers work on plain `f32` rows with
//! explicit parallelism: every linear layer splits its output columns over the threads it is
//! given (one single-threaded `gemm` per share, the bias and GELU applied to the share while it
//! is in cache), attention runs one task per (text, head), and the row-wise steps (layer norm,
//! residual) are fused. Weights come straight from the memory-mapped safetensors file, in
//! f32, or reduced to bf16 / int8 at load time (see [`Precision`]).

/// The block loop both AVX-512 linear layers (bf16, int8) share: the output columns
/// `$cols` (whole tiles of `$tile`) and rows `0..$rows` in blocks of up to 4 rows x 4
/// tiles, each handed to `$block::<M, T>($args)` with `$r` / `$t` its first row and tile
/// (the accumulators of a block are `M x T` registers, so M and T are constants).
#[cfg(target_arch = "x86_64")]
macro_rules! for_each_block {
    ($block:ident, $rows:expr, $cols:expr, $tile:expr, |$r:ident, $t:ident| ($($arg:expr),*)) => {{
        let (t0, t1) = ($cols.start / $tile, $cols.end.div_ceil($tile));
        let mut $t = t0;
        while $t < t1 {
            let nt = (t1 - $t).min(4);
            let mut $r = 0;
            while $r < $rows {
                let mr = ($rows - $r).min(4);
                match (mr, nt) {
                    (4, 4) => $block::<4, 4>($($arg),*),
                    (4, 3) => $block::<4, 3>($($arg),*),
                    (4, 2) => $block::<4, 2>($($arg),*),
                    (4, 1) => $block::<4, 1>($($arg),*),
                    (3, 4) => $block::<3, 4>($($arg),*),
                    (3, 3) => $block::<3, 3>($($arg),*),
                    (3, 2) => $block::<3, 2>($($arg),*),
                    (3, 1) => $block::<3, 1>($($arg),*),
                    (2, 4) => $block::<2, 4>($($arg),*),
                    (2, 3) => $block::<2, 3>($($arg),*),
                    (2, 2) => $block::<2, 2>($($arg),*),
                    (2, 1) => $block::<2, 1>($($arg),*),
                    (1, 4) => $block::<1, 4>($($arg),*),
                    (1, 3) => $block::<1, 3>($($arg),*),
                    (1, 2) => $block::<1, 2>($($arg),*),
                    _ => $block::<1, 1>($($arg),*),
                }
                $r += mr;
            }
            $t += nt;
        }
    }};
}

/// Everything both AVX-512 linear layers (bf16, int8) share around the one piece that
/// differs, the body of their `M x T` block: `$weight::matmul_cols` (the entry the linear
/// layer calls, documented by the given doc comment) and, on x86_64, a `kernel` module with
/// the `$features` entry point that cuts the columns into blocks ([`for_each_block!`]) and
/// `block::<M, T>(w, x, r, t, dst, n)` (rows `r..r + M`, tiles `t..t + T`) with `$body`.
/// The generated code is what each file wrote out by hand before.
macro_rules! avx512_matmul {
    (
        $(#[$doc:meta])*
        weight: $weight:ident,
        rows: $rows:ident,
        features: $features:literal,
        unsupported: $unsupported:literal,
        block: <$m:ident, $t_const:ident> |$w:ident, $x:ident, $r:ident, $t:ident, $dst:ident, $n:ident| $body:block
    ) => {
        impl $weight {
            $(#[$doc])*
            pub(crate) unsafe fn matmul_cols(
                &self,
                x: &$rows,
                rows: usize,
                dst: *mut f32,
                n: usize,
                cols: std::ops::Range<usize>,
            ) {
                #[cfg(target_arch = "x86_64")]
                kernel::matmul(self, x, rows, dst, n, cols);
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!($unsupported);
            }
        }

        #[cfg(target_arch = "x86_64")]
        mod kernel {
            use std::arch::x86_64::*;
            use std::ops::Range;

            use super::{$rows, $weight, TILE};

            #[target_feature(enable = $features)]
            pub(super) unsafe fn matmul(
                w: &$weight,
                x: &$rows,
                rows: usize,
                dst: *mut f32,
                n: usize,
                cols: Range<usize>,
            ) {
                for_each_block!(block, rows, cols, TILE, |r, t| (w, x, r, t, dst, n));
            }

            /// Rows `r..r + M`, tiles `t..t + T`.
            #[inline(always)]
            unsafe fn block<const $m: usize, const $t_const: usize>(
                $w: &$weight,
                $x: &$rows,
                $r: usize,
                $t: usize,
                $dst: *mut f32,
                $n: usize,
            ) $body
        }
    };
}

mod amx;
mod attention;
mod bert;
mod bf16;
mod int8;
mod linear;
mod matmul;
mod parallel;
mod precision;
mod rows;
mod weights;

pub(crate) use bert::Bert;
pub(crate) use linear::{Activation, Linear};
pub use precision::Precision;
pub(crate) use rows::l2_normalize_rows;
pub(crate) use weights::{MappedWeights, VarBuilderWeights};
