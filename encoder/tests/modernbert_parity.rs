//! ModernBERT parity with transformers on a tiny seeded random checkpoint committed under
//! `tests/fixtures/modernbert-tiny` (remade by `make_fixture.py` there; needs no ../shared).
//!
//! The checkpoint has global attention on layers 0 and 2 and an 8-token local window on layer
//! 1; the reference is transformers' eager `last_hidden_state` of a right-padded batch.

mod common;

use std::path::{Path, PathBuf};

use common::{max_abs_diff, read_safetensors};
use tartan_encoder::{Architecture, Device, Encoder, Layout, ModelInput};

const TOLERANCE: f32 = 1e-4;
/// Half of the fixture's `local_attention` (8): the reach of a local-attention row.
const HALF_WINDOW: usize = 4;

fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/modernbert-tiny"
    ))
}

struct Reference {
    inputs: Vec<ModelInput>,
    /// Per input, `len x 64` rows of transformers' last_hidden_state (padding dropped).
    hidden: Vec<Vec<f32>>,
    width: usize,
}

fn reference() -> Reference {
    let t = read_safetensors(&fixture_dir().join("reference.safetensors"));
    let ids = &t["input_ids"];
    let mask = &t["attention_mask"];
    let hidden = &t["last_hidden_state"];
    let (batch, len, width) = (hidden.shape[0], hidden.shape[1], hidden.shape[2]);
    let (ids, mask, h) = (ids.as_u32(), mask.as_u32(), hidden.as_f32());
    let mut inputs = Vec::new();
    let mut rows = Vec::new();
    for r in 0..batch {
        let row_ids = &ids[r * len..(r + 1) * len];
        let row_mask = &mask[r * len..(r + 1) * len];
        // Positions up to the last non-pad id are the input; [PAD] is id 0.
        let n = row_ids.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
        inputs.push(ModelInput {
            ids: row_ids[..n].to_vec(),
            attention_mask: row_mask[..n].to_vec(),
            keep: vec![true; n],
        });
        rows.push(h[r * len * width..(r * len + n) * width].to_vec());
    }
    Reference {
        inputs,
        hidden: rows,
        width,
    }
}

/// Positions whose attention rows are defined in every layer: attended positions, and
/// unattended ones with an attended key within the local window.
fn defined_positions(input: &ModelInput) -> Vec<usize> {
    let attended: Vec<usize> = (0..input.len())
        .filter(|&p| input.attention_mask[p] == 1)
        .collect();
    (0..input.len())
        .filter(|&p| attended.iter().any(|&a| a.abs_diff(p) <= HALF_WINDOW))
        .collect()
}

/// Max |tartan - transformers| over the defined positions, and over the others.
fn compare(enc: &Encoder, reference: &Reference, batch_size: usize) -> (f32, f32) {
    let ours = enc.hidden_states(&reference.inputs, batch_size).unwrap();
    let w = reference.width;
    let (mut defined, mut undefined) = (0f32, 0f32);
    for ((input, got), want) in reference.inputs.iter().zip(&ours).zip(&reference.hidden) {
        assert_eq!(got.dim, w);
        assert_eq!(got.rows(), input.len());
        let keep = defined_positions(input);
        for p in 0..input.len() {
            let d = max_abs_diff(got.row(p), &want[p * w..(p + 1) * w]);
            if keep.contains(&p) {
                defined = defined.max(d);
            } else {
                undefined = undefined.max(d);
            }
        }
    }
    (defined, undefined)
}

fn load(dir: &Path) -> Encoder {
    let enc = Encoder::load(dir.to_str().unwrap(), Device::Cpu).unwrap();
    assert_eq!(enc.architecture(), Architecture::ModernBert);
    assert_eq!(enc.layout(), Layout::Plain);
    assert_eq!(enc.dim(), 64);
    enc
}

#[test]
fn modernbert_matches_transformers_padded_and_unpadded() {
    let reference = reference();
    assert_eq!(reference.inputs.len(), 5);
    let enc = load(&fixture_dir());
    // One padded batch of 5 (as transformers ran it), and each input alone.
    for batch_size in [5, 1] {
        let (defined, undefined) = compare(&enc, &reference, batch_size);
        eprintln!(
            "batch {batch_size}: max |diff| {defined:.2e} on defined positions, \
             {undefined:.2e} on unattended positions with no attended key in their window"
        );
        assert!(defined < TOLERANCE, "batch {batch_size}: {defined}");
    }
}

/// The same weights under transformers 4.48's config keys (global_rope_theta, ...), as
/// published ModernBERT checkpoints carry them, give the same vectors.
#[test]
fn modernbert_legacy_config_layout_gives_the_same_vectors() {
    let src = fixture_dir();
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::copy(
        src.join("config.legacy.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let reference = reference();
    let (defined, _) = compare(&load(dir.path()), &reference, 5);
    assert!(defined < TOLERANCE, "{defined}");
}

/// A config whose layer pattern candle cannot express is refused, not silently misread.
#[test]
fn modernbert_irregular_layer_types_are_refused() {
    let src = fixture_dir();
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config["layer_types"] =
        serde_json::json!(["sliding_attention", "full_attention", "full_attention"]);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let err = Encoder::load(dir.path().to_str().unwrap(), Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("layer_types"), "{err}");
}
