//! Text to model inputs, following PyLate's conventions (see the fixture README):
//! strip the text, tokenise with `[CLS]`/`[SEP]` and truncation at `length - 1` (room for the
//! marker), insert the marker id at position 1, then pad queries with `[MASK]`.

use std::collections::HashSet;
use std::path::Path;

use tokenizers::{PostProcessor, Tokenizer, TruncationParams};

use crate::error::{EncoderError, Result};
use crate::settings::ColbertSettings;

/// One tokenised text as it is fed to the transformer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInput {
    /// Token ids, `[CLS]` and marker included.
    pub ids: Vec<u32>,
    /// 1 where the position is attended, 0 for unattended `[MASK]` expansion tokens.
    pub attention_mask: Vec<u32>,
    /// Whether the position produces an output vector (false for skiplist tokens).
    pub keep: Vec<bool>,
}

impl ModelInput {
    /// Number of positions.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no positions (never the case for inputs made by the encoder).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of output vectors this input produces.
    pub fn num_kept(&self) -> usize {
        self.keep.iter().filter(|&&k| k).count()
    }
}

/// Whether a text is a query or a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A query: query marker, `[MASK]` expansion, every position kept.
    Query,
    /// A document: document marker, truncation, skiplist.
    Document,
}

/// The checkpoint's tokenizer, configured once for queries and once for documents.
#[derive(Clone)]
pub(crate) struct TextTokenizer {
    query: Tokenizer,
    document: Tokenizer,
    query_prefix_id: Option<u32>,
    document_prefix_id: Option<u32>,
    mask_id: Option<u32>,
    skiplist: HashSet<u32>,
    settings: ColbertSettings,
}

fn tokenizer_error(context: impl Into<String>, e: impl std::fmt::Display) -> EncoderError {
    EncoderError::Tokenizer {
        context: context.into(),
        message: e.to_string(),
    }
}

/// Looks a marker up by exact content (PyLate's `"[Q] "` has a trailing space), then trimmed.
fn marker_id(tok: &Tokenizer, name: &str, marker: &Option<String>) -> Result<Option<u32>> {
    let Some(marker) = marker else {
        return Ok(None);
    };
    tok.token_to_id(marker)
        .or_else(|| tok.token_to_id(marker.trim()))
        .map(Some)
        .ok_or_else(|| EncoderError::InvalidSetting {
            name: name.into(),
            message: format!("marker token {marker:?} is not in the tokenizer's vocabulary"),
        })
}

impl TextTokenizer {
    /// Parses `tokenizer.json`; [`TextTokenizer::new`] then removes the truncation and padding
    /// baked into it.
    pub(crate) fn parse(path: &Path) -> Result<Tokenizer> {
        Tokenizer::from_file(path).map_err(|e| tokenizer_error(path.display().to_string(), e))
    }

    /// Configures a tokenizer for the given settings.
    pub(crate) fn new(mut tok: Tokenizer, settings: ColbertSettings) -> Result<Self> {
        tok.with_padding(None);
        tok.with_truncation(None)
            .map_err(|e| tokenizer_error("disabling truncation", e))?;
        let query_prefix_id = marker_id(&tok, "query_prefix", &settings.query_prefix)?;
        let document_prefix_id = marker_id(&tok, "document_prefix", &settings.document_prefix)?;
        let mask_id = ["[MASK]", "<mask>"].iter().find_map(|m| tok.token_to_id(m));
        if settings.do_query_expansion && mask_id.is_none() {
            return Err(EncoderError::InvalidSetting {
                name: "do_query_expansion".into(),
                message: "the tokenizer has no [MASK] / <mask> token to expand queries with".into(),
            });
        }
        let specials = tok
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        let with_limit =
            |name: &str, length: usize, marker: Option<u32>| -> Result<Tokenizer> {
                let room = length.saturating_sub(usize::from(marker.is_some()));
                if room <= specials {
                    return Err(EncoderError::InvalidSetting {
                        name: name.into(),
                        message: format!(
                        "{length} tokens leave no room for text after {specials} special tokens{}",
                        if marker.is_some() { " and the marker" } else { "" }
                    ),
                    });
                }
                let mut t = tok.clone();
                t.with_truncation(Some(TruncationParams {
                    max_length: room,
                    ..TruncationParams::default()
                }))
                .map_err(|e| tokenizer_error(format!("setting truncation for {name}"), e))?;
                Ok(t)
            };
        let query = with_limit("query_length", settings.query_length, query_prefix_id)?;
        let document = with_limit(
            "document_length",
            settings.document_length,
            document_prefix_id,
        )?;
        // Skiplist words match by exact vocabulary id; a word outside the vocabulary matches
        // nothing (it must not turn into [UNK] and drop unknown tokens).
        let skiplist = settings
            .skiplist_words
            .iter()
            .filter_map(|w| tok.token_to_id(w))
            .collect();
        Ok(Self {
            query,
            document,
            query_prefix_id,
            document_prefix_id,
            mask_id,
            skiplist,
            settings,
        })
    }

    /// The settings in force.
    pub(crate) fn settings(&self) -> &ColbertSettings {
        &self.settings
    }

    /// The skiplist as vocabulary ids.
    pub(crate) fn skiplist_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.skiplist.iter().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Tokenises texts in parallel. Leading/trailing whitespace is stripped, so an empty or
    /// whitespace-only text becomes `[CLS] marker [SEP]`.
    pub(crate) fn tokenize(&self, texts: &[&str], kind: TextKind) -> Result<Vec<ModelInput>> {
        let (tok, marker) = match kind {
            TextKind::Query => (&self.query, self.query_prefix_id),
            TextKind::Document => (&self.document, self.document_prefix_id),
        };
        let stripped: Vec<&str> = texts.iter().map(|t| t.trim()).collect();
        let encodings = tok
            .encode_batch(stripped, true)
            .map_err(|e| tokenizer_error("encoding a batch of texts", e))?;
        Ok(encodings
            .into_iter()
            .map(|enc| {
                let mut ids = enc.get_ids().to_vec();
                if let Some(m) = marker {
                    ids.insert(1.min(ids.len()), m);
                }
                self.finish(ids, kind)
            })
            .collect())
    }

    fn finish(&self, mut ids: Vec<u32>, kind: TextKind) -> ModelInput {
        let n = ids.len();
        let mut attention_mask = vec![1u32; n];
        match kind {
            TextKind::Query => {
                let target = self.settings.query_length;
                if let (true, Some(mask)) = (self.settings.do_query_expansion, self.mask_id) {
                    if n < target {
                        ids.resize(target, mask);
                        let att = u32::from(self.settings.attend_to_expansion_tokens);
                        attention_mask.resize(target, att);
                    }
                }
                let keep = vec![true; ids.len()];
                ModelInput {
                    ids,
                    attention_mask,
                    keep,
                }
            }
            TextKind::Document => {
                let keep = ids.iter().map(|id| !self.skiplist.contains(id)).collect();
                ModelInput {
                    ids,
                    attention_mask,
                    keep,
                }
            }
        }
    }
}
