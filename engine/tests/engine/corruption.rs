//! Damaged indexes: every truncated, missing, foreign or altered file is a clean error
//! naming the file, never a panic.

use std::path::Path;

use tartan_engine::{BuildConfig, EngineError, Index, SearchParams};

use crate::common::{scratch_dir, small_index};

const FILES: [&str; 9] = [
    "meta.json",
    "centroids.npy",
    "centroid_scales.npy",
    "codec_codebooks.npy",
    "codes.npy",
    "centroid_ids.bin",
    "doc_offsets.npy",
    "postings.bin",
    "doc_ids.bin",
];

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
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
        let len = std::fs::metadata(good.join(name)).unwrap().len();
        for cut in [0, 1, 9, len / 2, len - 1] {
            let dir = good.with_file_name("damaged");
            copy_dir(&good, &dir);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join(name))
                .unwrap();
            file.set_len(cut).unwrap();
            let err = Index::open(&dir).unwrap_err();
            assert!(err.to_string().contains(name), "{name} cut to {cut}: {err}");
        }
    }
}

#[test]
fn missing_files_are_named() {
    let good = pristine("missing");
    for name in FILES {
        let dir = good.with_file_name("damaged");
        copy_dir(&good, &dir);
        std::fs::remove_file(dir.join(name)).unwrap();
        let err = Index::open(&dir).unwrap_err();
        assert!(
            matches!(err, EngineError::MissingFile { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
    assert!(matches!(
        Index::open(&good.with_file_name("nowhere")).unwrap_err(),
        EngineError::MissingFile { .. }
    ));
}

#[test]
fn same_size_foreign_files_are_caught_by_their_headers() {
    let good = pristine("foreign");
    // Swap two files, then fix the recorded sizes so only the headers can tell.
    let dir = good.with_file_name("damaged");
    copy_dir(&good, &dir);
    std::fs::copy(good.join("codes.npy"), dir.join("doc_offsets.npy")).unwrap();
    let meta_path = dir.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let size = std::fs::metadata(dir.join("doc_offsets.npy"))
        .unwrap()
        .len();
    meta["files"]["doc_offsets.npy"] = size.into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let err = Index::open(&dir).unwrap_err();
    assert!(err.to_string().contains("doc_offsets.npy"), "{err}");
    // A foreign file with the right length, garbage throughout.
    for name in FILES.iter().skip(1) {
        copy_dir(&good, &dir);
        let len = std::fs::metadata(good.join(name)).unwrap().len() as usize;
        std::fs::write(dir.join(name), vec![0x5au8; len]).unwrap();
        let err = Index::open(&dir).unwrap_err();
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}

#[test]
fn older_and_newer_format_versions_are_refused() {
    let good = pristine("version");
    let dir = good.with_file_name("damaged");
    for version in [0u32, 1, 3, 999] {
        copy_dir(&good, &dir);
        let path = dir.join("meta.json");
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
fn flipped_bytes_in_meta_json_never_panic() {
    let good = pristine("flip_meta");
    let dir = good.with_file_name("damaged");
    copy_dir(&good, &dir);
    let original = std::fs::read(good.join("meta.json")).unwrap();
    let (mut errors, mut opened) = (0, 0);
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] ^= 0x55;
        std::fs::write(dir.join("meta.json"), &bytes).unwrap();
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
    let path = dir.join("centroid_ids.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 2..].copy_from_slice(&[0xff, 0xff]);
    std::fs::write(&path, &bytes).unwrap();
    let index = Index::open(&dir).unwrap();
    let err = index.search_exhaustive(&q, 10).unwrap_err();
    assert!(err.to_string().contains("centroid_ids.bin"), "{err}");
    // Garbage inside the posting lists (sizes intact).
    copy_dir(&good, &dir);
    let path = dir.join("postings.bin");
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
