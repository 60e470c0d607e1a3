//! Encoding settings of a checkpoint (markers, lengths, expansion, skiplist) and how each
//! layout stores them.
//!
//! - PyLate / sentence-transformers: `config_sentence_transformers.json` (`query_prefix`,
//!   `document_prefix`, `query_length`, `document_length`, `do_query_expansion`,
//!   `attend_to_expansion_tokens`, `skiplist_words`).
//! - colbert-ai: `artifact.metadata` (`query_token_id` / `doc_token_id` = `[unused0]` /
//!   `[unused1]`, `query_maxlen`, `doc_maxlen`, `attend_to_mask_tokens`, `mask_punctuation`).
//! - plain sentence-transformers BERT: no markers, PyLate's defaults otherwise.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{read_json, Result};

/// Python's `string.punctuation`: PyLate's default skiplist and colbert-ai's `mask_punctuation`.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// How a checkpoint turns text into model inputs and which outputs it keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColbertSettings {
    /// Marker token inserted at position 1 of queries (exact vocabulary content), if any.
    pub query_prefix: Option<String>,
    /// Marker token inserted at position 1 of documents, if any.
    pub document_prefix: Option<String>,
    /// Query length in tokens, markers and `[CLS]`/`[SEP]` included.
    pub query_length: usize,
    /// Maximum document length in tokens, markers and `[CLS]`/`[SEP]` included.
    pub document_length: usize,
    /// Pad queries with `[MASK]` up to `query_length` (query augmentation).
    pub do_query_expansion: bool,
    /// Whether real tokens attend to the `[MASK]` expansion tokens.
    pub attend_to_expansion_tokens: bool,
    /// Tokens whose document positions produce no output vector (matched by id).
    pub skiplist_words: Vec<String>,
}

impl Default for ColbertSettings {
    /// PyLate's defaults (without markers, which a checkpoint must name).
    fn default() -> Self {
        Self {
            query_prefix: None,
            document_prefix: None,
            query_length: 32,
            document_length: 180,
            do_query_expansion: true,
            attend_to_expansion_tokens: false,
            skiplist_words: punctuation_words(),
        }
    }
}

/// The 32 characters of [`PUNCTUATION`], one string each.
pub fn punctuation_words() -> Vec<String> {
    PUNCTUATION.chars().map(String::from).collect()
}

/// `config_sentence_transformers.json` as PyLate writes it (only the fields used here).
#[derive(Debug, Default, Deserialize)]
struct PylateConfig {
    query_prefix: Option<String>,
    document_prefix: Option<String>,
    query_length: Option<usize>,
    document_length: Option<usize>,
    do_query_expansion: Option<bool>,
    attend_to_expansion_tokens: Option<bool>,
    skiplist_words: Option<Vec<String>>,
}

impl ColbertSettings {
    /// Settings from a PyLate `config_sentence_transformers.json`; absent fields take
    /// PyLate's defaults. A file without any ColBERT field (a plain sentence-transformers
    /// model) gives no markers.
    pub(crate) fn from_pylate_config(path: &Path) -> Result<Self> {
        let cfg: PylateConfig = read_json(path)?;
        let d = Self::default();
        Ok(Self {
            query_prefix: cfg.query_prefix.filter(|p| !p.is_empty()),
            document_prefix: cfg.document_prefix.filter(|p| !p.is_empty()),
            query_length: cfg.query_length.unwrap_or(d.query_length),
            document_length: cfg.document_length.unwrap_or(d.document_length),
            do_query_expansion: cfg.do_query_expansion.unwrap_or(d.do_query_expansion),
            attend_to_expansion_tokens: cfg
                .attend_to_expansion_tokens
                .unwrap_or(d.attend_to_expansion_tokens),
            skiplist_words: cfg.skiplist_words.unwrap_or(d.skiplist_words),
        })
    }

    /// colbert-ai's defaults: `[unused0]` / `[unused1]` markers, 32 / 180 tokens,
    /// punctuation masked, expansion tokens not attended.
    pub fn colbert_ai_defaults() -> Self {
        Self {
            query_prefix: Some("[unused0]".into()),
            document_prefix: Some("[unused1]".into()),
            ..Self::default()
        }
    }

    /// Settings from a colbert-ai `artifact.metadata` (JSON), over colbert-ai's defaults.
    pub(crate) fn from_colbert_metadata(path: &Path) -> Result<Self> {
        let meta: Value = read_json(path)?;
        Ok(Self::from_colbert_value(&meta))
    }

    fn from_colbert_value(meta: &Value) -> Self {
        let mut s = Self::colbert_ai_defaults();
        // Newer colbert-ai nests the config; older files are flat.
        let meta = meta.get("config").unwrap_or(meta);
        let str_of = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
        let usize_of = |k: &str| {
            meta.get(k)
                .and_then(Value::as_u64)
                .and_then(|v| usize::try_from(v).ok())
        };
        if let Some(q) = str_of("query_token_id") {
            s.query_prefix = Some(q);
        }
        if let Some(d) = str_of("doc_token_id") {
            s.document_prefix = Some(d);
        }
        if let Some(v) = usize_of("query_maxlen") {
            s.query_length = v;
        }
        if let Some(v) = usize_of("doc_maxlen") {
            s.document_length = v;
        }
        if let Some(v) = meta.get("attend_to_mask_tokens").and_then(Value::as_bool) {
            s.attend_to_expansion_tokens = v;
        }
        if let Some(false) = meta.get("mask_punctuation").and_then(Value::as_bool) {
            s.skiplist_words.clear();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_is_pythons_string_punctuation() {
        assert_eq!(PUNCTUATION.len(), 32);
        assert_eq!(punctuation_words().len(), 32);
        assert!(PUNCTUATION.is_ascii());
    }

    #[test]
    fn colbert_metadata_overrides_defaults() {
        let meta = serde_json::json!({
            "query_token_id": "[unused0]", "doc_token_id": "[unused1]",
            "query_maxlen": 64, "doc_maxlen": 300, "mask_punctuation": false,
            "attend_to_mask_tokens": true
        });
        let s = ColbertSettings::from_colbert_value(&meta);
        assert_eq!(s.query_length, 64);
        assert_eq!(s.document_length, 300);
        assert!(s.skiplist_words.is_empty());
        assert!(s.attend_to_expansion_tokens);
        assert_eq!(s.query_prefix.as_deref(), Some("[unused0]"));
    }

    #[test]
    fn colbert_metadata_nested_config_and_defaults() {
        let meta = serde_json::json!({"config": {"doc_maxlen": 220}});
        let s = ColbertSettings::from_colbert_value(&meta);
        assert_eq!(s.document_length, 220);
        assert_eq!(s.query_length, 32);
        assert_eq!(s.skiplist_words.len(), 32);
        assert_eq!(s.document_prefix.as_deref(), Some("[unused1]"));
    }
}
