//! What tartan's bench programs (`src/bin/`) share: the synthetic corpus, its arguments and
//! its parallel generation into a build, the per-stage timing of a PLAID search, and percentiles of sorted latencies.
//!
//! The programs measure; this crate holds only the pieces two or more of them would
//! otherwise write again, so that every program reports a figure the same way.
//!
//! ```
//! use tartan_benches::percentile;
//!
//! let sorted_ms = [1.0, 2.0, 3.0, 4.0, 10.0];
//! assert_eq!(percentile(&sorted_ms, 0.5), 3.0);
//! assert_eq!(percentile(&sorted_ms, 1.0), 10.0);
//! assert_eq!(percentile(&[], 0.5), 0.0);
//! ```

use std::time::Instant;

use rayon::prelude::*;
use serde_json::{json, Map, Value};
use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{Index, IndexBuilder, SearchParams};

/// The synthetic corpus of a bench program (flattened into its clap arguments).
#[derive(clap::Args, Debug, Clone)]
pub struct CorpusArgs {
    /// Number of documents.
    #[arg(long, default_value_t = 2000)]
    pub docs: usize,
    /// Mean tokens a document.
    #[arg(long, default_value_t = 30)]
    pub tokens: usize,
    /// Embedding dimension.
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// Seed of the corpus and of the builds.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

impl CorpusArgs {
    /// The corpus these arguments describe.
    pub fn synthetic(&self) -> Synthetic {
        synthetic(self.docs, self.tokens, self.dim, self.seed)
    }
}

/// The synthetic corpus of `docs` documents of about `tokens` tokens at `dim` (the
/// engine's generator, its other settings at their defaults).
pub fn synthetic(docs: usize, tokens: usize, dim: usize, seed: u64) -> Synthetic {
    Synthetic::new(SyntheticConfig {
        docs,
        tokens,
        dim,
        seed,
        ..SyntheticConfig::default()
    })
}

/// Adds every document of `synthetic` to `builder`, in order, generated in parallel
/// batches of 4,096; returns the seconds spent generating (not building).
pub fn add_synthetic(
    builder: &mut IndexBuilder,
    synthetic: &Synthetic,
) -> tartan_engine::Result<f64> {
    let docs = synthetic.num_documents();
    let mut generating = 0.0;
    for first in (0..docs).step_by(4096) {
        let t = Instant::now();
        let last = (first + 4096).min(docs);
        let batch: Vec<Vec<f32>> = (first..last)
            .into_par_iter()
            .map(|d| {
                let mut doc = Vec::new();
                synthetic.document(d, &mut doc);
                doc
            })
            .collect();
        generating += t.elapsed().as_secs_f64();
        for (d, doc) in (first..last).zip(&batch) {
            builder.add_document(&synthetic.doc_id(d), doc)?;
        }
    }
    Ok(generating)
}

/// The value at fraction `p` (0 to 1, rounded to the nearest rank) of ascending `sorted`;
/// 0 when it is empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Mean single-thread milliseconds of each PLAID stage at `p` over `queries`
/// (`1_centroid_scores` to `4_interaction_full`, then the final stage), and the mean
/// number of documents each stage hands on (`candidates`, `after_pruned`, `after_full`).
/// With `split_final`, the final stage is timed in two parts, `5a_lookup_tables` and
/// `5b_rank_with_tables`; otherwise as one, `5_final`.
pub fn stage_times(
    index: &Index,
    queries: &[Vec<f32>],
    p: &SearchParams,
    split_final: bool,
) -> tartan_engine::Result<Map<String, Value>> {
    let mut s = index.searcher();
    let mut ms = [0f64; 6];
    let mut counts = [0f64; 3];
    for q in queries {
        let mut t = Instant::now();
        let mut lap = |i: usize, t: &mut Instant| {
            ms[i] += t.elapsed().as_secs_f64() * 1000.0;
            *t = Instant::now();
        };
        s.prepare(q)?;
        lap(0, &mut t);
        s.candidates(p.nprobe)?;
        counts[0] += s.widen_candidates(p.ndocs.max(p.k)) as f64;
        lap(1, &mut t);
        counts[1] += s.interaction_pruned(p.centroid_score_threshold, p.ndocs.max(p.k))? as f64;
        lap(2, &mut t);
        counts[2] += s.interaction_full((p.ndocs / 4).max(p.k))? as f64;
        lap(3, &mut t);
        if split_final {
            s.build_tables();
            lap(4, &mut t);
        }
        std::hint::black_box(s.rank(p.k)?);
        lap(if split_final { 5 } else { 4 }, &mut t);
    }
    let n = queries.len().max(1) as f64;
    let names: &[&str] = if split_final {
        &[
            "1_centroid_scores",
            "2_candidates",
            "3_interaction_pruned",
            "4_interaction_full",
            "5a_lookup_tables",
            "5b_rank_with_tables",
        ]
    } else {
        &[
            "1_centroid_scores",
            "2_candidates",
            "3_interaction_pruned",
            "4_interaction_full",
            "5_final",
        ]
    };
    let mut out = Map::new();
    for (name, total) in names.iter().zip(ms) {
        out.insert((*name).into(), json!(total / n));
    }
    out.insert("candidates".into(), json!(counts[0] / n));
    out.insert("after_pruned".into(), json!(counts[1] / n));
    out.insert("after_full".into(), json!(counts[2] / n));
    Ok(out)
}
