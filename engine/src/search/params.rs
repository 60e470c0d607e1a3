//! Search parameters (defaults by k, after colbert-ai's) and hits.

use crate::error::{EngineError, Result};

/// PLAID search parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchParams {
    /// Number of hits to return (0 returns none).
    pub k: usize,
    /// Centroids probed per query token for candidate generation (at least 1).
    pub nprobe: usize,
    /// Centroids whose best query-token score is below this contribute 0 to the
    /// pruned centroid interaction.
    pub centroid_score_threshold: f32,
    /// Documents kept after the pruned centroid interaction (at least `k`); a quarter
    /// of it (at least `k`) is kept after the full centroid interaction and scored
    /// exactly.
    pub ndocs: usize,
}

impl SearchParams {
    /// Defaults by k: k <= 10: nprobe 2, threshold 0.5, ndocs 512; k <= 100: 4, 0.45,
    /// 3072; otherwise 16, 0.3, 12k.
    ///
    /// At k <= 10 colbert-ai probes 1 centroid a query token and keeps ndocs 256, so
    /// only 64 documents reach exact scoring. That loses 0.031-0.035 recall@10 against
    /// exhaustive search over the same compressed embeddings on real SciFact tokens
    /// (the shortlist is too short) and 0.024 on synthetic clustered embeddings (one
    /// probe misses documents); nprobe 2 and ndocs 512 lose 0.014 and 0.003.
    ///
    /// At depth colbert-ai's values (k <= 100: 2, 0.45, 1024; then 4, 0.4, max(4k, 4096))
    /// recover only 0.905 of the codec ceiling's recall@100 and 0.759 of its recall@1000
    /// on SciFact tokens: two probes a token miss documents of the exact top-100, and
    /// 1,024 documents scored exactly are too few for a top-1000. Four probes and 768
    /// documents scored exactly reach 0.989 at k = 100; sixteen probes, threshold 0.3 and
    /// 3,000 scored reach 0.996 at k = 1000 (the final stage scores them over 16-bit
    /// tables, a few microseconds a document). On synthetic clustered embeddings (1M)
    /// k = 1000 reaches only 0.939: the rest of the ceiling's top-1000 are never
    /// candidates, even at 32 probes. [`SearchParams::colbert_ai`] gives colbert-ai's
    /// own values.
    pub fn for_k(k: usize) -> Self {
        let (nprobe, centroid_score_threshold, ndocs) = if k <= 10 {
            (2, 0.5, 512)
        } else if k <= 100 {
            (4, 0.45, 3072)
        } else {
            (16, 0.3, (12 * k).max(3072))
        };
        SearchParams {
            k,
            nprobe,
            centroid_score_threshold,
            ndocs,
        }
    }

    /// colbert-ai's defaults for `k` exactly: k <= 10: nprobe 1, threshold 0.5, ndocs
    /// 256; k <= 100: 2, 0.45, 1024; otherwise 4, 0.4, max(4k, 4096).
    pub fn colbert_ai(k: usize) -> Self {
        let (nprobe, centroid_score_threshold, ndocs) = if k <= 10 {
            (1, 0.5, 256)
        } else if k <= 100 {
            (2, 0.45, 1024)
        } else {
            (4, 0.4, (4 * k).max(4096))
        };
        SearchParams {
            k,
            nprobe,
            centroid_score_threshold,
            ndocs,
        }
    }

    /// Documents kept by the pruned centroid interaction.
    pub(crate) fn stage2_keep(&self) -> usize {
        self.ndocs.max(self.k)
    }

    /// Documents kept by the full centroid interaction (scored exactly).
    pub(crate) fn stage3_keep(&self) -> usize {
        (self.ndocs / 4).max(self.k)
    }

    /// Checks the parameters every search entry point (the CLI, the server, the
    /// library) accepts: nprobe and ndocs at least 1, a threshold that is a number.
    ///
    /// Errors: [`EngineError::InvalidConfig`] naming the parameter.
    pub fn validate(&self) -> Result<()> {
        if self.nprobe == 0 {
            return Err(EngineError::InvalidConfig {
                reason: "nprobe must be at least 1".into(),
            });
        }
        if self.ndocs == 0 {
            return Err(EngineError::InvalidConfig {
                reason: "ndocs must be at least 1".into(),
            });
        }
        if self.centroid_score_threshold.is_nan() {
            return Err(EngineError::InvalidConfig {
                reason: "centroid_score_threshold is NaN".into(),
            });
        }
        Ok(())
    }
}

impl Default for SearchParams {
    /// [`SearchParams::for_k`]`(10)`.
    fn default() -> Self {
        SearchParams::for_k(10)
    }
}

/// How a search scores documents ([`crate::Index::search_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scoring {
    /// PLAID: candidates from the centroids, pruned, the shortlist scored over the codec.
    #[default]
    Plaid,
    /// Brute-force MaxSim over the kept uncompressed embeddings (an index built with
    /// `keep_embeddings`): the exact ranking.
    Exact,
    /// MaxSim over every document's decompressed embeddings: the codec's own exact
    /// ranking (its ceiling), slow.
    Exhaustive,
}

/// One search result: a document number (see `Index::doc_id`) and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    /// Document number, `0..num_documents`.
    pub doc: u32,
    /// MaxSim score (sum over query tokens of the best inner product).
    pub score: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_by_k() {
        assert_eq!(
            SearchParams::for_k(10),
            SearchParams {
                k: 10,
                nprobe: 2,
                centroid_score_threshold: 0.5,
                ndocs: 512
            }
        );
        assert_eq!(SearchParams::for_k(10).stage3_keep(), 128);
        assert_eq!(
            SearchParams::colbert_ai(10),
            SearchParams {
                k: 10,
                nprobe: 1,
                centroid_score_threshold: 0.5,
                ndocs: 256
            }
        );
        assert_eq!(SearchParams::colbert_ai(10).stage3_keep(), 64);
        let p = SearchParams::for_k(100);
        assert_eq!(
            (p.nprobe, p.centroid_score_threshold, p.ndocs),
            (4, 0.45, 3072)
        );
        assert_eq!(p.stage3_keep(), 768);
        let p = SearchParams::for_k(1000);
        assert_eq!(
            (p.nprobe, p.centroid_score_threshold, p.ndocs),
            (16, 0.3, 12000)
        );
        assert_eq!(SearchParams::for_k(200).ndocs, 3072);
        let c = SearchParams::colbert_ai(100);
        assert_eq!(
            (c.nprobe, c.centroid_score_threshold, c.ndocs),
            (2, 0.45, 1024)
        );
        let c = SearchParams::colbert_ai(2000);
        assert_eq!(
            (c.nprobe, c.centroid_score_threshold, c.ndocs),
            (4, 0.4, 8000)
        );
    }

    #[test]
    fn zero_nprobe_or_ndocs_is_refused() {
        assert!(SearchParams::for_k(10).validate().is_ok());
        let p = SearchParams {
            ndocs: 0,
            ..SearchParams::for_k(10)
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("ndocs must be at least 1"), "{err}");
        let p = SearchParams {
            nprobe: 0,
            ..SearchParams::for_k(10)
        };
        assert!(p.validate().is_err());
    }
}
