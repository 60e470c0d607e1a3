//! The final stage over many documents: their residuals decoded a block at a time and
//! scored by one matrix product a block (faer).
//!
//! `q_i · (c + r) = S[c][i] + (R · Qᵀ)[e][i]`: a block of shortlisted documents'
//! residuals `R` (`m x dim`, decoded from their codes alone) is multiplied by the query
//! once, then each document takes, per query token, the maximum of its rows plus the
//! row of `S` of each embedding's centroid. The centroids themselves are never read.
//!
//! Per embedding this costs `dim * nq` multiply-adds in a blocked product (cache
//! friendly, full vector width) where implicit decompression costs `bytes_per_code * nq`
//! adds gathered from interleaved lookup tables of `bytes_per_code * 256 * nq` floats
//! (1 MB at 32 bytes and 32 tokens, larger than L2), so per document it wins once the
//! shortlist is long enough to pay for nothing more than the tables it skips; see
//! [`BLOCK_SCORING_FROM`].
//!
//! Everything here takes plain slices (codes, centroid ids, `S`, the codec, the query),
//! so the same code scores documents of any storage.

use std::sync::atomic::{AtomicU8, Ordering};

use tartan_quantize::ResidualCodec;

use super::plaid::rows_dot_query;

/// How the final stage scores the shortlist exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStage {
    /// Implicit decompression over f32 lookup tables, one embedding at a time.
    Tables,
    /// Implicit decompression over the same tables and `S` rounded to 16-bit fixed
    /// point (half the bytes, one cache line a row of 32 query tokens).
    Tables16,
    /// Residuals decoded a block at a time, scored by one matrix product a block.
    Blocks,
}

/// 0: by shortlist length; 1: always tables; 2: always blocks; 3: always 16-bit tables.
static FORCED: AtomicU8 = AtomicU8::new(0);

/// Forces the final stage's method for every search in this process (`None`: chosen by
/// the shortlist's length, the default). For benchmarks that compare the two methods
/// on the same shortlists; results agree to float rounding either way.
pub fn force_final_stage(stage: Option<FinalStage>) {
    let v = match stage {
        None => 0,
        Some(FinalStage::Tables) => 1,
        Some(FinalStage::Blocks) => 2,
        Some(FinalStage::Tables16) => 3,
    };
    FORCED.store(v, Ordering::Relaxed);
}

/// The method for a shortlist of `n` documents.
pub(crate) fn final_stage(n: usize) -> FinalStage {
    match FORCED.load(Ordering::Relaxed) {
        1 => FinalStage::Tables,
        2 => FinalStage::Blocks,
        3 => FinalStage::Tables16,
        _ if n >= TABLES16_FROM => FinalStage::Tables16,
        _ => FinalStage::Tables,
    }
}

/// From this many shortlisted documents on, the final stage chooses its top k over the
/// 16-bit tables (and rescores those k over the f32 ones): on SciFact tokens (157
/// embeddings a document, 32 query tokens, 32-byte codes) a document costs about 4.6 µs
/// there against 10 µs over the f32 tables, plus 0.3 ms a query to round the tables;
/// at k = 10 (128 documents) the gain is 0.35 ms and the f32 path stays.
pub(crate) const TABLES16_FROM: usize = 256;

/// Embeddings decoded before they are scored by one product: 256 rows of 128 f32 are
/// 128 KB, so the block stays in L2 between its decoding and its product.
const BLOCK_ROWS: usize = 256;

/// Reusable buffers of block scoring: documents are [`BlockScorer::push`]ed and scored
/// a block at a time; [`BlockScorer::finish`] scores the rest.
#[derive(Default)]
pub(crate) struct BlockScorer {
    /// Pending documents: (doc, first row, end row) into `ids` and the residual block.
    docs: Vec<(u32, usize, usize)>,
    /// Centroid ids of the pending rows.
    ids: Vec<u32>,
    /// Decoded residuals of the pending rows, `rows x dim`.
    residuals: Vec<f32>,
    /// `R · Qᵀ` of the pending rows, `rows x nq`.
    sims: Vec<f32>,
    /// A zero centroid (decoding the residual alone).
    zero: Vec<f32>,
    /// Per-token maxima of one document.
    maxes: Vec<f32>,
}

/// What block scoring reads: the codec, `S` (`k x nq`) and the query (`nq x dim`).
#[derive(Clone, Copy)]
pub(crate) struct BlockQuery<'a> {
    /// The residual codec of the codes.
    pub codec: &'a ResidualCodec,
    /// `S = C · Qᵀ`, `k x nq` row-major.
    pub scores: &'a [f32],
    /// The query, `nq x dim` row-major.
    pub query: &'a [f32],
    /// Query tokens.
    pub nq: usize,
}

impl BlockScorer {
    /// Starts scoring for a query of `dim`-dimensional tokens (forgets pending rows).
    pub fn begin(&mut self, dim: usize, nq: usize) {
        self.docs.clear();
        self.ids.clear();
        self.residuals.clear();
        self.zero.clear();
        self.zero.resize(dim, 0.0);
        self.maxes.resize(nq, 0.0);
    }

    /// Adds document `doc`: its embeddings' centroid ids and residual codes
    /// (`ids.len() x bytes_per_code`); scores the pending block once it is full,
    /// pushing `(score, doc)` pairs to `out`.
    pub fn push(
        &mut self,
        q: BlockQuery<'_>,
        doc: u32,
        ids: &[u32],
        codes: &[u8],
        out: &mut Vec<(f32, u32)>,
    ) {
        let dim = q.codec.dim();
        let bpe = q.codec.bytes_per_embedding();
        debug_assert_eq!(codes.len(), ids.len() * bpe);
        let first = self.ids.len();
        self.ids.extend_from_slice(ids);
        let at = self.residuals.len();
        self.residuals.resize(at + ids.len() * dim, 0.0);
        for (code, row) in codes
            .chunks_exact(bpe)
            .zip(self.residuals[at..].chunks_exact_mut(dim))
        {
            q.codec.decode_into(&self.zero, code, row);
        }
        self.docs.push((doc, first, self.ids.len()));
        if self.ids.len() >= BLOCK_ROWS {
            self.flush(q, out);
        }
    }

    /// Scores every pending document into `out`.
    pub fn finish(&mut self, q: BlockQuery<'_>, out: &mut Vec<(f32, u32)>) {
        self.flush(q, out);
    }

    fn flush(&mut self, q: BlockQuery<'_>, out: &mut Vec<(f32, u32)>) {
        let (dim, nq) = (q.codec.dim(), q.nq);
        let rows = self.ids.len();
        if rows > 0 {
            self.sims.clear();
            self.sims.resize(rows * nq, 0.0);
            rows_dot_query(&self.residuals, dim, q.query, nq, &mut self.sims);
        }
        for &(doc, a, b) in &self.docs {
            if a == b {
                // An empty document scores 0, as by implicit decompression.
                out.push((0.0, doc));
                continue;
            }
            self.maxes.fill(f32::NEG_INFINITY);
            for (row, &c) in self.sims[a * nq..b * nq]
                .chunks_exact(nq)
                .zip(&self.ids[a..b])
            {
                let s = &q.scores[c as usize * nq..(c as usize + 1) * nq];
                for ((m, &x), &y) in self.maxes.iter_mut().zip(row).zip(s) {
                    let v = x + y;
                    *m = if v > *m { v } else { *m };
                }
            }
            out.push((self.maxes.iter().sum(), doc));
        }
        self.docs.clear();
        self.ids.clear();
        self.residuals.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::exact::maxsim;
    use crate::search::kernels::test_values;
    use tartan_quantize::{Centroids, CodecKind};

    #[test]
    fn block_scores_equal_maxsim_over_the_decompressed_documents() {
        let (dim, k, nq) = (16, 5, 7);
        let centroids = test_values(k * dim, 1);
        let residuals = test_values(600 * dim, 2);
        for kind in [
            CodecKind::Product { nbits: 2 },
            CodecKind::Scalar { nbits: 2 },
        ] {
            let codec = ResidualCodec::train(kind, &residuals, dim, 3).unwrap();
            let bpe = codec.bytes_per_embedding();
            let query = test_values(nq * dim, 4);
            let mut scores = Vec::new();
            super::super::plaid::centroid_scores(&centroids, dim, &query, nq, &mut scores);
            // Documents of 0..300 embeddings (one empty), more rows than a block.
            let lens = [3usize, 0, 1, 300, 17, 250, 40];
            let q = BlockQuery {
                codec: &codec,
                scores: &scores,
                query: &query,
                nq,
            };
            let mut scorer = BlockScorer::default();
            scorer.begin(dim, nq);
            let (mut got, mut want) = (Vec::new(), Vec::new());
            let c = Centroids::from_vec(centroids.clone(), dim).unwrap();
            for (d, &len) in lens.iter().enumerate() {
                let ids: Vec<u32> = (0..len as u32)
                    .map(|e| (e * 7 + d as u32) % k as u32)
                    .collect();
                let codes: Vec<u8> = (0..len * bpe).map(|x| ((x * 31 + d) % 256) as u8).collect();
                scorer.push(q, d as u32, &ids, &codes, &mut got);
                let decoded = codec.decode(&c, &ids, &codes).unwrap();
                want.push((maxsim(&query, &decoded, dim), d as u32));
            }
            scorer.finish(q, &mut got);
            assert_eq!(got.len(), want.len());
            got.sort_by_key(|&(_, d)| d);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.1, w.1);
                assert!(
                    (g.0 - w.0).abs() < 1e-4,
                    "{kind:?} doc {}: {} vs {}",
                    g.1,
                    g.0,
                    w.0
                );
            }
        }
    }

    #[test]
    fn the_final_stage_follows_the_shortlist_length() {
        assert_eq!(final_stage(1), FinalStage::Tables);
        assert_eq!(final_stage(TABLES16_FROM), FinalStage::Tables16);
    }
}
