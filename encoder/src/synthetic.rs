//! Seeded random BERT encoders built in memory, with no files: for benchmarks and for
//! checking a device against the CPU on identical weights where no checkpoint is at hand.
//!
//! Weights are drawn on the host from a SplitMix64 stream seeded by the seed and the tensor's
//! name, so every device gets bit-identical weights. The tokenizer is a WordPiece over the
//! words `w7 .. w{vocab-1}` plus the BERT special tokens and PyLate's `[Q] ` / `[D] ` markers.

use std::str::FromStr;

use candle_core::{DType, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use tokenizers::Tokenizer;

use crate::backbone::{Architecture, Backbone};
use crate::checkpoint::{Checkpoint, Layout};
use crate::device::Device;
use crate::encoder::{Encoder, LoadOptions};
use crate::error::{CandleContext, EncoderError, Result};
use crate::projection::{Activation, CpuDense, Dense};
use crate::settings::ColbertSettings;
use crate::tokenize::TextTokenizer;

/// First vocabulary id of the ordinary words `w{id}`.
pub const FIRST_WORD_ID: usize = 7;

/// Sizes of a synthetic BERT ColBERT model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticConfig {
    /// A label for reports.
    pub name: String,
    /// Transformer layers.
    pub num_layers: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Feed-forward size.
    pub intermediate_size: usize,
    /// Vocabulary size (at least `FIRST_WORD_ID + 1`).
    pub vocab_size: usize,
    /// Projection width (ColBERT dim).
    pub dim: usize,
}

impl SyntheticConfig {
    /// all-MiniLM-L6-v2's shape: 6 layers, 384 wide, 12 heads, 1536 feed-forward.
    pub fn minilm() -> Self {
        Self {
            name: "minilm-l6-h384".into(),
            num_layers: 6,
            hidden_size: 384,
            num_heads: 12,
            intermediate_size: 1536,
            vocab_size: 30522,
            dim: 128,
        }
    }

    /// BERT-base's shape (colbertv2.0): 12 layers, 768 wide, 12 heads, 3072 feed-forward.
    pub fn bert_base() -> Self {
        Self {
            name: "bert-base".into(),
            num_layers: 12,
            hidden_size: 768,
            num_heads: 12,
            intermediate_size: 3072,
            vocab_size: 30522,
            dim: 128,
        }
    }

    fn bert_config_json(&self) -> String {
        serde_json::json!({
            "vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers, "num_attention_heads": self.num_heads,
            "intermediate_size": self.intermediate_size, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "model_type": "bert"
        })
        .to_string()
    }
}

/// SplitMix64: a tiny, well-mixed, seedable generator (no dependency needed).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn next_signed_unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A weight source that draws every tensor it is asked for (std 0.02, like BERT's init);
/// constant hints (LayerNorm's 1 and 0) are honoured.
struct SeededBackend {
    seed: u64,
}

impl SimpleBackend for SeededBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &candle_core::Device,
    ) -> candle_core::Result<Tensor> {
        let host = match h {
            Init::Const(v) => Tensor::full(v as f32, s, &candle_core::Device::Cpu)?,
            _ => {
                let mut rng = SplitMix64(self.seed ^ fnv1a(name));
                let scale = 0.02 * 3f32.sqrt();
                let data: Vec<f32> = (0..s.elem_count())
                    .map(|_| rng.next_signed_unit() * scale)
                    .collect();
                Tensor::from_vec(data, s, &candle_core::Device::Cpu)?
            }
        };
        host.to_dtype(dtype)?.to_device(dev)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &candle_core::Device,
    ) -> candle_core::Result<Tensor> {
        candle_core::bail!("synthetic weights need a shape for {name}")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        false
    }
}

/// The synthetic WordPiece tokenizer of a `vocab_size` vocabulary, as `tokenizer.json` text.
fn synthetic_tokenizer(vocab_size: usize) -> Result<Tokenizer> {
    let mut vocab = serde_json::Map::with_capacity(vocab_size);
    for (i, t) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[Q] ", "[D] "]
        .iter()
        .enumerate()
    {
        vocab.insert((*t).to_string(), i.into());
    }
    for i in FIRST_WORD_ID..vocab_size {
        vocab.insert(format!("w{i}"), i.into());
    }
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    });
    Tokenizer::from_str(&json.to_string()).map_err(|e| EncoderError::Tokenizer {
        context: "building the synthetic WordPiece tokenizer".into(),
        message: e.to_string(),
    })
}

/// A ColBERT encoder with seeded random BERT weights of the given shape, PyLate settings
/// (`[Q] ` / `[D] ` markers, 32 / 180 tokens, `[MASK]` expansion) on `device`.
pub fn random_encoder(config: &SyntheticConfig, seed: u64, device: Device) -> Result<Encoder> {
    random_encoder_with(
        config,
        seed,
        &LoadOptions {
            device,
            ..LoadOptions::default()
        },
    )
}

/// [`random_encoder`] with the device, lengths, precision and threads of `options`.
pub fn random_encoder_with(
    config: &SyntheticConfig,
    seed: u64,
    options: &LoadOptions,
) -> Result<Encoder> {
    let device = options.device;
    let pool = crate::encoder::own_pool(options.threads)?;
    if config.vocab_size <= FIRST_WORD_ID {
        return Err(EncoderError::InvalidSetting {
            name: "vocab_size".into(),
            message: format!("must exceed {FIRST_WORD_ID}"),
        });
    }
    let candle_device = device.to_candle()?;
    let precision = crate::encoder::device_precision(device, options.precision);
    let dtype = if !device_is_cpu(device) && precision == crate::cpu::Precision::Bf16 {
        DType::BF16
    } else {
        DType::F32
    };
    let vb = VarBuilder::from_backend(
        Box::new(SeededBackend { seed }),
        dtype,
        candle_device.clone(),
    );
    let backbone = Backbone::load_bert(vb.clone(), &config.bert_config_json(), precision, None)?;
    let w = vb
        .get_with_hints(
            (config.dim, config.hidden_size),
            "linear.weight",
            Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )
        .and_then(|w| w.to_dtype(DType::F32))
        .context(|| "synthetic projection".into())?;
    let projection = vec![Dense::new(&w, None, Activation::Identity)?];
    let mut settings = ColbertSettings {
        query_prefix: Some("[Q] ".into()),
        document_prefix: Some("[D] ".into()),
        ..ColbertSettings::default()
    };
    if let Some(q) = options.overrides.query_length {
        settings.query_length = q;
    }
    if let Some(d) = options.overrides.document_length {
        settings.document_length = d;
    }
    let tokenizer = TextTokenizer::new(synthetic_tokenizer(config.vocab_size)?, settings)?;
    let cpu_projection = CpuDense::for_backbone(&backbone, &projection)?;
    Ok(Encoder {
        checkpoint: Checkpoint {
            layout: Layout::Pylate,
            architecture: Architecture::Bert,
            backbone,
            projection,
            cpu_projection,
            tokenizer,
            hidden_size: config.hidden_size,
        },
        device,
        candle_device,
        model: format!("synthetic:{}:seed{seed}", config.name),
        pool,
    })
}

fn device_is_cpu(device: Device) -> bool {
    matches!(device, Device::Cpu)
}

/// `n` texts of `words` random words each from the synthetic vocabulary (one token a word).
pub fn synthetic_texts(n: usize, words: usize, vocab_size: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64(seed);
    let span = vocab_size.saturating_sub(FIRST_WORD_ID).max(1) as u64;
    (0..n)
        .map(|_| {
            (0..words)
                .map(|_| format!("w{}", FIRST_WORD_ID as u64 + rng.next_u64() % span))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// English documents longer than 180 tokens, each starting at a different word.
pub fn english_documents(n: usize) -> Vec<String> {
    let words: Vec<&str> = "Late interaction retrieval models such as ColBERT encode every token \
        of a query and every token of a document into its own small vector, instead of squeezing \
        a whole passage into a single embedding. At search time, each query vector looks for its \
        most similar document vector, and the relevance score is the sum of those maximum \
        similarities, an operator usually called MaxSim. This design keeps much of the expressive \
        power of a cross-encoder, because fine-grained token matches still count, while allowing \
        the document side to be computed offline and stored in an index."
        .split_whitespace()
        .collect();
    (0..n)
        .map(|i| {
            (0..260)
                .map(|k| words[(i * 7 + k) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `n` short English queries about late interaction, numbered so that none repeats.
pub fn english_queries(n: usize) -> Vec<String> {
    let base = [
        "what is late interaction retrieval",
        "how does PLAID prune candidate documents",
        "residual compression of token embeddings with two bits",
        "why does MaxSim keep token level matches",
    ];
    (0..n)
        .map(|i| format!("{} {i}", base[i % base.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> SyntheticConfig {
        SyntheticConfig {
            name: "tiny".into(),
            num_layers: 2,
            hidden_size: 32,
            num_heads: 4,
            intermediate_size: 64,
            vocab_size: 100,
            dim: 16,
        }
    }

    #[test]
    fn same_seed_same_vectors_different_seed_different_vectors() {
        let texts = synthetic_texts(3, 20, 100, 7);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let a = random_encoder(&tiny(), 1, Device::Cpu).unwrap();
        let b = random_encoder(&tiny(), 1, Device::Cpu).unwrap();
        let c = random_encoder(&tiny(), 2, Device::Cpu).unwrap();
        let ea = a.encode_documents(&refs, 2).unwrap();
        assert_eq!(ea, b.encode_documents(&refs, 2).unwrap());
        assert_ne!(ea, c.encode_documents(&refs, 2).unwrap());
        // [CLS] [D] + 20 words + [SEP]
        assert_eq!(ea[0].rows(), 23);
        assert_eq!(ea[0].dim, 16);
    }

    #[test]
    fn synthetic_texts_tokenise_one_token_per_word() {
        let enc = random_encoder(&tiny(), 0, Device::Cpu).unwrap();
        let texts = synthetic_texts(2, 300, 100, 3);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let inputs = enc.tokenize_documents(&refs).unwrap();
        assert!(inputs.iter().all(|x| x.len() == 180));
        assert!(inputs.iter().all(|x| !x.ids.contains(&1)), "no [UNK]");
    }
}
