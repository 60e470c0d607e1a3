//! Helpers shared by the end-to-end tests: running the binary, synthetic
//! embeddings written as .npy files (by the engine's writer), the shared data directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tartan_engine::format::npy::write_array;

/// The `tartan` binary under test.
pub fn tartan() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tartan"));
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// Runs `tartan args` and returns stdout, panicking with stderr on failure.
pub fn run_ok(args: &[&str]) -> (String, String) {
    let out = tartan().args(args).output().expect("tartan runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "tartan {args:?} failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// Runs `tartan args` expecting failure.
pub fn run_err(args: &[&str]) -> Output {
    let out = tartan().args(args).output().expect("tartan runs");
    assert!(!out.status.success(), "tartan {args:?} should have failed");
    out
}

/// `../shared`, or `None` (with the reason printed) when it is absent.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    let needed = [
        dir.join("models/minilm-colbert-pylate/model.safetensors"),
        dir.join("datasets/scifact/corpus.jsonl"),
    ];
    if needed.iter().all(|p| p.exists()) {
        Some(dir.to_path_buf())
    } else {
        eprintln!("skipping {test}: ../shared (model and SciFact) is not present");
        None
    }
}

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn signed(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// Synthetic ColBERT-like data: each document has a topic vector; its tokens and
/// the tokens of "its" query are noisy copies, so document d answers query d.
pub struct Synthetic {
    pub dim: usize,
    pub doclens: Vec<i64>,
    pub embeddings: Vec<f32>,
    pub ids: Vec<String>,
    topics: Vec<Vec<f32>>,
}

impl Synthetic {
    pub fn new(docs: usize, dim: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut topics = Vec::with_capacity(docs);
        let mut embeddings = Vec::new();
        let mut doclens = Vec::with_capacity(docs);
        for _ in 0..docs {
            let mut topic: Vec<f32> = (0..dim).map(|_| rng.signed()).collect();
            normalize(&mut topic);
            let len = 6 + (rng.next_u64() % 6) as usize;
            for _ in 0..len {
                embeddings.extend(noisy(&topic, 0.25, &mut rng));
            }
            doclens.push(len as i64);
            topics.push(topic);
        }
        let ids = (0..docs).map(|d| format!("doc-{d}")).collect();
        Self {
            dim,
            doclens,
            embeddings,
            ids,
            topics,
        }
    }

    /// A query of `tokens` vectors near document `doc`'s topic.
    pub fn query(&self, doc: usize, tokens: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        (0..tokens)
            .map(|_| noisy(&self.topics[doc], 0.25, &mut rng))
            .collect()
    }

    /// Writes E.npy, L.npy and ids.txt into `dir`.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let e = dir.join("E.npy");
        let l = dir.join("L.npy");
        let ids = dir.join("ids.txt");
        write_array(
            &e,
            &[self.embeddings.len() / self.dim, self.dim],
            &self.embeddings,
        )
        .unwrap();
        write_array(&l, &[self.doclens.len()], &self.doclens).unwrap();
        std::fs::write(&ids, self.ids.join("\n") + "\n").unwrap();
        (e, l, ids)
    }
}

fn noisy(topic: &[f32], noise: f32, rng: &mut Rng) -> Vec<f32> {
    let mut v: Vec<f32> = topic.iter().map(|x| x + noise * rng.signed()).collect();
    normalize(&mut v);
    v
}

/// `BEFORE --embeddings E --doclens L --ids IDS AFTER`: the arguments of a command over
/// the files [`Synthetic::write`] made (or names).
pub fn with_npy<'a>(
    before: &[&'a str],
    [e, l, ids]: [&'a str; 3],
    after: &[&'a str],
) -> Vec<&'a str> {
    let mut args = before.to_vec();
    args.extend(["--embeddings", e, "--doclens", l, "--ids", ids]);
    args.extend_from_slice(after);
    args
}

/// The paths as the `&str` arguments of a command (test paths are UTF-8).
pub fn strs<P: AsRef<Path> + ?Sized, const N: usize>(paths: [&P; N]) -> [&str; N] {
    paths.map(|p| p.as_ref().to_str().unwrap())
}

/// `search --index INDEX AFTER`.
pub fn search_index_args<'a>(index: &'a Path, after: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["search", "--index", index.to_str().unwrap()];
    args.extend_from_slice(after);
    args
}

/// `search --index INDEX --query-embeddings QUERIES AFTER`: a search with query embeddings.
pub fn search_args<'a>(index: &'a Path, queries: &'a Path, after: &[&'a str]) -> Vec<&'a str> {
    let mut args = search_index_args(index, &["--query-embeddings", queries.to_str().unwrap()]);
    args.extend_from_slice(after);
    args
}

/// `tartan search --format json` output: each query's (id, score) list.
pub fn json_rankings(stdout: &str) -> Vec<Vec<(String, f64)>> {
    stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap().to_string(),
                        r["score"].as_f64().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

/// `tartan stats --json` of an index.
pub fn stats(index: &str) -> serde_json::Value {
    let (stdout, _) = run_ok(&["stats", "--index", index, "--json"]);
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Writes queries (each `[tokens][dim]`, same token count) as Q.npy.
pub fn write_queries(path: &Path, queries: &[Vec<Vec<f32>>]) {
    let n = queries.len();
    let len = queries[0].len();
    let dim = queries[0][0].len();
    let flat: Vec<f32> = queries.iter().flatten().flatten().copied().collect();
    write_array(path, &[n, len, dim], &flat).unwrap();
}

/// Builds an index from synthetic embeddings into `dir/index`.
pub fn synthetic_index(dir: &Path, data: &Synthetic) -> PathBuf {
    let (e, l, ids) = data.write(dir);
    let out = dir.join("index");
    run_ok(&with_npy(
        &["index"],
        strs([&e, &l, &ids]),
        &[
            "--out",
            out.to_str().unwrap(),
            "--centroids",
            "64",
            "--keep-embeddings",
            "--quiet",
        ],
    ));
    out
}

/// A BEIR directory with the first `n_queries` judged test queries of SciFact,
/// their relevant documents and the first `fillers` other documents.
pub fn scifact_subset(shared: &Path, out: &Path, n_queries: usize, fillers: usize) {
    let src = shared.join("datasets/scifact");
    let qrels = std::fs::read_to_string(src.join("qrels/test.tsv")).unwrap();
    let mut lines = qrels.lines();
    let header = lines.next().unwrap();
    let mut queries = Vec::<String>::new();
    let mut kept = Vec::new();
    let mut relevant = std::collections::BTreeSet::new();
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        if !queries.iter().any(|q| q == cols[0]) {
            if queries.len() == n_queries {
                break;
            }
            queries.push(cols[0].to_string());
        }
        relevant.insert(cols[1].to_string());
        kept.push(line);
    }
    std::fs::create_dir_all(out.join("qrels")).unwrap();
    std::fs::write(
        out.join("qrels/test.tsv"),
        format!("{header}\n{}\n", kept.join("\n")),
    )
    .unwrap();
    let id_of = |line: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["_id"].as_str().unwrap().to_string()
    };
    let corpus = std::fs::read_to_string(src.join("corpus.jsonl")).unwrap();
    let mut fillers_left = fillers;
    let docs: Vec<&str> = corpus
        .lines()
        .filter(|l| {
            if relevant.contains(&id_of(l)) {
                true
            } else if fillers_left > 0 {
                fillers_left -= 1;
                true
            } else {
                false
            }
        })
        .collect();
    std::fs::write(out.join("corpus.jsonl"), docs.join("\n") + "\n").unwrap();
    let all_queries = std::fs::read_to_string(src.join("queries.jsonl")).unwrap();
    let q: Vec<&str> = all_queries
        .lines()
        .filter(|l| queries.contains(&id_of(l)))
        .collect();
    std::fs::write(out.join("queries.jsonl"), q.join("\n") + "\n").unwrap();
}
