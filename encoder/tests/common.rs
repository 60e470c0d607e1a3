//! Shared helpers of the integration tests: locating ../shared and reading fixtures.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

/// `../shared` relative to the crate, if present.
pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    p.join("models").is_dir().then_some(p)
}

/// Returns the shared dir or prints why the test is skipped.
pub fn shared_or_skip(test: &str) -> Option<PathBuf> {
    let s = shared();
    if s.is_none() {
        eprintln!("skipping {test}: ../shared (models and fixtures) is absent");
    }
    s
}

/// The shared MiniLM ColBERT checkpoint (`models/minilm-colbert-pylate`), on the CPU.
pub fn minilm(shared: &std::path::Path) -> tartan_encoder::Encoder {
    let dir = shared.join("models/minilm-colbert-pylate");
    tartan_encoder::Encoder::load(dir.to_str().unwrap(), tartan_encoder::Device::Cpu)
        .expect("the shared checkpoint loads")
}

/// A tensor from a fixture file, widened to f64 so one type serves every dtype.
pub struct FixtureTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl FixtureTensor {
    pub fn as_u32(&self) -> Vec<u32> {
        self.data.iter().map(|&v| v as u32).collect()
    }
    pub fn as_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// Reads every tensor of a safetensors file (f32, i64 or u8).
pub fn read_safetensors(path: &std::path::Path) -> HashMap<String, FixtureTensor> {
    let bytes = std::fs::read(path).expect("fixture readable");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let raw = view.data();
            let data: Vec<f64> = match view.dtype() {
                safetensors::Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                safetensors::Dtype::I64 => raw
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                safetensors::Dtype::U8 | safetensors::Dtype::BOOL => {
                    raw.iter().map(|&b| b as f64).collect()
                }
                other => panic!("unexpected dtype {other:?} for {name}"),
            };
            (
                name,
                FixtureTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            )
        })
        .collect()
}

/// Max absolute difference of two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
