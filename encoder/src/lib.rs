//! ColBERT token embeddings with candle.
//!
//! [`Encoder`] loads a local model directory (PyLate / sentence-transformers, colbert-ai, or a
//! plain BERT sentence-transformers model) or a hub id resolved into the Hugging Face cache,
//! and turns queries and documents into L2-normalised token embeddings exactly as PyLate does
//! (markers at position 1, `[MASK]` query expansion, truncation keeping `[SEP]`, skiplist
//! filtering after the forward pass). BERT runs on the CPU on tartan's own forward pass
//! (`cpu/`: f32, or bf16 / int8 linear layers where the CPU has AVX-512 BF16 / VNNI),
//! ModernBERT and every CUDA path (the `cuda` feature) on candle. Threads come from the
//! caller's rayon pool or [`LoadOptions::threads`]; nothing process-wide is set.
//!
//! A real checkpoint loads with `Encoder::load("path/to/model", Device::Cpu)`; the
//! example uses a seeded random model of one small layer instead:
//!
//! ```
//! use tartan_encoder::synthetic::{random_encoder, synthetic_texts, SyntheticConfig};
//! use tartan_encoder::Device;
//! let config = SyntheticConfig {
//!     name: "tiny".into(),
//!     num_layers: 1,
//!     hidden_size: 32,
//!     num_heads: 2,
//!     intermediate_size: 64,
//!     vocab_size: 100,
//!     dim: 16,
//! };
//! let encoder = random_encoder(&config, 7, Device::Cpu)?;
//! let texts = synthetic_texts(2, 12, config.vocab_size, 1);
//! let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
//! let docs = encoder.encode_documents(&texts, 32)?;
//! let query = &encoder.encode_queries(&texts[..1])?[0];
//! assert_eq!(query.data.len(), encoder.query_length() * encoder.dim());
//! println!("MaxSim {:.3} and {:.3}", query.maxsim(&docs[0]), query.maxsim(&docs[1]));
//! # Ok::<(), tartan_encoder::EncoderError>(())
//! ```
#![deny(missing_docs)]

mod backbone;
mod bert;
mod checkpoint;
mod cpu;
mod device;
mod embeddings;
mod encoder;
mod error;
mod gelu;
mod hub;
mod masked_softmax;
mod modernbert_config;
mod projection;
mod settings;
pub mod synthetic;
mod tokenize;

pub use backbone::Architecture;
pub use checkpoint::{Layout, SettingsOverride};
pub use cpu::Precision;
pub use device::Device;
pub use embeddings::Embeddings;
pub use encoder::{Encoder, LoadOptions, QUERY_BATCH_SIZE};
pub use error::{EncoderError, Result};
pub use settings::{punctuation_words, ColbertSettings, PUNCTUATION};
pub use tokenize::{ModelInput, TextKind};
