//! `tartan index`: a corpus (with a model) or .npy embeddings in, an index directory out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use tartan_encoder::Encoder;
use tartan_engine::{BuildReport, IndexBuilder, StageTime};

use crate::args::{BuildArgs, EncoderArgs};
use crate::corpus::{TextItem, TextSource};
use crate::progress::{bar, BuildBars};
use crate::{model, Globals};

/// Build an index.
///
/// From text: `tartan index CORPUS --model MODEL --out DIR`. CORPUS is a BEIR
/// directory (corpus.jsonl), an MS MARCO collection.tsv (or its directory), a JSONL
/// file of {"id", "text", "title"?} objects, a TSV file of id<TAB>text, or a text
/// file with one document per line (ids 0..n). MODEL is a local Hugging Face
/// directory (colbert-ai or PyLate layout) or a hub id. Documents are encoded in
/// batches and streamed to the builder, which spills them to disk, so memory stays
/// bounded whatever the corpus size. The model and its settings are recorded in the
/// index, so `tartan search` encodes queries the same way.
///
/// From embeddings: `tartan index --embeddings E.npy --doclens L.npy [--ids ids.txt]
/// [--metadata M.jsonl] --out DIR`, with E float32 [total_tokens, dim] (each
/// document's rows contiguous, in order), L integer [n_docs], ids one per line
/// (default 0..n-1), M one {"id": ..., "key": value, ...} object per line.
///
/// Metadata: a JSONL corpus line's "metadata" object (and a BEIR corpus's), or
/// --metadata beside --embeddings, is stored with the document in the index (one
/// SQLite database a segment): flat objects of strings, numbers, bools, null and
/// arrays of strings, for `tartan search --filter`. --store-text stores the text too
/// (search output, --lexical and --hybrid search).
///
/// The index is written to a temporary directory and renamed into place last, so
/// an interrupted build never leaves a half index that opens.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct IndexArgs {
    /// The corpus to encode (BEIR dir, collection.tsv, .jsonl, .tsv or .txt).
    #[arg(
        value_name = "CORPUS",
        required_unless_present = "embeddings",
        conflicts_with = "embeddings",
        requires = "model"
    )]
    pub corpus: Option<PathBuf>,
    /// The model: a local directory or a Hugging Face hub id.
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: Option<String>,
    /// Token embeddings, float32 [total_tokens, dim] (instead of a corpus).
    #[arg(long, value_name = "E.npy", requires = "doclens")]
    pub embeddings: Option<PathBuf>,
    /// Tokens per document, integer [n_docs], summing to total_tokens.
    #[arg(long, value_name = "L.npy", requires = "embeddings")]
    pub doclens: Option<PathBuf>,
    /// Document ids, one per line (default 0..n-1).
    #[arg(long, value_name = "ids.txt", requires = "embeddings")]
    pub ids: Option<PathBuf>,
    /// Document metadata, one {"id": ..., "key": value, ...} object per line (needs --ids).
    #[arg(long, value_name = "M.jsonl", requires_all = ["embeddings", "ids"])]
    pub metadata: Option<PathBuf>,
    /// The index directory to create.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an existing index at --out.
    #[arg(long)]
    pub force: bool,
    /// Store each document's text in the index, for search output and lexical search.
    #[arg(long, conflicts_with = "embeddings")]
    pub store_text: bool,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub encode: EncoderArgs,
}

/// Runs `tartan index`.
pub fn run(args: IndexArgs, globals: Globals) -> Result<()> {
    prepare_out(&args.out, args.force)?;
    let report = if let Some(embeddings) = &args.embeddings {
        let doclens = args
            .doclens
            .as_ref()
            .context("--embeddings needs --doclens")?;
        let ids = args.ids.as_deref().map(read_ids).transpose()?;
        let fields = match (&args.metadata, &ids) {
            (Some(path), Some(ids)) => {
                crate::metadata_file::fields_for(path, ids, crate::metadata_file::read(path)?)?
            }
            _ => Vec::new(),
        };
        let bars = BuildBars::new(globals.quiet);
        let mut config = args
            .build
            .config(serde_json::json!({"source": "npy"}), args.force)?;
        config.compute = model::build_compute(args.encode.device)?;
        let report = tartan_engine::build_from_npy_with(
            embeddings, doclens, ids, &fields, &args.out, config, &bars,
        )
        .with_context(|| format!("cannot build an index from {}", embeddings.display()))?;
        bars.finish();
        report
    } else {
        let corpus = args
            .corpus
            .as_ref()
            .context("give a CORPUS or --embeddings")?;
        let model_name = args.model.as_deref().context("a corpus needs --model")?;
        let source = TextSource::detect_corpus(corpus)?;
        let encoder = model::load(model_name, args.encode.device, args.encode.precision)?;
        build_from_text(&TextBuild {
            source: &source,
            model: model_name,
            encoder: &encoder,
            out: &args.out,
            build: &args.build,
            batch_size: args.encode.batch_size as usize,
            store_text: args.store_text,
            overwrite: args.force,
            quiet: globals.quiet,
        })?
    };
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    print_report(&report, &args.out);
    if globals.verbose {
        print_stages(&report.stages);
    }
    Ok(())
}

/// Prints a build's (or a training's) wall-clock time per stage (`--verbose`).
pub fn print_stages(stages: &[StageTime]) {
    let parts: Vec<String> = stages
        .iter()
        .map(|s| format!("{} {:.2}s", s.name, s.seconds))
        .collect();
    eprintln!("time per stage: {}", parts.join(", "));
}

/// Refuses to overwrite an existing path unless `force` (checked before any
/// encoding starts), and never replaces something that is not a tartan index.
pub fn prepare_out(out: &Path, force: bool) -> Result<()> {
    if out.exists() {
        if !force {
            bail!(
                "{} already exists (pass --force to replace it)",
                out.display()
            );
        }
        if !out.join("meta.json").is_file() && !out.join("CURRENT").is_file() {
            bail!(
                "{} exists and is not a tartan index; refusing to replace it",
                out.display()
            );
        }
    }
    Ok(())
}

/// Prints what a build produced.
pub fn print_report(report: &BuildReport, out: &Path) {
    let codes = report.bytes_total - report.bytes_metadata;
    eprintln!(
        "indexed {} documents, {} embeddings, {} centroids: {:.2} MB ({:.1} bytes/embedding) in {:.1}s -> {}",
        report.num_documents,
        report.num_embeddings,
        report.num_centroids,
        report.bytes_total as f64 / 1e6,
        report.bytes_per_embedding,
        report.seconds,
        out.display()
    );
    eprintln!(
        "  of which {:.2} MB ids, metadata and stored text (SQLite), {:.2} MB the compressed index ({:.1} bytes/embedding)",
        report.bytes_metadata as f64 / 1e6,
        codes as f64 / 1e6,
        codes as f64 / report.num_embeddings.max(1) as f64
    );
}

/// Document ids, one a line (a final newline is optional; `\r\n` line ends are
/// accepted). A blank line is an error naming its number, never skipped: skipping
/// it would shift every later id onto the wrong document.
pub fn read_ids(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_ids(&text).with_context(|| format!("bad ids file {}", path.display()))
}

fn parse_ids(text: &str) -> Result<Vec<String>> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let id = line.trim_end_matches('\r');
            ensure!(!id.trim().is_empty(), "empty id at line {}", i + 1);
            Ok(id.to_string())
        })
        .collect()
}

/// Everything a build from text needs.
pub struct TextBuild<'a> {
    /// Where the documents come from.
    pub source: &'a TextSource,
    /// The model as the user named it (recorded in the index).
    pub model: &'a str,
    /// The loaded encoder.
    pub encoder: &'a Encoder,
    /// The index directory to create.
    pub out: &'a Path,
    /// Codec and k-means options.
    pub build: &'a BuildArgs,
    /// Documents per forward pass.
    pub batch_size: usize,
    /// Also store each document's text in the index.
    pub store_text: bool,
    /// Replace an existing index at `out`.
    pub overwrite: bool,
    /// Hide progress bars.
    pub quiet: bool,
}

/// Encodes a corpus in batches, streams it into the builder and finishes the index.
pub fn build_from_text(job: &TextBuild<'_>) -> Result<BuildReport> {
    let started = Instant::now();
    let total = job.source.count()?;
    let mut config = job
        .build
        .config(model::record(job.model, job.encoder), job.overwrite)?;
    config.compute = model::build_compute(job.encoder.device())?;
    let mut builder = IndexBuilder::new(job.out, job.encoder.dim(), config)
        .with_context(|| format!("cannot start an index at {}", job.out.display()))?;
    let result = (|| -> Result<BuildReport> {
        let encoding = bar("encoding", total, job.quiet);
        // Several forward batches per chunk keep the encoder busy; the chunk is
        // the only text held in memory.
        let chunk_docs = job.batch_size * 8;
        let mut chunk: Vec<TextItem> = Vec::with_capacity(chunk_docs);
        let mut items = job.source.items()?;
        loop {
            chunk.clear();
            for item in items.by_ref().take(chunk_docs) {
                chunk.push(item?);
            }
            if chunk.is_empty() {
                break;
            }
            let refs: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
            let embedded = job
                .encoder
                .encode_documents(&refs, job.batch_size)
                .context("encoding documents failed")?;
            for (doc, emb) in chunk.iter().zip(&embedded) {
                let text = job.store_text.then_some(doc.text.as_str());
                builder
                    .add_document_with(&doc.id, &emb.data, doc.metadata.as_ref(), text)
                    .with_context(|| format!("cannot add document {}", doc.id))?;
            }
            encoding.inc(chunk.len() as u64);
        }
        encoding.finish();
        let bars = BuildBars::new(job.quiet);
        let report = builder.finish(&bars).context("building the index failed")?;
        bars.finish();
        Ok(report)
    })();
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::parse_ids;

    #[test]
    fn ids_one_a_line() {
        assert_eq!(parse_ids("a\nb\r\nc").unwrap(), ["a", "b", "c"]);
        assert_eq!(parse_ids("a\nb\n").unwrap(), ["a", "b"]);
        assert!(parse_ids("").unwrap().is_empty());
    }

    #[test]
    fn a_blank_line_is_named() {
        for (text, line) in [
            ("a\n\nb\n", 2),
            ("\na\n", 1),
            ("a\nb\n\n", 3),
            ("a\n \r\n", 2),
        ] {
            let err = format!("{:#}", parse_ids(text).unwrap_err());
            assert_eq!(err, format!("empty id at line {line}"), "{text:?}");
        }
    }
}
