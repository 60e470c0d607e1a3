//! `tartan add`: new documents (text, encoded with the index's recorded model, or .npy
//! embeddings) as one new segment, in one commit.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use tartan_engine::format::npy_input::NpyInput;
use tartan_engine::IndexWriter;

use crate::args::EncoderArgs;
use crate::corpus::TextSource;
use crate::progress::{bar, BuildBars};
use crate::{model, Globals};

/// Add documents to an index (one commit; readers see all of them or none).
///
/// From text: `tartan add --index DIR new.jsonl` encodes with the model the index
/// records (or --model). From embeddings: `tartan add --index DIR --embeddings E.npy
/// --doclens L.npy --ids ids.txt`. An id the index already holds is an error and
/// nothing is committed, unless --upsert, which replaces that document in the same
/// commit. Added documents are quantised with the index's codec; `tartan stats`
/// reports how far they drift from it.
///
/// Metadata comes from the corpus lines' "metadata" objects, or --metadata M.jsonl
/// ({"id": ..., "key": value, ...} a line) beside --embeddings. Texts are stored with
/// --store-text, and always when the index stores text already.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AddArgs {
    /// The index directory.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// The documents to encode (BEIR dir, collection.tsv, .jsonl, .tsv or .txt).
    #[arg(
        value_name = "CORPUS",
        required_unless_present = "embeddings",
        conflicts_with = "embeddings"
    )]
    pub corpus: Option<PathBuf>,
    /// The model (default: the one the index records).
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: Option<String>,
    /// Token embeddings, float32 [total_tokens, dim] (instead of a corpus).
    #[arg(long, value_name = "E.npy", requires_all = ["doclens", "ids"])]
    pub embeddings: Option<PathBuf>,
    /// Tokens per document, integer [n_docs].
    #[arg(long, value_name = "L.npy", requires = "embeddings")]
    pub doclens: Option<PathBuf>,
    /// Document ids, one per line.
    #[arg(long, value_name = "ids.txt", requires = "embeddings")]
    pub ids: Option<PathBuf>,
    /// Document metadata, one {"id": ..., "key": value, ...} object per line.
    #[arg(long, value_name = "M.jsonl", requires = "embeddings")]
    pub metadata: Option<PathBuf>,
    /// Store each document's text (the default when the index stores text already).
    #[arg(long, conflicts_with = "embeddings")]
    pub store_text: bool,
    /// Replace documents whose id the index already holds.
    #[arg(long)]
    pub upsert: bool,
    #[command(flatten)]
    pub encode: EncoderArgs,
}

/// The share of an index's embeddings added after training above which `add` suggests
/// `optimize --retrain`. Measured with `benches/src/bin/living-index.rs`
/// (docs/living-index.md): on SciFact's token embeddings recall@10 stayed within
/// 0.005 of a full build up to half the embeddings added (-0.004 at 50%), against a
/// noise of 0.009 between two full builds with different seeds, and fell by 0.012 at
/// 70%; on 1M synthetic embeddings it stayed within 0.005 at every share.
pub const DRIFT_HINT_SHARE: f64 = 0.5;

/// Runs `tartan add`.
pub fn run(args: AddArgs, globals: Globals) -> Result<()> {
    let mut writer = IndexWriter::open(&args.index)
        .with_context(|| format!("cannot open {} for writing", args.index.display()))?;
    let dim = writer.index().dim();
    let store_text = args.store_text || writer.index().has_text();
    let (ids, embeddings, doclens, fields) = match &args.embeddings {
        Some(e) => {
            let (ids, embeddings, doclens) = read_embeddings(
                e,
                args.doclens
                    .as_deref()
                    .context("--embeddings needs --doclens")?,
                args.ids.as_deref().context("--embeddings needs --ids")?,
                dim,
            )?;
            let fields = match &args.metadata {
                Some(path) => {
                    crate::metadata_file::fields_for(path, &ids, crate::metadata_file::read(path)?)?
                }
                None => Vec::new(),
            };
            (ids, embeddings, doclens, fields)
        }
        None => {
            let corpus = args
                .corpus
                .as_ref()
                .context("give a CORPUS or --embeddings")?;
            let (_, encoder) =
                model::load_for_index(args.model.as_deref(), writer.index(), &args.encode)?;
            let source = TextSource::detect_corpus(corpus)?;
            let total = source.count()?;
            let progress = bar("encoding", total, globals.quiet);
            let (mut ids, mut all, mut lens) = (Vec::new(), Vec::new(), Vec::new());
            let mut fields = Vec::new();
            let mut items = source.items()?;
            let batch = args.encode.batch_size as usize;
            loop {
                let chunk: Vec<_> = items.by_ref().take(batch * 8).collect::<Result<_>>()?;
                if chunk.is_empty() {
                    break;
                }
                let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
                model::encode_appending(&encoder, &texts, batch, &mut all, &mut lens)?;
                for doc in &chunk {
                    fields.push(tartan_engine::StoredFields {
                        metadata: doc.metadata.clone(),
                        text: store_text.then(|| doc.text.clone()),
                    });
                    ids.push(doc.id.clone());
                }
                progress.inc(chunk.len() as u64);
            }
            progress.finish();
            (ids, all, lens, fields)
        }
    };
    let bars = BuildBars::new(globals.quiet);
    let report = writer
        .add_with(&ids, &embeddings, &doclens, &fields, args.upsert, &bars)
        .context("adding documents failed")?;
    bars.finish();
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "added {} documents ({} replaced) -> generation {} ({} segments{})",
        report.added,
        report.deleted,
        report.generation,
        writer.index().num_segments(),
        if report.merged_segments > 0 {
            format!(", {} merged", report.merged_segments)
        } else {
            String::new()
        }
    );
    let drift = crate::cmd::stats::Drift::of(writer.index());
    if drift.added_share > DRIFT_HINT_SHARE {
        eprintln!(
            "hint: {:.0}% of the embeddings were added after the codec was trained; `tartan optimize --index {} --retrain` re-trains it",
            drift.added_share * 100.0,
            args.index.display()
        );
    }
    Ok(())
}

/// Reads E.npy, L.npy and ids.txt of documents to add, checking they agree.
fn read_embeddings(
    e: &Path,
    l: &Path,
    ids: &Path,
    dim: usize,
) -> Result<(Vec<String>, Vec<f32>, Vec<usize>)> {
    let emb = NpyInput::open(e)?;
    if emb.shape().len() != 2 || emb.shape()[1] != dim {
        bail!(
            "{}: expected float32 [total, {dim}], found shape {:?}",
            e.display(),
            emb.shape()
        );
    }
    let doclens: Vec<usize> = NpyInput::open(l)?
        .lengths()?
        .into_iter()
        .map(|n| n as usize)
        .collect();
    let ids = crate::cmd::index::read_ids(ids)?;
    if ids.len() != doclens.len() {
        bail!("{} ids for {} document lengths", ids.len(), doclens.len());
    }
    let total: usize = doclens.iter().sum();
    if total != emb.shape()[0] {
        bail!(
            "{}: lengths sum to {total} but {} holds {} rows",
            l.display(),
            e.display(),
            emb.shape()[0]
        );
    }
    Ok((ids, emb.f32s()?.into_owned(), doclens))
}
