//! `tartan stats`: segments, live and deleted documents, bytes, generation, drift.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use tartan_engine::Index;

use crate::Globals;

/// Describe an index: its generation, segments (documents, deleted, embeddings,
/// bytes, whether the codec was trained on them, reconstruction error), totals, and
/// the drift of documents added after training.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The index directory.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How far added documents drift from the codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drift {
    /// Share of embeddings in segments the codec was not trained on.
    pub added_share: f64,
    /// Mean squared reconstruction error an embedding in trained segments.
    pub trained_error: Option<f64>,
    /// The same in added segments.
    pub added_error: Option<f64>,
}

impl Drift {
    /// The drift of `index` (zero for a format-2 index).
    pub fn of(index: &Index) -> Drift {
        let Some(m) = index.manifest() else {
            return Drift::default();
        };
        let total = m.num_embeddings().max(1) as f64;
        let mean = |trained: bool| {
            let (mut sum, mut weight) = (0.0, 0.0);
            for s in m.segments.iter().filter(|s| s.trained == trained) {
                if let Some(e) = s.residual_error {
                    sum += e * s.num_embeddings as f64;
                    weight += s.num_embeddings as f64;
                }
            }
            (weight > 0.0).then(|| sum / weight)
        };
        Drift {
            added_share: m
                .segments
                .iter()
                .filter(|s| !s.trained)
                .map(|s| s.num_embeddings)
                .sum::<usize>() as f64
                / total,
            trained_error: mean(true),
            added_error: mean(false),
        }
    }
}

/// Runs `tartan stats`.
pub fn run(args: StatsArgs, _globals: Globals) -> Result<()> {
    let index = Index::open(&args.index)
        .with_context(|| format!("cannot open {}", args.index.display()))?;
    let drift = Drift::of(&index);
    let segments: Vec<serde_json::Value> = index
        .manifest()
        .map(|m| {
            m.segments
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "documents": s.num_documents,
                        "deleted": s.deletes.as_ref().map_or(0, |d| d.count),
                        "embeddings": s.num_embeddings,
                        "bytes": s.files.values().map(|f| f.size).sum::<u64>(),
                        "trained": s.trained,
                        "residual_error": s.residual_error,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = json!({
        "format_version": index.meta().format_version,
        "generation": index.generation(),
        "dim": index.dim(),
        "codec": index.meta().codec,
        "centroids": index.num_centroids(),
        "documents": index.num_live_documents(),
        "deleted": index.deleted().len(),
        "embeddings": index.num_embeddings(),
        "bytes": index.bytes_on_disk(),
        "has_embeddings": index.has_embeddings(),
        "drift": {
            "added_share": drift.added_share,
            "trained_residual_error": drift.trained_error,
            "added_residual_error": drift.added_error,
        },
        "segments": segments,
    });
    if args.json {
        println!("{summary}");
        return Ok(());
    }
    println!(
        "generation {} (format {}), {} live documents, {} deleted, {} embeddings, {:.2} MB, {} centroids",
        index.generation(),
        index.meta().format_version,
        index.num_live_documents(),
        index.deleted().len(),
        index.num_embeddings(),
        index.bytes_on_disk() as f64 / 1e6,
        index.num_centroids()
    );
    println!(
        "{:<12} {:>10} {:>8} {:>12} {:>8} {:>10}",
        "segment", "documents", "deleted", "embeddings", "trained", "mse"
    );
    for s in &segments {
        println!(
            "{:<12} {:>10} {:>8} {:>12} {:>8} {:>10}",
            s["name"].as_str().unwrap_or(""),
            s["documents"],
            s["deleted"],
            s["embeddings"],
            s["trained"],
            s["residual_error"]
                .as_f64()
                .map_or("-".into(), |e| format!("{e:.5}"))
        );
    }
    println!(
        "drift: {:.1}% of embeddings added after training; reconstruction mse trained {} / added {}",
        drift.added_share * 100.0,
        drift.trained_error.map_or("-".into(), |e| format!("{e:.5}")),
        drift.added_error.map_or("-".into(), |e| format!("{e:.5}"))
    );
    Ok(())
}
