//! living-index: what adds, deletes, merges and re-training cost and what they do to
//! recall, on synthetic clustered token embeddings or on real ones.
//!
//! ```sh
//! cargo run --release -p tartan-benches --bin living-index -- --docs 2000 --tokens 30
//! cargo run --release -p tartan-benches --bin living-index -- --docs 33000 --tokens 30   # ~1M embeddings
//! # real token embeddings (`tartan encode` writes them: E [total, dim], L [docs], Q [n, q, dim])
//! cargo run --release -p tartan-benches --bin living-index -- --embeddings E.npy --doclens L.npy --queries Q.npy
//! ```
//!
//! Prints, each against a baseline measured in the same run:
//! - build 90% + add 10%: the add's time against 10% of the full build's, and recall@10
//!   of the exact top-10 against the from-scratch build of every document;
//! - build 50% + add 50% (drift), then `optimize --retrain`: recall before and after;
//! - drift by the share added after training (build 90/70/50/30%, add the rest): the
//!   measurement behind `tartan add`'s hint to re-train;
//! - delete a random 10%: recall over the remaining documents against a fresh build of
//!   them (and against a second fresh build with another seed: the noise of training
//!   itself), and `optimize`'s effect on results and bytes;
//! - a one-document add and a one-document delete commit: p50 / p95;
//! - single-thread search p50 as segments accumulate (1, 2, 5, 10, then past the merge
//!   limit, where adds merge the smallest segments).
//!
//! Recall is measured by id against exact MaxSim over the uncompressed embeddings of
//! the live documents (the full build keeps them). The last line is one JSON object.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::json;
use tartan_benches::CorpusArgs;
use tartan_engine::format::npy::MappedArray;
use tartan_engine::synthetic::Synthetic;
use tartan_engine::{
    BuildConfig, Index, IndexBuilder, IndexWriter, NoProgress, SearchParams, MAX_SEGMENTS,
};

#[derive(Parser, Debug)]
#[command(about = "Measure adds, deletes, merges and re-training of a tartan index")]
struct Args {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Queries whose recall and latency are measured.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Working directory (default: one in the system temp dir, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Real token embeddings, float32 [total, dim] (instead of the synthetic corpus).
    #[arg(long, requires_all = ["doclens", "query_embeddings"])]
    embeddings: Option<PathBuf>,
    /// Tokens per document of `--embeddings`, int64 `[docs]`.
    #[arg(long)]
    doclens: Option<PathBuf>,
    /// Query embeddings, float32 [n, query_len, dim]; the first `--queries` are used.
    #[arg(long = "query-embeddings")]
    query_embeddings: Option<PathBuf>,
}

/// The documents measured: synthetic, or real embeddings mapped from `.npy` files.
enum Corpus {
    Synthetic(Synthetic),
    Real {
        embeddings: MappedArray<f32>,
        /// Start of every document's rows, and the end of the last.
        offsets: Vec<usize>,
        dim: usize,
    },
}

impl Corpus {
    fn dim(&self) -> usize {
        match self {
            Corpus::Synthetic(s) => s.dim(),
            Corpus::Real { dim, .. } => *dim,
        }
    }

    fn num_documents(&self) -> usize {
        match self {
            Corpus::Synthetic(s) => s.num_documents(),
            Corpus::Real { offsets, .. } => offsets.len() - 1,
        }
    }

    fn document(&self, d: usize, out: &mut Vec<f32>) {
        match self {
            Corpus::Synthetic(s) => s.document(d, out),
            Corpus::Real {
                embeddings,
                offsets,
                dim,
            } => {
                out.clear();
                out.extend_from_slice(
                    &embeddings.as_slice()[offsets[d] * dim..offsets[d + 1] * dim],
                );
            }
        }
    }

    fn doc_id(&self, d: usize) -> String {
        match self {
            Corpus::Synthetic(s) => s.doc_id(d),
            Corpus::Real { .. } => format!("doc-{d}"),
        }
    }
}

fn load(args: &Args) -> Result<(Corpus, Vec<Vec<f32>>)> {
    let (Some(e), Some(l), Some(q)) = (&args.embeddings, &args.doclens, &args.query_embeddings)
    else {
        let synthetic = args.corpus.synthetic();
        let queries = synthetic.queries(args.queries);
        return Ok((Corpus::Synthetic(synthetic), queries));
    };
    let embeddings = MappedArray::<f32>::open(e, &[None, None])?;
    let dim = embeddings.shape()[1];
    let lens = MappedArray::<i64>::open(l, &[None])?;
    let mut offsets = vec![0usize];
    for &n in lens.as_slice() {
        let n = usize::try_from(n).context("a negative document length")?;
        offsets.push(offsets[offsets.len() - 1] + n);
    }
    anyhow::ensure!(
        offsets[offsets.len() - 1] == embeddings.shape()[0],
        "the doclens sum to {} but the embeddings have {} rows",
        offsets[offsets.len() - 1],
        embeddings.shape()[0]
    );
    let q = MappedArray::<f32>::open(q, &[None, None, Some(dim)])?;
    let per = q.shape()[1] * dim;
    let queries = q
        .as_slice()
        .chunks_exact(per)
        .take(args.queries)
        .map(<[f32]>::to_vec)
        .collect();
    Ok((
        Corpus::Real {
            embeddings,
            offsets,
            dim,
        },
        queries,
    ))
}

struct Bench {
    synthetic: Corpus,
    queries: Vec<Vec<f32>>,
    dir: PathBuf,
}

impl Bench {
    fn build(&self, name: &str, docs: &[usize]) -> Result<(PathBuf, f64)> {
        self.build_seeded(name, docs, BuildConfig::default().seed)
    }

    fn build_seeded(&self, name: &str, docs: &[usize], seed: u64) -> Result<(PathBuf, f64)> {
        let out = self.dir.join(name);
        let config = BuildConfig {
            keep_embeddings: true,
            overwrite: true,
            seed,
            ..BuildConfig::default()
        };
        let started = Instant::now();
        let mut b = IndexBuilder::new(&out, self.synthetic.dim(), config)?;
        let mut doc = Vec::new();
        for &d in docs {
            self.synthetic.document(d, &mut doc);
            b.add_document(&self.synthetic.doc_id(d), &doc)?;
        }
        b.finish(&NoProgress)?;
        Ok((out, started.elapsed().as_secs_f64()))
    }

    fn batch(&self, docs: &[usize]) -> (Vec<String>, Vec<f32>, Vec<usize>) {
        let (mut ids, mut all, mut lens) = (Vec::new(), Vec::new(), Vec::new());
        let mut doc = Vec::new();
        for &d in docs {
            self.synthetic.document(d, &mut doc);
            ids.push(self.synthetic.doc_id(d));
            lens.push(doc.len() / self.synthetic.dim());
            all.extend_from_slice(&doc);
        }
        (ids, all, lens)
    }

    fn add(&self, dir: &Path, docs: &[usize]) -> Result<f64> {
        let (ids, e, l) = self.batch(docs);
        let mut w = IndexWriter::open(dir)?;
        let started = Instant::now();
        w.add(&ids, &e, &l, false, &NoProgress)?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Mean recall@10 (by id) of PLAID's defaults on `index` against `truth`.
    fn recall(&self, index: &Index, truth: &[HashSet<String>]) -> Result<f64> {
        let mut sum = 0.0;
        for (q, t) in self.queries.iter().zip(truth) {
            let hits = index.search(q, &SearchParams::for_k(10))?;
            let found = hits
                .iter()
                .filter(|h| t.contains(index.doc_id(h.doc)))
                .count();
            sum += found as f64 / t.len().max(1) as f64;
        }
        Ok(sum / truth.len().max(1) as f64)
    }

    /// The exact top-10 ids of every query over `index`'s live documents.
    fn truth(&self, index: &Index) -> Result<Vec<HashSet<String>>> {
        self.queries
            .iter()
            .map(|q| {
                Ok(index
                    .search_exact(q, 10)?
                    .iter()
                    .map(|h| index.doc_id(h.doc).to_owned())
                    .collect())
            })
            .collect()
    }

    /// Single-thread search p50 in milliseconds at k = 10.
    fn latency(&self, index: &Index) -> Result<f64> {
        let mut times = Vec::with_capacity(self.queries.len());
        for q in &self.queries {
            let started = Instant::now();
            index.search(q, &SearchParams::for_k(10))?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        Ok(percentile(&mut times, 0.5))
    }
}

impl Bench {
    /// Single-thread search p50 in milliseconds at k = 10 of `index` and of `baseline`,
    /// each query searched on both in turn (three rounds), so that both see the same
    /// load on a shared machine.
    fn latency_against(&self, index: &Index, baseline: &Index) -> Result<(f64, f64)> {
        let (mut mine, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            for q in &self.queries {
                let started = Instant::now();
                baseline.search(q, &SearchParams::for_k(10))?;
                theirs.push(started.elapsed().as_secs_f64() * 1e3);
                let started = Instant::now();
                index.search(q, &SearchParams::for_k(10))?;
                mine.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        Ok((percentile(&mut mine, 0.5), percentile(&mut theirs, 0.5)))
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<()> {
    let args = Args::parse();
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .context("rayon pool")?;
    let (synthetic, queries) = load(&args)?;
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tartan-living-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let bench = Bench {
        synthetic,
        queries,
        dir: dir.clone(),
    };
    let n = bench.synthetic.num_documents();
    let all: Vec<usize> = (0..n).collect();

    // The baseline: every document in one build.
    let (full_dir, full_secs) = bench.build("full", &all)?;
    let full = Index::open(&full_dir)?;
    let truth = bench.truth(&full)?;
    let full_recall = bench.recall(&full, &truth)?;
    let full_latency = bench.latency(&full)?;
    println!(
        "full build: {n} documents, {} embeddings in {full_secs:.2} s; recall@10 of the exact top-10 {full_recall:.4}; p50 {full_latency:.2} ms",
        full.num_embeddings()
    );

    // 90% + 10%.
    let split = n * 9 / 10;
    let (p_dir, p_secs) = bench.build("p90", &all[..split])?;
    let add_secs = bench.add(&p_dir, &all[split..])?;
    let p = Index::open(&p_dir)?;
    let p_recall = bench.recall(&p, &truth)?;
    let share = full_secs * (n - split) as f64 / n as f64;
    println!(
        "build 90% ({p_secs:.2} s) + add 10%: add {add_secs:.3} s = {:.2}x its proportional share of the full build ({share:.3} s); recall {p_recall:.4} vs {full_recall:.4} (diff {:+.4})",
        add_secs / share,
        p_recall - full_recall
    );

    // 50% + 50%, then retrain.
    let half = n / 2;
    let (h_dir, _) = bench.build("p50", &all[..half])?;
    bench.add(&h_dir, &all[half..])?;
    let h = Index::open(&h_dir)?;
    let h_recall = bench.recall(&h, &truth)?;
    drop(h);
    let mut w = IndexWriter::open(&h_dir)?;
    w.retrain(&BuildConfig::default(), &NoProgress)?;
    drop(w);
    let h = Index::open(&h_dir)?;
    let retrained_recall = bench.recall(&h, &truth)?;
    println!(
        "build 50% + add 50%: recall {h_recall:.4} (drift {:+.4}); after optimize --retrain {retrained_recall:.4}",
        h_recall - full_recall
    );

    // Drift by the share of documents added after training.
    let mut drift = Vec::new();
    for trained_pct in [90usize, 70, 50, 30] {
        let cut = n * trained_pct / 100;
        let (t_dir, _) = bench.build("drift", &all[..cut])?;
        bench.add(&t_dir, &all[cut..])?;
        let t = Index::open(&t_dir)?;
        let r = bench.recall(&t, &truth)?;
        println!(
            "trained on {trained_pct}%, {}% added: recall {r:.4} (against the full build {:+.4})",
            100 - trained_pct,
            r - full_recall
        );
        drift.push(json!({"added_pct": 100 - trained_pct, "recall": r, "diff": r - full_recall}));
    }

    // Delete a random 10% of the full index's documents.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.corpus.seed);
    let mut order = all.clone();
    order.shuffle(&mut rng);
    let gone: Vec<usize> = order[..n / 10].to_vec();
    let gone_set: HashSet<usize> = gone.iter().copied().collect();
    let kept: Vec<usize> = all
        .iter()
        .copied()
        .filter(|d| !gone_set.contains(d))
        .collect();
    let (fresh_dir, _) = bench.build("fresh90", &kept)?;
    let fresh = Index::open(&fresh_dir)?;
    let kept_truth = bench.truth(&fresh)?;
    let fresh_recall = bench.recall(&fresh, &kept_truth)?;
    drop(fresh);
    let (reseeded_dir, _) =
        bench.build_seeded("fresh90-reseeded", &kept, args.corpus.seed + 1000)?;
    let reseeded_recall = bench.recall(&Index::open(&reseeded_dir)?, &kept_truth)?;
    let (d_dir, _) = bench.build("deleted", &all)?;
    let ids: Vec<String> = gone.iter().map(|&d| bench.synthetic.doc_id(d)).collect();
    IndexWriter::open(&d_dir)?.delete(&ids)?;
    let d = Index::open(&d_dir)?;
    let d_recall = bench.recall(&d, &kept_truth)?;
    let gone_ids: HashSet<&String> = ids.iter().collect();
    let mut leaked = 0;
    for q in &bench.queries {
        for h in d.search(q, &SearchParams::for_k(100))? {
            leaked += usize::from(gone_ids.contains(&d.doc_id(h.doc).to_owned()));
        }
    }
    let bytes_before = d.bytes_on_disk();
    drop(d);
    IndexWriter::open(&d_dir)?.optimize()?;
    let d = Index::open(&d_dir)?;
    let optimized_recall = bench.recall(&d, &kept_truth)?;
    println!(
        "delete 10%: recall {d_recall:.4} vs a fresh build of the rest {fresh_recall:.4} (diff {:+.4}; a fresh build with another seed {reseeded_recall:.4}, diff {:+.4}); deleted documents returned: {leaked}; optimize: recall {optimized_recall:.4}, {:.2} MB -> {:.2} MB",
        d_recall - fresh_recall,
        reseeded_recall - fresh_recall,
        bytes_before as f64 / 1e6,
        d.bytes_on_disk() as f64 / 1e6
    );
    drop(d);

    // One-document commits on the full index.
    let mut w = IndexWriter::open(&full_dir)?;
    let (mut adds, mut deletes) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let (_, e, l) = bench.batch(&[i]);
        let id = format!("extra-{i}");
        let t = Instant::now();
        w.add(std::slice::from_ref(&id), &e, &l, false, &NoProgress)?;
        adds.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        w.delete(&[id])?;
        deletes.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (add_p50, add_p95) = (percentile(&mut adds, 0.5), percentile(&mut adds, 0.95));
    let (del_p50, del_p95) = (
        percentile(&mut deletes, 0.5),
        percentile(&mut deletes, 0.95),
    );
    println!(
        "one-document commit on {} embeddings: add p50 {add_p50:.1} ms (p95 {add_p95:.1}), delete p50 {del_p50:.1} ms (p95 {del_p95:.1})",
        full.num_embeddings()
    );
    drop(w);

    // Latency as segments accumulate: the 90% build plus the rest in equal batches.
    let mut by_segments = Vec::new();
    for target in [1usize, 2, 5, 10, MAX_SEGMENTS, 50] {
        let (s_dir, _) = bench.build("segments", &all[..split])?;
        let adds = target - 1;
        let rest = &all[split..];
        if adds > 0 {
            for chunk in rest.chunks(rest.len().div_ceil(adds)) {
                bench.add(&s_dir, chunk)?;
            }
        } else {
            bench.add(&s_dir, rest)?;
            IndexWriter::open(&s_dir)?.optimize()?;
        }
        let s = Index::open(&s_dir)?;
        let (ms, one_ms) = bench.latency_against(&s, &full)?;
        let r = bench.recall(&s, &truth)?;
        println!(
            "{} adds -> {} segments: search p50 {ms:.2} ms ({:.2}x the full build's {one_ms:.2} ms, measured in turn), recall {r:.4}",
            adds.max(1),
            s.num_segments(),
            ms / one_ms
        );
        by_segments.push(
            json!({"adds": adds.max(1), "segments": s.num_segments(), "p50_ms": ms, "full_p50_ms": one_ms, "ratio": ms / one_ms, "recall": r}),
        );
    }

    let out = json!({
        "documents": n,
        "embeddings": full.num_embeddings(),
        "full_build_seconds": full_secs,
        "full_recall": full_recall,
        "full_p50_ms": full_latency,
        "add10_seconds": add_secs,
        "add10_vs_share": add_secs / share,
        "add10_recall": p_recall,
        "add50_recall": h_recall,
        "retrained_recall": retrained_recall,
        "delete10_recall": d_recall,
        "fresh90_recall": fresh_recall,
        "fresh90_reseeded_recall": reseeded_recall,
        "drift": drift,
        "deleted_returned": leaked,
        "optimized_recall": optimized_recall,
        "one_doc_add_p50_ms": add_p50,
        "one_doc_delete_p50_ms": del_p50,
        "by_segments": by_segments,
    });
    println!("{out}");
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
