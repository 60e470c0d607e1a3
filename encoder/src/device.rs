//! Where the forward pass runs.

use std::fmt;
use std::str::FromStr;

use crate::error::{EncoderError, Result};

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU (f32, all threads).
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal; needs the `cuda` cargo feature.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for Device {
    type Err = EncoderError;

    /// Parses `cpu`, `cuda` (ordinal 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || EncoderError::InvalidSetting {
            name: "device".into(),
            message: format!("{s:?} is not one of cpu, cuda, cuda:N"),
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl Device {
    /// The candle device, or a clear error when CUDA is not compiled in or not present.
    pub(crate) fn to_candle(self) -> Result<candle_core::Device> {
        match self {
            Device::Cpu => Ok(candle_core::Device::Cpu),
            Device::Cuda(i) => {
                if !cfg!(feature = "cuda") {
                    return Err(EncoderError::Device {
                        device: self.to_string(),
                        message: "this build has no CUDA support; rebuild with `--features cuda`"
                            .into(),
                    });
                }
                candle_core::Device::new_cuda(i).map_err(|e| EncoderError::Device {
                    device: self.to_string(),
                    message: e.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for d in [Device::Cpu, Device::Cuda(0), Device::Cuda(3)] {
            assert_eq!(d.to_string().parse::<Device>().unwrap(), d);
        }
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert!("tpu".parse::<Device>().is_err());
        assert!("cuda:x".parse::<Device>().is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        let err = Device::Cuda(0).to_candle().unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
