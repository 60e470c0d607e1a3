//! Train once, build many: `tartan train`, `tartan index --codec DIR` and `tartan
//! search --index a --index b ...` on real SciFact token embeddings.

use std::path::{Path, PathBuf};

use tartan_engine::format::npy::write_array;
use tartan_engine::format::npy_input::NpyInput;

use super::common::{json_rankings, run_err, run_ok, scifact_subset, shared_dir, with_npy};

/// Writes documents `docs` of (E, L, ids) as a shard's three files in `dir`.
fn write_part(
    dir: &Path,
    embeddings: &[f32],
    lens: &[u64],
    ids: &[&str],
    docs: std::ops::Range<usize>,
) -> [PathBuf; 3] {
    std::fs::create_dir_all(dir).unwrap();
    let dim = 128;
    let start: u64 = lens[..docs.start].iter().sum();
    let rows: u64 = lens[docs.clone()].iter().sum();
    let (a, b) = (start as usize * dim, (start + rows) as usize * dim);
    let files = [dir.join("E.npy"), dir.join("L.npy"), dir.join("ids.txt")];
    write_array(&files[0], &[rows as usize, dim], &embeddings[a..b]).unwrap();
    let part_lens: Vec<i64> = lens[docs.clone()].iter().map(|&l| l as i64).collect();
    write_array(&files[1], &[part_lens.len()], &part_lens).unwrap();
    std::fs::write(&files[2], ids[docs].join("\n") + "\n").unwrap();
    files
}

fn recall_of(got: &[Vec<(String, f64)>], truth: &[Vec<(String, f64)>]) -> f64 {
    let mut sum = 0.0;
    for (g, t) in got.iter().zip(truth) {
        let found = t
            .iter()
            .filter(|(id, _)| g.iter().any(|(h, _)| h == id))
            .count();
        sum += found as f64 / t.len() as f64;
    }
    sum / truth.len() as f64
}

/// SciFact tokens (100 judged queries, their documents and 400 others) split into four
/// shards built with one codec: merged PLAID recovers at least the single index's
/// recall@10 of the exact top-10, and merged exhaustive search (every document scored
/// over the codec) returns the single index's top-10 exactly.
#[test]
fn shards_built_from_one_codec_search_as_one_index() {
    let Some(shared) = shared_dir("shards_built_from_one_codec_search_as_one_index") else {
        return;
    };
    let model = shared.join("models/minilm-colbert-pylate");
    let model = model.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("scifact-sub");
    scifact_subset(&shared, &data, 100, 400);
    let path = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let (e, l, ids) = (path("E.npy"), path("L.npy"), path("ids.txt"));
    run_ok(&with_npy(
        &[
            "encode",
            data.join("corpus.jsonl").to_str().unwrap(),
            "--model",
            model,
        ],
        [&e, &l, &ids],
        &["--quiet"],
    ));
    let q = path("Q.npy");
    run_ok(&[
        "encode",
        data.join("queries.jsonl").to_str().unwrap(),
        "--model",
        model,
        "--as-queries",
        "--embeddings",
        &q,
        "--quiet",
    ]);

    // One codec, trained on a sample (the corpus itself here), sized for the corpus.
    let codec = path("codec");
    let (_, stderr) = run_ok(&[
        "train",
        "--embeddings",
        &e,
        "--doclens",
        &l,
        "--out",
        &codec,
    ]);
    assert!(stderr.contains("trained "), "{stderr}");
    let err = run_err(&["train", "--embeddings", &e, "--out", &codec]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("already exists"));

    let single = path("single");
    run_ok(&with_npy(
        &["index"],
        [&e, &l, &ids],
        &[
            "--codec",
            &codec,
            "--out",
            &single,
            "--keep-embeddings",
            "--quiet",
        ],
    ));
    let embeddings = NpyInput::open(Path::new(&e)).unwrap();
    let embeddings = embeddings.f32s().unwrap();
    let lens = NpyInput::open(Path::new(&l)).unwrap().lengths().unwrap();
    let id_text = std::fs::read_to_string(&ids).unwrap();
    let id_list: Vec<&str> = id_text.lines().collect();
    let n = id_list.len();
    let mut shards = Vec::new();
    for s in 0..4 {
        let docs = s * n / 4..(s + 1) * n / 4;
        let dir = tmp.path().join(format!("part-{s}"));
        let [pe, pl, pi] = write_part(&dir, &embeddings, &lens, &id_list, docs);
        let out = path(&format!("shard-{s}"));
        run_ok(&with_npy(
            &["index"],
            [
                pe.to_str().unwrap(),
                pl.to_str().unwrap(),
                pi.to_str().unwrap(),
            ],
            &["--codec", &codec, "--out", &out, "--quiet"],
        ));
        shards.push(out);
    }
    let search = |indexes: &[&str], extra: &[&str]| -> Vec<Vec<(String, f64)>> {
        let mut args = vec!["search"];
        for i in indexes {
            args.extend(["--index", i]);
        }
        args.extend(["--query-embeddings", &q, "--format", "json", "--k", "10"]);
        args.extend_from_slice(extra);
        json_rankings(&run_ok(&args).0)
    };
    let shard_refs: Vec<&str> = shards.iter().map(String::as_str).collect();
    let exact = search(&[&single], &["--exact"]);
    let single_plaid = search(&[&single], &[]);
    let merged_plaid = search(&shard_refs, &[]);
    let (single_recall, merged_recall) = (
        recall_of(&single_plaid, &exact),
        recall_of(&merged_plaid, &exact),
    );
    eprintln!(
        "recall@10 of the exact top-10: single index {single_recall:.4}, 4 shards merged {merged_recall:.4}"
    );
    assert!(
        merged_recall >= single_recall,
        "merged {merged_recall} below single {single_recall}"
    );

    // Every document scored over the codec (--exhaustive): the codec's own top-10,
    // identical (ids and scores) whether one index or four shards hold it.
    let single_all = search(&[&single], &["--exhaustive"]);
    let merged_all = search(&shard_refs, &["--exhaustive"]);
    assert_eq!(merged_all, single_all);

    // Shards of another codec are refused, naming the fix.
    let other = path("other");
    run_ok(&with_npy(
        &["index"],
        [&e, &l, &ids],
        &["--out", &other, "--centroids", "64", "--quiet"],
    ));
    let err = run_err(&[
        "search",
        "--index",
        &shards[0],
        "--index",
        &other,
        "--query-embeddings",
        &q,
    ]);
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(stderr.contains("different codecs"), "{stderr}");
    assert!(stderr.contains("tartan train"), "{stderr}");
    // Training options beside a trained codec are a usage error, as are unknown codecs.
    let err = run_err(&with_npy(
        &["index"],
        [&e, &l, &ids],
        &["--codec", &codec, "--nbits", "4", "--out", &path("x")],
    ));
    assert!(String::from_utf8_lossy(&err.stderr).contains("already trained"));
    let err = run_err(&with_npy(
        &["index"],
        [&e, &l, &ids],
        &["--codec", "no-such-codec", "--out", &path("y")],
    ));
    assert!(String::from_utf8_lossy(&err.stderr).contains("neither product nor scalar"));
}
