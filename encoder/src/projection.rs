//! The token-level projection after the transformer: PyLate / sentence-transformers Dense
//! modules, or colbert-ai's `linear.weight`.

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::error::{read_json, CandleContext, EncoderError, Result};

/// The activation of a Dense module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Identity,
    Tanh,
}

/// One linear layer `y = act(x · Wᵀ + b)`.
pub(crate) struct Dense {
    /// `Wᵀ`, `[in, out]`, so a batch is projected with one matmul.
    weight_t: Tensor,
    bias: Option<Tensor>,
    activation: Activation,
}

/// `1_Dense/config.json` as sentence-transformers and PyLate write it.
#[derive(Debug, Deserialize)]
struct DenseConfig {
    in_features: usize,
    out_features: usize,
    #[serde(default = "default_true")]
    bias: bool,
    #[serde(default)]
    activation_function: Option<String>,
    #[serde(default)]
    use_residual: bool,
}

fn default_true() -> bool {
    true
}

impl Dense {
    /// From a weight `[out, in]` (and optional bias `[out]`).
    pub(crate) fn new(
        weight: &Tensor,
        bias: Option<Tensor>,
        activation: Activation,
    ) -> Result<Self> {
        let weight_t = weight
            .t()
            .and_then(|t| t.contiguous())
            .context(|| "transposing the projection".into())?;
        Ok(Self {
            weight_t,
            bias,
            activation,
        })
    }

    /// Input width.
    pub(crate) fn in_features(&self) -> usize {
        self.weight_t.dims()[0]
    }

    /// Output width.
    pub(crate) fn out_features(&self) -> usize {
        self.weight_t.dims()[1]
    }

    /// Loads a sentence-transformers / PyLate Dense module directory.
    pub(crate) fn load_module(dir: &Path, device: &Device) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        let weights = dir.join("model.safetensors");
        for (path, why) in [
            (&cfg_path, "the Dense module's config"),
            (&weights, "the Dense module's weights (linear.weight)"),
        ] {
            if !path.is_file() {
                return Err(missing(dir, path, why));
            }
        }
        let cfg: DenseConfig = read_json(&cfg_path)?;
        let unsupported = |what: String| EncoderError::Unsupported {
            dir: dir.to_path_buf(),
            what,
        };
        if cfg.use_residual {
            return Err(unsupported("Dense with use_residual=true".into()));
        }
        let activation = match cfg.activation_function.as_deref() {
            None => Activation::Tanh, // sentence-transformers' default
            Some(a) if a.ends_with("Identity") => Activation::Identity,
            Some(a) if a.ends_with("Tanh") => Activation::Tanh,
            Some(a) => return Err(unsupported(format!("Dense activation {a}"))),
        };
        let vb = mmap_safetensors(&weights, device, candle_core::DType::F32)?;
        let weight = vb
            .get((cfg.out_features, cfg.in_features), "linear.weight")
            .context(|| format!("reading linear.weight from {}", weights.display()))?;
        let bias = if cfg.bias {
            Some(
                vb.get(cfg.out_features, "linear.bias")
                    .context(|| format!("reading linear.bias from {}", weights.display()))?,
            )
        } else {
            None
        };
        Self::new(&weight, bias, activation)
    }

    /// Applies the layer to `[batch, len, in]`.
    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let ys = xs
            .broadcast_matmul(&self.weight_t)
            .context(|| "projection matmul".into())?;
        let ys = match &self.bias {
            Some(b) => ys.broadcast_add(b).context(|| "projection bias".into())?,
            None => ys,
        };
        match self.activation {
            Activation::Identity => Ok(ys),
            Activation::Tanh => ys.tanh().context(|| "projection tanh".into()),
        }
    }
}

/// A Dense layer for the CPU forward pass (f32: it is a small share of the work).
pub(crate) struct CpuDense {
    linear: crate::cpu::Linear,
    activation: crate::cpu::Activation,
}

impl CpuDense {
    /// The CPU copies of `projection` when `backbone` runs on the CPU forward pass; none
    /// otherwise.
    pub(crate) fn for_backbone(
        backbone: &crate::backbone::Backbone,
        projection: &[Dense],
    ) -> Result<Vec<CpuDense>> {
        if !matches!(backbone, crate::backbone::Backbone::CpuBert(_)) {
            return Ok(Vec::new());
        }
        projection
            .iter()
            .map(|d| {
                let weight = d
                    .weight_t
                    .t()
                    .and_then(|w| w.contiguous())
                    .and_then(|w| w.flatten_all())
                    .and_then(|w| w.to_vec1::<f32>())
                    .context(|| "copying the projection".into())?;
                let bias = d
                    .bias
                    .as_ref()
                    .map(|b| b.to_vec1::<f32>())
                    .transpose()
                    .context(|| "copying the projection bias".into())?;
                Ok(CpuDense {
                    linear: crate::cpu::Linear::new(
                        weight,
                        bias,
                        d.in_features(),
                        d.out_features(),
                        crate::cpu::Precision::F32,
                    ),
                    activation: match d.activation {
                        Activation::Identity => crate::cpu::Activation::Identity,
                        Activation::Tanh => crate::cpu::Activation::Tanh,
                    },
                })
            })
            .collect()
    }

    /// Output width.
    pub(crate) fn out_features(&self) -> usize {
        self.linear.out_features()
    }

    /// `act(x · Wᵀ + b)` of `rows` rows.
    pub(crate) fn forward(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        let mut y = vec![0f32; rows * self.linear.out_features()];
        self.linear
            .forward(x, rows, &mut y, threads, self.activation);
        y
    }
}

fn missing(dir: &Path, path: &Path, why: &str) -> EncoderError {
    EncoderError::MissingFile {
        dir: dir.to_path_buf(),
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        why: why.into(),
    }
}

/// Memory-maps a safetensors file as `dtype` weights on `device`.
pub(crate) fn mmap_safetensors(
    path: &Path,
    device: &Device,
    dtype: candle_core::DType,
) -> Result<VarBuilder<'static>> {
    // SAFETY: the file is mapped read-only and candle copies every tensor it loads out of the
    // mapping; the usual mmap caveat (another process truncating the file while we read it)
    // is accepted, as in every candle and safetensors loader.
    unsafe { VarBuilder::from_mmaped_safetensors(&[path], dtype, device) }
        .context(|| format!("opening {}", path.display()))
}
