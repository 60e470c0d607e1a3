//! The CPU forward pass of BERT, written for one query as much as for a batch of documents.
//!
//! candle runs one op at a time, each allocating its output and using one thread for the
//! small matrices of a single 32-token query. Here the layers work on plain `f32` rows with
//! explicit parallelism: every linear layer splits its output columns over the threads it is
//! given (one single-threaded `gemm` per share, the bias and GELU applied to the share while it
//! is in cache), attention runs one task per (text, head), and the row-wise steps (layer norm,
//! residual) are fused. Weights come straight from the memory-mapped safetensors file, in
//! f32, or reduced to bf16 / int8 at load time (see [`Precision`]).

mod attention;
mod bert;
mod bf16;
mod int8;
mod linear;
mod parallel;
mod precision;
mod rows;
mod weights;

pub(crate) use bert::Bert;
pub(crate) use linear::{Activation, Linear};
pub use precision::Precision;
pub(crate) use rows::l2_normalize_rows;
pub(crate) use weights::{MappedWeights, VarBuilderWeights};
