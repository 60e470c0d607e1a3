//! `tartan optimize`: segments merged into one, deleted documents dropped.

use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use tartan_engine::{EngineError, IndexWriter};

use crate::args::{BuildArgs, EncoderArgs};
use crate::progress::{bar, BuildBars};
use crate::{model, Globals};

/// Merge every segment into one and drop deleted documents (codes are copied, not
/// decoded). With --retrain, re-train the centroids and codec on the live documents'
/// embeddings first, for documents added long after the first build: the kept
/// embeddings of an index built with --keep-embeddings, or else the stored texts
/// (--store-text) re-encoded with the model recorded in the index.
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// The index directory.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Re-train centroids and codec (on kept embeddings, or on stored texts re-encoded).
    #[arg(long)]
    pub retrain: bool,
    /// The model that re-encodes stored texts (default: the one recorded in the index).
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: Option<String>,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub encode: EncoderArgs,
}

/// Runs `tartan optimize`.
pub fn run(args: OptimizeArgs, globals: Globals) -> Result<()> {
    let mut writer = IndexWriter::open(&args.index)
        .with_context(|| format!("cannot open {} for writing", args.index.display()))?;
    ensure!(
        args.build.codec_dir().is_none(),
        "--codec DIR builds with a trained codec; optimize --retrain trains a new one (give product or scalar)"
    );
    let before = writer.index().bytes_on_disk();
    let report = if args.retrain {
        let config = args
            .build
            .config(writer.index().meta().encoder.clone(), true)?;
        let bars = BuildBars::new(globals.quiet);
        let r = writer.retrain(&config, &bars);
        bars.finish();
        match r {
            Err(EngineError::NoEmbeddings) => retrain_from_texts(&mut writer, &args, globals)?,
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

/// Re-trains on the live documents' stored texts, re-encoded with the recorded model
/// (or `--model`): the path for an index that kept no embeddings.
fn retrain_from_texts(
    writer: &mut IndexWriter,
    args: &OptimizeArgs,
    globals: Globals,
) -> Result<tartan_engine::CommitReport> {
    let index = writer.index();
    let live: Vec<u32> = index.live_documents().collect();
    let mut texts = Vec::with_capacity(live.len());
    let mut missing = 0usize;
    for &doc in &live {
        match index.text(doc).context("cannot read a stored text")? {
            Some(t) => texts.push(t),
            None => missing += 1,
        }
    }
    if missing > 0 {
        bail!(
            "cannot re-train: the index keeps no uncompressed embeddings (build it with --keep-embeddings), \
             and {missing} of its {} live documents have no stored text to re-encode (index and add with --store-text); \
             segments were left as they are",
            live.len()
        );
    }
    let (model_name, encoder) = model::load_for_index(args.model.as_deref(), index, &args.encode)
        .context("cannot re-train from stored texts")?;
    let batch = args.encode.batch_size as usize;
    let progress = bar(
        "re-encoding stored texts",
        texts.len() as u64,
        globals.quiet,
    );
    let (mut all, mut lens) = (Vec::new(), Vec::with_capacity(texts.len()));
    for chunk in texts.chunks(batch * 8) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        model::encode_appending(&encoder, &refs, batch, &mut all, &mut lens)
            .context("cannot re-encode the stored texts")?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    eprintln!(
        "re-encoded the stored texts of {} documents with {model_name}",
        texts.len()
    );
    let config = args
        .build
        .config(writer.index().meta().encoder.clone(), true)?;
    let bars = BuildBars::new(globals.quiet);
    let r = writer.retrain_from(&all, &lens, &config, &bars);
    bars.finish();
    r.context("re-training failed")
}
