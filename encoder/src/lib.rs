//! ColBERT token embeddings with candle.
//!
//! [`Encoder`] loads a local model directory (PyLate / sentence-transformers, colbert-ai, or a
//! plain BERT sentence-transformers model) or a hub id resolved into the Hugging Face cache,
//! and turns queries and documents into L2-normalised token embeddings exactly as PyLate does
//! (markers at position 1, `[MASK]` query expansion, truncation keeping `[SEP]`, skiplist
//! filtering after the forward pass). The forward pass is candle-transformers' BERT (exact
//! erf GELU) or ModernBERT, on the CPU in f32 or on CUDA with the `cuda` feature.
//!
//! ```no_run
//! use tartan_encoder::{Device, Encoder};
//! let enc = Encoder::load("../shared/models/minilm-colbert-pylate", Device::Cpu)?;
//! let q = enc.encode_queries(&["what is late interaction?"])?;
//! let d = enc.encode_documents(&["ColBERT scores documents with MaxSim."], 32)?;
//! println!("{}", q[0].maxsim(&d[0]));
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
