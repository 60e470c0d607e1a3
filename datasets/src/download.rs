//! Downloading BEIR datasets into a cache directory.
//!
//! BEIR publishes each dataset as one zip at
//! `https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip`
//! holding `{name}/corpus.jsonl`, `{name}/queries.jsonl`, `{name}/qrels/*.tsv`.
//! [`download_beir`] fetches it once:
//!
//! 1. `cache_dir/{name}` already holding a complete dataset is returned at once
//!    (no network).
//! 2. Otherwise the zip is streamed into a temporary directory inside `cache_dir`,
//!    its MD5 checked against BEIR's published table when the name is in it
//!    ([`beir_md5`]), unzipped there (entries that would escape the directory are
//!    refused), and the layout verified (corpus, queries, at least one qrels split;
//!    for `cqadupstack`, each of its sub-collections).
//! 3. The verified directory is renamed to `cache_dir/{name}` as the last step, so a
//!    crash or a failed download never leaves a half dataset that looks complete
//!    (a crash can leave a `.tartan-download-*` directory behind, safe to delete).
//!
//! The base URL can be replaced by a mirror: the `TARTAN_BEIR_URL` environment
//! variable for [`download_beir`], or the argument of [`download_beir_from`].
//! Offline, the error says which URL failed and where to unzip the files by hand.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::beir::BeirDataset;
use crate::error::{DatasetsError, Result};

/// BEIR's public download location.
pub const BEIR_BASE_URL: &str =
    "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets";

/// Environment variable that replaces [`BEIR_BASE_URL`] in [`download_beir`].
pub const BEIR_URL_ENV: &str = "TARTAN_BEIR_URL";

/// MD5 of each public BEIR zip, as BEIR's README lists them.
const BEIR_MD5: &[(&str, &str)] = &[
    ("msmarco", "444067daf65d982533ea17ebd59501e4"),
    ("trec-covid", "ce62140cb23feb9becf6270d0d1fe6d1"),
    ("nfcorpus", "a89dba18a62ef92f7d323ec890a0d38d"),
    ("nq", "d4d3d2e48787a744b6f6e691ff534307"),
    ("hotpotqa", "f412724f78b0d91183a0e86805e16114"),
    ("fiqa", "17918ed23cd04fb15047f73e6c3bd9d9"),
    ("arguana", "8ad3e3c2a5867cdced806d6503f29b99"),
    ("webis-touche2020", "46f650ba5a527fc69e0a6521c5a23563"),
    ("cqadupstack", "4e41456d7df8ee7760a7f866133bda78"),
    ("quora", "18fb154900ba42a600f84b839c173167"),
    ("dbpedia-entity", "c2a39eb420a3164af735795df012ac2c"),
    ("scidocs", "38121350fc3a4d2f48850f6aff52e4a9"),
    ("fever", "5a818580227bfb4b35bb6fa46d9b6c03"),
    ("climate-fever", "8b66f0a9126c521bae2bde127b4dc99d"),
    ("scifact", "5f7d1de60b170fc8027bb7898e2efca1"),
];

/// BEIR's published MD5 of `{name}.zip`, when BEIR lists one.
pub fn beir_md5(name: &str) -> Option<&'static str> {
    BEIR_MD5.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// The base URL to use: the environment's value when set and not empty, else BEIR's.
fn base_url_from(env_value: Option<String>) -> String {
    env_value
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| BEIR_BASE_URL.to_string())
}

/// Downloads (once) the BEIR dataset `name` into `cache_dir/name` and returns that
/// directory; the base URL is `$TARTAN_BEIR_URL` when set, else [`BEIR_BASE_URL`].
pub fn download_beir(name: &str, cache_dir: &Path) -> Result<PathBuf> {
    let base = base_url_from(std::env::var(BEIR_URL_ENV).ok());
    download_beir_from(name, cache_dir, &base)
}

/// [`download_beir`] from an explicit base URL (`{base_url}/{name}.zip`).
pub fn download_beir_from(name: &str, cache_dir: &Path, base_url: &str) -> Result<PathBuf> {
    validate_name(name)?;
    let target = cache_dir.join(name);
    if target.exists() {
        return match verify_layout(&target) {
            Ok(()) => Ok(target),
            Err(e) => Err(DatasetsError::Verification {
                path: target.clone(),
                message: format!(
                    "the cached dataset is incomplete ({}); complete it or remove the directory to download again",
                    crate::error::with_causes(&e)
                ),
            }),
        };
    }
    let url = format!("{}/{name}.zip", base_url.trim_end_matches('/'));
    std::fs::create_dir_all(cache_dir).map_err(|e| DatasetsError::io(cache_dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tartan-download-")
        .tempdir_in(cache_dir)
        .map_err(|e| DatasetsError::io(cache_dir, e))?;
    let zip_path = tmp.path().join(format!("{name}.zip"));
    let md5 = fetch(&url, &zip_path, &target)?;
    if let Some(expected) = beir_md5(name) {
        if md5 != expected {
            return Err(DatasetsError::Verification {
                path: zip_path,
                message: format!("MD5 {md5} of {url}, BEIR publishes {expected}"),
            });
        }
    }
    let extract = tmp.path().join("extract");
    unzip(&zip_path, &extract)?;
    let root = if extract.join(name).is_dir() {
        extract.join(name)
    } else {
        extract.clone()
    };
    verify_layout(&root)?;
    match std::fs::rename(&root, &target) {
        Ok(()) => Ok(target),
        // Another process finished the same download first: use its copy.
        Err(_) if target.exists() && verify_layout(&target).is_ok() => Ok(target),
        Err(e) => Err(DatasetsError::io(&target, e)),
    }
}

/// Dataset names are single path components of `[A-Za-z0-9._-]`.
fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(DatasetsError::Invalid {
            what: "dataset name",
            message: format!("{name:?} (expected letters, digits, '-', '_' or '.')"),
        })
    }
}

/// Streams `url` into `out`, returning the MD5 (hex) of what was written.
fn fetch(url: &str, out: &Path, target: &Path) -> Result<String> {
    let hint = format!(
        "Offline? Download {url} by hand and unzip it so that {t}/corpus.jsonl, {t}/queries.jsonl \
         and {t}/qrels/<split>.tsv exist (or set {BEIR_URL_ENV} to a reachable mirror).",
        t = target.display()
    );
    let download_error = |message: String| DatasetsError::Download {
        url: url.to_string(),
        message,
        hint: hint.clone(),
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(download_error(format!("HTTP {code} {}", r.status_text())))
        }
        Err(e) => return Err(download_error(e.to_string())),
    };
    let expected_len: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok());
    let mut reader = response.into_reader();
    let mut file = File::create(out).map_err(|e| DatasetsError::io(out, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| download_error(format!("reading the body: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| DatasetsError::io(out, e))?;
        total += n as u64;
    }
    file.sync_all().map_err(|e| DatasetsError::io(out, e))?;
    if let Some(len) = expected_len {
        if len != total {
            return Err(download_error(format!(
                "truncated: {total} of {len} bytes received"
            )));
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Extracts every entry of `zip_path` under `dest`, refusing entries whose path
/// would leave `dest` (absolute paths, `..`).
fn unzip(zip_path: &Path, dest: &Path) -> Result<()> {
    let zip_err = |source| DatasetsError::Zip {
        path: zip_path.to_path_buf(),
        source,
    };
    let file = File::open(zip_path).map_err(|e| DatasetsError::io(zip_path, e))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err)?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(DatasetsError::Verification {
                path: zip_path.to_path_buf(),
                message: format!(
                    "entry {:?} would be written outside the cache",
                    entry.name()
                ),
            });
        };
        let out = dest.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out).map_err(|e| DatasetsError::io(&out, e))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DatasetsError::io(parent, e))?;
        }
        let mut f = File::create(&out).map_err(|e| DatasetsError::io(&out, e))?;
        std::io::copy(&mut entry, &mut f).map_err(|e| DatasetsError::io(&out, e))?;
    }
    Ok(())
}

/// Checks that `dir` is a BEIR dataset with at least one qrels split, or (as
/// `cqadupstack`) a directory of such datasets.
pub fn verify_layout(dir: &Path) -> Result<()> {
    let single = |d: &Path| -> Result<()> {
        let ds = BeirDataset::open(d)?;
        if ds.splits()?.is_empty() {
            return Err(DatasetsError::Verification {
                path: d.join("qrels"),
                message: "no qrels/<split>.tsv file".to_string(),
            });
        }
        Ok(())
    };
    let direct = single(dir);
    if direct.is_ok() || dir.join("corpus.jsonl").exists() || dir.join("corpus.jsonl.gz").exists() {
        return direct;
    }
    let entries = std::fs::read_dir(dir).map_err(|e| DatasetsError::io(dir, e))?;
    let mut subs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DatasetsError::io(dir, e))?;
        let name = entry.file_name();
        if entry.path().is_dir() && !name.to_string_lossy().starts_with(['.', '_']) {
            subs.push(entry.path());
        }
    }
    if subs.is_empty() {
        return direct;
    }
    subs.iter().try_for_each(|s| single(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_safe_components() {
        for ok in ["scifact", "webis-touche2020", "cqadupstack", "a_b.c"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_value_replaces_the_base_url_when_not_empty() {
        assert_eq!(base_url_from(None), BEIR_BASE_URL);
        assert_eq!(base_url_from(Some("  ".into())), BEIR_BASE_URL);
        assert_eq!(base_url_from(Some("http://m/x".into())), "http://m/x");
    }

    #[test]
    fn published_md5_table() {
        assert_eq!(
            beir_md5("scifact"),
            Some("5f7d1de60b170fc8027bb7898e2efca1")
        );
        assert_eq!(beir_md5("nope"), None);
    }

    #[test]
    fn offline_error_names_the_url_and_where_to_put_files() {
        // Port 9 on 127.0.0.1 (discard) is closed on any sane test machine.
        let cache = tempfile::tempdir().unwrap();
        let err = download_beir_from("scifact", cache.path(), "http://127.0.0.1:9/beir")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://127.0.0.1:9/beir/scifact.zip"), "{err}");
        assert!(
            err.contains("corpus.jsonl") && err.contains("TARTAN_BEIR_URL"),
            "{err}"
        );
        // Nothing half-made is left behind.
        let left: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn cqadupstack_layout_of_sub_collections_verifies() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["android", "gis"] {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(d.join("qrels")).unwrap();
            std::fs::write(d.join("corpus.jsonl"), "").unwrap();
            std::fs::write(d.join("queries.jsonl"), "").unwrap();
            std::fs::write(d.join("qrels/test.tsv"), "").unwrap();
        }
        verify_layout(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("gis/qrels/test.tsv")).unwrap();
        let err = verify_layout(dir.path()).unwrap_err().to_string();
        assert!(err.contains("gis") && err.contains("no qrels"), "{err}");
    }

    #[test]
    fn an_incomplete_cached_directory_is_reported_not_overwritten() {
        let cache = tempfile::tempdir().unwrap();
        std::fs::create_dir(cache.path().join("fiqa")).unwrap();
        std::fs::write(cache.path().join("fiqa/corpus.jsonl"), "").unwrap();
        let err = download_beir_from("fiqa", cache.path(), "http://127.0.0.1:9")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("queries.jsonl") && err.contains("remove the directory"),
            "{err}"
        );
        assert!(cache.path().join("fiqa/corpus.jsonl").exists());
    }
}
