//! PLAID's inner loops, compiled for the CPU at hand: the two per-document ones
//! (centroid interaction, implicit-decompression MaxSim) and the widening of the
//! 8-bit centroid table.
//!
//! The per-document loops keep one running value a query token ("lane") and update
//! all lanes at once:
//! a query's lanes are processed in blocks of 32, 16, 8 and 1, each block's
//! accumulator a fixed-size array the compiler holds in vector registers. Each
//! kernel is compiled three times (AVX-512, AVX2 and the baseline) by the
//! `multiversion` attribute and chosen once at run time (each calls an
//! `#[inline(always)]` body, so every copy gets its instruction set's vector width);
//! every variant adds in the same order, so all three give the same bits.

/// A lane value the centroid interaction takes maxima of: `f32` scores, or `i8`
/// scores quantised for the pruned stage.
pub(crate) trait Lane: Copy {
    /// The larger of two values (either one when they are equal or unordered).
    fn max_lane(self, other: Self) -> Self;
}

impl Lane for f32 {
    #[inline(always)]
    fn max_lane(self, other: Self) -> Self {
        // Not `f32::max`: its NaN handling costs two instructions a vector, and the
        // scores are finite.
        if other > self {
            other
        } else {
            self
        }
    }
}

impl Lane for i8 {
    #[inline(always)]
    fn max_lane(self, other: Self) -> Self {
        Ord::max(self, other)
    }
}

/// Runs `$f::<$g W>(.., at, ..)` over lane blocks covering `0..$nq`: widths 32, 16, 8
/// and 1 (a macro rather than a closure, so the block functions inline into each
/// `target_feature` variant and get its vector width). Also used by the fixed-point
/// tables' kernel.
macro_rules! over_blocks {
    ($nq:expr, $at:ident, $f:ident[$($g:tt)*]($($arg:expr),*)) => {{
        let nq: usize = $nq;
        let mut $at = 0usize;
        while nq - $at >= 32 {
            $f::<$($g)* 32>($($arg),*);
            $at += 32;
        }
        if nq - $at >= 16 {
            $f::<$($g)* 16>($($arg),*);
            $at += 16;
        }
        if nq - $at >= 8 {
            $f::<$($g)* 8>($($arg),*);
            $at += 8;
        }
        while $at < nq {
            $f::<$($g)* 1>($($arg),*);
            $at += 1;
        }
    }};
}
pub(crate) use over_blocks;

/// `maxes[i] = max(maxes[i], table[c * nq + i])` over the centroid ids `ids` (each
/// below the number of rows of `table`): the centroid interaction of one document.
/// Rows of pruned centroids are zero in the pruned stage's table, so with maxima
/// starting at 0 they change nothing and need no branch; a repeated id is read
/// again rather than tested for (a maximum is idempotent, a branch would mispredict).
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub(crate) fn centroid_max(ids: &[u32], table: &[f32], nq: usize, maxes: &mut [f32]) {
    centroid_max_any::<f32>(ids, table, nq, maxes)
}

/// [`centroid_max`] over `i8` rows (the pruned stage's quantised table).
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub(crate) fn centroid_max_i8(ids: &[u32], table: &[i8], nq: usize, maxes: &mut [i8]) {
    centroid_max_any::<i8>(ids, table, nq, maxes)
}

#[inline(always)]
fn centroid_max_any<T: Lane>(ids: &[u32], table: &[T], nq: usize, maxes: &mut [T]) {
    over_blocks!(nq, at, centroid_max_block[T,](ids, table, nq, at, maxes));
}

#[inline(always)]
fn centroid_max_block<T: Lane, const W: usize>(
    ids: &[u32],
    table: &[T],
    nq: usize,
    at: usize,
    maxes: &mut [T],
) {
    let out: &mut [T; W] = (&mut maxes[at..at + W]).try_into().expect("W lanes");
    let mut m = *out;
    for &id in ids {
        let start = id as usize * nq + at;
        let row: &[T; W] = table[start..start + W].try_into().expect("W lanes");
        for (m, &s) in m.iter_mut().zip(row) {
            *m = m.max_lane(s);
        }
    }
    *out = m;
}

/// Implicit-decompression MaxSim of one document: for each query token `i`,
/// `maxes[i] = max over embeddings e of S[c_e][i] + Σ_pos fused[pos][code_e[pos]][i]`,
/// where `ids` are the embeddings' centroids, `codes` their residual codes
/// (`bpe` bytes each), `scores` is `S` (`k x nq`) and `fused` the interleaved lookup
/// tables (`[pos][byte][i]`). `maxes` is overwritten (with -inf for an empty document).
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub(crate) fn implicit_max(
    scores: &[f32],
    fused: &[f32],
    nq: usize,
    ids: &[u32],
    codes: &[u8],
    bpe: usize,
    maxes: &mut [f32],
) {
    over_blocks!(
        nq,
        at,
        implicit_max_block[](scores, fused, nq, at, ids, codes, bpe, maxes)
    );
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn implicit_max_block<const W: usize>(
    scores: &[f32],
    fused: &[f32],
    nq: usize,
    at: usize,
    ids: &[u32],
    codes: &[u8],
    bpe: usize,
    maxes: &mut [f32],
) {
    let mut m = [f32::NEG_INFINITY; W];
    for (&c, code) in ids.iter().zip(codes.chunks_exact(bpe)) {
        let start = c as usize * nq + at;
        let mut acc: [f32; W] = scores[start..start + W].try_into().expect("W lanes");
        for (pos, &byte) in code.iter().enumerate() {
            let row = (pos * 256 + byte as usize) * nq + at;
            let t: &[f32; W] = fused[row..row + W].try_into().expect("W lanes");
            for (a, &x) in acc.iter_mut().zip(t) {
                *a += x;
            }
        }
        for (m, &a) in m.iter_mut().zip(&acc) {
            *m = m.max(a);
        }
    }
    maxes[at..at + W].copy_from_slice(&m);
}

/// `out[r * dim + d] = codes[r * dim + d] * scales[r]`: rows of the 8-bit centroid
/// table widened to f32 (`out` holds `scales.len() * dim` values).
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub(crate) fn widen_rows(codes: &[i8], scales: &[f32], dim: usize, out: &mut [f32]) {
    widen_rows_any(codes, scales, dim, out)
}

#[inline(always)]
fn widen_rows_any(codes: &[i8], scales: &[f32], dim: usize, out: &mut [f32]) {
    for ((dst, row), &s) in out
        .chunks_exact_mut(dim)
        .zip(codes.chunks_exact(dim))
        .zip(scales)
    {
        for (d, &x) in dst.iter_mut().zip(row) {
            *d = f32::from(x) * s;
        }
    }
}

/// Deterministic values in [-1, 1], a different sequence for each seed: the kernels' tests'
/// inputs.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|x| {
            ((x as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_kernel_equals_the_plain_loops_for_every_lane_count() {
        let (k, bpe, n) = (7, 4, 9);
        for nq in [1, 3, 8, 15, 16, 31, 32, 33, 57, 64] {
            let scores = test_values(k * nq, 1);
            let fused = test_values(bpe * 256 * nq, 2);
            let ids: Vec<u32> = (0..n as u32).map(|e| (e * 3) % k as u32).collect();
            let codes: Vec<u8> = (0..n * bpe).map(|x| (x * 37 % 256) as u8).collect();
            let mut got = vec![0.0; nq];
            implicit_max(&scores, &fused, nq, &ids, &codes, bpe, &mut got);
            let mut any = vec![0.0; nq];
            // The baseline build of the same blocks, whatever this CPU dispatches to.
            over_blocks!(
                nq,
                at,
                implicit_max_block[](&scores, &fused, nq, at, &ids, &codes, bpe, &mut any)
            );
            // The plain loops the kernels replace.
            let mut want = vec![f32::NEG_INFINITY; nq];
            for (&c, code) in ids.iter().zip(codes.chunks_exact(bpe)) {
                for (i, m) in want.iter_mut().enumerate() {
                    let mut a = scores[c as usize * nq + i];
                    for (pos, &b) in code.iter().enumerate() {
                        a += fused[(pos * 256 + b as usize) * nq + i];
                    }
                    *m = m.max(a);
                }
            }
            assert_eq!(got, want, "nq {nq}");
            assert_eq!(any, want, "nq {nq}");
        }
    }

    #[test]
    fn an_empty_document_gives_negative_infinity() {
        let mut got = vec![0.0; 5];
        implicit_max(&[0.0; 10], &[0.0; 256 * 5], 5, &[], &[], 1, &mut got);
        assert!(got.iter().all(|&m| m == f32::NEG_INFINITY));
    }

    #[test]
    fn centroid_kernels_equal_the_plain_loop_with_repeats_and_zeroed_rows() {
        let k = 6;
        for nq in [1, 5, 16, 32, 40] {
            let scores = test_values(k * nq, 3);
            let ids = [0u32, 0, 2, 3, 3, 5];
            for start in [-5.0f32, 0.0] {
                let mut got = vec![start; nq];
                centroid_max(&ids, &scores, nq, &mut got);
                for (i, &g) in got.iter().enumerate() {
                    let want = ids
                        .iter()
                        .map(|&c| scores[c as usize * nq + i])
                        .fold(start, f32::max);
                    assert_eq!(g, want, "nq {nq} lane {i}");
                }
            }
            // i8 rows, centroid 2 zeroed (pruned): it changes nothing from 0.
            let mut table: Vec<i8> = (0..k * nq).map(|x| ((x * 37) % 255) as i8).collect();
            table[2 * nq..3 * nq].fill(0);
            let mut got = vec![0i8; nq];
            centroid_max_i8(&ids, &table, nq, &mut got);
            for (i, &g) in got.iter().enumerate() {
                let want = ids
                    .iter()
                    .filter(|&&c| c != 2)
                    .map(|&c| table[c as usize * nq + i])
                    .fold(0i8, i8::max);
                assert_eq!(g, want, "i8, nq {nq} lane {i}");
            }
        }
    }
}
