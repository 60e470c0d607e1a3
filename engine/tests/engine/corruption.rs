//! Damaged indexes: every truncated, missing, foreign or altered file is a clean error
//! naming the file, never a panic.

use std::path::Path;

use tartan_engine::{BuildConfig, EngineError, Index, SearchParams};

use crate::common::{copy_dir, locate, scratch_dir, small_index};

const FILES: [&str; 9] = [
    "manifest",
    "centroids.npy",
    "centroid_scales.npy",
    "codec_codebooks.npy",
    "codes.npy",
    "centroid_ids.bin",
    "doc_offsets.npy",
    "postings.bin",
    "doc_ids.bin",
];

/// The name errors about `file` must contain.
fn shown(dir: &Path, file: &str) -> String {
    locate(dir, file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Records `path`'s current size and checksum in the manifest (so only the file's own
/// checks can tell it is wrong).
fn rerecord(dir: &Path, name: &str) {
    let manifest = locate(dir, "manifest");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let bytes = std::fs::read(locate(dir, name)).unwrap();
    let sum = serde_json::json!({"size": bytes.len(), "crc32c": crc32c(&bytes)});
    if m["codec_files"].get(name).is_some() {
        m["codec_files"][name] = sum;
    } else {
        m["segments"][0]["files"][name] = sum;
    }
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
}

/// CRC-32C (Castagnoli), bit by bit: the tests' own reference.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn pristine(name: &str) -> std::path::PathBuf {
    let base = scratch_dir(name);
    let dir = base.join("pristine");
    small_index(
        &dir,
        BuildConfig {
            keep_embeddings: true,
            ..BuildConfig::default()
        },
    );
    dir
}

#[test]
fn every_truncated_file_is_an_error_naming_it() {
    let good = pristine("truncate");
    let mut all = FILES.to_vec();
    all.push("embeddings.npy");
    for name in all {
        let len = std::fs::metadata(locate(&good, name)).unwrap().len();
        for cut in [0, 1, 9, len / 2, len - 1] {
            let dir = good.with_file_name("damaged");
            copy_dir(&good, &dir);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(locate(&dir, name))
                .unwrap();
            file.set_len(cut).unwrap();
            let err = Index::open(&dir).unwrap_err();
            let shown = shown(&dir, name);
            assert!(
                err.to_string().contains(&shown),
                "{name} cut to {cut}: {err}"
            );
        }
    }
}

#[test]
fn missing_files_are_named() {
    let good = pristine("missing");
    for name in FILES {
        let dir = good.with_file_name("damaged");
        copy_dir(&good, &dir);
        let path = locate(&dir, name);
        std::fs::remove_file(&path).unwrap();
        let err = Index::open(&dir).unwrap_err();
        assert!(
            matches!(err, EngineError::MissingFile { .. }),
            "{name}: {err}"
        );
        assert!(
            err.to_string()
                .contains(&*path.file_name().unwrap().to_string_lossy()),
            "{err}"
        );
    }
    // No CURRENT: not an index.
    let dir = good.with_file_name("damaged");
    copy_dir(&good, &dir);
    std::fs::remove_file(dir.join("CURRENT")).unwrap();
    let err = Index::open(&dir).unwrap_err();
    assert!(err.to_string().contains("CURRENT"), "{err}");
    assert!(matches!(
        Index::open(&good.with_file_name("nowhere")).unwrap_err(),
        EngineError::NoIndex { .. }
    ));
}

#[test]
fn same_size_foreign_files_are_caught_by_their_headers() {
    let good = pristine("foreign");
    // Swap two files, then fix the recorded sizes so only the headers can tell.
    let dir = good.with_file_name("damaged");
    copy_dir(&good, &dir);
    std::fs::copy(locate(&good, "codes.npy"), locate(&dir, "doc_offsets.npy")).unwrap();
    rerecord(&dir, "doc_offsets.npy");
    let err = Index::open(&dir).unwrap_err();
    assert!(err.to_string().contains("doc_offsets.npy"), "{err}");
    // A foreign file with the right length and recorded checksum, garbage throughout:
    // the headers alone catch it.
    for name in FILES.iter().skip(1) {
        copy_dir(&good, &dir);
        let len = std::fs::metadata(locate(&good, name)).unwrap().len() as usize;
        std::fs::write(locate(&dir, name), vec![0x5au8; len]).unwrap();
        rerecord(&dir, name);
        let err = Index::open(&dir).unwrap_err();
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}

#[test]
fn older_and_newer_format_versions_are_refused() {
    let good = pristine("version");
    let dir = good.with_file_name("damaged");
    for version in [0u32, 1, 2, 4, 999] {
        copy_dir(&good, &dir);
        let path = locate(&dir, "manifest");
        let mut meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        meta["format_version"] = version.into();
        std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
        let err = Index::open(&dir).unwrap_err();
        assert!(
            matches!(err, EngineError::UnsupportedVersion { found, .. } if found == version),
            "{err}"
        );
    }
}

#[test]
fn flipped_bytes_in_the_manifest_never_panic() {
    let good = pristine("flip_meta");
    let dir = good.with_file_name("damaged");
    copy_dir(&good, &dir);
    let manifest = locate(&dir, "manifest");
    let original = std::fs::read(&manifest).unwrap();
    let (mut errors, mut opened) = (0, 0);
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] ^= 0x55;
        std::fs::write(&manifest, &bytes).unwrap();
        match Index::open(&dir) {
            Err(e) => {
                assert!(e.to_string().contains("damaged"), "{e}");
                errors += 1;
            }
            // A flip inside free-form text (the encoder settings, the creator string)
            // can leave a valid manifest.
            Ok(index) => {
                opened += 1;
                let q = vec![0.25f32; 16];
                let _ = index.search(&q, &SearchParams::for_k(3));
            }
        }
    }
    assert!(
        errors > original.len() * 9 / 10,
        "{errors} errors, {opened} opened"
    );
}

#[test]
fn damaged_contents_are_errors_at_search_time_not_panics() {
    let good = pristine("contents");
    let dir = good.with_file_name("damaged");
    let q = vec![0.25f32; 4 * 16];
    let everything = SearchParams {
        k: 10,
        nprobe: 16,
        centroid_score_threshold: f32::NEG_INFINITY,
        ndocs: 1000,
    };
    // Centroid ids past the number of centroids.
    copy_dir(&good, &dir);
    let path = locate(&dir, "centroid_ids.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 2..].copy_from_slice(&[0xff, 0xff]);
    std::fs::write(&path, &bytes).unwrap();
    let index = Index::open(&dir).unwrap();
    let err = index.search_exhaustive(&q, 10).unwrap_err();
    assert!(err.to_string().contains("centroid_ids.bin"), "{err}");
    // Garbage inside the posting lists (sizes intact).
    copy_dir(&good, &dir);
    let path = locate(&dir, "postings.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    let start = 24 + 8 * 17;
    for b in &mut bytes[start..n] {
        *b = 0xee;
    }
    std::fs::write(&path, &bytes).unwrap();
    let index = Index::open(&dir).unwrap();
    let err = index.search(&q, &everything).unwrap_err();
    assert!(err.to_string().contains("postings.bin"), "{err}");
}
