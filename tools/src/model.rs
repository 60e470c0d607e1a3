//! Loading the text encoder and recording which one built an index.
//!
//! An index built from text records `{"model": ..., "settings": ...}` in its
//! `meta.json` (`encoder` field): the model as a hub id or an absolute directory,
//! and the encoder's own settings (markers, lengths, skiplist). Search and serve
//! load that model again, so queries are encoded the way the documents were.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tartan_encoder::{Device, Encoder, LoadOptions, Precision};
use tartan_engine::Index;

use crate::args::EncoderArgs;

/// Parses `cpu`, `cuda` or `cuda:N` (a clap value parser; the encoder's own parser).
pub fn parse_device(text: &str) -> std::result::Result<Device, String> {
    text.parse::<Device>().map_err(|e| e.to_string())
}

/// Where a build on `device` runs k-means and compression: this machine's cores for
/// `cpu`, the same GPU for `cuda:N` (needs a build with the `cuda` feature).
pub fn build_compute(device: Device) -> Result<tartan_quantize::Compute> {
    Ok(match device {
        Device::Cpu => tartan_quantize::Compute::Cpu,
        Device::Cuda(n) => tartan_quantize::Compute::parse(&format!("cuda:{n}"))
            .with_context(|| format!("cannot build on cuda:{n}"))?,
    })
}

/// How a model is named for the record: an absolute path for a local directory
/// (so the index works from any working directory), the hub id otherwise.
pub fn model_ref(model: &str) -> String {
    let path = Path::new(model);
    if path.exists() {
        if let Ok(abs) = path.canonicalize() {
            return abs.to_string_lossy().into_owned();
        }
    }
    model.to_string()
}

/// Parses `auto`, `f32`, `bf16` or `int8` (a clap value parser).
pub fn parse_precision(text: &str) -> std::result::Result<Precision, String> {
    text.parse::<Precision>().map_err(|e| e.to_string())
}

/// Loads an encoder from a local directory or hub id. It runs on the global rayon pool
/// (`--threads`); a reduced `precision` the CPU lacks falls back to f32, with a note.
pub fn load(model: &str, device: Device, precision: Precision) -> Result<Encoder> {
    let options = LoadOptions {
        device,
        precision,
        ..LoadOptions::default()
    };
    let encoder = Encoder::load_with(model, &options)
        .with_context(|| format!("cannot load model {model}"))?;
    if precision != Precision::Auto && encoder.precision() != precision && device == Device::Cpu {
        eprintln!(
            "note: this CPU has no {precision} instructions (or the model is not BERT); \
             encoding in {}",
            encoder.precision()
        );
    }
    Ok(encoder)
}

/// The `encoder` value recorded in an index built with `encoder`, loaded from `model`.
pub fn record(model: &str, encoder: &Encoder) -> Value {
    json!({
        "model": model_ref(model),
        "dim": encoder.dim(),
        "query_length": encoder.query_length(),
        "precision": encoder.precision().name(),
        "settings": encoder.settings(),
    })
}

/// The model recorded in an index's `encoder` value, if it was built from text.
pub fn recorded_model(encoder: &Value) -> Option<String> {
    encoder
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The model to encode queries with: the one given, else the one the index records.
pub fn query_model(given: Option<&str>, recorded: &Value) -> Result<String> {
    match given {
        Some(m) => Ok(m.to_string()),
        None => recorded_model(recorded).context(
            "the index records no model (it was built from embeddings): pass --model, \
             or search with --query-embeddings",
        ),
    }
}

/// Loads the model that encodes documents for `index`: `given`, else the one the index
/// records; an error when it makes embeddings of another dimension than the index holds.
/// Returns the model's name with it.
pub fn load_for_index(
    given: Option<&str>,
    index: &Index,
    encode: &EncoderArgs,
) -> Result<(String, Encoder)> {
    let name = query_model(given, &index.meta().encoder)?;
    let encoder = load(&name, encode.device, encode.precision)?;
    if encoder.dim() != index.dim() {
        bail!(
            "model {name} makes {}-dimensional embeddings; the index holds {}",
            encoder.dim(),
            index.dim()
        );
    }
    Ok((name, encoder))
}

/// Encodes `texts` as documents, `batch` a forward pass, appending each one's embeddings
/// to `all` and its number of embeddings to `lens`.
pub fn encode_appending(
    encoder: &Encoder,
    texts: &[&str],
    batch: usize,
    all: &mut Vec<f32>,
    lens: &mut Vec<usize>,
) -> Result<()> {
    for emb in encoder
        .encode_documents(texts, batch)
        .context("encoding documents failed")?
    {
        lens.push(emb.rows());
        all.extend_from_slice(&emb.data);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices() {
        assert!(matches!(parse_device("cpu"), Ok(Device::Cpu)));
        assert!(matches!(parse_device("cuda"), Ok(Device::Cuda(0))));
        assert!(matches!(parse_device("cuda:3"), Ok(Device::Cuda(3))));
        assert!(parse_device("tpu").is_err());
    }

    #[test]
    fn build_devices() {
        assert_eq!(
            build_compute(Device::Cpu).unwrap(),
            tartan_quantize::Compute::Cpu
        );
        // Without the cuda feature (or a GPU) a cuda build fails up front, naming it.
        if let Err(e) = build_compute(Device::Cuda(0)) {
            assert!(format!("{e:#}").contains("cannot build on cuda:0"), "{e:#}");
        }
        #[cfg(not(feature = "cuda"))]
        assert!(build_compute(Device::Cuda(0)).is_err());
    }

    #[test]
    fn precisions() {
        assert_eq!(parse_precision("auto"), Ok(Precision::Auto));
        assert_eq!(parse_precision("f32"), Ok(Precision::F32));
        assert_eq!(parse_precision("bf16"), Ok(Precision::Bf16));
        assert_eq!(parse_precision("int8"), Ok(Precision::Int8));
        assert!(parse_precision("fp8")
            .unwrap_err()
            .contains("f32, bf16, int8"));
    }

    #[test]
    fn recorded_model_round_trip() {
        let rec = json!({"model": "colbert-ir/colbertv2.0", "settings": {}});
        assert_eq!(
            recorded_model(&rec).as_deref(),
            Some("colbert-ir/colbertv2.0")
        );
        assert_eq!(query_model(Some("x"), &rec).unwrap(), "x");
        assert!(query_model(None, &Value::Null).is_err());
        assert_eq!(model_ref("not/a/local/dir"), "not/a/local/dir");
    }
}
