//! `tartan optimize`: segments merged into one, deleted documents dropped.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use tartan_engine::{EngineError, IndexWriter};

use crate::args::BuildArgs;
use crate::progress::BuildBars;
use crate::Globals;

/// Merge every segment into one and drop deleted documents (codes are copied, not
/// decoded). With --retrain, re-train the centroids and codec on the live documents'
/// kept embeddings first (an index built with --keep-embeddings), for documents added
/// long after the first build.
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// The index directory.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Re-train centroids and codec (needs kept embeddings).
    #[arg(long)]
    pub retrain: bool,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// Runs `tartan optimize`.
pub fn run(args: OptimizeArgs, globals: Globals) -> Result<()> {
    let mut writer = IndexWriter::open(&args.index)
        .with_context(|| format!("cannot open {} for writing", args.index.display()))?;
    let before = writer.index().bytes_on_disk();
    let report = if args.retrain {
        let config = args
            .build
            .config(writer.index().meta().encoder.clone(), true);
        let bars = BuildBars::new(globals.quiet);
        let r = writer.retrain(&config, &bars);
        bars.finish();
        match r {
            Err(EngineError::NoEmbeddings) => bail!(
                "cannot re-train: the index keeps no uncompressed embeddings (build it with --keep-embeddings), \
                 and re-encoding stored texts is not available; segments were left as they are"
            ),
            other => other.context("re-training failed")?,
        }
    } else {
        writer.optimize().context("optimize failed")?
    };
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    let after = writer.index().bytes_on_disk();
    eprintln!(
        "{} -> generation {}: {} segment(s), {} documents, {:.2} MB -> {:.2} MB",
        if args.retrain {
            "re-trained"
        } else {
            "optimized"
        },
        report.generation,
        writer.index().num_segments(),
        writer.index().num_live_documents(),
        before as f64 / 1e6,
        after as f64 / 1e6
    );
    Ok(())
}
