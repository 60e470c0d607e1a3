//! Where the heavy loops of a build run: the nearest-centroid search of k-means and of
//! compression, and the residual encoding.
//!
//! [`Compute::Cpu`] (the default) runs them on this machine's cores: blocked faer
//! matrix products on rayon ([`crate::nearest`]). With the `candle` feature,
//! [`Compute::Candle`] runs them as candle tensor operations on a candle device: a CUDA
//! GPU (with the `cuda` feature), or candle's own CPU backend, the reference that the
//! GPU path is tested against where no GPU is. Both give the same answers up to float
//! rounding: a point whose two best centroids score within rounding of each other may
//! go to either.

use crate::nearest::{nearest, Targets};
use crate::Result;

/// Where nearest-centroid searches and residual encoding run.
#[derive(Clone, Debug, Default)]
pub enum Compute {
    /// This machine's cores (faer on rayon).
    #[default]
    Cpu,
    /// A candle device: `Device::Cuda` (the `cuda` feature) or `Device::Cpu`.
    #[cfg(feature = "candle")]
    Candle(candle_core::Device),
}

impl PartialEq for Compute {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Compute::Cpu, Compute::Cpu) => true,
            #[cfg(feature = "candle")]
            (Compute::Candle(a), Compute::Candle(b)) => a.same_device(b),
            #[cfg(feature = "candle")]
            _ => false,
        }
    }
}

impl Compute {
    /// `cpu` for this machine's cores; with the `candle` feature also `cuda` or
    /// `cuda:N` (a GPU, which needs the `cuda` feature) and `candle-cpu` (candle's CPU
    /// backend, for checking the GPU path).
    ///
    /// Errors: [`crate::QuantizeError::Device`] for any other name, or a device that
    /// cannot be opened.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cpu" => Ok(Compute::Cpu),
            #[cfg(feature = "candle")]
            "candle-cpu" => Ok(Compute::Candle(candle_core::Device::Cpu)),
            #[cfg(feature = "candle")]
            cuda if cuda == "cuda" || cuda.starts_with("cuda:") => {
                let ordinal = match cuda.strip_prefix("cuda:") {
                    Some(n) => n.parse().map_err(|_| {
                        crate::QuantizeError::device(format!("bad GPU number in {cuda:?}"))
                    })?,
                    None => 0,
                };
                candle_core::Device::new_cuda(ordinal)
                    .map(Compute::Candle)
                    .map_err(crate::QuantizeError::device)
            }
            other => Err(crate::QuantizeError::device(format!(
                "unknown compute device {other:?}: expected cpu{}",
                if cfg!(feature = "candle") {
                    ", cuda, cuda:N or candle-cpu"
                } else {
                    " (GPUs need a build with the cuda feature)"
                }
            ))),
        }
    }

    /// A short name for reports: `cpu`, `cuda:N` or `candle-cpu`.
    pub fn name(&self) -> String {
        match self {
            Compute::Cpu => "cpu".into(),
            #[cfg(feature = "candle")]
            Compute::Candle(device) => match device.location() {
                candle_core::DeviceLocation::Cpu => "candle-cpu".into(),
                candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
                candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
            },
        }
    }

    /// Best target id and score of every point (`points` is `n x dim`).
    pub(crate) fn nearest(
        &self,
        points: &[f32],
        targets: Targets<'_>,
        ids: &mut [u32],
        scores: &mut [f32],
    ) -> Result<()> {
        match self {
            Compute::Cpu => {
                nearest(points, targets, ids, scores);
                Ok(())
            }
            #[cfg(feature = "candle")]
            Compute::Candle(device) => {
                crate::candle_kernels::nearest(device, points, targets, ids, scores)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        assert_eq!(Compute::parse("cpu").unwrap(), Compute::Cpu);
        assert_eq!(Compute::Cpu.name(), "cpu");
        let err = Compute::parse("tpu").unwrap_err().to_string();
        assert!(err.contains("unknown compute device \"tpu\""), "{err}");
        #[cfg(feature = "candle")]
        {
            let reference = Compute::parse("candle-cpu").unwrap();
            assert_eq!(reference.name(), "candle-cpu");
            assert_ne!(reference, Compute::Cpu);
            assert!(Compute::parse("cuda:x").is_err());
            #[cfg(not(feature = "cuda"))]
            assert!(Compute::parse("cuda").is_err());
        }
    }
}
