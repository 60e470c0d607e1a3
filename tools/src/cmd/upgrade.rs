//! `tartan upgrade`: a format-2 index rewritten in place in the current format.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::Globals;

/// Upgrade a format-2 index (read-only to this version) in place to the current
/// format, so it can take adds and deletes and carries checksums. Its files are
/// hard-linked, not copied; readers of the old layout keep working until they reopen.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The index directory.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
}

/// Runs `tartan upgrade`.
pub fn run(args: UpgradeArgs, _globals: Globals) -> Result<()> {
    let generation = tartan_engine::upgrade(&args.index)
        .with_context(|| format!("cannot upgrade {}", args.index.display()))?;
    eprintln!(
        "{} is in format {} (generation {generation})",
        args.index.display(),
        tartan_engine::FORMAT_VERSION
    );
    Ok(())
}
