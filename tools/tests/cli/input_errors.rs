//! Clear one-line errors for bad input: a missing index directory, an OS error
//! (printed once), a blank line in an ids file, a GPU build without a GPU, `--ndocs 0`
//! (refused by `search` and the server alike) and embeddings that are not unit-norm.

use serde_json::json;

use tartan_engine::format::npy::write_array;

use super::common::{
    run_err, search_args, strs, synthetic_index, tartan, with_npy, write_queries, Synthetic,
};
use super::server::{post, start_with};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_index_directory_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("nowhere");
    let q = dir.path().join("Q.npy");
    write_queries(&q, &[vec![vec![0.25f32; 16]]]);
    let search = search_args(&nowhere, &q, &[]);
    let serve = ["serve", "--index", nowhere.to_str().unwrap()];
    for args in [&search[..], &serve[..]] {
        let err = stderr_of(&run_err(args));
        assert!(
            err.contains(&format!(
                "index directory {} does not exist",
                nowhere.display()
            )),
            "{err}"
        );
        assert!(!err.contains("meta.json"), "{err}");
    }
}

#[test]
fn an_os_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the index directory should be: reading DIR/CURRENT
    // fails with ENOTDIR (a permission error cannot be provoked as root).
    let file = dir.path().join("index");
    std::fs::write(&file, b"not a directory").unwrap();
    let q = dir.path().join("Q.npy");
    write_queries(&q, &[vec![vec![0.25f32; 16]]]);
    let err = stderr_of(&run_err(&search_args(&file, &q, &[])));
    assert_eq!(err.matches("(os error").count(), 1, "{err}");
    assert!(err.contains("CURRENT: Not a directory (os error"), "{err}");
}

/// Without the cuda feature a GPU build is refused up front, naming the device, and
/// leaves no index behind.
#[cfg(not(feature = "cuda"))]
#[test]
fn a_build_on_a_missing_gpu_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(5, 16, 3);
    let (e, l, ids) = data.write(dir.path());
    let out = dir.path().join("index");
    let err = stderr_of(&run_err(&with_npy(
        &["index"],
        strs([&e, &l, &ids]),
        &[
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cuda",
            "--quiet",
        ],
    )));
    assert!(err.contains("cannot build on cuda:0"), "{err}");
    assert!(!out.exists(), "nothing is left at --out");
}

#[test]
fn a_blank_line_in_the_ids_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(5, 16, 3);
    let (e, l, ids) = data.write(dir.path());
    std::fs::write(&ids, "doc-0\ndoc-1\n\ndoc-2\ndoc-3\ndoc-4\n").unwrap();
    let out = dir.path().join("index");
    let err = stderr_of(&run_err(&with_npy(
        &["index"],
        strs([&e, &l, &ids]),
        &["--out", out.to_str().unwrap(), "--quiet"],
    )));
    assert!(err.contains("empty id at line 3"), "{err}");
    assert!(!err.contains("ids for"), "{err}");
}

#[test]
fn ndocs_zero_is_refused_by_search_and_the_server_alike() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(30, 16, 4);
    let index = synthetic_index(dir.path(), &data);
    let q = dir.path().join("Q.npy");
    write_queries(&q, &[data.query(3, 4, 1)]);
    let err = stderr_of(&run_err(&search_args(&index, &q, &["--ndocs", "0"])));
    let message = "ndocs must be at least 1";
    assert!(err.contains(message), "{err}");

    let server = start_with(tartan(), &index, &[]);
    let (status, reply) = post(
        server.addr,
        &json!({"embeddings": [data.query(3, 4, 1)], "ndocs": 0}),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains(message),
        "{reply}"
    );
}

#[test]
fn embeddings_that_are_not_unit_norm_are_refused_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let data = Synthetic::new(6, 16, 5);
    let (e, l, ids) = data.write(dir.path());
    let out = dir.path().join("index");
    let index_args = with_npy(
        &["index"],
        strs([&e, &l, &ids]),
        &["--out", out.to_str().unwrap(), "--quiet"],
    );
    let rows = data.embeddings.len() / 16;
    // Every embedding scaled by 10: the first row is named.
    let scaled: Vec<f32> = data.embeddings.iter().map(|x| x * 10.0).collect();
    write_array(&e, &[rows, 16], &scaled).unwrap();
    let err = stderr_of(&run_err(&index_args));
    assert!(
        err.contains("embedding row 0 (document \"doc-0\", token 0)") && err.contains("not 1"),
        "{err}"
    );
    // One all-zero row: the second token of the second document.
    let zero = data.doclens[0] as usize + 1;
    let zeroed: Vec<f32> = data
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, &x)| if i / 16 == zero { 0.0 } else { x })
        .collect();
    write_array(&e, &[rows, 16], &zeroed).unwrap();
    let err = stderr_of(&run_err(&index_args));
    assert!(
        err.contains(&format!(
            "embedding row {zero} (document \"doc-1\", token 1) has L2 norm 0"
        )),
        "{err}"
    );
    assert!(!out.exists());
}
