//! The assignment kernel: for each point, the centroid with the largest `x . c + bias[c]`.
//!
//! Points are cut into blocks of [`BLOCK_ROWS`] rows handled in parallel by rayon; inside
//! a block the scores against a chunk of centroids are one faer matrix product
//! (`block x chunk^T`, sequential so that results do not depend on the thread count),
//! followed by a running argmax. Very small dimensions (product-code sub-spaces) use a
//! direct loop over a transposed codebook instead, where a matrix product has nothing
//! to gain. Ties go to the lowest centroid id.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Points a parallel task scores at once.
pub(crate) const BLOCK_ROWS: usize = 256;
/// Centroids scored per matrix product, so that the score tile stays in cache.
const COL_CHUNK: usize = 1024;
/// Below this dimension the direct loop beats a matrix product.
const DIRECT_MAX_DIM: usize = 16;

/// The centroid side of an assignment: `k x dim` row-major rows and an optional bias.
#[derive(Clone, Copy)]
pub(crate) struct Targets<'a> {
    /// `k x dim`, row-major.
    pub rows: &'a [f32],
    /// The dimension.
    pub dim: usize,
    /// Added to every score of centroid `j` (`-|c_j|^2 / 2` turns max inner product
    /// into nearest in L2); `None` for plain maximum inner product.
    pub bias: Option<&'a [f32]>,
}

impl Targets<'_> {
    fn len(&self) -> usize {
        self.rows.len() / self.dim
    }
}

/// Per-task scratch memory of [`nearest_block`].
#[derive(Default)]
pub(crate) struct Scratch {
    scores: Vec<f32>,
    transposed: Vec<f32>,
}

/// Best centroid id and score of every point (`points` is `n x dim`), in parallel.
pub(crate) fn nearest(points: &[f32], targets: Targets<'_>, ids: &mut [u32], scores: &mut [f32]) {
    let dim = targets.dim;
    debug_assert_eq!(points.len(), ids.len() * dim);
    debug_assert_eq!(ids.len(), scores.len());
    ids.par_chunks_mut(BLOCK_ROWS)
        .zip(scores.par_chunks_mut(BLOCK_ROWS))
        .zip(points.par_chunks(BLOCK_ROWS * dim))
        .for_each_init(Scratch::default, |scratch, ((ids, scores), block)| {
            nearest_block(block, targets, ids, scores, scratch)
        });
}

/// Best centroid id and score of each point of one block, on the calling thread
/// (compiled for AVX2 + FMA too, so the argmax and the direct loop use 8-wide registers).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub(crate) fn nearest_block<'a>(
    points: &[f32],
    targets: Targets<'a>,
    ids: &mut [u32],
    scores: &mut [f32],
    scratch: &mut Scratch,
) {
    nearest_block_generic(points, targets, ids, scores, scratch)
}

#[inline(always)]
fn nearest_block_generic(
    points: &[f32],
    targets: Targets<'_>,
    ids: &mut [u32],
    scores: &mut [f32],
    scratch: &mut Scratch,
) {
    ids.fill(0);
    scores.fill(f32::NEG_INFINITY);
    if targets.dim <= DIRECT_MAX_DIM {
        direct(points, targets, ids, scores, scratch);
    } else {
        gemm(points, targets, ids, scores, scratch);
    }
}

#[inline(always)]
fn gemm(points: &[f32], t: Targets<'_>, ids: &mut [u32], scores: &mut [f32], s: &mut Scratch) {
    let dim = t.dim;
    let rows = ids.len();
    let lhs = MatRef::from_row_major_slice(points, rows, dim);
    for (chunk_index, chunk) in t.rows.chunks(COL_CHUNK * dim).enumerate() {
        let cols = chunk.len() / dim;
        let first = chunk_index * COL_CHUNK;
        s.scores.resize(rows * cols, 0.0);
        let tile = &mut s.scores[..rows * cols];
        let rhs = MatRef::from_row_major_slice(chunk, cols, dim);
        matmul(
            MatMut::from_row_major_slice_mut(tile, rows, cols),
            Accum::Replace,
            lhs,
            rhs.transpose(),
            1.0f32,
            Par::Seq,
        );
        let bias = t.bias.map(|b| &b[first..first + cols]);
        for (r, row) in tile.chunks_exact_mut(cols).enumerate() {
            let (j, v) = argmax(row, bias);
            if v > scores[r] {
                scores[r] = v;
                ids[r] = (first + j) as u32;
            }
        }
    }
}

#[inline(always)]
fn direct(points: &[f32], t: Targets<'_>, ids: &mut [u32], scores: &mut [f32], s: &mut Scratch) {
    let dim = t.dim;
    let k = t.len();
    // Transposed (dim x k) so that the inner loop runs over centroids and vectorises.
    s.transposed.clear();
    s.transposed.resize(dim * k, 0.0);
    for (j, c) in t.rows.chunks_exact(dim).enumerate() {
        for (d, &v) in c.iter().enumerate() {
            s.transposed[d * k + j] = v;
        }
    }
    s.scores.resize(k, 0.0);
    for (r, x) in points.chunks_exact(dim).enumerate() {
        let acc = &mut s.scores[..k];
        match t.bias {
            Some(b) => acc.copy_from_slice(b),
            None => acc.fill(0.0),
        }
        for (&xd, column) in x.iter().zip(s.transposed.chunks_exact(k)) {
            for (a, &c) in acc.iter_mut().zip(column) {
                *a += xd * c;
            }
        }
        let (j, v) = argmax_blocks(acc);
        scores[r] = v;
        ids[r] = j as u32;
    }
}

/// Index and value of the largest `row[j] + bias[j]`, the first one on ties.
/// `row` is scratch: the bias is added to it in place.
#[inline(always)]
fn argmax(row: &mut [f32], bias: Option<&[f32]>) -> (usize, f32) {
    if let Some(bias) = bias {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
    argmax_blocks(row)
}

/// Values scanned for their maximum before it is compared with the running best.
const BLOCK: usize = 64;
const LANES: usize = 8;

/// Index and value of the largest value, the first one on ties (NaN never wins; 0 when
/// nothing beats minus infinity). Each block's maximum is a pure vertical max over
/// `LANES` lanes, which vectorises; the position is looked up only in the rare blocks
/// that raise the running best.
#[inline(always)]
fn argmax_blocks(row: &[f32]) -> (usize, f32) {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (b, block) in row.chunks(BLOCK).enumerate() {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let chunks = block.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for l in 0..LANES {
                lanes[l] = if chunk[l] > lanes[l] {
                    chunk[l]
                } else {
                    lanes[l]
                };
            }
        }
        let mut max = tail
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        for v in lanes {
            max = if v > max { v } else { max };
        }
        if max > best.1 {
            let at = block.iter().position(|&v| v == max).unwrap_or(0);
            best = (b * BLOCK + at, max);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(points: &[f32], t: Targets<'_>) -> Vec<u32> {
        points
            .chunks_exact(t.dim)
            .map(|x| {
                let mut best = (0u32, f32::NEG_INFINITY);
                for (j, c) in t.rows.chunks_exact(t.dim).enumerate() {
                    let s: f32 = x.iter().zip(c).map(|(a, b)| a * b).sum::<f32>()
                        + t.bias.map_or(0.0, |b| b[j]);
                    if s > best.1 {
                        best = (j as u32, s);
                    }
                }
                best.0
            })
            .collect()
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        let mut row = vec![0.0f32; 237];
        row[111] = 5.0;
        row[103] = 5.0;
        row[236] = 5.0;
        assert_eq!(argmax(&mut row.clone(), None), (103, 5.0));
        let bias: Vec<f32> = (0..237).map(|j| if j == 236 { 1.0 } else { 0.0 }).collect();
        assert_eq!(argmax(&mut row, Some(&bias)), (236, 6.0));
        assert_eq!(argmax(&mut [f32::NAN; 9], None).0, 0);
        let mut with_nan = [1.0, f32::NAN, 3.0, 2.0];
        assert_eq!(argmax(&mut with_nan, None), (2, 3.0));
    }

    #[test]
    fn matches_brute_force_for_gemm_and_direct_paths() {
        for &(dim, k, n) in &[(32usize, 1500usize, 600usize), (4, 256, 300), (8, 3, 5)] {
            let points = pseudo(n * dim, 7);
            let centroids = pseudo(k * dim, 11);
            let bias: Vec<f32> = pseudo(k, 13);
            for bias in [None, Some(&bias[..])] {
                let t = Targets {
                    rows: &centroids,
                    dim,
                    bias,
                };
                let mut ids = vec![0; n];
                let mut scores = vec![0.0; n];
                nearest(&points, t, &mut ids, &mut scores);
                let expected = brute(&points, t);
                let agree = ids.iter().zip(&expected).filter(|(a, b)| a == b).count();
                // Summation order differs, so near-ties may flip; they must be rare.
                assert!(agree * 100 >= n * 99, "dim {dim}: {agree}/{n}");
            }
        }
    }
}
