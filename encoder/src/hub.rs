//! Resolving `owner/name` hub ids into the standard Hugging Face cache with hf-hub.
//!
//! `HF_HOME` picks the cache (`$HF_HOME/hub`, else `~/.cache/huggingface/hub`), `HF_ENDPOINT`
//! the server, `HF_HUB_OFFLINE=1` skips the network. Offline, a model already in the cache is
//! used as is; with nothing cached the error names the cache folder and asks for a local
//! directory instead.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{EncoderError, Result};

/// Top-level files a checkpoint may use; all others are not downloaded.
const ROOT_FILES: &[&str] = &[
    "config.json",
    "tokenizer.json",
    "model.safetensors",
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "artifact.metadata",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// Files inside module folders (`1_Dense/`, `0_Transformer/`) that a checkpoint may use.
const MODULE_FILES: &[&str] = &["config.json", "model.safetensors", "tokenizer.json"];

/// True when `model` is not an existing path and looks like `owner/name`.
pub(crate) fn looks_like_hub_id(model: &str) -> bool {
    if Path::new(model).exists() {
        return false;
    }
    let mut parts = model.split('/');
    let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    ok(owner) && ok(name)
}

fn wanted(file: &str) -> bool {
    match file.split_once('/') {
        None => ROOT_FILES.contains(&file),
        Some((dir, rest)) => !dir.is_empty() && !rest.contains('/') && MODULE_FILES.contains(&rest),
    }
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// The snapshot directory of `repo_id`: fetched (files not yet cached) when the hub answers,
/// else taken from the cache.
pub(crate) fn resolve(repo_id: &str) -> Result<PathBuf> {
    let cache = Cache::from_env();
    let repo = Repo::new(repo_id.to_string(), RepoType::Model);
    let endpoint =
        std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".to_string());
    let reason = if offline() {
        "HF_HUB_OFFLINE is set".to_string()
    } else {
        match fetch(repo_id) {
            Ok(dir) => return Ok(dir),
            Err(reason) => reason,
        }
    };
    if let Some(config) = cache.repo(repo.clone()).get("config.json") {
        if let Some(dir) = config.parent() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(EncoderError::HubUnavailable {
        repo_id: repo_id.to_string(),
        endpoint,
        cache_dir: cache.path().clone(),
        cache_folder: repo.folder_name(),
        reason,
    })
}

/// Lists the repository, downloads the files a checkpoint uses, returns the snapshot folder.
fn fetch(repo_id: &str) -> std::result::Result<PathBuf, String> {
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| e.to_string())?;
    let repo = api.model(repo_id.to_string());
    let info = repo.info().map_err(|e| e.to_string())?;
    let mut snapshot = None;
    for file in info.siblings.iter().map(|s| s.rfilename.as_str()) {
        if !wanted(file) {
            continue;
        }
        let local = repo
            .get(file)
            .map_err(|e| format!("downloading {file}: {e}"))?;
        if !file.contains('/') {
            snapshot = local.parent().map(Path::to_path_buf);
        }
    }
    snapshot.ok_or_else(|| format!("the repository lists none of {ROOT_FILES:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_are_recognised() {
        assert!(looks_like_hub_id("colbert-ir/colbertv2.0"));
        assert!(looks_like_hub_id("lightonai/GTE-ModernColBERT-v1"));
        assert!(!looks_like_hub_id("colbertv2.0"));
        assert!(!looks_like_hub_id("./a/b"));
        assert!(!looks_like_hub_id("/abs/path"));
        assert!(!looks_like_hub_id("a/b/c"));
        assert!(!looks_like_hub_id(".."));
    }

    #[test]
    fn only_checkpoint_files_are_wanted() {
        assert!(wanted("model.safetensors"));
        assert!(wanted("1_Dense/model.safetensors"));
        assert!(wanted("1_Dense/config.json"));
        assert!(!wanted("pytorch_model.bin"));
        assert!(!wanted("onnx/model.onnx"));
        assert!(!wanted("README.md"));
        assert!(!wanted("a/b/config.json"));
    }
}
