//! The two per-document inner loops of PLAID, compiled for the CPU at hand.
//!
//! Both keep one running value a query token ("lane") and update all lanes at once:
//! a query's lanes are processed in blocks of 32, 16, 8 and 1, each block's
//! accumulator a fixed-size array the compiler holds in vector registers. Each
//! kernel is compiled three times (AVX-512, AVX2 and the baseline) and chosen at run
//! time; every variant adds in the same order, so all three give the same bits.

/// The query-token score rows of the centroids a document's embeddings belong to.
pub(crate) enum Rows<'a> {
    /// Every centroid's row: `scores[c * nq..]` (`num_centroids x nq`).
    All(&'a [f32]),
    /// Only kept centroids: `table[slot[c] * nq..]`, `slot[c] == u32::MAX` for a pruned
    /// centroid. Compact, so the rows stay in cache.
    Kept {
        /// Row of each centroid in `table`, `num_centroids` entries.
        slot: &'a [u32],
        /// Rows of the kept centroids.
        table: &'a [f32],
    },
}

impl Rows<'_> {
    /// The row of centroid `c`, `None` when it was pruned.
    #[inline(always)]
    fn row(&self, c: usize, nq: usize) -> Option<&[f32]> {
        match self {
            Rows::All(scores) => Some(&scores[c * nq..(c + 1) * nq]),
            Rows::Kept { slot, table } => match slot[c] {
                u32::MAX => None,
                j => Some(&table[j as usize * nq..(j as usize + 1) * nq]),
            },
        }
    }
}

/// Defines `pub(crate) fn $name(args)` calling `$any(args)` compiled three times, for
/// AVX-512, for AVX2 and for the baseline, and chosen at run time (`$any` is
/// `#[inline(always)]`, so each copy gets its instruction set's vector width).
macro_rules! dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $any:ident) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $any($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    $any($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $any($($arg),*)
        }
    };
}

/// Runs `$f::<W>(.., at, ..)` over lane blocks covering `0..$nq`: widths 32, 16, 8
/// and 1 (a macro rather than a closure, so the block functions inline into each
/// `target_feature` variant and get its vector width).
macro_rules! over_blocks {
    ($nq:expr, $at:ident, $f:ident($($arg:expr),*)) => {{
        let nq: usize = $nq;
        let mut $at = 0usize;
        while nq - $at >= 32 {
            $f::<32>($($arg),*);
            $at += 32;
        }
        if nq - $at >= 16 {
            $f::<16>($($arg),*);
            $at += 16;
        }
        if nq - $at >= 8 {
            $f::<8>($($arg),*);
            $at += 8;
        }
        while $at < nq {
            $f::<1>($($arg),*);
            $at += 1;
        }
    }};
}

dispatch! {
    /// `maxes[i] = max(maxes[i], row(c)[i])` over the centroid ids `ids` (ascending, each
    /// below the number of centroids), skipping pruned centroids and repeats.
    fn centroid_max(ids: &[u32], rows: &Rows<'_>, nq: usize, maxes: &mut [f32]) => centroid_max_any
}

#[inline(always)]
fn centroid_max_any(ids: &[u32], rows: &Rows<'_>, nq: usize, maxes: &mut [f32]) {
    over_blocks!(nq, at, centroid_max_block(ids, rows, nq, at, maxes));
}

#[inline(always)]
fn centroid_max_block<const W: usize>(
    ids: &[u32],
    rows: &Rows<'_>,
    nq: usize,
    at: usize,
    maxes: &mut [f32],
) {
    let out: &mut [f32; W] = (&mut maxes[at..at + W]).try_into().expect("W lanes");
    let mut m = *out;
    let mut last = u32::MAX;
    for &id in ids {
        if id == last {
            continue;
        }
        last = id;
        let Some(row) = rows.row(id as usize, nq) else {
            continue;
        };
        let row: &[f32; W] = row[at..at + W].try_into().expect("W lanes");
        for (m, &s) in m.iter_mut().zip(row) {
            *m = m.max(s);
        }
    }
    *out = m;
}

dispatch! {
    /// Implicit-decompression MaxSim of one document: for each query token `i`,
    /// `maxes[i] = max over embeddings e of S[c_e][i] + Σ_pos fused[pos][code_e[pos]][i]`,
    /// where `ids` are the embeddings' centroids, `codes` their residual codes
    /// (`bpe` bytes each), `scores` is `S` (`k x nq`) and `fused` the interleaved lookup
    /// tables (`[pos][byte][i]`). `maxes` is overwritten (with -inf for an empty document).
    fn implicit_max(
        scores: &[f32],
        fused: &[f32],
        nq: usize,
        ids: &[u32],
        codes: &[u8],
        bpe: usize,
        maxes: &mut [f32]
    ) => implicit_max_any
}

#[inline(always)]
fn implicit_max_any(
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
        implicit_max_block(scores, fused, nq, at, ids, codes, bpe, maxes)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain loops the kernels replace.
    fn implicit_reference(
        scores: &[f32],
        fused: &[f32],
        nq: usize,
        ids: &[u32],
        codes: &[u8],
        bpe: usize,
    ) -> Vec<f32> {
        let mut maxes = vec![f32::NEG_INFINITY; nq];
        for (&c, code) in ids.iter().zip(codes.chunks_exact(bpe)) {
            for (i, m) in maxes.iter_mut().enumerate() {
                let mut a = scores[c as usize * nq + i];
                for (pos, &b) in code.iter().enumerate() {
                    a += fused[(pos * 256 + b as usize) * nq + i];
                }
                *m = m.max(a);
            }
        }
        maxes
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|x| {
                ((x as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn implicit_kernel_equals_the_plain_loops_for_every_lane_count() {
        let (k, bpe, n) = (7, 4, 9);
        for nq in [1, 3, 8, 15, 16, 31, 32, 33, 57, 64] {
            let scores = values(k * nq, 1);
            let fused = values(bpe * 256 * nq, 2);
            let ids: Vec<u32> = (0..n as u32).map(|e| (e * 3) % k as u32).collect();
            let codes: Vec<u8> = (0..n * bpe).map(|x| (x * 37 % 256) as u8).collect();
            let mut got = vec![0.0; nq];
            implicit_max(&scores, &fused, nq, &ids, &codes, bpe, &mut got);
            let mut any = vec![0.0; nq];
            implicit_max_any(&scores, &fused, nq, &ids, &codes, bpe, &mut any);
            let want = implicit_reference(&scores, &fused, nq, &ids, &codes, bpe);
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
    fn centroid_kernel_skips_pruned_centroids_and_equals_the_plain_loop() {
        let k = 6;
        for nq in [1, 5, 16, 32, 40] {
            let scores = values(k * nq, 3);
            let ids = [0u32, 0, 2, 3, 3, 5];
            // Centroid 2 pruned: the kept table holds rows 0, 1, 3, 4, 5.
            let slot = [0, 1, u32::MAX, 2, 3, 4];
            let table: Vec<f32> = [0, 1, 3, 4, 5]
                .iter()
                .flat_map(|&c| scores[c * nq..(c + 1) * nq].to_vec())
                .collect();
            for (rows, skip) in [
                (Rows::All(&scores), None),
                (
                    Rows::Kept {
                        slot: &slot,
                        table: &table,
                    },
                    Some(2),
                ),
            ] {
                let mut got = vec![-5.0; nq];
                centroid_max(&ids, &rows, nq, &mut got);
                for (i, &g) in got.iter().enumerate() {
                    let want = ids
                        .iter()
                        .filter(|&&c| Some(c) != skip)
                        .map(|&c| scores[c as usize * nq + i])
                        .fold(-5.0f32, f32::max);
                    assert_eq!(g, want, "nq {nq} lane {i}");
                }
            }
        }
    }
}
