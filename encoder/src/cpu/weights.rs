//! Where the CPU forward pass reads its weights: a memory-mapped safetensors file (one copy
//! into f32, converting f16 / bf16), or any candle `VarBuilder` (the synthetic models).

use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    /// The 2-d tensor `name` (`[rows, width]`) as a [`Table`] of rows read by index: copied,
    /// unless the source can hand out rows from its file as they are needed.
    fn table(&self, name: &str, rows: usize, width: usize) -> Result<Table> {
        Ok(Table::Owned(self.get(name, &[rows, width])?))
    }

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

/// Rows of a 2-d tensor (the word embeddings: 47 MB of MiniLM's 90 MB, of which a query reads
/// 32 rows): in memory as f32, or left in the memory-mapped safetensors file and converted a
/// row at a time, which keeps them out of the cold start.
pub(crate) enum Table {
    /// `rows x width` f32 values.
    Owned(Vec<f32>),
    /// `rows x width` values of `dtype` (f32, f16 or bf16, little-endian) from byte `start`.
    Mapped {
        mmap: Arc<Mmap>,
        start: usize,
        dtype: Dtype,
        width: usize,
    },
}

impl Table {
    /// Row `i` converted to f32 into `out` (`width` values); `i` must be a valid row.
    pub(crate) fn row_into(&self, i: usize, out: &mut [f32]) {
        match self {
            Table::Owned(values) => {
                out.copy_from_slice(&values[i * out.len()..(i + 1) * out.len()]);
            }
            Table::Mapped {
                mmap,
                start,
                dtype,
                width,
            } => {
                let size = dtype.bitsize() / 8;
                let from = start + i * width * size;
                convert(*dtype, &mmap[from..from + width * size], out);
            }
        }
    }
}

/// Little-endian `raw` of `dtype` (f32, f16 or bf16) into `out`.
fn convert(dtype: Dtype, raw: &[u8], out: &mut [f32]) {
    match dtype {
        Dtype::F16 => {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(2)) {
                *o = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        Dtype::BF16 => {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(2)) {
                *o = half::bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        _ => {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }
}

/// A safetensors file mapped into memory, read under a name prefix (`""` or `"bert."`).
pub(crate) struct MappedWeights {
    path: PathBuf,
    mmap: Arc<Mmap>,
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
            mmap: Arc::new(mmap),
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

impl MappedWeights {
    /// The tensor `name`'s dtype and byte range in the map, checked against `shape`.
    fn locate(&self, name: &str, shape: &[usize]) -> Result<(Dtype, std::ops::Range<usize>)> {
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
        if !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(self.corrupt(format!(
                "tensor {full} is {:?}; f32, f16 or bf16 expected",
                info.dtype
            )));
        }
        let (lo, hi) = info.data_offsets;
        let range = self.data_start + lo..self.data_start + hi;
        if range.end > self.mmap.len() || range.start > range.end {
            return Err(self.corrupt(format!("tensor {full} lies outside the file")));
        }
        let want = shape.iter().product::<usize>() * info.dtype.bitsize() / 8;
        if range.len() != want {
            return Err(self.corrupt(format!(
                "tensor {full} holds {} bytes, its shape needs {want}",
                range.len()
            )));
        }
        Ok((info.dtype, range))
    }
}

impl WeightSource for MappedWeights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (dtype, range) = self.locate(name, shape)?;
        // Map the tensor's pages in one call rather than one page fault at a time (a fifth of
        // a cold start); a kernel without MADV_POPULATE_READ (before 5.14) faults them in.
        #[cfg(target_os = "linux")]
        let _ = self
            .mmap
            .advise_range(memmap2::Advice::PopulateRead, range.start, range.len());
        let mut out = vec![0f32; shape.iter().product()];
        convert(dtype, &self.mmap[range], &mut out);
        Ok(out)
    }

    fn contains(&self, name: &str) -> bool {
        let full = format!("{}{name}", self.prefix);
        self.metadata.info(&full).is_some()
    }

    fn table(&self, name: &str, rows: usize, width: usize) -> Result<Table> {
        let (dtype, range) = self.locate(name, &[rows, width])?;
        Ok(Table::Mapped {
            mmap: Arc::clone(&self.mmap),
            start: range.start,
            dtype,
            width,
        })
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
