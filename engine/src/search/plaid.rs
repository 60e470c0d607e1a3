//! The PLAID stages over reusable scratch buffers.
//!
//! 1. `S = C · Qᵀ`, centroid-major (`k x n_q`): one row of query-token scores a
//!    centroid, so the interaction stages read one contiguous row an embedding.
//! 2. Candidates: the union (roaring OR) of the posting lists of every query token's
//!    top-`nprobe` centroids.
//! 3. Centroid interaction with pruning: a document scores `Σ_i max_e S[c(e)][i]`
//!    where centroids whose best query-token score is below the threshold contribute
//!    0 (computed over `S` quantised to `i8`, pruned rows zeroed); keep `ndocs`.
//! 4. Centroid interaction without pruning on those; keep `ndocs / 4`.
//! 5. Exact MaxSim on the decompressed embeddings by implicit decompression:
//!    `q_i · (c + r) = S[c][i] + Σ_pos lut_i[pos][code[pos]]`, with the lookup tables
//!    of all query tokens interleaved (`[pos][byte][i]`) so an embedding costs
//!    `bytes_per_code` vector adds of `n_q` lanes; top-k.
//!
//! Nothing is allocated per document: every buffer lives in [`Scratch`] and is reused
//! across queries.

use roaring::{MultiOps, RoaringBitmap};
use tartan_quantize::{QueryLut, ResidualCodec};

use super::block_score::{final_stage, BlockQuery, BlockScorer, FinalStage};
use super::fixed_tables::FixedTables;
use super::kernels::{centroid_max, centroid_max_i8, implicit_max, widen_rows};
use super::params::SearchHit;
use super::topk::{keep_best, top_hits};
use crate::error::{EngineError, Result};
use crate::format::{elias_fano, POSTINGS};
use crate::index::Index;

/// Reusable buffers of one search (one a thread, or one a [`super::Searcher`]).
#[derive(Default)]
pub(crate) struct Scratch {
    /// Query tokens of the current query.
    pub nq: usize,
    /// The current query, `nq x dim`.
    pub query: Vec<f32>,
    /// `S`, `k x nq`.
    pub scores: Vec<f32>,
    /// A block of widened centroids (stage 1).
    block: Vec<f32>,
    /// Per token: its best centroids while probing.
    probe: Vec<(f32, u32)>,
    /// Probed centroids, deduplicated.
    probed: Vec<u32>,
    /// One decoded posting list (stage 2).
    decoded: Vec<u32>,
    /// Stage 2 output.
    pub candidates: RoaringBitmap,
    /// S quantised to `i8`, rows of pruned centroids zero (stage 3).
    pruned_rows: Vec<i8>,
    /// Per-token maxima of one document in stage 3, quantised.
    pruned_maxes: Vec<i8>,
    /// Per token: the floor of its probe list (stage 2).
    floors: Vec<f32>,
    /// Stage 3 output (score, doc), sorted by doc.
    pub pruned: Vec<(f32, u32)>,
    /// Stage 4 output (score, doc), sorted by doc.
    pub shortlist: Vec<(f32, u32)>,
    /// Final scores.
    finals: Vec<(f32, u32)>,
    /// One query lookup table a token.
    luts: Vec<QueryLut>,
    /// Interleaved lookup tables, `[pos][byte][i]`.
    pub fused: Vec<f32>,
    /// The query transposed, `dim x nq`.
    query_t: Vec<f32>,
    /// Per-token maxima of one document.
    pub maxes: Vec<f32>,
    /// Per-document buffers of the final stage.
    pub doc: DocScratch,
    /// The final stage's block scoring (when forced).
    blocks: BlockScorer,
    /// The final stage's 16-bit tables (long shortlists).
    fixed: FixedTables,
}

/// Checks a query (`n x dim`, finite, at least one token) and returns `n`.
pub(crate) fn check_query(query: &[f32], dim: usize) -> Result<usize> {
    if query.len() % dim != 0 {
        return Err(EngineError::DimensionMismatch {
            what: "query",
            expected: dim,
            found: query.len(),
        });
    }
    if query.is_empty() {
        return Err(EngineError::EmptyQuery);
    }
    if let Some(i) = query.iter().position(|x| !x.is_finite()) {
        return Err(EngineError::NonFinite {
            what: "query".into(),
            row: i / dim,
            column: i % dim,
        });
    }
    Ok(query.len() / dim)
}

impl Scratch {
    /// Checks the query, stores it and computes `S` (stage 1).
    pub fn prepare(&mut self, index: &Index, query: &[f32]) -> Result<()> {
        let dim = index.dim();
        self.nq = check_query(query, dim)?;
        self.query.clear();
        self.query.extend_from_slice(query);
        if index.num_centroids() * dim <= WIDENED_IN_CACHE {
            // A small table is read from cache either way: one product, no widening.
            centroid_scores(index.centroids(), dim, query, self.nq, &mut self.scores);
        } else {
            centroid_scores_i8(
                index.centroid_codes.as_slice(),
                index.centroid_scales.as_slice(),
                dim,
                query,
                self.nq,
                &mut self.block,
                &mut self.scores,
            );
        }
        self.maxes.resize(self.nq, 0.0);
        self.doc.resize(self.nq);
        Ok(())
    }

    /// Stage 2: candidates from each token's top-`nprobe` centroids.
    pub fn generate_candidates(
        &mut self,
        index: &Index,
        nprobe: usize,
        allowed: Option<&RoaringBitmap>,
    ) -> Result<()> {
        let (k, nq) = (index.num_centroids(), self.nq);
        self.probed.clear();
        if nprobe >= k {
            self.probed.extend(0..k as u32);
        } else if nprobe <= 16 {
            // One pass over S (row by row, as it lies in memory) keeping each token's
            // best `nprobe` in a short sorted list, `probe[i * nprobe..]`.
            self.probe.clear();
            self.probe
                .resize(nq * nprobe, (f32::NEG_INFINITY, u32::MAX));
            self.floors.clear();
            self.floors.resize(nq, f32::NEG_INFINITY);
            for (c, row) in self.scores.chunks_exact(nq).enumerate() {
                for (i, (&s, floor)) in row.iter().zip(self.floors.iter_mut()).enumerate() {
                    if s <= *floor {
                        continue;
                    }
                    let list = &mut self.probe[i * nprobe..(i + 1) * nprobe];
                    let at = list.partition_point(|&(t, _)| t >= s);
                    list[at..].rotate_right(1);
                    list[at] = (s, c as u32);
                    *floor = list[nprobe - 1].0;
                }
            }
            self.probed.extend(self.probe.iter().map(|&(_, c)| c));
            self.probed.sort_unstable();
            self.probed.dedup();
        } else {
            for i in 0..nq {
                top_centroids(&self.scores, nq, i, nprobe, &mut self.probe);
                self.probed.extend(self.probe.iter().map(|&(_, c)| c));
            }
            self.probed.sort_unstable();
            self.probed.dedup();
        }
        // Each segment's lists are decoded against its own number of documents (a
        // corrupt list errors here, before any scoring) and shifted to global numbers;
        // deleted documents, and those outside `allowed`, are dropped before any scoring.
        let mut lists = Vec::with_capacity(self.probed.len() * index.segments.len());
        for (s, seg) in index.segments.iter().enumerate() {
            let universe = seg.num_documents as u32;
            let base = index.base(s);
            let corrupt = |c: u32, reason: String| {
                EngineError::corrupt(
                    seg.dir.join(POSTINGS),
                    format!("posting list {c}: {reason}"),
                )
            };
            for &c in &self.probed {
                let bytes = seg.postings.get(c as usize).unwrap_or_default();
                self.decoded.clear();
                elias_fano::decode(bytes, universe, &mut self.decoded)
                    .map_err(|r| corrupt(c, r))?;
                let list = RoaringBitmap::from_sorted_iter(self.decoded.iter().map(|&d| d + base))
                    .map_err(|e| corrupt(c, format!("repeated document: {e}")))?;
                lists.push(list);
            }
        }
        self.candidates = lists.union();
        if !index.deleted.is_empty() {
            self.candidates -= &index.deleted;
        }
        if let Some(allowed) = allowed {
            self.candidates &= allowed;
        }
        Ok(())
    }

    /// Stage 2 widened: every live document with embeddings (within `allowed` when given)
    /// is a candidate.
    pub fn all_candidates(&mut self, index: &Index, allowed: Option<&RoaringBitmap>) {
        let n = index.num_documents() as u32;
        let live = |d: &u32| !index.deleted.contains(*d) && index.doc_len(*d).unwrap_or(0) > 0;
        self.candidates = match allowed {
            Some(a) => a.iter().take_while(|&d| d < n).filter(live).collect(),
            None => (0..n).filter(live).collect(),
        };
    }

    /// Stage 3: centroid interaction with pruning over the candidates, keep `n`.
    pub fn interaction_pruned(&mut self, index: &Index, threshold: f32, n: usize) -> Result<()> {
        let nq = self.nq;
        // Every centroid's row of S quantised to i8, the rows of pruned centroids zero:
        // the per-token maxima start at 0 (a pruned centroid contributes 0, as in
        // colbert-ai), so a zero row changes nothing and the kernel reads one row an
        // id with no indirection and no branch. At 32 tokens a row is 32 bytes, so the
        // table (k x 32 bytes) stays in cache where S (k x 128 bytes) would not. The
        // rounding (half of `scale`, 1/254 of the largest score, a token) only moves
        // which documents stage 4 rescores in f32, and by less than the centroid-only
        // approximation itself.
        let largest = self.scores.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        self.pruned_rows.clear();
        for row in self.scores.chunks_exact(nq) {
            if row.iter().copied().fold(f32::NEG_INFINITY, f32::max) >= threshold {
                self.pruned_rows
                    .extend(row.iter().map(|&x| (x / scale).round() as i8));
            } else {
                self.pruned_rows.extend(std::iter::repeat_n(0, nq));
            }
        }
        self.pruned_maxes.resize(nq, 0);
        self.pruned.clear();
        for doc in self.candidates.iter() {
            index.doc_centroids(doc as usize, &mut self.doc.ids)?;
            self.pruned_maxes.fill(0);
            centroid_max_i8(&self.doc.ids, &self.pruned_rows, nq, &mut self.pruned_maxes);
            let sum: i32 = self.pruned_maxes.iter().map(|&m| i32::from(m)).sum();
            self.pruned.push((sum as f32 * scale, doc));
        }
        keep_best(&mut self.pruned, n);
        self.pruned.sort_unstable_by_key(|&(_, d)| d);
        Ok(())
    }

    /// Stage 4: centroid interaction without pruning over stage 3's documents, keep `n`.
    pub fn interaction_full(&mut self, index: &Index, n: usize) -> Result<()> {
        let nq = self.nq;
        self.shortlist.clear();
        for &(_, doc) in &self.pruned {
            index.doc_centroids(doc as usize, &mut self.doc.ids)?;
            self.maxes.fill(f32::NEG_INFINITY);
            centroid_max(&self.doc.ids, &self.scores, nq, &mut self.maxes);
            self.shortlist.push((self.maxes.iter().sum(), doc));
        }
        keep_best(&mut self.shortlist, n);
        self.shortlist.sort_unstable_by_key(|&(_, d)| d);
        Ok(())
    }

    /// Builds the interleaved lookup tables of the current query.
    pub fn build_luts(&mut self, index: &Index) {
        let (dim, nq) = (index.dim(), self.nq);
        let bpe = index.codec.bytes_per_embedding();
        if let ResidualCodec::Product(codec) = &index.codec {
            // Straight from the codebooks: per byte position a (256 x sub_dim) by
            // (sub_dim x nq) product, written in the interleaved order.
            self.query_t.resize(dim * nq, 0.0);
            for (i, q) in self.query.chunks_exact(dim).enumerate() {
                for (d, &x) in q.iter().enumerate() {
                    self.query_t[d * nq + i] = x;
                }
            }
            let sd = codec.sub_dim();
            self.fused.clear();
            self.fused.resize(bpe * 256 * nq, 0.0);
            let rows = self.fused.chunks_exact_mut(nq);
            for (r, (out, entry)) in rows.zip(codec.codebooks().chunks_exact(sd)).enumerate() {
                let pos = r / 256;
                for (d, &w) in entry.iter().enumerate() {
                    let q = &self.query_t[(pos * sd + d) * nq..(pos * sd + d + 1) * nq];
                    for (o, &x) in out.iter_mut().zip(q) {
                        *o += w * x;
                    }
                }
            }
            return;
        }
        self.luts.resize_with(nq, QueryLut::new);
        for (q, lut) in self.query.chunks_exact(dim).zip(self.luts.iter_mut()) {
            index.codec.query_lut_into(q, lut);
        }
        self.fused.resize(bpe * 256 * nq, 0.0);
        // Written in order, read from nq sequential streams: the transpose stays in cache.
        for (pos, block) in self.fused.chunks_exact_mut(256 * nq).enumerate() {
            for (byte, lanes) in block.chunks_exact_mut(nq).enumerate() {
                for (lane, lut) in lanes.iter_mut().zip(&self.luts) {
                    *lane = lut.tables()[pos][byte];
                }
            }
        }
    }

    /// Implicit-decompression MaxSim of every live document with embeddings (within
    /// `allowed` when given), top `k`: the path when candidates are too few.
    pub fn rank_all(
        &mut self,
        index: &Index,
        k: usize,
        allowed: Option<&RoaringBitmap>,
    ) -> Result<Vec<SearchHit>> {
        self.build_luts(index);
        self.finals.clear();
        let score = |doc: u32, this: &mut Self| -> Result<()> {
            if index.deleted.contains(doc) || index.doc_len(doc).unwrap_or(0) == 0 {
                return Ok(());
            }
            let s = implicit_maxsim(
                index,
                &this.scores,
                &this.fused,
                this.nq,
                doc,
                &mut this.doc,
            )?;
            this.finals.push((s, doc));
            Ok(())
        };
        match allowed {
            Some(a) => {
                for doc in a
                    .iter()
                    .take_while(|&d| (d as usize) < index.num_documents())
                {
                    score(doc, self)?;
                }
            }
            None => {
                for doc in 0..index.num_documents() as u32 {
                    score(doc, self)?;
                }
            }
        }
        Ok(top_hits(&mut self.finals, k))
    }

    /// Stage 5: exact MaxSim of the shortlist on the decompressed embeddings, top `k`:
    /// by implicit decompression for a short shortlist, by blocks of decoded residuals
    /// and one matrix product a block for a long one ([`final_stage`]).
    pub fn rank(&mut self, index: &Index, k: usize) -> Result<Vec<SearchHit>> {
        self.finals.clear();
        if final_stage(self.shortlist.len()) == FinalStage::Blocks {
            let q = BlockQuery {
                codec: &index.codec,
                scores: &self.scores,
                query: &self.query,
                nq: self.nq,
            };
            self.blocks.begin(index.dim(), self.nq);
            for &(_, doc) in &self.shortlist {
                index.doc_centroids(doc as usize, &mut self.doc.ids)?;
                let ids = &self.doc.ids;
                self.blocks
                    .push(q, doc, ids, index.doc_codes(doc as usize), &mut self.finals);
            }
            self.blocks.finish(q, &mut self.finals);
            return Ok(top_hits(&mut self.finals, k));
        }
        self.build_luts(index);
        if final_stage(self.shortlist.len()) == FinalStage::Tables16 {
            let bpe = index.codec.bytes_per_embedding();
            self.fixed.build(&self.scores, &self.fused, self.nq);
            for &(_, doc) in &self.shortlist {
                index.doc_centroids(doc as usize, &mut self.doc.ids)?;
                let score =
                    self.fixed
                        .score(self.nq, &self.doc.ids, index.doc_codes(doc as usize), bpe);
                self.finals.push((score, doc));
            }
            // The top k again over the f32 tables: the hits carry exact MaxSim scores
            // and their exact order; fixed point only chose them.
            keep_best(&mut self.finals, k);
            for hit in self.finals.iter_mut() {
                hit.0 = implicit_maxsim(
                    index,
                    &self.scores,
                    &self.fused,
                    self.nq,
                    hit.1,
                    &mut self.doc,
                )?;
            }
            return Ok(top_hits(&mut self.finals, k));
        }
        for &(_, doc) in &self.shortlist {
            let score = implicit_maxsim(
                index,
                &self.scores,
                &self.fused,
                self.nq,
                doc,
                &mut self.doc,
            )?;
            self.finals.push((score, doc));
        }
        Ok(top_hits(&mut self.finals, k))
    }
}

/// `S = C · Qᵀ` into `out` (`k x nq`, row-major), single-threaded (faer).
pub(crate) fn centroid_scores(
    centroids: &[f32],
    dim: usize,
    query: &[f32],
    nq: usize,
    out: &mut Vec<f32>,
) {
    let k = centroids.len() / dim;
    out.clear();
    out.resize(k * nq, 0.0);
    rows_dot_query(centroids, dim, query, nq, out);
}

/// `out = R · Qᵀ` (`m x nq`, row-major) for `rows` (`m x dim`) and the query
/// (`nq x dim`), single-threaded (faer). `out` holds exactly `m * nq` values.
pub(crate) fn rows_dot_query(rows: &[f32], dim: usize, query: &[f32], nq: usize, out: &mut [f32]) {
    let m = rows.len() / dim;
    let r = faer::MatRef::from_row_major_slice(rows, m, dim);
    let q = faer::MatRef::from_row_major_slice(query, nq, dim);
    let dst = faer::MatMut::from_row_major_slice_mut(out, m, nq);
    faer::linalg::matmul::matmul(
        dst,
        faer::Accum::Replace,
        r,
        q.transpose(),
        1.0f32,
        faer::Par::Seq,
    );
}

/// Up to this many centroid coordinates (2 MB as f32) stage 1 multiplies the widened
/// table directly; above it, it reads the 8-bit table and widens it block by block
/// ([`centroid_scores_i8`]): at 16,384 centroids that halved stage 1 (2.8 -> 1.3-1.9 ms),
/// at 2,048 it cost 0.03 ms more.
const WIDENED_IN_CACHE: usize = 4096 * 128;

/// Centroids widened a block at a time in stage 1: 512 rows of 128 f32 are 256 KB,
/// so a block stays in L2 between its widening and its product.
const CENTROID_BLOCK: usize = 512;

/// `S = C · Qᵀ` into `out` (`k x nq`, row-major) from the 8-bit centroid table
/// (`C = codes * scales`, `k x dim`): each block of [`CENTROID_BLOCK`] rows is widened
/// to f32 in `block` and multiplied there (faer), so the centroids are read from memory
/// as 1 byte a coordinate, not 4. Single-threaded.
pub(crate) fn centroid_scores_i8(
    codes: &[i8],
    scales: &[f32],
    dim: usize,
    query: &[f32],
    nq: usize,
    block: &mut Vec<f32>,
    out: &mut Vec<f32>,
) {
    let k = scales.len();
    out.clear();
    out.resize(k * nq, 0.0);
    for (first, (rows, row_scales)) in codes
        .chunks(CENTROID_BLOCK * dim)
        .zip(scales.chunks(CENTROID_BLOCK))
        .enumerate()
    {
        let n = row_scales.len();
        block.resize(n * dim, 0.0);
        widen_rows(rows, row_scales, dim, block);
        let at = first * CENTROID_BLOCK * nq;
        rows_dot_query(block, dim, query, nq, &mut out[at..at + n * nq]);
    }
}

/// The `n` best centroids of token `i` (`n < k`) into `out`, from `S` (`k x nq`).
fn top_centroids(scores: &[f32], nq: usize, i: usize, n: usize, out: &mut Vec<(f32, u32)>) {
    out.clear();
    let column = scores.iter().skip(i).step_by(nq).copied();
    if n <= 16 {
        // Insertion into a short sorted list beats selecting over all k.
        let mut floor = f32::NEG_INFINITY;
        for (c, s) in column.enumerate() {
            if out.len() == n && s <= floor {
                continue;
            }
            let at = out.partition_point(|&(t, _)| t >= s);
            out.insert(at, (s, c as u32));
            out.truncate(n);
            floor = out.last().map_or(f32::NEG_INFINITY, |&(t, _)| t);
        }
    } else {
        out.extend(column.enumerate().map(|(c, s)| (s, c as u32)));
        keep_best(out, n);
    }
}

/// The buffers one document's implicit-decompression MaxSim reuses.
#[derive(Default)]
pub(crate) struct DocScratch {
    /// Per-token maxima.
    pub maxes: Vec<f32>,
    /// The document's centroid ids.
    pub ids: Vec<u32>,
}

impl DocScratch {
    /// Buffers for a query of `nq` tokens.
    pub fn new(nq: usize) -> Self {
        let mut s = DocScratch::default();
        s.resize(nq);
        s
    }

    /// Sizes the per-token buffers for `nq` tokens.
    pub fn resize(&mut self, nq: usize) {
        self.maxes.resize(nq, 0.0);
    }
}

/// MaxSim of document `doc` against the query by implicit decompression.
#[inline]
pub(crate) fn implicit_maxsim(
    index: &Index,
    scores: &[f32],
    fused: &[f32],
    nq: usize,
    doc: u32,
    scratch: &mut DocScratch,
) -> Result<f32> {
    let bpe = index.codec.bytes_per_embedding();
    let codes = index.doc_codes(doc as usize);
    index.doc_centroids(doc as usize, &mut scratch.ids)?;
    let DocScratch { maxes, ids } = scratch;
    implicit_max(scores, fused, nq, ids, codes, bpe, maxes);
    Ok(if codes.is_empty() {
        0.0
    } else {
        maxes.iter().sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_centroids_matches_a_full_sort() {
        let nq = 3;
        let scores: Vec<f32> = (0..300).map(|x| ((x * 7919) % 101) as f32 / 10.0).collect();
        for i in 0..nq {
            let mut column: Vec<(f32, u32)> = scores
                .iter()
                .skip(i)
                .step_by(nq)
                .enumerate()
                .map(|(c, &s)| (s, c as u32))
                .collect();
            column.sort_by(super::super::topk::better);
            for n in [1, 2, 5, 16, 17, 40] {
                let mut out = Vec::new();
                top_centroids(&scores, nq, i, n, &mut out);
                let mut got: Vec<f32> = out.iter().map(|p| p.0).collect();
                got.sort_by(|a, b| b.total_cmp(a));
                let want: Vec<f32> = column[..n].iter().map(|p| p.0).collect();
                assert_eq!(got, want, "token {i}, n {n}");
            }
        }
    }

    #[test]
    fn centroid_scores_from_the_8_bit_table_equal_those_of_the_widened_one() {
        let (dim, nq) = (16, 5);
        for k in [
            1,
            7,
            CENTROID_BLOCK,
            CENTROID_BLOCK + 3,
            2 * CENTROID_BLOCK + 1,
        ] {
            let data: Vec<f32> = (0..k * dim).map(|x| (x as f32 * 0.37).sin()).collect();
            let (codes, scales) = crate::format::centroids::quantize(&data, dim);
            let widened = crate::format::centroids::dequantize(&codes, &scales, dim);
            let q: Vec<f32> = (0..nq * dim).map(|x| (x as f32 * 0.11).cos()).collect();
            let (mut want, mut got, mut block) = (Vec::new(), Vec::new(), Vec::new());
            centroid_scores(&widened, dim, &q, nq, &mut want);
            centroid_scores_i8(&codes, &scales, dim, &q, nq, &mut block, &mut got);
            assert_eq!(got.len(), k * nq);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "k {k}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn centroid_scores_are_dot_products() {
        let dim = 5;
        let c: Vec<f32> = (0..4 * dim).map(|x| (x as f32 * 0.37).sin()).collect();
        let q: Vec<f32> = (0..3 * dim).map(|x| (x as f32 * 0.11).cos()).collect();
        let mut s = Vec::new();
        centroid_scores(&c, dim, &q, 3, &mut s);
        for ci in 0..4 {
            for qi in 0..3 {
                let dot: f32 = (0..dim).map(|d| c[ci * dim + d] * q[qi * dim + d]).sum();
                assert!((s[ci * 3 + qi] - dot).abs() < 1e-5);
            }
        }
    }
}
