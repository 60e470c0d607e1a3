//! The final stage at depth: implicit decompression over 16-bit fixed-point tables.
//!
//! The same sum as the f32 path, `q_i · (c + r) = S[c][i] + Σ_pos fused[pos][code[pos]][i]`,
//! with `S` and the interleaved lookup tables rounded to `i16` at one scale a query. A
//! row of 32 query tokens is then 64 bytes, one cache line and one AVX-512 register
//! (the f32 row is two of each), and the tables of a 32-byte code shrink from 1 MB to
//! 512 KB, so with `S` they stay in L2. Sums wrap (two's complement), so only the final
//! value of each embedding and token must fit: the scale is chosen from a bound on
//! every final value (see [`FixedTables::build`]). Each of the `1 + bytes_per_code`
//! terms is rounded by at most half a step, so a token's score is off by at most
//! `(1 + bytes_per_code) / 2` steps (about 1e-3 at 32 bytes; typically a tenth of that),
//! which moves documents only where their exact scores are that close.

use super::kernels::over_blocks;

/// Reusable fixed-point tables of one query.
#[derive(Default)]
pub(crate) struct FixedTables {
    /// `S` rounded, `k x nq`.
    scores: Vec<i16>,
    /// The interleaved lookup tables rounded, `[pos][byte][i]`.
    fused: Vec<i16>,
    /// Per-token maxima of one document.
    maxes: Vec<i16>,
    /// Value of one step (1 / scale).
    step: f32,
}

/// Largest magnitude a final value is allowed at the chosen scale.
const LIMIT: f32 = 32_000.0;

impl FixedTables {
    /// Rounds `S` (`k x nq`) and the interleaved tables (`bpe x 256 x nq`).
    ///
    /// The scale makes every possible final value fit: `|S[c][i]| + Σ_pos max_byte
    /// |fused[pos][byte][i]|` bounds `|S[c][i] + Σ_pos fused[pos][code[pos]][i]|` for every
    /// centroid and code, so the largest such bound over tokens maps to [`LIMIT`].
    pub fn build(&mut self, scores: &[f32], fused: &[f32], nq: usize) {
        let mut bound = vec![0f32; nq];
        for table in fused.chunks_exact(256 * nq) {
            let mut top = vec![0f32; nq];
            for row in table.chunks_exact(nq) {
                for (t, &x) in top.iter_mut().zip(row) {
                    *t = t.max(x.abs());
                }
            }
            for (b, t) in bound.iter_mut().zip(top) {
                *b += t;
            }
        }
        let mut top_s = vec![0f32; nq];
        for row in scores.chunks_exact(nq) {
            for (t, &x) in top_s.iter_mut().zip(row) {
                *t = t.max(x.abs());
            }
        }
        let largest = bound
            .iter()
            .zip(&top_s)
            .map(|(b, s)| b + s)
            .fold(0f32, f32::max);
        let scale = if largest > 0.0 { LIMIT / largest } else { 1.0 };
        self.step = 1.0 / scale;
        // Rounding half away from zero by a truncating cast (`f32::round` is a libm
        // call on baseline x86-64: it took ~2 ms a query over these 500k values).
        let round = |x: f32| {
            let y = x * scale;
            (y + 0.5f32.copysign(y)) as i16
        };
        self.scores.clear();
        self.scores.extend(scores.iter().map(|&x| round(x)));
        self.fused.clear();
        self.fused.extend(fused.iter().map(|&x| round(x)));
        self.maxes.resize(nq, 0);
    }

    /// MaxSim of one document from its centroid ids and codes (`bpe` bytes each);
    /// 0 for an empty document.
    pub fn score(&mut self, nq: usize, ids: &[u32], codes: &[u8], bpe: usize) -> f32 {
        if ids.is_empty() {
            return 0.0;
        }
        fixed_max(
            &self.scores,
            &self.fused,
            nq,
            ids,
            codes,
            bpe,
            &mut self.maxes,
        );
        let sum: i32 = self.maxes.iter().map(|&m| i32::from(m)).sum();
        sum as f32 * self.step
    }
}

/// `maxes[i] = max over embeddings e of S[c_e][i] + Σ_pos fused[pos][code_e[pos]][i]`
/// (wrapping sums), lanes in blocks of 32, 16, 8 and 1; compiled for AVX-512 (with BW),
/// AVX2 or the baseline, chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2"))]
fn fixed_max(
    scores: &[i16],
    fused: &[i16],
    nq: usize,
    ids: &[u32],
    codes: &[u8],
    bpe: usize,
    maxes: &mut [i16],
) {
    over_blocks!(
        nq,
        at,
        fixed_max_block[](scores, fused, nq, at, ids, codes, bpe, maxes)
    );
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fixed_max_block<const W: usize>(
    scores: &[i16],
    fused: &[i16],
    nq: usize,
    at: usize,
    ids: &[u32],
    codes: &[u8],
    bpe: usize,
    maxes: &mut [i16],
) {
    let mut m = [i16::MIN; W];
    for (&c, code) in ids.iter().zip(codes.chunks_exact(bpe)) {
        let start = c as usize * nq + at;
        let mut acc: [i16; W] = scores[start..start + W].try_into().expect("W lanes");
        for (pos, &byte) in code.iter().enumerate() {
            let row = (pos * 256 + byte as usize) * nq + at;
            let t: &[i16; W] = fused[row..row + W].try_into().expect("W lanes");
            for (a, &x) in acc.iter_mut().zip(t) {
                *a = a.wrapping_add(x);
            }
        }
        for (m, &a) in m.iter_mut().zip(&acc) {
            *m = (*m).max(a);
        }
    }
    maxes[at..at + W].copy_from_slice(&m);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::kernels::test_values;

    #[test]
    fn fixed_point_scores_are_within_the_rounding_bound_of_the_f32_ones() {
        let (k, bpe) = (9, 8);
        for nq in [1, 7, 8, 16, 32, 33, 64] {
            let scores = test_values(k * nq, 1);
            let fused: Vec<f32> = test_values(bpe * 256 * nq, 2)
                .iter()
                .map(|v| v * 0.1)
                .collect();
            let mut tables = FixedTables::default();
            tables.build(&scores, &fused, nq);
            for len in [0usize, 1, 5, 40] {
                let ids: Vec<u32> = (0..len as u32).map(|e| (e * 5 + 1) % k as u32).collect();
                let codes: Vec<u8> = (0..len * bpe).map(|x| (x * 37 % 256) as u8).collect();
                let mut want = vec![f32::NEG_INFINITY; nq];
                for (&c, code) in ids.iter().zip(codes.chunks_exact(bpe)) {
                    for (i, w) in want.iter_mut().enumerate() {
                        let mut a = scores[c as usize * nq + i];
                        for (pos, &b) in code.iter().enumerate() {
                            a += fused[(pos * 256 + b as usize) * nq + i];
                        }
                        *w = w.max(a);
                    }
                }
                let want: f32 = if len == 0 { 0.0 } else { want.iter().sum() };
                let got = tables.score(nq, &ids, &codes, bpe);
                let tolerance = nq as f32 * (1 + bpe) as f32 * 0.5 * tables.step + 1e-4;
                assert!(
                    (got - want).abs() <= tolerance,
                    "nq {nq} len {len}: {got} vs {want} (tolerance {tolerance})"
                );
            }
        }
    }
}
