//! `tartan delete`: documents removed by id, in one commit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use tartan_engine::IndexWriter;

use crate::Globals;

/// Delete documents by id (one commit). Ids the index does not hold are counted and
/// reported, not an error. Deleted documents are never returned by search; their bytes
/// are reclaimed by `tartan optimize`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The index directory.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// A file of ids to delete, one per line.
    #[arg(long, value_name = "ids.txt")]
    pub ids: Option<PathBuf>,
    /// Ids to delete.
    #[arg(value_name = "ID")]
    pub id: Vec<String>,
}

/// Runs `tartan delete`.
pub fn run(args: DeleteArgs, _globals: Globals) -> Result<()> {
    let mut ids = args.id.clone();
    if let Some(path) = &args.ids {
        ids.extend(crate::cmd::index::read_ids(path)?);
    }
    if ids.is_empty() {
        bail!("no ids to delete: give ids as arguments or --ids FILE");
    }
    let mut writer = IndexWriter::open(&args.index)
        .with_context(|| format!("cannot open {} for writing", args.index.display()))?;
    let report = writer.delete(&ids).context("deleting documents failed")?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "deleted {} documents ({} unknown ids) -> generation {}",
        report.deleted,
        report.unknown.len(),
        report.generation
    );
    Ok(())
}
