//! [`Searcher`]: PLAID search with its own scratch buffers, stage by stage or whole;
//! and [`Index::search`] / [`Index::search_batch`] over per-thread scratch.

use std::cell::RefCell;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::params::{Scoring, SearchHit, SearchParams};
use super::plaid::Scratch;
use crate::error::Result;
use crate::index::Index;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Allowed sets whose live documents hold at most this many embeddings are searched
/// by scoring every allowed document directly (implicit decompression), skipping
/// candidate generation: exact over the codec, so a selective filter loses no recall,
/// and no slower than PLAID's own stages at this size (docs/metadata.md has the
/// measurement that set it).
pub const DIRECT_SCORING_MAX_EMBEDDINGS: usize = 16_384;

/// Whether the live documents of `allowed` hold at most `limit` embeddings (counting
/// stops past the limit).
fn allowed_is_small(index: &Index, allowed: &RoaringBitmap, limit: usize) -> bool {
    let mut total = 0usize;
    for doc in allowed.iter() {
        if index.deleted.contains(doc) {
            continue;
        }
        let Some(len) = index.doc_len(doc) else {
            break;
        };
        total += len;
        if total > limit {
            return false;
        }
    }
    true
}

/// The centroids a query token probes when only `allowed` of the live documents may
/// be returned: `nprobe / sqrt(fraction)`, at most 8 times `nprobe`. A filter keeping a
/// fraction of the documents keeps about that fraction of the candidates, and the
/// filtered top-k reaches further down the unfiltered ranking; probing more centroids
/// widens candidate generation back toward it, while the intersection keeps the later
/// stages small (docs/metadata.md: recall of the exact filtered top-10 at or above the
/// unfiltered recall at 50% and 10% with it, the latency still below the unfiltered).
fn filtered_nprobe(index: &Index, allowed: &RoaringBitmap, nprobe: usize) -> usize {
    let live = index.num_live_documents().max(1) as f64;
    let matching = (allowed.len() - allowed.intersection_len(&index.deleted)) as f64;
    let fraction = (matching / live).clamp(1e-9, 1.0);
    let widened = (nprobe as f64 / fraction.sqrt()).ceil() as usize;
    widened.clamp(nprobe, nprobe.saturating_mul(8))
}

/// How many times `ndocs` the documents that may match can be, for a search whose probes
/// found fewer than `ndocs` candidates to take all of them as candidates.
pub const WIDEN_FACTOR: usize = 4;

/// Stage 2's widening: when the probes found fewer than `keep` (stage 3's `ndocs`) of the
/// `matching` documents and those are at most [`WIDEN_FACTOR`] times `keep`, all of them
/// become candidates.
fn widen(
    index: &Index,
    scratch: &mut Scratch,
    keep: usize,
    matching: u64,
    allowed: Option<&RoaringBitmap>,
) {
    let found = scratch.candidates.len();
    if (found as usize) < keep
        && found < matching
        && matching <= WIDEN_FACTOR.saturating_mul(keep) as u64
    {
        scratch.all_candidates(index, allowed);
    }
}

/// Runs the whole pipeline on `scratch`.
///
/// When probing finds fewer candidates than the centroid interaction keeps (`ndocs`) and
/// the documents that may match are at most [`WIDEN_FACTOR`] times that many, every one
/// of them is a candidate: at a depth that is a large share of the corpus (k = 1000 of
/// 14,300 synthetic documents, where 16 probes a token found about 3,700) the documents
/// the probes miss are the ones that cost recall, and the centroid interaction ranks a
/// few thousand more documents in milliseconds.
///
/// A small `allowed` set ([`DIRECT_SCORING_MAX_EMBEDDINGS`]) is scored directly. When PLAID's candidates hold fewer than `k` documents while more could match (a
/// large `k`, a small index, a selective `allowed` set), every live document that may
/// match is scored instead, so `min(k, matching documents)` hits always come back.
fn run(
    index: &Index,
    scratch: &mut Scratch,
    query: &[f32],
    params: &SearchParams,
    allowed: Option<&RoaringBitmap>,
) -> Result<Vec<SearchHit>> {
    params.validate()?;
    scratch.prepare(index, query)?;
    if params.k == 0 {
        return Ok(Vec::new());
    }
    if let Some(a) = allowed {
        if allowed_is_small(index, a, DIRECT_SCORING_MAX_EMBEDDINGS) {
            return scratch.rank_all(index, params.k, allowed);
        }
    }
    let nprobe = match allowed {
        Some(a) => filtered_nprobe(index, a, params.nprobe),
        None => params.nprobe,
    };
    scratch.generate_candidates(index, nprobe, allowed)?;
    let keep = params.stage2_keep();
    if (scratch.candidates.len() as usize) < keep {
        let matching = match allowed {
            Some(a) => a.len() - a.intersection_len(&index.deleted),
            None => index.num_live_documents() as u64,
        };
        if (scratch.candidates.len() as usize) < params.k && scratch.candidates.len() < matching {
            return scratch.rank_all(index, params.k, allowed);
        }
        widen(index, scratch, keep, matching, allowed);
    }
    scratch.interaction_pruned(index, params.centroid_score_threshold, keep)?;
    scratch.interaction_full(index, params.stage3_keep())?;
    scratch.rank(index, params.k)
}

impl Index {
    /// PLAID search for `query` (`n_tokens x dim`, row-major): the top `params.k`
    /// documents, best first (ties: lower document first).
    ///
    /// k = 0 gives no hits; fewer than k hits come back when fewer documents are
    /// candidates. Errors: [`crate::EngineError::EmptyQuery`],
    /// [`crate::EngineError::DimensionMismatch`], [`crate::EngineError::NonFinite`],
    /// [`crate::EngineError::InvalidConfig`] (nprobe 0, NaN threshold).
    pub fn search(&self, query: &[f32], params: &SearchParams) -> Result<Vec<SearchHit>> {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => run(self, &mut scratch, query, params, None),
            // Re-entered on this thread (a search inside a search callback): fresh buffers.
            Err(_) => run(self, &mut Scratch::default(), query, params, None),
        })
    }

    /// [`Index::search`] restricted to the documents of `allowed` (document numbers of
    /// this snapshot, as from [`Index::filter`]): the set is intersected with the
    /// candidates before any scoring, and when fewer than `k` candidates remain the
    /// allowed documents are scored directly, so `min(k, allowed live documents with
    /// embeddings)` hits come back. A small set (its documents hold at most
    /// [`DIRECT_SCORING_MAX_EMBEDDINGS`] embeddings) skips candidate generation and is
    /// scored in full: the exact top-k over the codec, no recall lost to probing.
    pub fn search_within(
        &self,
        query: &[f32],
        params: &SearchParams,
        allowed: &RoaringBitmap,
    ) -> Result<Vec<SearchHit>> {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => run(self, &mut scratch, query, params, Some(allowed)),
            Err(_) => run(self, &mut Scratch::default(), query, params, Some(allowed)),
        })
    }

    /// Every live document of `allowed` with embeddings scored by implicit
    /// decompression (no candidate generation): the top `k`, exact over the codec. What
    /// [`Index::search_within`] does for a small allowed set; callable for any set (the
    /// bench that placed [`DIRECT_SCORING_MAX_EMBEDDINGS`] times it against PLAID).
    pub fn search_exhaustive_within(
        &self,
        query: &[f32],
        k: usize,
        allowed: &RoaringBitmap,
    ) -> Result<Vec<SearchHit>> {
        let direct = |scratch: &mut Scratch| -> Result<Vec<SearchHit>> {
            scratch.prepare(self, query)?;
            if k == 0 {
                return Ok(Vec::new());
            }
            scratch.rank_all(self, k, Some(allowed))
        };
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => direct(&mut scratch),
            Err(_) => direct(&mut Scratch::default()),
        })
    }

    /// One search by `scoring`, restricted to `allowed` when given: the one dispatch
    /// the CLI, the server, Python and [`crate::ShardSet`] share.
    pub fn search_by(
        &self,
        query: &[f32],
        params: &SearchParams,
        scoring: Scoring,
        allowed: Option<&RoaringBitmap>,
    ) -> Result<Vec<SearchHit>> {
        match (scoring, allowed) {
            (Scoring::Plaid, None) => self.search(query, params),
            (Scoring::Plaid, Some(a)) => self.search_within(query, params, a),
            (Scoring::Exact, None) => self.search_exact(query, params.k),
            (Scoring::Exact, Some(a)) => self.search_exact_within(query, params.k, a),
            (Scoring::Exhaustive, None) => self.search_exhaustive(query, params.k),
            (Scoring::Exhaustive, Some(a)) => self.search_exhaustive_within(query, params.k, a),
        }
    }

    /// [`Index::search`] for many queries, spread over rayon's threads.
    pub fn search_batch(
        &self,
        queries: &[Vec<f32>],
        params: &SearchParams,
    ) -> Result<Vec<Vec<SearchHit>>> {
        queries.par_iter().map(|q| self.search(q, params)).collect()
    }

    /// A [`Searcher`] with its own buffers.
    pub fn searcher(&self) -> Searcher<'_> {
        Searcher {
            index: self,
            scratch: Scratch::default(),
        }
    }
}

/// PLAID search with its own reusable buffers; its stage methods let benchmarks time
/// each stage. Call them in order: [`Searcher::prepare`], then
/// [`Searcher::candidates`], [`Searcher::widen_candidates`], [`Searcher::interaction_pruned`],
/// [`Searcher::interaction_full`], [`Searcher::rank`] (each may be repeated).
pub struct Searcher<'a> {
    index: &'a Index,
    scratch: Scratch,
}

impl Searcher<'_> {
    /// The whole search (as [`Index::search`]).
    pub fn search(&mut self, query: &[f32], params: &SearchParams) -> Result<Vec<SearchHit>> {
        run(self.index, &mut self.scratch, query, params, None)
    }

    /// Stage 1: checks the query and computes the query-centroid scores.
    pub fn prepare(&mut self, query: &[f32]) -> Result<()> {
        self.scratch.prepare(self.index, query)
    }

    /// Stage 2: candidates from each query token's top-`nprobe` centroids; returns
    /// their number.
    pub fn candidates(&mut self, nprobe: usize) -> Result<usize> {
        self.scratch
            .generate_candidates(self.index, nprobe.max(1), None)?;
        Ok(self.scratch.candidates.len() as usize)
    }

    /// Stage 2's widening, as [`Index::search`] does it: when the candidates are fewer
    /// than `ndocs` (stage 3's keep) and the live documents at most [`WIDEN_FACTOR`]
    /// times that, every live document becomes a candidate. Returns their number.
    pub fn widen_candidates(&mut self, ndocs: usize) -> usize {
        let live = self.index.num_live_documents() as u64;
        widen(self.index, &mut self.scratch, ndocs, live, None);
        self.scratch.candidates.len() as usize
    }

    /// Stage 3: pruned centroid interaction over the candidates, keeping `ndocs`.
    pub fn interaction_pruned(&mut self, threshold: f32, ndocs: usize) -> Result<usize> {
        self.scratch
            .interaction_pruned(self.index, threshold, ndocs)?;
        Ok(self.scratch.pruned.len())
    }

    /// Stage 4: full centroid interaction over stage 3's documents, keeping `n`.
    pub fn interaction_full(&mut self, n: usize) -> Result<usize> {
        self.scratch.interaction_full(self.index, n)?;
        Ok(self.scratch.shortlist.len())
    }

    /// The query's interleaved lookup tables alone (built by [`Searcher::rank`] too):
    /// stage 5's fixed cost, for benchmarks.
    pub fn build_tables(&mut self) {
        self.scratch.build_luts(self.index);
    }

    /// Stage 5: implicit-decompression MaxSim of stage 4's documents, top `k`.
    pub fn rank(&mut self, k: usize) -> Result<Vec<SearchHit>> {
        self.scratch.rank(self.index, k)
    }
}
