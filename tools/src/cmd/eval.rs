//! `tartan eval`: the main job. A BEIR dataset and a model in; an index built (or
//! reused), every query of the split encoded and searched, and nDCG@10,
//! Recall@100, MRR@10, latency and QPS out, with the TREC run and a JSON report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::json;
use tartan_datasets::{BeirDataset, Query, Run};
use tartan_engine::{Index, SearchHit, SearchParams};

use crate::args::{BuildArgs, EncoderArgs, SearchParamArgs};
use crate::cmd::index::{build_from_text, print_report, TextBuild};
use crate::cmd::search::open_index;
use crate::corpus::TextSource;
use crate::latency::LatencySummary;
use crate::{cache, metrics, model, Globals};

/// Evaluate a model and index on a BEIR dataset.
///
/// `tartan eval --dataset ../shared/datasets/scifact --model ../shared/models/minilm-colbert-pylate`
///
/// --dataset is a BEIR directory (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) or a
/// BEIR dataset name (scifact, nfcorpus, ...), downloaded once into the cache when the
/// network allows. --model is a local model directory or a hub id
/// (colbert-ir/colbertv2.0).
///
/// The index is built into --index-dir (default: a cache directory named after the
/// dataset, model and codec) and reused on later runs when its recorded model,
/// settings, codec and document count match. Every query of the split that has
/// judgments is encoded and searched one at a time; the run is scored with the
/// datasets crate's measures (the same numbers pytrec_eval gives on the written run
/// file, after BEIR's removal of hits whose id equals the query id).
///
/// Prints nDCG@10, Recall@100, MRR@10; latency p50/p95 of query encoding and of
/// search, separately; QPS one query at a time and across all threads. Writes
/// run.plaid.trec and report.json to --output (default: under the cache).
/// --compare-exact also searches by brute-force MaxSim over the uncompressed
/// embeddings (the index then keeps them) and over every document's decompressed
/// embeddings (the codec's ceiling: PLAID without candidate pruning), and prints the
/// same measures plus recall@10 of PLAID and of the ceiling against the exact top-10
/// and of PLAID against the ceiling's top-10.
///
/// --filter JSON restricts every search to the documents whose metadata matches (the
/// language of `tartan search --filter`), to evaluate on a subset; the judgments are
/// left as they are. --hybrid also ranks by BM25 over the stored text and by the
/// reciprocal rank fusion of BM25 and PLAID (--rrf-k, 60), and prints the three rows;
/// the index then stores the documents' text (an index without it is rebuilt).
///
/// The cache is --cache-dir, else $TARTAN_CACHE, else $XDG_CACHE_HOME/tartan, else
/// ~/.cache/tartan.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EvalArgs {
    /// A BEIR directory, or a BEIR dataset name to download into the cache.
    #[arg(long, value_name = "DIR|NAME")]
    pub dataset: String,
    /// The model: a local directory or a Hugging Face hub id.
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: String,
    /// The qrels split to evaluate.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// The index directory (default: a cache directory keyed by dataset, model, codec).
    #[arg(long, value_name = "DIR")]
    pub index_dir: Option<PathBuf>,
    /// Where the run file and report go (default: under the cache).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The cache for downloaded datasets, indexes and reports.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Rebuild the index even when a matching one exists.
    #[arg(long)]
    pub rebuild: bool,
    /// Depth of the ranking per query (Recall@100 needs 100).
    #[arg(long, short, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub k: u32,
    /// Also evaluate exact MaxSim search and PLAID's recall of its top-10.
    #[arg(long)]
    pub compare_exact: bool,
    /// Search only the documents whose metadata matches this JSON filter.
    #[arg(long, value_name = "JSON", value_parser = crate::retrieval::parse_filter)]
    pub filter: Option<tartan_engine::metadata::Filter>,
    /// Also evaluate BM25 alone and its fusion with PLAID (reciprocal rank fusion).
    #[arg(long)]
    pub hybrid: bool,
    /// The rank-fusion constant of --hybrid (default 60).
    #[arg(long, value_name = "K", requires = "hybrid", value_parser = crate::retrieval::parse_rrf_k)]
    pub rrf_k: Option<f32>,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub params: SearchParamArgs,
    #[command(flatten)]
    pub encode: EncoderArgs,
}

/// Mean scores of one ranking method.
#[derive(Debug, Clone, Serialize)]
struct MethodReport {
    #[serde(flatten)]
    metrics: metrics::Means,
    run_file: PathBuf,
    latency_search: LatencySummary,
    /// Queries a second over all threads (search_batch), when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    qps_parallel: Option<f64>,
}

/// What `--compare-exact` adds: brute-force MaxSim over the uncompressed embeddings
/// (exact) and over every document's decompressed embeddings (the codec's ceiling).
struct Comparison {
    exact: MethodReport,
    ceiling: MethodReport,
    /// PLAID's recall@10 of the exact top-10.
    plaid_of_exact: f64,
    /// The ceiling's recall@10 of the exact top-10.
    ceiling_of_exact: f64,
    /// PLAID's recall@10 of the ceiling's top-10: what PLAID's pruning loses.
    plaid_of_ceiling: f64,
}

/// Runs `tartan eval`.
pub fn run(args: EvalArgs, globals: Globals) -> Result<()> {
    let params = args.params.params(args.k as usize)?;
    let cache = cache::root(args.cache_dir.as_deref())?;
    let (dataset_name, dataset_dir) = resolve_dataset(&args.dataset, &cache)?;
    let dataset = BeirDataset::open(&dataset_dir)
        .with_context(|| format!("cannot open BEIR dataset {}", dataset_dir.display()))?;
    let (queries, qrels) = dataset.split(&args.split).with_context(|| {
        format!(
            "cannot read split {:?} of {}",
            args.split,
            dataset_dir.display()
        )
    })?;
    if queries.is_empty() {
        bail!(
            "split {:?} of {} has no judged queries",
            args.split,
            dataset_dir.display()
        );
    }
    let dataset_ref = dataset_dir
        .canonicalize()
        .unwrap_or_else(|_| dataset_dir.clone())
        .to_string_lossy()
        .into_owned();
    eprintln!("loading model {}", args.model);
    let encoder = model::load(&args.model, args.encode.device, args.encode.precision)?;
    let key = cache::index_key(
        &dataset_name,
        &dataset_ref,
        &model::model_ref(&args.model),
        encoder.precision(),
        &args.build,
    );
    let index_dir = args
        .index_dir
        .clone()
        .unwrap_or_else(|| cache.join("indexes").join(&key));
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| cache.join("eval").join(format!("{key}-{}", args.split)));

    let mut build = args.build.clone();
    build.keep_embeddings |= args.compare_exact;
    let source = TextSource::Beir(dataset_dir.clone());
    let record = model::record(&args.model, &encoder);

    let built = match reuse_check(
        &index_dir,
        &record,
        &build,
        &source,
        args.rebuild,
        args.hybrid,
    )? {
        Reuse::Yes => {
            eprintln!("reusing index {}", index_dir.display());
            false
        }
        Reuse::No(reason) => {
            if index_dir.exists() && args.index_dir.is_some() && !args.rebuild {
                bail!(
                    "index {} does not match this run ({reason}); pass --rebuild to replace it",
                    index_dir.display()
                );
            }
            if index_dir.exists()
                && !index_dir.join("CURRENT").is_file()
                && !index_dir.join("meta.json").is_file()
            {
                bail!(
                    "{} exists and is not a tartan index; refusing to replace it",
                    index_dir.display()
                );
            }
            eprintln!("building index {} ({reason})", index_dir.display());
            if let Some(parent) = index_dir.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let report = build_from_text(&TextBuild {
                source: &source,
                model: &args.model,
                encoder: &encoder,
                out: &index_dir,
                build: &build,
                batch_size: args.encode.batch_size as usize,
                // BM25 and hybrid search read it (the reuse check asks for it then).
                store_text: args.hybrid,
                overwrite: index_dir.exists(),
                quiet: globals.quiet,
            })?;
            print_report(&report, &index_dir);
            true
        }
    };
    let index = open_index(&index_dir)?;

    // Encode one query at a time: the latency a user of `search`/`serve` sees.
    let mut encoded = Vec::with_capacity(queries.len());
    let mut encode_times = Vec::with_capacity(queries.len());
    let progress = crate::progress::bar("queries", queries.len() as u64, globals.quiet);
    for q in &queries {
        let t = Instant::now();
        let mut e = encoder
            .encode_queries(&[q.text.as_str()])
            .with_context(|| format!("encoding query {} failed", q.id))?;
        encode_times.push(t.elapsed());
        encoded.push(e.pop().context("the encoder returned no query")?.data);
        progress.inc(1);
    }
    progress.finish_and_clear();

    std::fs::create_dir_all(&output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let k = args.k as usize;
    let measures = metrics::default_measures();

    // One searched method: its run file, its metrics and its latency.
    let report_method = |hits: &(Vec<Vec<SearchHit>>, Vec<Duration>),
                         file: &str,
                         tag: &str,
                         qps_parallel: Option<f64>|
     -> Result<(MethodReport, usize)> {
        let run_file = output.join(file);
        let (run, removed) = write_run(&index, &queries, &hits.0, &run_file, tag)?;
        let report = MethodReport {
            metrics: metrics::mean(&qrels, &run, &measures)?,
            run_file,
            latency_search: LatencySummary::of(&hits.1),
            qps_parallel,
        };
        Ok((report, removed))
    };

    let allowed = crate::retrieval::allowed(&index, args.filter.as_ref())?;
    if let Some(a) = &allowed {
        eprintln!(
            "filter {} allows {} of {} documents",
            args.filter
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_default(),
            a.len(),
            index.num_live_documents()
        );
    }
    let plaid_hits = timed_searches(&index, &encoded, |q| match &allowed {
        Some(a) => index.search_within(q, &params, a),
        None => index.search(q, &params),
    })?;
    let qps_parallel = parallel_qps(&index, &encoded, &params)?;
    let (plaid, plaid_removed) = report_method(
        &plaid_hits,
        "run.plaid.trec",
        "tartan-plaid",
        Some(qps_parallel),
    )?;

    let hybrid = if args.hybrid {
        crate::retrieval::check_mode(&index, crate::retrieval::Mode::Hybrid)?;
        let run = |mode| -> Result<(Vec<Vec<SearchHit>>, Vec<Duration>)> {
            let retrieval = crate::retrieval::Retrieval {
                mode,
                params: &params,
                scoring: tartan_engine::Scoring::Plaid,
                allowed: allowed.as_ref(),
                rrf_k: args.rrf_k.unwrap_or(crate::retrieval::RRF_K),
            };
            let (mut all, mut times) = (Vec::new(), Vec::new());
            for (q, vector) in queries.iter().zip(&encoded) {
                let t = Instant::now();
                all.push(retrieval.run(&index, Some(vector), Some(&q.text))?);
                times.push(t.elapsed());
            }
            Ok((all, times))
        };
        let bm25 = run(crate::retrieval::Mode::Lexical)?;
        let fused = run(crate::retrieval::Mode::Hybrid)?;
        Some((
            report_method(&bm25, "run.bm25.trec", "tartan-bm25", None)?.0,
            report_method(&fused, "run.hybrid.trec", "tartan-hybrid", None)?.0,
        ))
    } else {
        None
    };

    let exact = if args.compare_exact {
        let exact_hits = timed_searches(&index, &encoded, |q| match &allowed {
            Some(a) => index.search_exact_within(q, k, a),
            None => index.search_exact(q, k),
        })?;
        // The codec's ceiling: every document's decompressed embeddings, no pruning.
        let ceiling_hits = timed_searches(&index, &encoded, |q| index.search_exhaustive(q, k))?;
        Some(Comparison {
            exact: report_method(&exact_hits, "run.exact.trec", "tartan-exact", None)?.0,
            ceiling: report_method(&ceiling_hits, "run.ceiling.trec", "tartan-exhaustive", None)?.0,
            plaid_of_exact: overlap_at(&plaid_hits.0, &exact_hits.0, 10),
            ceiling_of_exact: overlap_at(&ceiling_hits.0, &exact_hits.0, 10),
            plaid_of_ceiling: overlap_at(&plaid_hits.0, &ceiling_hits.0, 10),
        })
    } else {
        None
    };

    let encode_latency = LatencySummary::of(&encode_times);
    let meta = index.meta();
    // Compressed index files only: kept embeddings (for exact search) are extra.
    let index_bytes = index.bytes_on_disk();
    let report = json!({
        "dataset": dataset_name,
        "dataset_dir": dataset_dir,
        "split": args.split,
        "model": model::model_ref(&args.model),
        "queries": queries.len(),
        "judged_queries": qrels.num_queries(),
        "k": k,
        "params": {
            "nprobe": params.nprobe,
            "centroid_score_threshold": params.centroid_score_threshold,
            "ndocs": params.ndocs,
        },
        "index": {
            "dir": index_dir,
            "built_now": built,
            "documents": index.num_documents(),
            "embeddings": index.num_embeddings(),
            "centroids": meta.num_centroids,
            "codec": meta.codec,
            "bytes": index_bytes,
            "bytes_metadata": index.bytes_metadata(),
            "bytes_per_embedding": index_bytes as f64 / index.num_embeddings().max(1) as f64,
        },
        "threads": rayon::current_num_threads(),
        "latency_encode": encode_latency,
        "hits_removed_identical_ids": plaid_removed,
        "plaid": plaid,
        "filter": args.filter.as_ref().map(|f| f.to_json()),
        "allowed_documents": allowed.as_ref().map(|a| a.len()),
        "bm25": hybrid.as_ref().map(|h| &h.0),
        "hybrid": hybrid.as_ref().map(|h| &h.1),
        "rrf_k": args.hybrid.then(|| args.rrf_k.unwrap_or(crate::retrieval::RRF_K)),
        "exact": exact.as_ref().map(|c| &c.exact),
        "ceiling": exact.as_ref().map(|c| &c.ceiling),
        "plaid_recall_of_exact_top10": exact.as_ref().map(|c| c.plaid_of_exact),
        "ceiling_recall_of_exact_top10": exact.as_ref().map(|c| c.ceiling_of_exact),
        "plaid_recall_of_ceiling_top10": exact.as_ref().map(|c| c.plaid_of_ceiling),
    });
    let report_path = output.join("report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", report_path.display()))?;

    println!(
        "{dataset_name} {}: {} queries, {} documents, {} embeddings, {:.1} MB index ({:.1} bytes/embedding)",
        args.split,
        queries.len(),
        index.num_documents(),
        index.num_embeddings(),
        index_bytes as f64 / 1e6,
        index_bytes as f64 / index.num_embeddings().max(1) as f64,
    );
    let codes = index_bytes - index.bytes_metadata();
    println!(
        "  of which {:.1} MB ids, metadata and stored text (SQLite), {:.1} MB the compressed index ({:.1} bytes/embedding)",
        index.bytes_metadata() as f64 / 1e6,
        codes as f64 / 1e6,
        codes as f64 / index.num_embeddings().max(1) as f64,
    );
    println!(
        "{:<9} {:>8} {:>11} {:>8}",
        "", "nDCG@10", "Recall@100", "MRR@10"
    );
    let row = |name: &str, m: &metrics::Means| {
        println!(
            "{name:<9} {:>8.4} {:>11.4} {:>8.4}",
            m.ndcg_10, m.recall_100, m.mrr_10
        );
    };
    row("plaid", &plaid.metrics);
    if let Some((bm25, fused)) = &hybrid {
        row("bm25", &bm25.metrics);
        row("hybrid", &fused.metrics);
    }
    if let Some(c) = &exact {
        row("ceiling", &c.ceiling.metrics);
        row("exact", &c.exact.metrics);
        println!(
            "recall@10 of the exact top-10: PLAID {:.4}, ceiling {:.4}; PLAID recall of the ceiling top-10: {:.4}",
            c.plaid_of_exact, c.ceiling_of_exact, c.plaid_of_ceiling
        );
    }
    println!(
        "latency per query: encode p50 {:.2} ms, p95 {:.2} ms; search p50 {:.2} ms, p95 {:.2} ms",
        encode_latency.p50_ms,
        encode_latency.p95_ms,
        plaid.latency_search.p50_ms,
        plaid.latency_search.p95_ms
    );
    if let Some(c) = &exact {
        println!(
            "exact search latency: p50 {:.2} ms, p95 {:.2} ms; ceiling (exhaustive decompressed) p50 {:.2} ms",
            c.exact.latency_search.p50_ms, c.exact.latency_search.p95_ms, c.ceiling.latency_search.p50_ms
        );
    }
    println!(
        "QPS (search only): {:.1} one query at a time, {:.1} over {} threads",
        plaid.latency_search.per_second,
        qps_parallel,
        rayon::current_num_threads()
    );
    println!("run: {}", plaid.run_file.display());
    println!("report: {}", report_path.display());
    Ok(())
}

/// A BEIR directory as given, or a BEIR name downloaded into the cache.
fn resolve_dataset(dataset: &str, cache: &Path) -> Result<(String, PathBuf)> {
    let path = Path::new(dataset);
    if path.is_dir() {
        let name = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "dataset".into());
        return Ok((name, path.to_path_buf()));
    }
    if dataset.contains(['/', '\\']) || path.exists() {
        bail!("{dataset}: not a BEIR directory");
    }
    let dir = tartan_datasets::download_beir(dataset, &cache.join("datasets")).with_context(|| {
        format!("{dataset} is not a local directory, and downloading the BEIR dataset of that name failed")
    })?;
    Ok((dataset.to_string(), dir))
}

enum Reuse {
    Yes,
    No(String),
}

/// Whether the index at `dir` was built by this model and these settings from
/// a corpus of the same size.
fn reuse_check(
    dir: &Path,
    record: &serde_json::Value,
    build: &BuildArgs,
    source: &TextSource,
    rebuild: bool,
    needs_text: bool,
) -> Result<Reuse> {
    if !dir.exists() {
        return Ok(Reuse::No("no index yet".into()));
    }
    if rebuild {
        return Ok(Reuse::No("--rebuild".into()));
    }
    let index = match Index::open(dir) {
        Ok(i) => i,
        Err(e) => {
            return Ok(Reuse::No(format!(
                "the existing one does not open: {:#}",
                anyhow::Error::new(e)
            )))
        }
    };
    let meta = index.meta();
    if &meta.encoder != record {
        return Ok(Reuse::No(
            "built with another model or encoder settings".into(),
        ));
    }
    if build.codec_kind().is_some_and(|kind| kind != meta.codec) {
        return Ok(Reuse::No(format!("built with codec {:?}", meta.codec)));
    }
    if build.centroids.is_some_and(|c| c != meta.num_centroids) {
        return Ok(Reuse::No(format!(
            "built with {} centroids",
            meta.num_centroids
        )));
    }
    if build.codec_dir().is_none() && meta.build.seed != build.seed() {
        return Ok(Reuse::No(format!("built with seed {}", meta.build.seed)));
    }
    if needs_text && !index.has_text() {
        return Ok(Reuse::No("BM25 needs the stored text".into()));
    }
    if build.keep_embeddings && !index.has_embeddings() {
        return Ok(Reuse::No("exact search needs the kept embeddings".into()));
    }
    let docs = source.count()?;
    if docs != index.num_documents() as u64 {
        return Ok(Reuse::No(format!(
            "it holds {} documents, the corpus {docs}",
            index.num_documents()
        )));
    }
    Ok(Reuse::Yes)
}

/// Runs `search` on each query alone, timing each.
fn timed_searches(
    _index: &Index,
    queries: &[Vec<f32>],
    search: impl Fn(&[f32]) -> tartan_engine::Result<Vec<SearchHit>>,
) -> Result<(Vec<Vec<SearchHit>>, Vec<Duration>)> {
    let mut all = Vec::with_capacity(queries.len());
    let mut times = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        all.push(search(q).context("search failed")?);
        times.push(t.elapsed());
    }
    Ok((all, times))
}

/// Queries a second when all queries are searched at once over every thread.
fn parallel_qps(index: &Index, queries: &[Vec<f32>], params: &SearchParams) -> Result<f64> {
    let t = Instant::now();
    index
        .search_batch(queries, params)
        .context("batch search failed")?;
    Ok(queries.len() as f64 / t.elapsed().as_secs_f64().max(1e-9))
}

/// Writes the TREC run (hits whose id equals the query id removed, as BEIR does)
/// and reads it back, so the scores evaluated are exactly those in the file.
fn write_run(
    index: &Index,
    queries: &[Query],
    hits: &[Vec<SearchHit>],
    path: &Path,
    tag: &str,
) -> Result<(Run, usize)> {
    let mut run = Run::new();
    for (q, hits) in queries.iter().zip(hits) {
        run.add_query(&q.id);
        for h in hits {
            run.insert(&q.id, index.doc_id(h.doc), f64::from(h.score))?;
        }
    }
    let removed = run.remove_identical_ids();
    run.write_trec(path, tag)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let back =
        Run::read_trec(path).with_context(|| format!("cannot read back {}", path.display()))?;
    Ok((back, removed))
}

/// Mean over queries of |approx top-n ∩ exact top-n| / |exact top-n| (queries with no
/// exact hits are left out; 0 when none is left).
fn overlap_at(approx: &[Vec<SearchHit>], exact: &[Vec<SearchHit>], n: usize) -> f64 {
    let top = |h: &[SearchHit]| h[..n.min(h.len())].to_vec();
    let per: Vec<f64> = approx
        .iter()
        .zip(exact)
        .filter(|(_, e)| !e.is_empty() && n > 0)
        .map(|(a, e)| tartan_engine::recall(&top(a), &top(e)))
        .collect();
    if per.is_empty() {
        0.0
    } else {
        per.iter().sum::<f64>() / per.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(docs: &[u32]) -> Vec<SearchHit> {
        docs.iter()
            .map(|&doc| SearchHit { doc, score: 1.0 })
            .collect()
    }

    #[test]
    fn overlap_counts_shared_top_n() {
        let approx = vec![hits(&[1, 2, 3]), hits(&[7, 8])];
        let exact = vec![hits(&[3, 2, 9]), hits(&[8, 7])];
        let r = overlap_at(&approx, &exact, 2);
        // query 0: exact top-2 {3, 2}, approx top-2 {1, 2} -> 0.5; query 1: 1.0
        assert!((r - 0.75).abs() < 1e-12, "{r}");
        assert_eq!(overlap_at(&[], &[], 10), 0.0);
    }
}
