//! BERT's forward pass on the CPU (embeddings and layers, no pooler), computing what
//! transformers' `BertModel` computes: post-LN layers, erf GELU, additive attention mask.

use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;

use super::attention::{attention, Shape};
use super::linear::{Activation, Linear};
use super::parallel::{for_each_range, SharedMut};
use super::precision::Precision;
use super::rows::Norm;
use super::weights::{Table, WeightSource};
use crate::error::{EncoderError, Result};

struct Layer {
    /// Query, key and value projections stacked: `[3h, h]`.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// A BERT encoder with its weights in plain memory.
pub(crate) struct Bert {
    /// Word embeddings, usually left in the mapped file.
    word: Table,
    vocab: usize,
    position: Vec<f32>,
    max_positions: usize,
    /// Token type 0's embedding (every input is a single segment).
    type0: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    activation: Activation,
}

fn norm(w: &dyn WeightSource, prefix: &str, h: usize, eps: f64) -> Result<Norm> {
    Ok(Norm {
        // Older checkpoints name them gamma and beta (as transformers still reads them).
        gamma: w.get_alias(
            &[format!("{prefix}.gamma"), format!("{prefix}.weight")],
            &[h],
        )?,
        beta: w.get_alias(&[format!("{prefix}.beta"), format!("{prefix}.bias")], &[h])?,
        eps: eps as f32,
    })
}

fn linear(
    w: &dyn WeightSource,
    prefix: &str,
    (k, n): (usize, usize),
    precision: Precision,
) -> Result<Linear> {
    let weight = w.get(&format!("{prefix}.weight"), &[n, k])?;
    let bias = w.get(&format!("{prefix}.bias"), &[n])?;
    Ok(Linear::new(weight, Some(bias), k, n, precision))
}

impl Bert {
    /// Loads `embeddings.*` and `encoder.layer.N.*` from `w`.
    pub(crate) fn load(
        w: &dyn WeightSource,
        config: &Config,
        precision: Precision,
    ) -> Result<Self> {
        let h = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !h.is_multiple_of(heads) {
            return Err(EncoderError::InvalidSetting {
                name: "num_attention_heads".into(),
                message: format!("hidden_size {h} is not a multiple of {heads} heads"),
            });
        }
        let eps = config.layer_norm_eps;
        let word = w.table("embeddings.word_embeddings.weight", config.vocab_size, h)?;
        let position = w.get(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let types = w.get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        let embedding_norm = norm(w, "embeddings.LayerNorm", h, eps)?;
        let ffn = config.intermediate_size;
        // Layers convert (and pack) in parallel: most of a cold start.
        let layers = (0..config.num_hidden_layers)
            .into_par_iter()
            .map(|i| {
                let l = format!("encoder.layer.{i}");
                let mut qkv_w = Vec::with_capacity(3 * h * h);
                let mut qkv_b = Vec::with_capacity(3 * h);
                for part in ["query", "key", "value"] {
                    let p = format!("{l}.attention.self.{part}");
                    qkv_w.extend(w.get(&format!("{p}.weight"), &[h, h])?);
                    qkv_b.extend(w.get(&format!("{p}.bias"), &[h])?);
                }
                Ok(Layer {
                    qkv: Linear::new(qkv_w, Some(qkv_b), h, 3 * h, precision),
                    attention_out: linear(
                        w,
                        &format!("{l}.attention.output.dense"),
                        (h, h),
                        precision,
                    )?,
                    attention_norm: norm(w, &format!("{l}.attention.output.LayerNorm"), h, eps)?,
                    intermediate: linear(
                        w,
                        &format!("{l}.intermediate.dense"),
                        (h, ffn),
                        precision,
                    )?,
                    output: linear(w, &format!("{l}.output.dense"), (ffn, h), precision)?,
                    output_norm: norm(w, &format!("{l}.output.LayerNorm"), h, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let activation = match config.hidden_act {
            HiddenAct::Gelu => Activation::GeluErf,
            HiddenAct::GeluApproximate => Activation::GeluTanh,
            HiddenAct::Relu => Activation::Relu,
        };
        Ok(Self {
            word,
            vocab: config.vocab_size,
            position,
            max_positions: config.max_position_embeddings,
            type0: types[..h].to_vec(),
            embedding_norm,
            layers,
            hidden: h,
            heads,
            activation,
        })
    }

    /// The precision of the linear layers.
    pub(crate) fn precision(&self) -> Precision {
        self.layers
            .first()
            .map_or(Precision::F32, |l| l.qkv.precision())
    }

    /// `last_hidden_state` `[batch * len, hidden]` of `ids` `[batch, len]` with
    /// `attention_mask` `[batch, len]` (1 attended), using `threads` tasks of the current rayon
    /// pool inside each step.
    pub(crate) fn forward(
        &self,
        ids: &[u32],
        attention_mask: &[u32],
        batch: usize,
        len: usize,
        threads: usize,
    ) -> Result<Vec<f32>> {
        let (h, rows) = (self.hidden, batch * len);
        if ids.len() != rows || attention_mask.len() != rows {
            return Err(EncoderError::InvalidInput(format!(
                "{} ids and {} mask values for {batch} x {len} positions",
                ids.len(),
                attention_mask.len()
            )));
        }
        if len > self.max_positions {
            return Err(EncoderError::InvalidInput(format!(
                "{len} positions exceed the model's {} position embeddings",
                self.max_positions
            )));
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.vocab) {
            return Err(EncoderError::InvalidInput(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.vocab
            )));
        }
        let mut xs = vec![0f32; rows * h];
        {
            let out = SharedMut(xs.as_mut_ptr());
            for_each_range(rows, threads, 1, |range| {
                for r in range {
                    // SAFETY: each task writes its own rows.
                    let row = unsafe { std::slice::from_raw_parts_mut(out.get().add(r * h), h) };
                    let id = ids[r] as usize;
                    let pos = r % len;
                    self.word.row_into(id, row);
                    let position = &self.position[pos * h..(pos + 1) * h];
                    for ((x, &b), &c) in row.iter_mut().zip(position).zip(&self.type0) {
                        *x = *x + b + c;
                    }
                    self.embedding_norm.add_and_norm(row, None);
                }
            });
        }
        // transformers' additive mask: 0 where attended, f32::MIN elsewhere.
        let mask: Vec<f32> = attention_mask
            .iter()
            .map(|&m| if m != 0 { 0.0 } else { f32::MIN })
            .collect();
        let shape = Shape {
            batch,
            len,
            heads: self.heads,
            head_dim: h / self.heads,
        };
        let ffn = self
            .layers
            .first()
            .map_or(0, |l| l.intermediate.out_features());
        let mut qkv = vec![0f32; rows * 3 * h];
        let mut context = vec![0f32; rows * h];
        let mut attended = vec![0f32; rows * h];
        let mut inner = vec![0f32; rows * ffn];
        for layer in &self.layers {
            layer
                .qkv
                .forward(&xs, rows, &mut qkv, threads, Activation::Identity);
            attention(&qkv, &mask, shape, &mut context, threads);
            layer.attention_out.forward(
                &context,
                rows,
                &mut attended,
                threads,
                Activation::Identity,
            );
            layer.attention_norm.add_and_norm(&mut attended, Some(&xs));
            layer
                .intermediate
                .forward(&attended, rows, &mut inner, threads, self.activation);
            layer
                .output
                .forward(&inner, rows, &mut xs, threads, Activation::Identity);
            layer.output_norm.add_and_norm(&mut xs, Some(&attended));
        }
        Ok(xs)
    }
}
