//! Exhaustive scoring, the ground truth of every approximate path:
//! exact MaxSim over the kept uncompressed embeddings, and MaxSim over every
//! document's decompressed embeddings (the codec's ceiling), by implicit and by
//! explicit decompression.

use rayon::prelude::*;

use super::params::SearchHit;
use super::plaid::{
    centroid_scores, check_query, implicit_maxsim, rows_dot_query, DocScratch, Scratch,
};
use super::topk::{keep_best, top_hits};
use crate::error::{EngineError, Result};
use crate::index::Index;

/// Documents scored together by one matrix product in exact search.
const DOC_BLOCK: usize = 64;

/// MaxSim of `query` (`nq x dim`) against `doc` (`len x dim`): the sum over query
/// tokens of the best inner product with any document embedding (0 for an empty
/// document).
pub fn maxsim(query: &[f32], doc: &[f32], dim: usize) -> f32 {
    if doc.is_empty() {
        return 0.0;
    }
    query
        .chunks_exact(dim)
        .map(|q| {
            doc.chunks_exact(dim)
                .map(|d| dot(q, d))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum()
}

/// Inner product, in eight lanes so it vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl Index {
    /// Exact MaxSim over the kept uncompressed embeddings of every document: top `k`,
    /// best first. Documents with no embeddings are never returned.
    ///
    /// Errors: [`EngineError::NoEmbeddings`] when the index was built without
    /// `keep_embeddings`; the query errors of [`Index::search`].
    pub fn search_exact(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>> {
        if !self.has_embeddings() {
            return Err(EngineError::NoEmbeddings);
        }
        let dim = self.dim();
        let nq = check_query(query, dim)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        // Blocks of DOC_BLOCK documents within one segment (embeddings are contiguous
        // within a segment only).
        let blocks: Vec<(usize, usize, usize)> = self
            .segments
            .iter()
            .enumerate()
            .flat_map(|(s, seg)| {
                (0..seg.num_documents.div_ceil(DOC_BLOCK)).map(move |b| {
                    let first = b * DOC_BLOCK;
                    (s, first, (first + DOC_BLOCK).min(seg.num_documents))
                })
            })
            .collect();
        let mut best: Vec<(f32, u32)> = blocks
            .into_par_iter()
            .fold(
                || (Vec::new(), Vec::new()),
                |(mut best, mut sims): (Vec<(f32, u32)>, Vec<f32>), (s, first, last)| {
                    let seg = &self.segments[s];
                    let all = seg.embeddings.as_ref().map_or(&[][..], |e| e.as_slice());
                    let base = self.base(s);
                    let (a, _) = seg.doc_range(first);
                    let (_, b) = seg.doc_range(last - 1);
                    let m = b - a;
                    // sims = E_block · Qᵀ, m x nq.
                    sims.clear();
                    sims.resize(m * nq, 0.0);
                    rows_dot_query(&all[a * dim..b * dim], dim, query, nq, &mut sims);
                    let mut maxes = vec![f32::NEG_INFINITY; nq];
                    for doc in first..last {
                        let (da, db) = seg.doc_range(doc);
                        if da == db || seg.deleted.contains(doc as u32) {
                            continue;
                        }
                        maxes.fill(f32::NEG_INFINITY);
                        for row in sims[(da - a) * nq..(db - a) * nq].chunks_exact(nq) {
                            for (mx, &s) in maxes.iter_mut().zip(row) {
                                *mx = mx.max(s);
                            }
                        }
                        best.push((maxes.iter().sum(), base + doc as u32));
                    }
                    keep_best(&mut best, k);
                    (best, sims)
                },
            )
            .map(|(best, _)| best)
            .reduce(Vec::new, |mut a, b| {
                a.extend(b);
                keep_best(&mut a, k);
                a
            });
        Ok(top_hits(&mut best, k))
    }

    /// [`Index::search_exact`] over the documents of `allowed` only (document numbers
    /// of this snapshot, as from [`Index::filter`]): the exact filtered top-k, the
    /// ground truth of filtered search. Deleted and empty documents are never returned.
    pub fn search_exact_within(
        &self,
        query: &[f32],
        k: usize,
        allowed: &roaring::RoaringBitmap,
    ) -> Result<Vec<SearchHit>> {
        if !self.has_embeddings() {
            return Err(EngineError::NoEmbeddings);
        }
        let dim = self.dim();
        check_query(query, dim)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let docs: Vec<u32> = allowed
            .iter()
            .take_while(|&d| (d as usize) < self.num_documents())
            .filter(|&d| !self.is_deleted(d) && self.doc_len(d).unwrap_or(0) > 0)
            .collect();
        let mut best: Vec<(f32, u32)> = docs
            .par_iter()
            .map(|&d| Ok((maxsim(query, self.document_embeddings(d)?, dim), d)))
            .collect::<Result<_>>()?;
        Ok(top_hits(&mut best, k))
    }

    /// MaxSim over the decompressed embeddings of every document (implicit
    /// decompression, in parallel): the ceiling PLAID's approximations are measured
    /// against. Documents with no embeddings are never returned.
    pub fn search_exhaustive(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>> {
        let mut scratch = Scratch::default();
        scratch.prepare(self, query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        scratch.build_luts(self);
        let nq = scratch.nq;
        let (scores, fused) = (&scratch.scores, &scratch.fused);
        let mut best: Vec<(f32, u32)> = (0..self.num_documents() as u32)
            .into_par_iter()
            .filter(|&d| self.doc_len(d).unwrap_or(0) > 0 && !self.is_deleted(d))
            .map_init(
                || DocScratch::new(nq),
                |doc_scratch, doc| {
                    implicit_maxsim(self, scores, fused, nq, doc, doc_scratch).map(|s| (s, doc))
                },
            )
            .collect::<Result<_>>()?;
        Ok(top_hits(&mut best, k))
    }

    /// MaxSim of `query` against document `doc` by explicit decompression (decode each
    /// embedding, then inner products): the reference the implicit path is tested
    /// against.
    pub fn score_explicit(&self, query: &[f32], doc: u32) -> Result<f32> {
        check_query(query, self.dim())?;
        let mut decoded = Vec::new();
        self.decompress_document(doc, &mut decoded)?;
        Ok(maxsim(query, &decoded, self.dim()))
    }

    /// MaxSim of `query` against document `doc` by implicit decompression (the final
    /// PLAID stage's scoring, for one document).
    pub fn score_implicit(&self, query: &[f32], doc: u32) -> Result<f32> {
        self.checked_doc(doc)?;
        let mut scratch = Scratch::default();
        scratch.prepare(self, query)?;
        scratch.build_luts(self);
        let nq = scratch.nq;
        let mut doc_scratch = DocScratch::new(nq);
        implicit_maxsim(
            self,
            &scratch.scores,
            &scratch.fused,
            nq,
            doc,
            &mut doc_scratch,
        )
    }
}

/// `S` for `query` against `centroids` (`k x dim`), `k x nq` row-major: the first PLAID
/// stage on its own, for benchmarks.
pub fn query_centroid_scores(centroids: &[f32], dim: usize, query: &[f32]) -> Result<Vec<f32>> {
    let nq = check_query(query, dim)?;
    if centroids.len() % dim != 0 {
        return Err(EngineError::DimensionMismatch {
            what: "centroids",
            expected: dim,
            found: centroids.len(),
        });
    }
    let mut out = Vec::new();
    centroid_scores(centroids, dim, query, nq, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        for n in [0, 1, 7, 8, 9, 128, 131] {
            let a: Vec<f32> = (0..n).map(|x| x as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|x| 1.0 - x as f32 * 0.25).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() <= 1e-3 * naive.abs().max(1.0));
        }
    }

    #[test]
    fn maxsim_sums_best_matches() {
        let q = [1.0, 0.0, 0.0, 1.0];
        let d = [0.5, 0.5, 0.9, -0.1, 0.0, 0.2];
        assert!((maxsim(&q, &d, 2) - (0.9 + 0.5)).abs() < 1e-6);
        assert_eq!(maxsim(&q, &[], 2), 0.0);
    }
}
