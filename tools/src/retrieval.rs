//! How a query is answered, shared by `tartan search`, `tartan eval` and the server:
//! late interaction (PLAID, or exact MaxSim), BM25 over the stored text, or both fused
//! by reciprocal rank fusion; each optionally restricted by a metadata filter.

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde::Deserialize;
use tartan_engine::metadata::{reciprocal_rank_fusion, Filter, RoaringBitmap, DEFAULT_RRF_K};
use tartan_engine::{Index, Scoring, SearchHit, SearchParams};

/// Which ranking answers a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Late interaction: PLAID (or exact MaxSim) over the query's token embeddings.
    #[default]
    Semantic,
    /// BM25 over the stored document text (SQLite FTS5); needs the query text only.
    Lexical,
    /// Both lists fused by reciprocal rank fusion.
    Hybrid,
}

/// Each list a hybrid search fuses is this deep at least (or `k` when larger):
/// documents ranked just outside one list's top-k still count when the other ranks
/// them high.
pub const HYBRID_DEPTH: usize = 100;

/// The rank-fusion constant when none is given (`--rrf-k`, `"rrf_k"`).
pub const RRF_K: f32 = DEFAULT_RRF_K;

/// A `--filter` value: JSON in the filter language, parsed when the arguments are (a
/// malformed one is a usage error, exit 2, naming the offending part).
pub fn parse_filter(text: &str) -> std::result::Result<Filter, String> {
    text.parse::<Filter>().map_err(|e| e.to_string())
}

/// A `--rrf-k` value: finite, at least 0.
pub fn parse_rrf_k(text: &str) -> std::result::Result<f32, String> {
    match text.parse::<f32>() {
        Ok(k) if k.is_finite() && k >= 0.0 => Ok(k),
        _ => Err(format!("{text:?}: give a finite number, at least 0")),
    }
}

/// What every query of one request shares.
pub struct Retrieval<'a> {
    /// The ranking.
    pub mode: Mode,
    /// PLAID's parameters (`k` is the number of hits).
    pub params: &'a SearchParams,
    /// PLAID, exact MaxSim (kept embeddings) or every document over the codec.
    pub scoring: Scoring,
    /// The documents a filter allows (None: all).
    pub allowed: Option<&'a RoaringBitmap>,
    /// The rank-fusion constant.
    pub rrf_k: f32,
}

impl Retrieval<'_> {
    /// Answers one query: `vector` its token embeddings, `text` its words (each needed
    /// by the modes that read it).
    pub fn run(
        &self,
        index: &Index,
        vector: Option<&[f32]>,
        text: Option<&str>,
    ) -> Result<Vec<SearchHit>> {
        let k = self.params.k;
        let vector = || vector.context("this search needs the query's embeddings");
        let text = || text.context("lexical and hybrid search need the query's text");
        match self.mode {
            Mode::Semantic => self.late_interaction(index, vector()?, self.params),
            Mode::Lexical => Ok(index
                .bm25(text()?, k, self.allowed)
                .context("lexical search failed")?),
            Mode::Hybrid => {
                let depth = k.max(HYBRID_DEPTH);
                let params = SearchParams {
                    k: depth,
                    ..*self.params
                };
                let dense = self.late_interaction(index, vector()?, &params)?;
                let lexical = index
                    .bm25(text()?, depth, self.allowed)
                    .context("lexical search failed")?;
                let as_list =
                    |hits: &[SearchHit]| hits.iter().map(|h| (h.doc, h.score)).collect::<Vec<_>>();
                let fused =
                    reciprocal_rank_fusion(&[&as_list(&dense), &as_list(&lexical)], self.rrf_k, k)?;
                Ok(fused
                    .into_iter()
                    .map(|(doc, score)| SearchHit { doc, score })
                    .collect())
            }
        }
    }

    fn late_interaction(
        &self,
        index: &Index,
        query: &[f32],
        params: &SearchParams,
    ) -> Result<Vec<SearchHit>> {
        index
            .search_by(query, params, self.scoring, self.allowed)
            .context(match self.scoring {
                Scoring::Plaid => "search failed",
                Scoring::Exact => "exact search failed",
                Scoring::Exhaustive => "exhaustive search failed",
            })
    }
}

/// The documents `filter` allows in `index` (None without a filter).
pub fn allowed(index: &Index, filter: Option<&Filter>) -> Result<Option<RoaringBitmap>> {
    filter
        .map(|f| index.filter(f).context("evaluating the filter failed"))
        .transpose()
}

/// Checks that the index can answer `mode` (stored text for lexical and hybrid).
pub fn check_mode(index: &Index, mode: Mode) -> Result<()> {
    if mode != Mode::Semantic && !index.has_text() {
        bail!(
            "{} search reads the stored document text, and this index stores none: build it (or add documents) with --store-text",
            if mode == Mode::Lexical { "lexical" } else { "hybrid" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_filters_name_the_offending_part() {
        let err = parse_filter(r#"{"year": {"$between": [1, 2]}}"#).unwrap_err();
        assert!(err.contains("year.$between"), "{err}");
        assert!(parse_filter("{not json").is_err());
        assert!(parse_filter(r#"{"year": {"$gte": 2020}}"#).is_ok());
        assert!(parse_rrf_k("-1").is_err() && parse_rrf_k("nan").is_err());
        assert_eq!(parse_rrf_k("60"), Ok(60.0));
    }
}
