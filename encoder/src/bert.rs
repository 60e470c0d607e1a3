//! BERT's forward pass on candle tensors, with candle-transformers' weights and config.
//!
//! It computes what `candle_transformers::models::bert::BertModel` computes (the parity tests
//! hold it to transformers within 1e-4), arranged for the CPU: one fused query/key/value
//! matmul per layer over the flattened `[batch * len, hidden]` rows instead of three batched
//! ones, the softmax scale applied to the queries (`len x 64` values) rather than to the
//! scores (`len x len`), the mask added inside one vectorised softmax pass
//! ([`crate::masked_softmax`]), and the vectorised erf GELU of [`crate::gelu`].

use candle_core::{DType, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A BERT encoder (embeddings and layers; no pooler).
pub(crate) struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: HiddenAct,
}

impl Bert {
    /// Loads the weights under `vb` (`embeddings.*`, `encoder.layer.N.*`).
    pub(crate) fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        if config.num_attention_heads == 0 || !h.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!(
                "hidden_size {h} is not a multiple of num_attention_heads {}",
                config.num_attention_heads
            );
        }
        let e = vb.pp("embeddings");
        let word = embedding(config.vocab_size, h, e.pp("word_embeddings"))?;
        let position = embedding(
            config.max_position_embeddings,
            h,
            e.pp("position_embeddings"),
        )?;
        let token_type = embedding(config.type_vocab_size, h, e.pp("token_type_embeddings"))?;
        let embedding_norm = layer_norm(h, config.layer_norm_eps, e.pp("LayerNorm"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let a = l.pp("attention");
                let s = a.pp("self");
                let parts = ["query", "key", "value"].map(|n| {
                    linear(h, h, s.pp(n)).map(|lin| (lin.weight().clone(), lin.bias().cloned()))
                });
                let [q, k, v] = parts;
                let (q, k, v) = (q?, k?, v?);
                let weight = Tensor::cat(&[&q.0, &k.0, &v.0], 0)?;
                let bias = match (q.1, k.1, v.1) {
                    (Some(a), Some(b), Some(c)) => Some(Tensor::cat(&[&a, &b, &c], 0)?),
                    _ => None,
                };
                Ok(Layer {
                    qkv: Linear::new(weight, bias),
                    attention_out: linear(h, h, a.pp("output").pp("dense"))?,
                    attention_norm: layer_norm(
                        h,
                        config.layer_norm_eps,
                        a.pp("output").pp("LayerNorm"),
                    )?,
                    intermediate: linear(
                        h,
                        config.intermediate_size,
                        l.pp("intermediate").pp("dense"),
                    )?,
                    output: linear(config.intermediate_size, h, l.pp("output").pp("dense"))?,
                    output_norm: layer_norm(
                        h,
                        config.layer_norm_eps,
                        l.pp("output").pp("LayerNorm"),
                    )?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word,
            position,
            token_type,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            act: config.hidden_act,
        })
    }

    /// Whether the weights are bf16.
    pub(crate) fn is_bf16(&self) -> bool {
        self.word.embeddings().dtype() == DType::BF16
    }

    /// `last_hidden_state` `[batch, len, hidden]` of `ids` `[batch, len]` (u32) with
    /// `attention_mask` `[batch, len]` (u32, 1 attended) and token type 0 everywhere.
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let dev = ids.device();
        // Embeddings, flattened to rows: [b * t, h].
        let flat_ids = ids.flatten_all()?;
        let positions = Tensor::arange(0u32, t as u32, dev)?;
        let pos = self.position.forward(&positions)?; // [t, h]
        let h = pos.dim(1)?;
        let type0 = self
            .token_type
            .forward(&Tensor::zeros(1, DType::U32, dev)?)?; // [1, h]
        let xs = self
            .word
            .forward(&flat_ids)?
            .reshape((b, t, h))?
            .broadcast_add(&pos.broadcast_add(&type0)?.unsqueeze(0)?)?
            .reshape((b * t, h))?;
        let mut xs = self.embedding_norm.forward(&xs)?;
        // Additive mask [b, 1, 1, t]: 0 where attended, f32::MIN elsewhere (transformers').
        // In the weights' dtype (bf16 on a GPU when asked), which keeps f32's range.
        let mask = attention_mask
            .to_dtype(DType::F32)?
            .affine(-(f32::MIN as f64), f32::MIN as f64)?
            .to_dtype(xs.dtype())?
            .reshape((b, 1, 1, t))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            // [b * t, 3h] -> q, k, v as [b, heads, t, head_dim].
            let qkv = layer
                .qkv
                .forward(&xs)?
                .reshape((b, t, 3, self.heads, self.head_dim))?
                .permute((2, 0, 3, 1, 4))?;
            let q = (qkv.get(0)?.contiguous()? * scale)?;
            let k = qkv.get(1)?.contiguous()?;
            let v = qkv.get(2)?.contiguous()?;
            let probs = crate::masked_softmax::masked_softmax(&q.matmul(&k.t()?)?, &mask)?;
            let context = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * t, h))?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &xs)?)?;
            let inner = layer.intermediate.forward(&attended)?;
            let inner = match self.act {
                HiddenAct::Gelu => crate::gelu::gelu_erf(&inner)?,
                HiddenAct::GeluApproximate => inner.gelu()?,
                HiddenAct::Relu => inner.relu()?,
            };
            xs = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + &attended)?)?;
        }
        xs.reshape((b, t, h))
    }
}
