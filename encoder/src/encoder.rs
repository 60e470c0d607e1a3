//! The encoder: tokenise, batch by length, run the transformer, project, normalise.

use std::path::Path;
use std::sync::Arc;

use candle_core::{Tensor, D};
use rayon::prelude::*;
use serde_json::json;

use crate::backbone::Architecture;
use crate::checkpoint::{Checkpoint, Layout, SettingsOverride};
use crate::cpu::Precision;
use crate::device::Device;
use crate::embeddings::Embeddings;
use crate::error::{CandleContext, EncoderError, Result};
use crate::hub;
use crate::settings::ColbertSettings;
use crate::tokenize::{ModelInput, TextKind};

/// Batch size [`Encoder::encode_queries`] uses.
pub const QUERY_BATCH_SIZE: usize = 32;

/// Options of [`Encoder::load_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Where the forward pass runs.
    pub device: Device,
    /// Overrides of the checkpoint's lengths.
    pub overrides: SettingsOverride,
    /// Precision of the linear layers on the CPU (BERT checkpoints; f32 where the CPU lacks
    /// the instructions, and on other devices).
    pub precision: Precision,
    /// Threads of the CPU forward pass: `Some(n)` gives the encoder a rayon pool of its own
    /// with `n` threads; `None` runs on the rayon pool of whoever calls it (the global pool
    /// unless the caller is inside `ThreadPool::install`). Nothing process-wide is changed.
    pub threads: Option<usize>,
}

/// A loaded ColBERT (or plain BERT) checkpoint that turns texts into token embeddings.
pub struct Encoder {
    pub(crate) checkpoint: Checkpoint,
    pub(crate) device: Device,
    pub(crate) candle_device: candle_core::Device,
    pub(crate) model: String,
    /// The encoder's own thread pool, when [`LoadOptions::threads`] asked for one.
    pub(crate) pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("model", &self.model)
            .field("device", &self.device)
            .field("layout", &self.checkpoint.layout)
            .field("dim", &self.dim())
            .field("precision", &self.precision())
            .field(
                "threads",
                &self.pool.as_ref().map(|p| p.current_num_threads()),
            )
            .finish()
    }
}

/// What a batch produces for each input.
#[derive(Clone, Copy)]
enum Output {
    /// Projected, normalised vectors of the kept positions.
    Kept,
    /// `last_hidden_state` of every position, before the projection.
    Hidden,
}

impl Encoder {
    /// Loads a local model directory, or a hub id (`owner/name`) resolved into the Hugging
    /// Face cache (hf-hub; `HF_HOME`, `HF_ENDPOINT`, `HF_HUB_OFFLINE` honoured).
    pub fn load(model: &str, device: Device) -> Result<Encoder> {
        Self::load_with(
            model,
            &LoadOptions {
                device,
                ..LoadOptions::default()
            },
        )
    }

    /// [`Encoder::load`] with length overrides.
    pub fn load_with(model: &str, options: &LoadOptions) -> Result<Encoder> {
        let dir = if hub::looks_like_hub_id(model) {
            hub::resolve(model)?
        } else {
            Path::new(model).to_path_buf()
        };
        let candle_device = options.device.to_candle()?;
        let pool = own_pool(options.threads)?;
        let precision = device_precision(options.device, options.precision);
        let load = || Checkpoint::load(&dir, &options.overrides, &candle_device, precision);
        let checkpoint = match &pool {
            Some(p) => p.install(load)?,
            None => load()?,
        };
        Ok(Encoder {
            checkpoint,
            device: options.device,
            candle_device,
            model: model.to_string(),
            pool,
        })
    }

    /// The precision the linear layers run at (f32 except on the CPU forward pass with a
    /// reduced [`LoadOptions::precision`] the CPU supports).
    pub fn precision(&self) -> Precision {
        match &self.checkpoint.backbone {
            crate::backbone::Backbone::CpuBert(m) => m.precision(),
            crate::backbone::Backbone::Bert(m) if m.is_bf16() => Precision::Bf16,
            _ => Precision::F32,
        }
    }

    /// Threads the encoder runs on: its own pool's, else the calling rayon pool's.
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or_else(rayon::current_num_threads, |p| p.current_num_threads())
    }

    /// Width of the output vectors (the projection's, or the hidden size without one).
    pub fn dim(&self) -> usize {
        self.checkpoint
            .projection
            .last()
            .map_or(self.checkpoint.hidden_size, |d| d.out_features())
    }

    /// Width of the transformer's hidden states.
    pub fn hidden_size(&self) -> usize {
        self.checkpoint.hidden_size
    }

    /// Query length in tokens (vectors per query with expansion).
    pub fn query_length(&self) -> usize {
        self.colbert_settings().query_length
    }

    /// Maximum document length in tokens.
    pub fn document_length(&self) -> usize {
        self.colbert_settings().document_length
    }

    /// The encoding settings in force.
    pub fn colbert_settings(&self) -> &ColbertSettings {
        self.checkpoint.tokenizer.settings()
    }

    /// The checkpoint layout.
    pub fn layout(&self) -> Layout {
        self.checkpoint.layout
    }

    /// The transformer architecture.
    pub fn architecture(&self) -> Architecture {
        self.checkpoint.architecture
    }

    /// The device the forward pass runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Everything needed to encode queries the same way later; recorded in an index's
    /// `meta.json`.
    pub fn settings(&self) -> serde_json::Value {
        let s = self.colbert_settings();
        json!({
            "model": self.model,
            "layout": self.layout().name(),
            "architecture": self.architecture().name(),
            "dim": self.dim(),
            "hidden_size": self.hidden_size(),
            "query_prefix": s.query_prefix,
            "document_prefix": s.document_prefix,
            "query_length": s.query_length,
            "document_length": s.document_length,
            "do_query_expansion": s.do_query_expansion,
            "attend_to_expansion_tokens": s.attend_to_expansion_tokens,
            "skiplist_words": s.skiplist_words,
            "skiplist_ids": self.checkpoint.tokenizer.skiplist_ids(),
            "normalize": true,
        })
    }

    /// Model inputs of queries (marker, `[MASK]` expansion).
    pub fn tokenize_queries(&self, texts: &[&str]) -> Result<Vec<ModelInput>> {
        self.checkpoint.tokenizer.tokenize(texts, TextKind::Query)
    }

    /// Model inputs of documents (marker, truncation, skiplist).
    pub fn tokenize_documents(&self, texts: &[&str]) -> Result<Vec<ModelInput>> {
        self.checkpoint
            .tokenizer
            .tokenize(texts, TextKind::Document)
    }

    /// Encodes queries: `query_length` vectors each when the checkpoint expands queries.
    pub fn encode_queries(&self, texts: &[&str]) -> Result<Vec<Embeddings>> {
        let inputs = self.tokenize_queries(texts)?;
        self.encode_inputs(&inputs, QUERY_BATCH_SIZE)
    }

    /// Encodes documents, `batch_size` at a time (sorted by length, padded per batch); one
    /// [`Embeddings`] per text, in input order, without padding or skiplist positions.
    pub fn encode_documents(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Embeddings>> {
        let inputs = self.tokenize_documents(texts)?;
        self.encode_inputs(&inputs, batch_size)
    }

    /// Encodes prepared inputs: the kept positions' projected, L2-normalised vectors.
    pub fn encode_inputs(
        &self,
        inputs: &[ModelInput],
        batch_size: usize,
    ) -> Result<Vec<Embeddings>> {
        self.run(inputs, batch_size, Output::Kept)
    }

    /// The transformer's `last_hidden_state` for every position of each input (hidden-size
    /// rows, before projection and normalisation); for checking the forward pass.
    pub fn hidden_states(
        &self,
        inputs: &[ModelInput],
        batch_size: usize,
    ) -> Result<Vec<Embeddings>> {
        self.run(inputs, batch_size, Output::Hidden)
    }

    fn run(
        &self,
        inputs: &[ModelInput],
        batch_size: usize,
        output: Output,
    ) -> Result<Vec<Embeddings>> {
        match &self.pool {
            Some(pool) => pool.install(|| self.run_here(inputs, batch_size, output)),
            // Called from outside any rayon pool (a server's request thread): the whole call
            // moves onto one of the global pool's threads first, since every parallel step
            // entered from outside would park and wake the calling thread (dozens of times
            // a query: a single query took 1.4x longer on 2 threads than on 1).
            None if rayon::current_thread_index().is_none() => {
                rayon::scope(|_| self.run_here(inputs, batch_size, output))
            }
            None => self.run_here(inputs, batch_size, output),
        }
    }

    /// [`Encoder::run`] on the current rayon pool.
    fn run_here(
        &self,
        inputs: &[ModelInput],
        batch_size: usize,
        output: Output,
    ) -> Result<Vec<Embeddings>> {
        if batch_size == 0 {
            return Err(EncoderError::InvalidInput(
                "batch_size must be at least 1".into(),
            ));
        }
        for (i, input) in inputs.iter().enumerate() {
            if input.is_empty()
                || input.attention_mask.len() != input.len()
                || input.keep.len() != input.len()
            {
                return Err(EncoderError::InvalidInput(format!(
                    "input {i} is empty or its ids, attention mask and keep mask differ in length"
                )));
            }
        }
        // Longest first, so each batch pads as little as possible.
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].len()));
        let mut results: Vec<Option<Embeddings>> = vec![None; inputs.len()];
        let threads = rayon::current_num_threads();
        for chunk in order.chunks(batch_size) {
            let outs: Vec<Vec<Embeddings>> = if self.candle_device.is_cpu() && threads > 1 {
                // Whole sub-batches per thread where there are enough inputs (no hand-offs
                // inside a forward pass), and the threads left over shared inside each one:
                // a single query gets every thread.
                let split = split_threads(chunk.len(), threads);
                chunk
                    .par_chunks(split.sub_batch)
                    .map(|part| self.run_batch(&gather(inputs, part), output, split.inner))
                    .collect::<Result<_>>()?
            } else {
                vec![self.run_batch(&gather(inputs, chunk), output, threads)?]
            };
            for (&i, e) in chunk.iter().zip(outs.into_iter().flatten()) {
                results[i] = Some(e);
            }
        }
        Ok(results.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// One padded forward pass over `batch`, `threads` tasks inside each step on the CPU.
    fn run_batch(
        &self,
        batch: &[&ModelInput],
        output: Output,
        threads: usize,
    ) -> Result<Vec<Embeddings>> {
        let b = batch.len();
        let max_len = batch.iter().map(|x| x.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; b * max_len];
        let mut mask = vec![0u32; b * max_len];
        for (r, x) in batch.iter().enumerate() {
            ids[r * max_len..r * max_len + x.len()].copy_from_slice(&x.ids);
            mask[r * max_len..r * max_len + x.len()].copy_from_slice(&x.attention_mask);
        }
        if let crate::backbone::Backbone::CpuBert(model) = &self.checkpoint.backbone {
            let hidden = model.forward(&ids, &mask, b, max_len, threads)?;
            return Ok(self.finish_cpu(batch, hidden, max_len, output, threads));
        }
        let dev = &self.candle_device;
        let ids = Tensor::from_vec(ids, (b, max_len), dev).context(|| "input ids".into())?;
        let mask = Tensor::from_vec(mask, (b, max_len), dev).context(|| "attention mask".into())?;
        let hidden = self
            .checkpoint
            .backbone
            .forward(&ids, &mask)?
            .to_dtype(candle_core::DType::F32)
            .context(|| "hidden states to f32".into())?;
        let out = match output {
            Output::Hidden => hidden,
            Output::Kept => {
                let mut ys = hidden;
                for dense in &self.checkpoint.projection {
                    ys = dense.forward(&ys)?;
                }
                l2_normalize(&ys)?
            }
        };
        let width = out.dim(D::Minus1).context(|| "output width".into())?;
        let flat: Vec<f32> = out
            .flatten_all()
            .and_then(|t| t.to_device(&candle_core::Device::Cpu))
            .and_then(|t| t.to_vec1::<f32>())
            .context(|| "copying outputs to the host".into())?;
        Ok(batch
            .iter()
            .enumerate()
            .map(|(r, x)| {
                let base = r * max_len * width;
                let mut data = Vec::with_capacity(x.len() * width);
                for p in 0..x.len() {
                    if matches!(output, Output::Hidden) || x.keep[p] {
                        data.extend_from_slice(&flat[base + p * width..base + (p + 1) * width]);
                    }
                }
                Embeddings { dim: width, data }
            })
            .collect())
    }
}

impl Encoder {
    /// Per-input outputs from the CPU forward pass's hidden rows (`batch x max_len x h`):
    /// every row, or the kept rows projected and normalised.
    fn finish_cpu(
        &self,
        batch: &[&ModelInput],
        hidden: Vec<f32>,
        max_len: usize,
        output: Output,
        threads: usize,
    ) -> Vec<Embeddings> {
        let h = self.checkpoint.hidden_size;
        if matches!(output, Output::Hidden) {
            return batch
                .iter()
                .enumerate()
                .map(|(r, x)| Embeddings {
                    dim: h,
                    data: hidden[r * max_len * h..(r * max_len + x.len()) * h].to_vec(),
                })
                .collect();
        }
        // Only the kept rows are projected.
        let mut kept = Vec::with_capacity(hidden.len());
        let mut counts = Vec::with_capacity(batch.len());
        for (r, x) in batch.iter().enumerate() {
            let base = r * max_len;
            let mut n = 0;
            for (p, _) in x.keep.iter().enumerate().filter(|(_, &k)| k) {
                kept.extend_from_slice(&hidden[(base + p) * h..(base + p + 1) * h]);
                n += 1;
            }
            counts.push(n);
        }
        let rows = kept.len() / h.max(1);
        let mut ys = kept;
        let mut width = h;
        for dense in &self.checkpoint.cpu_projection {
            ys = dense.forward(&ys, rows, threads);
            width = dense.out_features();
        }
        crate::cpu::l2_normalize_rows(&mut ys, width);
        let mut start = 0;
        counts
            .into_iter()
            .map(|n| {
                let data = ys[start * width..(start + n) * width].to_vec();
                start += n;
                Embeddings { dim: width, data }
            })
            .collect()
    }
}

/// How a chunk of inputs shares the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ThreadSplit {
    /// Inputs per sub-batch (one forward pass each, run in parallel).
    sub_batch: usize,
    /// Threads inside each forward pass.
    inner: usize,
}

/// One even share of `batch` inputs per thread while there are inputs for every thread (on 2
/// cores shares of 8 or 4 inputs were no faster for documents than 16); with fewer inputs than
/// threads, one input per sub-batch and the threads divided among them.
fn split_threads(batch: usize, threads: usize) -> ThreadSplit {
    let threads = threads.max(1);
    let parts = batch.clamp(1, threads);
    ThreadSplit {
        sub_batch: batch.div_ceil(parts).max(1),
        inner: (threads / parts).max(1),
    }
}

/// The precision `device` can run when `asked` is asked for: on the CPU, `asked` where the CPU
/// has the instructions; on a GPU, bf16 (candle's bf16 BERT) or f32 (no int8 kernels there).
pub(crate) fn device_precision(device: Device, asked: Precision) -> Precision {
    match (device, asked) {
        (Device::Cpu, p) => p.effective(),
        (Device::Cuda(_), Precision::Bf16) => Precision::Bf16,
        (Device::Cuda(_), _) => Precision::F32,
    }
}

/// A rayon pool of `threads` threads, when asked for.
pub(crate) fn own_pool(threads: Option<usize>) -> Result<Option<Arc<rayon::ThreadPool>>> {
    let Some(n) = threads else {
        return Ok(None);
    };
    if n == 0 {
        return Err(EncoderError::InvalidSetting {
            name: "threads".into(),
            message: "must be at least 1".into(),
        });
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("tartan-encoder-{i}"))
        .build()
        .map(|p| Some(Arc::new(p)))
        .map_err(|e| EncoderError::InvalidSetting {
            name: "threads".into(),
            message: format!("cannot start {n} threads: {e}"),
        })
}

/// The inputs at `indices`, in that order.
fn gather<'a>(inputs: &'a [ModelInput], indices: &[usize]) -> Vec<&'a ModelInput> {
    indices.iter().map(|&i| &inputs[i]).collect()
}

/// Row-wise `x / max(||x||, 1e-12)`, as torch's `normalize`.
fn l2_normalize(xs: &Tensor) -> Result<Tensor> {
    let norms = xs
        .sqr()
        .and_then(|t| t.sum_keepdim(D::Minus1))
        .and_then(|t| t.sqrt())
        .and_then(|t| t.clamp(1e-12f32, f32::MAX))
        .context(|| "row norms".into())?;
    xs.broadcast_div(&norms)
        .context(|| "normalising rows".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_go_to_sub_batches_first_then_inside_them() {
        let split = |b, t| {
            let s = split_threads(b, t);
            (s.sub_batch, s.inner)
        };
        assert_eq!(split(32, 2), (16, 1));
        assert_eq!(split(31, 2), (16, 1));
        assert_eq!(split(1, 2), (1, 2));
        assert_eq!(split(1, 16), (1, 16));
        assert_eq!(split(3, 8), (1, 2));
        assert_eq!(split(0, 2), (1, 2));
        assert_eq!(split(5, 0), (5, 1));
    }
}
