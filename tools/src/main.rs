//! `tartan`: build, search, evaluate and serve PLAID-style ColBERT indexes.
//!
//! Exit codes: 0 success, 1 a runtime error (printed as one line on stderr, with
//! the backtrace only under `--verbose` or `RUST_BACKTRACE`), 2 a usage error.
// The doc comments of the commands' arguments are their --help text (clap), written for
// a terminal: `[n_docs]` is a shape and `<TAB>` a key, not a link or an HTML tag.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod args;
mod cache;
mod cmd;
mod corpus;
mod latency;
mod metadata_file;
mod metrics;
mod model;
mod progress;
mod results;
mod retrieval;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tartan: a PLAID-style, compressed, on-disk late-interaction (ColBERT) search engine.
///
/// Build an index from text (with a ColBERT model) or from .npy token embeddings,
/// search it, evaluate it on BEIR, or serve it over HTTP.
#[derive(Debug, Parser)]
#[command(name = "tartan", version, propagate_version = true)]
struct Cli {
    /// Print details (a build's time per stage) and, on failure, the full error chain
    /// and backtrace (RUST_BACKTRACE=1 also does).
    #[arg(long, short, global = true)]
    verbose: bool,
    /// Hide progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Worker threads for encoding, building and batch search (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build an index from a corpus with a model, or from .npy embeddings.
    Index(cmd::index::IndexArgs),
    /// Train centroids and a codec once, for shards built with `index --codec DIR`.
    Train(cmd::train::TrainArgs),
    /// Search an index with text queries or query embeddings.
    Search(cmd::search::SearchArgs),
    /// Encode documents or queries into .npy files (for numpy, PyLate and other tools).
    Encode(cmd::encode::EncodeArgs),
    /// Evaluate a model on a BEIR dataset: nDCG@10, Recall@100, MRR@10, latency, QPS.
    Eval(cmd::eval::EvalArgs),
    /// Serve an index over HTTP: POST /search, GET /health, GET /stats.
    Serve(cmd::serve::ServeArgs),
    /// Add documents to an index (text or .npy embeddings), in one commit.
    Add(cmd::add::AddArgs),
    /// Delete documents by id, in one commit.
    Delete(cmd::delete::DeleteArgs),
    /// Merge segments and drop deleted documents (--retrain: re-train the codec).
    Optimize(cmd::optimize::OptimizeArgs),
    /// Describe an index: generation, segments, documents, bytes, drift.
    Stats(cmd::stats::StatsArgs),
    /// Read every index file in full and check its checksum.
    ///
    /// Opening an index checks the checksums of its small files only; verify reads
    /// every file (codes, posting lists, centroid ids, kept embeddings too) against the
    /// CRC-32C its manifest records, and exits 1 naming the first damaged file.
    Verify(cmd::verify::VerifyArgs),
    /// Rewrite a format-2 index in place in the current format.
    ///
    /// A format-2 index opens read-only; upgrade hard-links its files into a codec and
    /// a segment directory and commits them as generation 1, after which it takes adds
    /// and deletes and carries checksums.
    Upgrade(cmd::upgrade::UpgradeArgs),
}

/// Global settings every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Globals {
    /// Hide progress bars.
    pub quiet: bool,
    /// `--verbose`: also print details (such as a build's time per stage).
    pub verbose: bool,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(threads) = cli.threads {
        anyhow::ensure!(threads > 0, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot set up {threads} threads: {e}"))?;
    }
    let globals = Globals {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Index(args) => cmd::index::run(args, globals),
        Command::Train(args) => cmd::train::run(args, globals),
        Command::Search(args) => cmd::search::run(args, globals),
        Command::Encode(args) => cmd::encode::run(args, globals),
        Command::Eval(args) => cmd::eval::run(args, globals),
        Command::Serve(args) => cmd::serve::run(args, globals),
        Command::Add(args) => cmd::add::run(args, globals),
        Command::Delete(args) => cmd::delete::run(args, globals),
        Command::Optimize(args) => cmd::optimize::run(args, globals),
        Command::Stats(args) => cmd::stats::run(args, globals),
        Command::Verify(args) => cmd::verify::run(args, globals),
        Command::Upgrade(args) => cmd::upgrade::run(args, globals),
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2 (clap's convention) before anything runs.
    let cli = Cli::parse();
    let verbose = cli.verbose || std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if verbose {
                eprintln!("error: {err:?}");
            } else {
                // The whole context chain on one line: "cannot open X: no such file".
                eprintln!("error: {err:#}");
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_explains_itself() {
        let mut cmd = Cli::command();
        for sub in cmd.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            assert!(
                help.len() > 200,
                "{} help too short:\n{help}",
                sub.get_name()
            );
        }
    }
}
