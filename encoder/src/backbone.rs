//! The transformer under the projection: BERT or ModernBERT from candle-transformers.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, modernbert};
use serde::Deserialize;

use crate::cpu::{MappedWeights, Precision, VarBuilderWeights};
use crate::error::{CandleContext, EncoderError, Result};

/// The architectures this encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT (and MiniLM, which is a small BERT).
    Bert,
    /// ModernBERT.
    ModernBert,
}

impl Architecture {
    /// The `model_type` string of `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Bert => "bert",
            Architecture::ModernBert => "modernbert",
        }
    }
}

/// The fields of `config.json` used to pick the architecture and validate lengths.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigHead {
    pub(crate) model_type: Option<String>,
    #[serde(default)]
    pub(crate) architectures: Vec<String>,
    pub(crate) hidden_size: usize,
    pub(crate) max_position_embeddings: Option<usize>,
}

impl ConfigHead {
    /// The architecture named by `model_type` (or `architectures`), if supported.
    pub(crate) fn architecture(&self) -> std::result::Result<Architecture, String> {
        let ty = self.model_type.clone().unwrap_or_default().to_lowercase();
        let arch = self.architectures.join(",").to_lowercase();
        if ty == "modernbert" || arch.contains("modernbert") {
            Ok(Architecture::ModernBert)
        } else if ty == "bert"
            || (ty.is_empty() && (arch.contains("bert") || arch.contains("colbert")))
        {
            Ok(Architecture::Bert)
        } else {
            Err(format!(
                "model_type {:?} (architectures {:?}) is neither bert nor modernbert",
                self.model_type, self.architectures
            ))
        }
    }
}

/// A loaded transformer.
pub(crate) enum Backbone {
    /// BERT on candle's ops (CUDA).
    Bert(crate::bert::Bert),
    /// BERT on the CPU forward pass of [`crate::cpu`].
    CpuBert(crate::cpu::Bert),
    /// ModernBERT on candle's ops.
    ModernBert(modernbert::ModernBert),
}

impl Backbone {
    /// Loads BERT weights. `vb` must already point at the BertModel root (no `bert.` prefix);
    /// on the CPU they are read from `mapped` when given (the same file, mapped once more so
    /// they are copied only once), else through `vb`, and kept at `precision`.
    pub(crate) fn load_bert(
        vb: VarBuilder,
        config_json: &str,
        precision: Precision,
        mapped: Option<&MappedWeights>,
    ) -> Result<Self> {
        let config = bert_config(config_json)?;
        if vb.device().is_cpu() {
            let model = match mapped {
                Some(m) => crate::cpu::Bert::load(m, &config, precision)?,
                None => crate::cpu::Bert::load(&VarBuilderWeights(vb), &config, precision)?,
            };
            return Ok(Backbone::CpuBert(model));
        }
        let model =
            crate::bert::Bert::load(vb, &config).context(|| "loading BERT weights".into())?;
        Ok(Backbone::Bert(model))
    }

    /// Loads ModernBERT weights; `vb` must resolve `model.`-prefixed names.
    pub(crate) fn load_modernbert(vb: VarBuilder, config_json: &str) -> Result<Self> {
        let config = crate::modernbert_config::candle_config(config_json).map_err(|message| {
            EncoderError::InvalidSetting {
                name: "config.json".into(),
                message,
            }
        })?;
        let model = modernbert::ModernBert::load(vb, &config)
            .context(|| "loading ModernBERT weights".into())?;
        Ok(Backbone::ModernBert(model))
    }

    /// `last_hidden_state` of a padded batch: ids and mask are `[batch, len]` u32.
    pub(crate) fn forward(&self, ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        match self {
            Backbone::Bert(m) => m
                .forward(ids, attention_mask)
                .context(|| "BERT forward pass".into()),
            Backbone::CpuBert(m) => {
                let (b, t) = ids.dims2().context(|| "input ids".into())?;
                let flat = |x: &Tensor| {
                    x.flatten_all()
                        .and_then(|x| x.to_vec1::<u32>())
                        .context(|| "reading inputs".into())
                };
                let hidden = m.forward(&flat(ids)?, &flat(attention_mask)?, b, t, 1)?;
                let h = hidden.len() / (b * t).max(1);
                Tensor::from_vec(hidden, (b, t, h), ids.device())
                    .context(|| "BERT hidden states".into())
            }
            Backbone::ModernBert(m) => {
                let mask = attention_mask
                    .to_dtype(DType::F32)
                    .context(|| "ModernBERT mask".into())?;
                m.forward(ids, &mask)
                    .context(|| "ModernBERT forward pass".into())
            }
        }
    }
}

/// candle-transformers' BERT config from `config.json` text.
fn bert_config(config_json: &str) -> Result<bert::Config> {
    let mut value: serde_json::Value =
        serde_json::from_str(config_json).map_err(|e| EncoderError::InvalidSetting {
            name: "config.json".into(),
            message: e.to_string(),
        })?;
    // transformers' tanh-approximated GELU names map to candle's `GeluApproximate`.
    if let Some(act) = value.get_mut("hidden_act") {
        if matches!(
            act.as_str(),
            Some("gelu_new" | "gelu_pytorch_tanh" | "gelu_fast")
        ) {
            *act = serde_json::Value::from("geluapproximate");
        }
    }
    let mut config: bert::Config =
        serde_json::from_value(value).map_err(|e| EncoderError::InvalidSetting {
            name: "config.json".into(),
            message: format!("not a BERT config: {e}"),
        })?;
    // The caller already resolved prefixes.
    config.model_type = None;
    // transformers' "gelu" is the exact erf GELU (HiddenAct::Gelu).
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(model_type: Option<&str>, arch: &[&str]) -> ConfigHead {
        ConfigHead {
            model_type: model_type.map(str::to_owned),
            architectures: arch.iter().map(|s| s.to_string()).collect(),
            hidden_size: 8,
            max_position_embeddings: None,
        }
    }

    #[test]
    fn architecture_detection() {
        assert_eq!(
            head(Some("bert"), &[]).architecture(),
            Ok(Architecture::Bert)
        );
        assert_eq!(
            head(None, &["HF_ColBERT"]).architecture(),
            Ok(Architecture::Bert)
        );
        assert_eq!(
            head(Some("modernbert"), &["ModernBertModel"]).architecture(),
            Ok(Architecture::ModernBert)
        );
        assert!(head(Some("t5"), &["T5Model"]).architecture().is_err());
    }
}
