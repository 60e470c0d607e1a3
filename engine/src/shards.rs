//! [`ShardSet`]: several indexes searched as one. Each shard runs its own search (in
//! parallel) and the hits are merged by score into one top-k.
//!
//! Scores compare across shards only when the shards decompress documents the same
//! way: they must share one codec (built with [`crate::BuildConfig::codec_dir`] from
//! one [`crate::train_codec`] directory); [`ShardSet::new`] refuses shards whose
//! centroids or codec differ. A document id held by two shards is returned by each.

use std::path::Path;

use rayon::prelude::*;

use crate::error::{EngineError, Result};
use crate::index::Index;
use crate::search::{SearchHit, SearchParams};

/// One hit of a [`ShardSet`] search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardHit {
    /// The shard, an index into [`ShardSet::shards`].
    pub shard: usize,
    /// The document number within that shard's index.
    pub doc: u32,
    /// MaxSim score.
    pub score: f32,
}

/// Indexes that share one codec, searched together.
#[derive(Debug)]
pub struct ShardSet {
    shards: Vec<Index>,
}

impl ShardSet {
    /// The shards, in the order given (a hit's `shard` indexes this order).
    ///
    /// Errors: [`EngineError::IncompatibleShards`] for no shards, different dimensions,
    /// or different centroids or codecs (naming the first shard that differs).
    pub fn new(shards: Vec<Index>) -> Result<ShardSet> {
        let first = shards
            .first()
            .ok_or_else(|| EngineError::IncompatibleShards {
                reason: "no shards given".into(),
            })?;
        let dim = first.dim();
        let fingerprint = if shards.len() > 1 {
            first.codec_fingerprint()
        } else {
            0
        };
        for shard in &shards[1..] {
            if shard.dim() != dim {
                return Err(EngineError::IncompatibleShards {
                    reason: format!(
                        "{} holds {}-dim embeddings, {} holds {dim}-dim ones",
                        shard.path().display(),
                        shard.dim(),
                        first.path().display()
                    ),
                });
            }
            if shard.codec_fingerprint() != fingerprint {
                return Err(EngineError::IncompatibleShards {
                    reason: format!(
                        "{} and {} were built with different codecs, so their scores do not \
                         compare: train one codec (`tartan train`) and build every shard with \
                         it (`tartan index --codec`)",
                        first.path().display(),
                        shard.path().display()
                    ),
                });
            }
        }
        Ok(ShardSet { shards })
    }

    /// Opens every directory of `dirs` ([`Index::open`]) and checks them ([`ShardSet::new`]).
    pub fn open<P: AsRef<Path>>(dirs: &[P]) -> Result<ShardSet> {
        let shards = dirs
            .iter()
            .map(|d| Index::open(d.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        ShardSet::new(shards)
    }

    /// The shards' indexes.
    pub fn shards(&self) -> &[Index] {
        &self.shards
    }

    /// The dimension of every shard's embeddings.
    pub fn dim(&self) -> usize {
        self.shards[0].dim()
    }

    /// Live documents over all shards.
    pub fn num_documents(&self) -> usize {
        self.shards.iter().map(Index::num_live_documents).sum()
    }

    /// The external id of a hit's document.
    pub fn doc_id(&self, hit: &ShardHit) -> &str {
        self.shards[hit.shard].doc_id(hit.doc)
    }

    /// PLAID search of every shard (in parallel), merged: the top `params.k` by score
    /// (ties: lower shard, then lower document first). Errors: those of
    /// [`Index::search`].
    pub fn search(&self, query: &[f32], params: &SearchParams) -> Result<Vec<ShardHit>> {
        self.search_with(params.k, |_, index| index.search(query, params))
    }

    /// [`ShardSet::search`] for many queries, spread over rayon's threads.
    pub fn search_batch(
        &self,
        queries: &[Vec<f32>],
        params: &SearchParams,
    ) -> Result<Vec<Vec<ShardHit>>> {
        queries.par_iter().map(|q| self.search(q, params)).collect()
    }

    /// Every document of every shard scored by MaxSim over its decompressed embeddings
    /// ([`Index::search_exhaustive`]), merged: the codec's exact top `k`.
    pub fn search_exhaustive(&self, query: &[f32], k: usize) -> Result<Vec<ShardHit>> {
        self.search_with(k, |_, index| index.search_exhaustive(query, k))
    }

    /// Runs `each(shard number, shard)` on every shard (in parallel) and merges the
    /// lists into the top `k`: any search an [`Index`] offers (filtered, exact, ...),
    /// over all shards. The first error stops the search.
    pub fn search_with<F, E>(&self, k: usize, each: F) -> std::result::Result<Vec<ShardHit>, E>
    where
        F: Fn(usize, &Index) -> std::result::Result<Vec<SearchHit>, E> + Sync,
        E: Send,
    {
        let lists = if self.shards.len() == 1 {
            vec![each(0, &self.shards[0])?]
        } else {
            self.shards
                .par_iter()
                .enumerate()
                .map(|(i, index)| each(i, index))
                .collect::<std::result::Result<Vec<_>, E>>()?
        };
        Ok(merge_top_k(&lists, k))
    }
}

/// The top `k` of several shards' hit lists (list `i` is shard `i`'s) by score,
/// ties broken by shard, then document.
pub fn merge_top_k(lists: &[Vec<SearchHit>], k: usize) -> Vec<ShardHit> {
    let mut all: Vec<ShardHit> = lists
        .iter()
        .enumerate()
        .flat_map(|(shard, hits)| {
            hits.iter().map(move |h| ShardHit {
                shard,
                doc: h.doc,
                score: h.score,
            })
        })
        .collect();
    all.sort_unstable_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.shard.cmp(&b.shard))
            .then(a.doc.cmp(&b.doc))
    });
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(pairs: &[(u32, f32)]) -> Vec<SearchHit> {
        pairs
            .iter()
            .map(|&(doc, score)| SearchHit { doc, score })
            .collect()
    }

    #[test]
    fn merge_keeps_the_best_k_with_ties_by_shard_then_document() {
        let lists = [
            hits(&[(0, 3.0), (5, 1.0)]),
            hits(&[(2, 3.0), (1, 2.5), (9, 0.5)]),
            hits(&[]),
        ];
        let merged = merge_top_k(&lists, 4);
        let got: Vec<(usize, u32)> = merged.iter().map(|h| (h.shard, h.doc)).collect();
        assert_eq!(got, vec![(0, 0), (1, 2), (1, 1), (0, 5)]);
        assert_eq!(merge_top_k(&lists, 0), Vec::new());
        assert_eq!(merge_top_k(&lists, 100).len(), 5);
    }
}
