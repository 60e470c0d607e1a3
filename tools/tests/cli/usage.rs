//! Help texts, exit codes and one-line errors.

use super::common::{run_err, run_ok, tartan};

#[test]
fn every_subcommand_has_help() {
    let (top, _) = run_ok(&["--help"]);
    for sub in ["index", "search", "encode", "eval", "serve"] {
        assert!(top.contains(sub), "top-level help lacks {sub}:\n{top}");
        let (help, _) = run_ok(&[sub, "--help"]);
        assert!(help.contains("Usage: tartan"), "{sub} --help:\n{help}");
        assert!(help.len() > 600, "{sub} --help is too thin:\n{help}");
    }
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["index"][..],
        &["search"][..],
        &["no-such-command"][..],
        &[
            "index",
            "--out",
            "x",
            "--nbits",
            "3",
            "--embeddings",
            "e",
            "--doclens",
            "l",
        ][..],
        &["search", "--index", "x", "--k", "0", "q"][..],
        &["serve", "--index", "x", "--addr", "not-an-address"][..],
    ] {
        let out = run_err(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn runtime_errors_are_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = run_err(&["search", "--index", missing.to_str().unwrap(), "a query"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: index directory") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");

    // --verbose shows the error chain across lines (a file where the index
    // directory should be: cannot open index -> CURRENT -> Not a directory).
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = tartan()
        .args([
            "--verbose",
            "search",
            "--index",
            file.to_str().unwrap(),
            "q",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Caused by"));
}

#[test]
fn index_refuses_to_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("existing");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("precious.txt"), "keep me").unwrap();
    let e = dir.path().join("E.npy");
    let l = dir.path().join("L.npy");
    for force in [false, true] {
        let mut args = vec![
            "index",
            "--embeddings",
            e.to_str().unwrap(),
            "--doclens",
            l.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        let out = run_err(&args);
        assert_eq!(out.status.code(), Some(1));
    }
    assert!(out_dir.join("precious.txt").exists());
}
