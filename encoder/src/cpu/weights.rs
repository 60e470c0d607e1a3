//! Where the CPU forward pass reads its weights: a memory-mapped safetensors file (one copy
//! into f32, converting f16 / bf16), or any candle `VarBuilder` (the synthetic models).

use std::path::{Path, PathBuf};

use candle_nn::{Init, VarBuilder};
use memmap2::Mmap;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};

use crate::error::{CandleContext, EncoderError, Result};

/// A source of named f32 tensors.
pub(crate) trait WeightSource: Sync {
    /// The tensor `name` (relative to the source's prefix), which must have `shape`.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>>;

    /// Whether `name` exists.
    fn contains(&self, name: &str) -> bool;

    /// The first of `names` that exists (the last one when none does, for its error).
    fn get_alias(&self, names: &[String], shape: &[usize]) -> Result<Vec<f32>> {
        let name = names
            .iter()
            .find(|n| self.contains(n))
            .or(names.last())
            .map_or("", String::as_str);
        self.get(name, shape)
    }
}

/// A safetensors file mapped into memory, read under a name prefix (`""` or `"bert."`).
pub(crate) struct MappedWeights {
    path: PathBuf,
    mmap: Mmap,
    /// The header, parsed once.
    metadata: Metadata,
    /// Where the tensor data starts in the file.
    data_start: usize,
    prefix: String,
}

impl MappedWeights {
    /// Maps `path` and checks its header.
    pub(crate) fn open(path: &Path, prefix: &str) -> Result<Self> {
        let io = |source| EncoderError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: mapped read-only; the usual caveat (another process truncating the file while
        // it is read) is accepted, as in every safetensors loader.
        let mmap = unsafe { Mmap::map(&file) }.map_err(io)?;
        let (header, metadata) =
            SafeTensors::read_metadata(&mmap).map_err(|e| EncoderError::Unsupported {
                dir: path.to_path_buf(),
                what: e.to_string(),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            mmap,
            metadata,
            data_start: 8 + header,
            prefix: prefix.to_string(),
        })
    }

    fn corrupt(&self, what: String) -> EncoderError {
        EncoderError::Unsupported {
            dir: self.path.clone(),
            what,
        }
    }
}

impl WeightSource for MappedWeights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let info = self
            .metadata
            .info(&full)
            .ok_or_else(|| self.corrupt(format!("tensor {full} not found")))?;
        if info.shape != shape {
            return Err(self.corrupt(format!(
                "tensor {full} has shape {:?}, expected {shape:?}",
                info.shape
            )));
        }
        let (lo, hi) = info.data_offsets;
        let raw = self
            .mmap
            .get(self.data_start + lo..self.data_start + hi)
            .ok_or_else(|| self.corrupt(format!("tensor {full} lies outside the file")))?;
        let want = shape.iter().product::<usize>() * info.dtype.bitsize() / 8;
        if raw.len() != want {
            return Err(self.corrupt(format!(
                "tensor {full} holds {} bytes, its shape needs {want}",
                raw.len()
            )));
        }
        Ok(match info.dtype {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(self.corrupt(format!(
                    "tensor {full} is {other:?}; f32, f16 or bf16 expected"
                )))
            }
        })
    }

    fn contains(&self, name: &str) -> bool {
        let full = format!("{}{name}", self.prefix);
        self.metadata.info(&full).is_some()
    }
}

/// A candle `VarBuilder` as a weight source, with the initialisation hints candle's own
/// layers give (layer norms at 1 and 0, everything else drawn), for backends that make
/// weights up.
pub(crate) struct VarBuilderWeights<'a>(pub(crate) VarBuilder<'a>);

impl WeightSource for VarBuilderWeights<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let hint = if name.ends_with("LayerNorm.weight") {
            Init::Const(1.0)
        } else if name.ends_with("LayerNorm.bias") {
            Init::Const(0.0)
        } else {
            Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            }
        };
        self.0
            .get_with_hints(shape.to_vec(), name, hint)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .context(|| format!("reading {name}"))
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains_tensor(name)
    }
}
