//! Where `tartan eval` keeps downloaded datasets, built indexes and reports.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use tartan_encoder::Precision;

use crate::args::{BuildArgs, Codec, CodecArg};

/// The cache root: `given`, else `$TARTAN_CACHE`, else `$XDG_CACHE_HOME/tartan`,
/// else `~/.cache/tartan`.
pub fn root(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_path_buf());
    }
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("TARTAN_CACHE") {
        return Ok(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return Ok(dir.join("tartan"));
    }
    env("HOME")
        .map(|home| home.join(".cache").join("tartan"))
        .context("no cache directory: set TARTAN_CACHE or pass --cache-dir")
}

/// A directory name for the index of `dataset` (its path or name) encoded by
/// `model` at `precision` with these build options: readable parts plus a hash of the
/// full dataset and model references, so two local models named alike do not collide.
pub fn index_key(
    dataset_name: &str,
    dataset_ref: &str,
    model_ref: &str,
    precision: Precision,
    build: &BuildArgs,
) -> String {
    let model_slug = model_ref
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(model_ref);
    let codec = match &build.codec {
        None | Some(CodecArg::Kind(Codec::Product)) => format!("pq{}", build.nbits()),
        Some(CodecArg::Kind(Codec::Scalar)) => format!("sq{}", build.nbits()),
        Some(CodecArg::Dir(dir)) => format!(
            "codec{:08x}",
            fnv1a(dir.to_string_lossy().as_bytes()) as u32
        ),
    };
    let mut key = format!("{}-{}-{codec}", slug(dataset_name), slug(model_slug));
    if precision != Precision::F32 {
        key.push_str(&format!("-{precision}"));
    }
    if let Some(c) = build.centroids {
        key.push_str(&format!("-c{c}"));
    }
    if let Some(seed) = build.seed.filter(|&s| s != 42) {
        key.push_str(&format!("-seed{seed}"));
    }
    let hash = fnv1a(format!("{dataset_ref}\n{model_ref}").as_bytes());
    key.push_str(&format!("-{:08x}", hash as u32));
    key
}

/// Letters, digits, '.', '_' and '-' kept; anything else becomes '-'.
fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// FNV-1a, 64 bits: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        build: BuildArgs,
    }

    #[test]
    fn keys_are_readable_and_distinct() {
        let build = Wrap::parse_from(["x"]).build;
        let f32 = Precision::F32;
        let a = index_key(
            "scifact",
            "/d/scifact",
            "/m/minilm-colbert-pylate",
            f32,
            &build,
        );
        assert!(a.starts_with("scifact-minilm-colbert-pylate-pq2-"), "{a}");
        let b = index_key(
            "scifact",
            "/d/scifact",
            "/other/minilm-colbert-pylate",
            f32,
            &build,
        );
        assert_ne!(a, b);
        let bf16 = index_key(
            "scifact",
            "/d/scifact",
            "/m/minilm-colbert-pylate",
            Precision::Bf16,
            &build,
        );
        assert!(
            bf16.starts_with("scifact-minilm-colbert-pylate-pq2-bf16-"),
            "{bf16}"
        );
        let hub = index_key("scifact", "scifact", "colbert-ir/colbertv2.0", f32, &build);
        assert!(hub.starts_with("scifact-colbertv2.0-pq2-"), "{hub}");
        let scalar = Wrap::parse_from([
            "x",
            "--codec",
            "scalar",
            "--nbits",
            "4",
            "--centroids",
            "64",
        ])
        .build;
        assert!(index_key("s", "s", "m", Precision::F32, &scalar).starts_with("s-m-sq4-c64-"));
    }

    #[test]
    fn explicit_dir_wins() {
        assert_eq!(
            root(Some(Path::new("some/cache"))).unwrap(),
            PathBuf::from("some/cache")
        );
    }
}
