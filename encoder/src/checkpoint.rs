//! Reading a local model directory in the layouts users have:
//!
//! | layout | recognised by | projection | settings |
//! |---|---|---|---|
//! | PyLate / sentence-transformers ColBERT | `modules.json` with a `Dense` module | `<n>_Dense/model.safetensors` | `config_sentence_transformers.json` |
//! | colbert-ai (`colbert-ir/colbertv2.0`) | `linear.weight` beside the BERT weights | `linear.weight` | `artifact.metadata`, else colbert-ai defaults |
//! | plain sentence-transformers / HF BERT | neither | none (hidden-size vectors) | `config_sentence_transformers.json` if any, no markers |

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Deserialize;

use crate::backbone::{Architecture, Backbone, ConfigHead};
use crate::cpu::{MappedWeights, Precision};
use crate::error::{read_json, read_text, CandleContext, EncoderError, Result};
use crate::projection::{mmap_safetensors, Activation, CpuDense, Dense};
use crate::settings::ColbertSettings;
use crate::tokenize::TextTokenizer;

/// How the checkpoint directory is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// PyLate (or sentence-transformers) with Dense projection module(s).
    Pylate,
    /// colbert-ai: `linear.weight` in the same file as the BERT weights.
    ColbertAi,
    /// A plain BERT / sentence-transformers model: no projection.
    Plain,
}

impl Layout {
    /// A short name recorded in [`crate::Encoder::settings`].
    pub fn name(self) -> &'static str {
        match self {
            Layout::Pylate => "pylate",
            Layout::ColbertAi => "colbert-ai",
            Layout::Plain => "plain",
        }
    }
}

/// Caller overrides applied on top of the checkpoint's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsOverride {
    /// Replaces the query length.
    pub query_length: Option<usize>,
    /// Replaces the document length.
    pub document_length: Option<usize>,
}

/// Everything loaded from a model directory.
pub(crate) struct Checkpoint {
    pub(crate) layout: Layout,
    pub(crate) architecture: Architecture,
    pub(crate) backbone: Backbone,
    pub(crate) projection: Vec<Dense>,
    /// The projection for the CPU forward pass (empty on other devices).
    pub(crate) cpu_projection: Vec<CpuDense>,
    pub(crate) tokenizer: TextTokenizer,
    pub(crate) hidden_size: usize,
}

#[derive(Debug, Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

fn missing(dir: &Path, file: &str, why: &str) -> EncoderError {
    EncoderError::MissingFile {
        dir: dir.to_path_buf(),
        file: file.into(),
        why: why.into(),
    }
}

fn require(dir: &Path, file: &str, why: &str) -> Result<PathBuf> {
    let p = dir.join(file);
    if p.is_file() {
        Ok(p)
    } else {
        Err(missing(dir, file, why))
    }
}

impl Checkpoint {
    /// Loads a model directory onto `device`.
    pub(crate) fn load(
        dir: &Path,
        overrides: &SettingsOverride,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        if !dir.is_dir() {
            return Err(EncoderError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such model directory",
                ),
            });
        }
        // sentence-transformers pipeline: where the transformer lives, which Dense modules follow.
        let modules_path = dir.join("modules.json");
        let modules: Vec<Module> = if modules_path.is_file() {
            read_json(&modules_path)?
        } else {
            Vec::new()
        };
        let transformer_dir = modules
            .iter()
            .find(|m| m.kind.ends_with("Transformer"))
            .map_or_else(|| dir.to_path_buf(), |m| dir.join(&m.path));
        let dense_dirs: Vec<PathBuf> = modules
            .iter()
            .filter(|m| m.kind.ends_with(".Dense"))
            .map(|m| dir.join(&m.path))
            .collect();

        let config_path = require(
            &transformer_dir,
            "config.json",
            "the transformer's configuration",
        )?;
        let tokenizer_path = require(
            &transformer_dir,
            "tokenizer.json",
            "the fast tokenizer; save it with transformers' tokenizer.save_pretrained",
        )?;
        let weights_path = transformer_dir.join("model.safetensors");
        if !weights_path.is_file() {
            let why = if transformer_dir.join("pytorch_model.bin").is_file() {
                "only pytorch_model.bin is present: convert it to safetensors \
                 (model.save_pretrained(dir, safe_serialization=True))"
            } else {
                "the transformer weights"
            };
            return Err(missing(&transformer_dir, "model.safetensors", why));
        }

        let config_json = read_text(&config_path)?;
        let head: ConfigHead =
            serde_json::from_str(&config_json).map_err(|source| EncoderError::Json {
                path: config_path.clone(),
                source,
            })?;
        let architecture = head
            .architecture()
            .map_err(|what| EncoderError::Unsupported {
                dir: transformer_dir.clone(),
                what,
            })?;
        // On a GPU, bf16 weights run candle's BERT in bf16 (the CPU converts its own copy).
        let dtype = if !device.is_cpu() && precision == Precision::Bf16 {
            candle_core::DType::BF16
        } else {
            candle_core::DType::F32
        };
        let vb = mmap_safetensors(&weights_path, device, dtype)?;
        let unsupported = |what: &str| EncoderError::Unsupported {
            dir: transformer_dir.clone(),
            what: what.into(),
        };
        let load_backbone = || -> Result<Backbone> {
            Ok(match architecture {
                Architecture::Bert => {
                    let (root, prefix) = if vb
                        .contains_tensor("bert.embeddings.word_embeddings.weight")
                    {
                        (vb.pp("bert"), "bert.")
                    } else if vb.contains_tensor("embeddings.word_embeddings.weight") {
                        (vb.clone(), "")
                    } else {
                        return Err(unsupported(
                        "model.safetensors has no embeddings.word_embeddings.weight (nor under bert.)",
                    ));
                    };
                    let mapped = if device.is_cpu() {
                        Some(MappedWeights::open(&weights_path, prefix)?)
                    } else {
                        None
                    };
                    Backbone::load_bert(root, &config_json, precision, mapped.as_ref())?
                }
                Architecture::ModernBert => {
                    let root = if vb.contains_tensor("model.embeddings.tok_embeddings.weight") {
                        vb.clone()
                    } else if vb.contains_tensor("embeddings.tok_embeddings.weight") {
                        // sentence-transformers saves ModernBertModel without the `model.` prefix.
                        vb.clone()
                            .rename_f(|n| n.strip_prefix("model.").unwrap_or(n).to_string())
                    } else {
                        return Err(unsupported(
                        "model.safetensors has no embeddings.tok_embeddings.weight (nor under model.)",
                    ));
                    };
                    Backbone::load_modernbert(root, &config_json)?
                }
            })
        };
        // The tokenizer's JSON parse overlaps the weights' conversion (both are most of a cold
        // start).
        let (backbone, raw_tokenizer) =
            rayon::join(load_backbone, || TextTokenizer::parse(&tokenizer_path));
        let backbone = backbone?;

        let st_config = dir.join("config_sentence_transformers.json");
        let (layout, projection, mut settings) = if !dense_dirs.is_empty() {
            let projection = dense_dirs
                .iter()
                .map(|d| Dense::load_module(d, device))
                .collect::<Result<Vec<_>>>()?;
            let settings = if st_config.is_file() {
                ColbertSettings::from_pylate_config(&st_config)?
            } else {
                ColbertSettings::default()
            };
            (Layout::Pylate, projection, settings)
        } else if vb.contains_tensor("linear.weight") {
            let w = vb
                .get_unchecked("linear.weight")
                .context(|| "reading colbert-ai linear.weight".into())?;
            let bias = if vb.contains_tensor("linear.bias") {
                Some(
                    vb.get_unchecked("linear.bias")
                        .context(|| "reading colbert-ai linear.bias".into())?,
                )
            } else {
                None
            };
            let projection = vec![Dense::new(&w, bias, Activation::Identity)?];
            let meta = dir.join("artifact.metadata");
            let settings = if meta.is_file() {
                ColbertSettings::from_colbert_metadata(&meta)?
            } else {
                ColbertSettings::colbert_ai_defaults()
            };
            (Layout::ColbertAi, projection, settings)
        } else {
            let settings = if st_config.is_file() {
                ColbertSettings::from_pylate_config(&st_config)?
            } else {
                ColbertSettings::default()
            };
            (Layout::Plain, Vec::new(), settings)
        };

        // The projection chain must fit the transformer's width.
        let mut width = head.hidden_size;
        for d in &projection {
            if d.in_features() != width {
                return Err(EncoderError::Unsupported {
                    dir: dir.to_path_buf(),
                    what: format!(
                        "projection expects width {} but receives {width}",
                        d.in_features()
                    ),
                });
            }
            width = d.out_features();
        }

        if let Some(q) = overrides.query_length {
            settings.query_length = q;
        }
        if let Some(d) = overrides.document_length {
            settings.document_length = d;
        }
        if let Some(max) = head.max_position_embeddings {
            for (name, len) in [
                ("query_length", settings.query_length),
                ("document_length", settings.document_length),
            ] {
                if len > max {
                    return Err(EncoderError::InvalidSetting {
                        name: name.into(),
                        message: format!("{len} exceeds the model's max_position_embeddings {max}"),
                    });
                }
            }
        }
        let tokenizer = TextTokenizer::new(raw_tokenizer?, settings)?;
        let cpu_projection = CpuDense::for_backbone(&backbone, &projection)?;
        Ok(Self {
            layout,
            architecture,
            backbone,
            projection,
            cpu_projection,
            tokenizer,
            hidden_size: head.hidden_size,
        })
    }
}
