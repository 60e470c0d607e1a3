//! `tartan encode`: texts to .npy token embeddings, the same files `tartan index
//! --embeddings` and `tartan search --query-embeddings` read.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use tartan_engine::format::npy::{write_array, Dtype, NpyWriter};

use crate::args::EncoderArgs;
use crate::corpus::{TextItem, TextSource};
use crate::progress::bar;
use crate::{model, Globals};

/// Encode texts into numpy files.
///
/// Documents: `tartan encode CORPUS --model MODEL --embeddings E.npy --doclens L.npy
/// [--ids ids.txt]` writes E float32 [total_tokens, dim] (each document's vectors
/// contiguous, punctuation skipped, L2-normalised), L int64 [n_docs] and the ids one
/// per line. CORPUS is a text file (one document per line), JSONL {"id", "text"}, TSV
/// id<TAB>text, or a BEIR directory (its corpus.jsonl).
///
/// Queries: `tartan encode QUERIES --model MODEL --as-queries --embeddings Q.npy
/// [--ids ids.txt]` writes Q float32 [n_queries, query_len, dim] (queries padded with
/// [MASK] to query_len, as ColBERT does). A BEIR directory means its queries.jsonl.
///
/// In numpy: E = np.load("E.npy"); L = np.load("L.npy"); doc i is
/// E[L[:i].sum() : L[:i+1].sum()].
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EncodeArgs {
    /// The texts: a .txt (one per line), .jsonl, .tsv file or a BEIR directory.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// The model: a local directory or a Hugging Face hub id.
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: String,
    /// Encode as queries ([n, query_len, dim]) instead of documents.
    #[arg(long)]
    pub as_queries: bool,
    /// Output embeddings (.npy).
    #[arg(long, value_name = "E.npy")]
    pub embeddings: PathBuf,
    /// Output document lengths (.npy, int64); required for documents.
    #[arg(
        long,
        value_name = "L.npy",
        required_unless_present = "as_queries",
        conflicts_with = "as_queries"
    )]
    pub doclens: Option<PathBuf>,
    /// Output ids, one per line.
    #[arg(long, value_name = "ids.txt")]
    pub ids: Option<PathBuf>,
    #[command(flatten)]
    pub encode: EncoderArgs,
}

/// Runs `tartan encode`.
pub fn run(args: EncodeArgs, globals: Globals) -> Result<()> {
    let source = if args.as_queries {
        TextSource::detect_queries(&args.input)?
    } else {
        TextSource::detect_corpus(&args.input)?
    };
    let encoder = model::load(&args.model, args.encode.device, args.encode.precision)?;
    let dim = encoder.dim();
    let batch = args.encode.batch_size as usize;
    let total = source.count()?;
    let progress = bar("encoding", total, globals.quiet);
    let mut ids = args
        .ids
        .as_ref()
        .map(|p| {
            File::create(p)
                .map(BufWriter::new)
                .with_context(|| format!("cannot create {}", p.display()))
        })
        .transpose()?;
    let mut items = source.items()?;
    let mut chunk: Vec<TextItem> = Vec::new();
    let mut count = 0usize;
    if args.as_queries {
        let qlen = encoder.query_length();
        let mut out = RowFile::create(&args.embeddings, &[qlen, dim])?;
        loop {
            chunk.clear();
            chunk.extend(items.by_ref().take(batch * 8).collect::<Result<Vec<_>>>()?);
            if chunk.is_empty() {
                break;
            }
            let texts: Vec<&str> = chunk.iter().map(|q| q.text.as_str()).collect();
            for (q, emb) in chunk.iter().zip(
                encoder
                    .encode_queries(&texts)
                    .context("encoding queries failed")?,
            ) {
                anyhow::ensure!(
                    emb.data.len() == qlen * dim,
                    "query {} encoded to {} values, expected {qlen} x {dim}",
                    q.id,
                    emb.data.len()
                );
                out.write(&emb.data)?;
                if let Some(w) = ids.as_mut() {
                    writeln!(w, "{}", q.id)?;
                }
            }
            count += chunk.len();
            progress.inc(chunk.len() as u64);
        }
        out.finish()?;
        progress.finish();
        eprintln!(
            "encoded {count} queries -> {} [{count}, {qlen}, {dim}]",
            args.embeddings.display()
        );
    } else {
        let doclens_path = args.doclens.as_ref().context("documents need --doclens")?;
        let mut out = RowFile::create(&args.embeddings, &[dim])?;
        let mut doclens: Vec<i64> = Vec::new();
        loop {
            chunk.clear();
            chunk.extend(items.by_ref().take(batch * 8).collect::<Result<Vec<_>>>()?);
            if chunk.is_empty() {
                break;
            }
            let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
            let embedded = encoder
                .encode_documents(&texts, batch)
                .context("encoding documents failed")?;
            for (d, emb) in chunk.iter().zip(embedded) {
                out.write(&emb.data)?;
                doclens.push((emb.data.len() / dim) as i64);
                if let Some(w) = ids.as_mut() {
                    writeln!(w, "{}", d.id)?;
                }
            }
            count += chunk.len();
            progress.inc(chunk.len() as u64);
        }
        let tokens = out.rows();
        out.finish()?;
        write_array(doclens_path, &[doclens.len()], &doclens)?;
        progress.finish();
        eprintln!(
            "encoded {count} documents, {tokens} token vectors -> {} [{tokens}, {dim}], {} [{count}]",
            args.embeddings.display(),
            doclens_path.display()
        );
    }
    if let Some(mut w) = ids {
        w.flush()?;
    }
    Ok(())
}

/// A float32 `.npy` of rows written under a temporary name beside `path` and renamed
/// into place by [`RowFile::finish`], so an interrupted run never leaves a file that
/// looks complete.
struct RowFile {
    tmp: PathBuf,
    path: PathBuf,
    out: NpyWriter,
}

impl RowFile {
    fn create(path: &Path, row_shape: &[usize]) -> Result<RowFile> {
        let name = path
            .file_name()
            .with_context(|| format!("{} is not a file name", path.display()))?;
        let tmp = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
        let out = NpyWriter::create_rows(&tmp, Dtype::F32, row_shape)?;
        Ok(RowFile {
            tmp,
            path: path.to_path_buf(),
            out,
        })
    }

    fn write(&mut self, rows: &[f32]) -> Result<()> {
        Ok(self.out.write(rows)?)
    }

    fn rows(&self) -> u64 {
        self.out.rows()
    }

    fn finish(self) -> Result<()> {
        self.out.finish()?;
        std::fs::rename(&self.tmp, &self.path).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.tmp.display(),
                self.path.display()
            )
        })
    }
}
