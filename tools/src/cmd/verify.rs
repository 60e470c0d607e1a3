//! `tartan verify`: every file of an index read in full against its checksum.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tartan_engine::Index;

use crate::progress::bar;
use crate::Globals;

/// Read every file of the index in full and check its size and CRC-32C against the
/// manifest (opening the index checks only the small files). Exits 1 naming the first
/// damaged file.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The index directory.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
}

/// Runs `tartan verify`.
pub fn run(args: VerifyArgs, globals: Globals) -> Result<()> {
    let index = Index::open(&args.index)
        .with_context(|| format!("cannot open {}", args.index.display()))?;
    let progress = bar("verify", index.verify_bytes(), globals.quiet);
    let report = index.verify(&|n| progress.inc(n))?;
    progress.finish();
    println!(
        "ok: {} files, {:.2} MB verified (generation {})",
        report.files,
        report.bytes as f64 / 1e6,
        index.generation()
    );
    Ok(())
}
