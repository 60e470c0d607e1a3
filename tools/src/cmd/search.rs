//! `tartan search`: text queries (encoded by the index's model) or query
//! embeddings from a .npy file, against an index; results as a table, JSON or TREC.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Args;
use tartan_engine::format::npy_input::NpyInput;
use tartan_engine::metadata::Filter;
use tartan_engine::{Index, Scoring, SearchHit, SearchParams, ShardHit, ShardSet};

use crate::args::{EncoderArgs, SearchParamArgs};
use crate::corpus::{read_queries, TextItem};
use crate::results::{self, Format, Hit, QueryResults};
use crate::retrieval::{self, Mode, Retrieval};
use crate::{model, Globals};

/// Search an index.
///
/// Text queries: `tartan search --index DIR "what causes tides"` (several queries may
/// follow), or `--queries FILE` with one query per line, a JSONL file of {"id", "text"},
/// a TSV file of id<TAB>text, or a BEIR directory (its queries.jsonl). Queries are
/// encoded with the model recorded in the index, or --model.
///
/// Query embeddings: `tartan search --index DIR --query-embeddings Q.npy --k 10
/// --format json`, with Q float32 [n_queries, query_len, dim]; prints one JSON object
/// per query: {"query": i, "results": [{"id": ..., "score": ...}, ...]}.
///
/// PLAID search by default (--nprobe, --threshold, --ndocs tune it); --exact scores
/// every document by brute-force MaxSim (needs an index built with --keep-embeddings);
/// --exhaustive scores every document over its decompressed embeddings (the codec's
/// ceiling).
///
/// --filter '{"year": {"$gte": 2020}, "source": {"$in": ["pubmed", "arxiv"]}}' searches
/// only the documents whose metadata matches (MongoDB-style operators: $eq $ne $gt
/// $gte $lt $lte $in $nin $exists $contains, $and $or $not, and "$text": "words" for
/// documents whose stored text holds every word); a malformed filter exits 2 naming
/// the offending part. --lexical ranks by BM25 over the stored text (no model needed);
/// --hybrid fuses PLAID's and BM25's lists by reciprocal rank fusion (--rrf-k, 60).
/// Both need an index built with --store-text. docs/metadata.md has the details.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SearchArgs {
    /// The index directory; several (`--index a --index b`) are searched as shards of
    /// one corpus (built with one codec: `tartan train`, `tartan index --codec`), their
    /// top-k merged by score.
    #[arg(long, short, value_name = "DIR", required = true)]
    pub index: Vec<PathBuf>,
    /// Query texts.
    #[arg(value_name = "QUERY", conflicts_with = "query_embeddings")]
    pub query: Vec<String>,
    /// A file of queries (lines, JSONL, TSV or a BEIR directory).
    #[arg(long, value_name = "FILE", conflicts_with = "query_embeddings")]
    pub queries: Option<PathBuf>,
    /// Query embeddings, float32 [n_queries, query_len, dim].
    #[arg(long, value_name = "Q.npy")]
    pub query_embeddings: Option<PathBuf>,
    /// The model for text queries (default: the one recorded in the index).
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: Option<String>,
    /// Results per query.
    #[arg(long, short, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub k: u32,
    /// Brute-force MaxSim over the kept embeddings instead of PLAID.
    #[arg(long)]
    pub exact: bool,
    /// MaxSim over every document's decompressed embeddings instead of PLAID: the
    /// codec's own exact ranking (its ceiling); slow.
    #[arg(long, conflicts_with_all = ["exact", "lexical", "hybrid"])]
    pub exhaustive: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Do not show document texts even when the index stores them.
    #[arg(long)]
    pub no_text: bool,
    /// Only documents whose metadata matches this JSON filter.
    #[arg(long, value_name = "JSON", value_parser = crate::retrieval::parse_filter)]
    pub filter: Option<Filter>,
    /// BM25 over the stored document text instead of late interaction.
    #[arg(long, conflicts_with_all = ["hybrid", "query_embeddings", "exact"])]
    pub lexical: bool,
    /// Late interaction and BM25 fused by reciprocal rank fusion.
    #[arg(long, conflicts_with = "query_embeddings")]
    pub hybrid: bool,
    /// The rank-fusion constant of --hybrid (default 60).
    #[arg(long, value_name = "K", requires = "hybrid", value_parser = crate::retrieval::parse_rrf_k)]
    pub rrf_k: Option<f32>,
    #[command(flatten)]
    pub params: SearchParamArgs,
    #[command(flatten)]
    pub encode: EncoderArgs,
}

/// Runs `tartan search`.
pub fn run(args: SearchArgs, globals: Globals) -> Result<()> {
    let mut clock = StageClock::start();
    let shards = args
        .index
        .iter()
        .map(|dir| open_index(dir))
        .collect::<Result<Vec<_>>>()?;
    clock.lap("index open");
    let k = args.k as usize;
    let params = args.params.params(k)?;
    let mode = if args.lexical {
        Mode::Lexical
    } else if args.hybrid {
        Mode::Hybrid
    } else {
        Mode::Semantic
    };
    ensure!(
        shards.len() == 1 || mode == Mode::Semantic,
        "--lexical and --hybrid rank by BM25, whose scores do not compare across shards (each has its own term statistics): give one --index"
    );
    for (index, dir) in shards.iter().zip(&args.index) {
        if args.exact {
            ensure!(
                index.has_embeddings(),
                "{} keeps no uncompressed embeddings: rebuild it with --keep-embeddings for --exact",
                dir.display()
            );
        }
        retrieval::check_mode(index, mode)?;
    }
    let set = ShardSet::new(shards).context("cannot search these indexes together")?;
    let (queries, labels) = read_queries_for(&args, set.shards(), mode, &mut clock)?;
    let allowed = set
        .shards()
        .iter()
        .map(|index| retrieval::allowed(index, args.filter.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let rrf_k = args.rrf_k.unwrap_or(retrieval::RRF_K);
    let scoring = if args.exact {
        Scoring::Exact
    } else if args.exhaustive {
        Scoring::Exhaustive
    } else {
        Scoring::Plaid
    };
    let hits: Vec<Vec<ShardHit>> =
        if set.shards().len() == 1 && mode == Mode::Semantic && allowed[0].is_none() {
            run_searches(&set.shards()[0], &queries, &params, scoring)?
                .into_iter()
                .map(|hits| {
                    hits.into_iter()
                        .map(|h| ShardHit {
                            shard: 0,
                            doc: h.doc,
                            score: h.score,
                        })
                        .collect()
                })
                .collect()
        } else {
            use rayon::prelude::*;
            labels
                .par_iter()
                .enumerate()
                .map(|(i, label)| {
                    let text = label.as_ref().map(|(_, t)| t.as_str());
                    let vector = queries.get(i).map(Vec::as_slice);
                    set.search_with(k, |shard, index| {
                        let retrieval = Retrieval {
                            mode,
                            params: &params,
                            scoring,
                            allowed: allowed[shard].as_ref(),
                            rrf_k,
                        };
                        retrieval.run(index, vector, text)
                    })
                })
                .collect::<Result<Vec<_>>>()?
        };
    clock.lap("search");
    let with_text = !(args.no_text || args.format == Format::Trec);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (i, (hits, label)) in hits.iter().zip(labels).enumerate() {
        let (query_id, text) = match label {
            Some((id, text)) => (id, Some(text)),
            None => (None, None),
        };
        let results = QueryResults {
            query: i,
            query_id,
            text,
            results: shard_hits(&set, hits, with_text)?,
        };
        results::write(&mut out, args.format, &results)?;
    }
    out.flush()?;
    clock.lap("output");
    if globals.verbose {
        clock.print();
    }
    Ok(())
}

/// Wall-clock time of a one-shot search's steps, printed by `--verbose` (the time before
/// `main`, the process start, is what a `time` of the whole command adds to their total).
struct StageClock {
    started: Instant,
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl StageClock {
    fn start() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            laps: Vec::new(),
        }
    }

    /// Ends the step `name` now.
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps
            .push((name, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
    }

    fn print(&self) {
        let parts: Vec<String> = self
            .laps
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.1} ms"))
            .collect();
        eprintln!(
            "time per step: {} (total {:.1} ms)",
            parts.join(", "),
            self.started.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// A query's label: its id (from a file) and text; None for query embeddings.
type Label = Option<(Option<String>, String)>;

/// The queries of `args`: their token embeddings (none for lexical search) and labels.
/// Text queries are encoded with the model the indexes record (or --model).
fn read_queries_for(
    args: &SearchArgs,
    shards: &[Index],
    mode: Mode,
    clock: &mut StageClock,
) -> Result<(Vec<Vec<f32>>, Vec<Label>)> {
    let index = &shards[0];
    if let Some(path) = &args.query_embeddings {
        let queries = read_query_embeddings(path, index.dim())?;
        let labels = vec![None; queries.len()];
        return Ok((queries, labels));
    }
    // Positional queries have no id; queries from a file keep theirs.
    let mut items: Vec<(Option<String>, TextItem)> = args
        .query
        .iter()
        .enumerate()
        .map(|(i, q)| {
            (
                None,
                TextItem {
                    id: i.to_string(),
                    text: q.clone(),
                    metadata: None,
                },
            )
        })
        .collect();
    if let Some(path) = &args.queries {
        items.extend(
            read_queries(path)?
                .into_iter()
                .map(|q| (Some(q.id.clone()), q)),
        );
    }
    ensure!(
        !items.is_empty(),
        "no queries: give QUERY text, --queries FILE or --query-embeddings"
    );
    let labels: Vec<Label> = items
        .iter()
        .map(|(id, q)| Some((id.clone(), q.text.clone())))
        .collect();
    if mode == Mode::Lexical {
        return Ok((Vec::new(), labels));
    }
    if args.model.is_none() {
        if let Some((_, dir)) = shards
            .iter()
            .zip(&args.index)
            .find(|(s, _)| s.meta().encoder != index.meta().encoder)
        {
            anyhow::bail!(
                "{} and {} record different models: give --model",
                args.index[0].display(),
                dir.display()
            );
        }
    }
    let model_name = model::query_model(args.model.as_deref(), &index.meta().encoder)?;
    let encoder = model::load(&model_name, args.encode.device, args.encode.precision)?;
    clock.lap("model load");
    ensure!(
        encoder.dim() == index.dim(),
        "model {model_name} makes {}-dim vectors but the index holds {}-dim ones",
        encoder.dim(),
        index.dim()
    );
    let texts: Vec<&str> = items.iter().map(|(_, q)| q.text.as_str()).collect();
    let encoded = encoder
        .encode_queries(&texts)
        .context("encoding queries failed")?;
    clock.lap("encode");
    Ok((encoded.into_iter().map(|e| e.data).collect(), labels))
}

/// Opens an index with a message naming the directory.
///
/// A directory that is not there is reported as such
/// ([`tartan_engine::EngineError::NoIndex`]), not as a missing file inside it.
pub fn open_index(dir: &Path) -> Result<Index> {
    if !dir.exists() {
        return Err(tartan_engine::EngineError::NoIndex {
            path: dir.to_path_buf(),
        }
        .into());
    }
    Index::open(dir).with_context(|| format!("cannot open index {}", dir.display()))
}

/// Every query searched by `scoring` (in parallel for several).
pub fn run_searches(
    index: &Index,
    queries: &[Vec<f32>],
    params: &SearchParams,
    scoring: Scoring,
) -> Result<Vec<Vec<SearchHit>>> {
    use rayon::prelude::*;
    queries
        .par_iter()
        .map(|q| index.search_by(q, params, scoring, None))
        .collect::<tartan_engine::Result<Vec<_>>>()
        .context("search failed")
}

/// Merged hits of several shards with external ids (and stored texts, `with_text`).
fn shard_hits(set: &ShardSet, hits: &[ShardHit], with_text: bool) -> Result<Vec<Hit>> {
    hits.iter()
        .map(|h| to_hit(&set.shards()[h.shard], h.doc, h.score, with_text))
        .collect()
}

/// Engine hits with external ids (and their stored texts, `with_text`).
pub fn to_hits(index: &Index, hits: &[SearchHit], with_text: bool) -> Result<Vec<Hit>> {
    hits.iter()
        .map(|h| to_hit(index, h.doc, h.score, with_text))
        .collect()
}

/// Document `doc` of `index` as a hit: its external id (and stored text, `with_text`).
fn to_hit(index: &Index, doc: u32, score: f32, with_text: bool) -> Result<Hit> {
    let text = if with_text {
        index
            .text(doc)
            .with_context(|| format!("cannot read the text of {}", index.doc_id(doc)))?
    } else {
        None
    };
    Ok(Hit {
        id: index.doc_id(doc).to_string(),
        score,
        text,
    })
}

/// Reads Q.npy: [n, query_len, dim] (or one query as [query_len, dim]), one flat
/// `query_len x dim` buffer per query.
pub fn read_query_embeddings(path: &Path, dim: usize) -> Result<Vec<Vec<f32>>> {
    let array = NpyInput::open(path)?;
    let (n, len, d) = match array.shape()[..] {
        [n, len, d] => (n, len, d),
        [len, d] => (1, len, d),
        _ => anyhow::bail!(
            "{}: expected shape [n_queries, query_len, dim], found {:?}",
            path.display(),
            array.shape()
        ),
    };
    ensure!(
        d == dim,
        "{}: query vectors have dim {d} but the index has dim {dim}",
        path.display()
    );
    ensure!(len > 0, "{}: queries have no tokens", path.display());
    Ok(array
        .f32s()?
        .chunks_exact(len * d)
        .take(n)
        .map(<[f32]>::to_vec)
        .collect())
}
