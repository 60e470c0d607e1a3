//! Search parameters (colbert-ai's defaults by k) and hits.

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
    /// colbert-ai's defaults: k <= 10: nprobe 1, threshold 0.5, ndocs 256;
    /// k <= 100: 2, 0.45, 1024; otherwise 4, 0.4, max(4k, 4096).
    pub fn for_k(k: usize) -> Self {
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

    pub(crate) fn validate(&self) -> Result<()> {
        if self.nprobe == 0 {
            return Err(EngineError::InvalidConfig {
                reason: "nprobe must be at least 1".into(),
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
    fn colbert_defaults_by_k() {
        assert_eq!(
            SearchParams::for_k(10),
            SearchParams {
                k: 10,
                nprobe: 1,
                centroid_score_threshold: 0.5,
                ndocs: 256
            }
        );
        let p = SearchParams::for_k(100);
        assert_eq!(
            (p.nprobe, p.centroid_score_threshold, p.ndocs),
            (2, 0.45, 1024)
        );
        let p = SearchParams::for_k(1000);
        assert_eq!(
            (p.nprobe, p.centroid_score_threshold, p.ndocs),
            (4, 0.4, 4096)
        );
        assert_eq!(SearchParams::for_k(2000).ndocs, 8000);
        assert_eq!(SearchParams::for_k(10).stage3_keep(), 64);
    }
}
