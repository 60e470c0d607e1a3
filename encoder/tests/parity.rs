//! Parity with the Python reference implementations (transformers, PyLate) on the fixtures
//! in ../shared/fixtures/encoder. Skips with a message when ../shared is absent.

mod common;

use common::{max_abs_diff, read_safetensors, shared_or_skip};
use tartan_encoder::{Device, Embeddings, Encoder, Layout, LoadOptions, SettingsOverride};

/// Fixture 1: plain BERT forward pass of all-MiniLM-L6-v2 (ids exact, hidden states 1e-4).
#[test]
fn bert_minilm_last_hidden_state() {
    let Some(shared) = shared_or_skip("bert_minilm_last_hidden_state") else {
        return;
    };
    let fx = shared.join("fixtures/encoder");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("bert_minilm.json")).unwrap())
            .unwrap();
    let tensors = read_safetensors(&fx.join("bert_minilm.safetensors"));
    // The fixture truncates at 128 tokens with no marker: document_length 128 does the same.
    let enc = Encoder::load_with(
        shared.join("models/all-MiniLM-L6-v2").to_str().unwrap(),
        &LoadOptions {
            device: Device::Cpu,
            overrides: SettingsOverride {
                document_length: Some(128),
                ..Default::default()
            },
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(enc.layout(), Layout::Plain);
    assert_eq!(enc.dim(), 384);
    let texts: Vec<&str> = meta["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    let inputs = enc.tokenize_documents(&texts).unwrap();
    let ids = tensors["input_ids"].as_u32();
    let att = tensors["attention_mask"].as_u32();
    let hidden = tensors["last_hidden_state"].as_f32();
    let (seq, width) = (tensors["input_ids"].shape[1], 384);
    let outs = enc.hidden_states(&inputs, 6).unwrap();
    let mut worst = 0f32;
    for (i, (input, out)) in inputs.iter().zip(&outs).enumerate() {
        let n = att[i * seq..(i + 1) * seq]
            .iter()
            .filter(|&&a| a == 1)
            .count();
        assert_eq!(
            input.ids,
            ids[i * seq..i * seq + n],
            "token ids of text {i}"
        );
        assert_eq!(out.rows(), n);
        let reference = &hidden[i * seq * width..(i * seq + n) * width];
        let d = max_abs_diff(&out.data, reference);
        worst = worst.max(d);
        assert!(d < 1e-4, "text {i}: last_hidden_state max |diff| {d}");
    }
    eprintln!("bert_minilm: worst last_hidden_state |diff| {worst:.2e}");
}

struct PylateFixture {
    tensors: std::collections::HashMap<String, common::FixtureTensor>,
    items: Vec<(String, String, bool)>, // name, text, is_query
}

fn pylate_fixture(shared: &std::path::Path) -> PylateFixture {
    let fx = shared.join("fixtures/encoder");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("pylate_minilm.json")).unwrap())
            .unwrap();
    let items = ["queries", "documents", "extra"]
        .iter()
        .flat_map(|g| meta[*g].as_array().unwrap().clone())
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["text"].as_str().unwrap().to_string(),
                e["is_query"].as_bool().unwrap(),
            )
        })
        .collect();
    PylateFixture {
        tensors: read_safetensors(&fx.join("pylate_minilm.safetensors")),
        items,
    }
}

/// Checks one encoder against PyLate's fixture: ids, masks, hidden states, vectors.
fn check_against_pylate(enc: &Encoder, fx: &PylateFixture, batch_size: usize) -> f32 {
    let mut worst = 0f32;
    for is_query in [true, false] {
        let items: Vec<&(String, String, bool)> =
            fx.items.iter().filter(|i| i.2 == is_query).collect();
        let texts: Vec<&str> = items.iter().map(|i| i.1.as_str()).collect();
        let (inputs, outs) = if is_query {
            (
                enc.tokenize_queries(&texts).unwrap(),
                enc.encode_queries(&texts).unwrap(),
            )
        } else {
            (
                enc.tokenize_documents(&texts).unwrap(),
                enc.encode_documents(&texts, batch_size).unwrap(),
            )
        };
        let hidden = enc.hidden_states(&inputs, batch_size).unwrap();
        for (((name, _, _), input), (out, h)) in
            items.iter().zip(&inputs).zip(outs.iter().zip(&hidden))
        {
            let t = &fx.tensors;
            assert_eq!(
                input.ids,
                t[&format!("{name}_input_ids")].as_u32(),
                "{name} ids"
            );
            assert_eq!(
                input.attention_mask,
                t[&format!("{name}_attention_mask")].as_u32(),
                "{name} attention mask"
            );
            let kept: Vec<bool> = t[&format!("{name}_kept_mask")]
                .data
                .iter()
                .map(|&k| k == 1.0)
                .collect();
            assert_eq!(input.keep, kept, "{name} kept mask");
            let dh = max_abs_diff(&h.data, &t[&format!("{name}_hidden")].as_f32());
            assert!(dh < 1e-4, "{name}: hidden |diff| {dh}");
            let reference = &t[name.as_str()];
            assert_eq!(out.rows(), reference.shape[0], "{name} rows");
            let de = max_abs_diff(&out.data, &reference.as_f32());
            assert!(de < 1e-4, "{name}: embeddings |diff| {de}");
            worst = worst.max(de);
        }
    }
    worst
}

/// Fixture 2: PyLate ColBERT encode (ids exact, vectors 1e-4, score matrices 1e-3).
#[test]
fn pylate_minilm_embeddings_and_scores() {
    let Some(shared) = shared_or_skip("pylate_minilm_embeddings_and_scores") else {
        return;
    };
    let fx = pylate_fixture(&shared);
    let enc = common::minilm(&shared);
    assert_eq!(enc.layout(), Layout::Pylate);
    assert_eq!(
        (enc.dim(), enc.query_length(), enc.document_length()),
        (128, 32, 180)
    );
    let worst = check_against_pylate(&enc, &fx, 32);
    let worst1 = check_against_pylate(&enc, &fx, 1);
    eprintln!(
        "pylate_minilm: worst embedding |diff| {worst:.2e} (batch 32), {worst1:.2e} (batch 1)"
    );

    // Scores from our own vectors.
    let q_texts: Vec<&str> = fx
        .items
        .iter()
        .filter(|i| i.0.starts_with('q'))
        .map(|i| i.1.as_str())
        .collect();
    let d_texts: Vec<&str> = fx
        .items
        .iter()
        .filter(|i| i.0.starts_with('d'))
        .map(|i| i.1.as_str())
        .collect();
    let qs = enc.encode_queries(&q_texts).unwrap();
    let ds = enc.encode_documents(&d_texts, 32).unwrap();
    let exact = fx.tensors["scores_exact_unpadded"].as_f32();
    let padded = fx.tensors["scores"].as_f32();
    let longest = ds.iter().map(Embeddings::rows).max().unwrap();
    for (i, q) in qs.iter().enumerate() {
        for (j, d) in ds.iter().enumerate() {
            let s = q.maxsim(d);
            assert!(
                (s - exact[i * 4 + j]).abs() < 1e-3,
                "exact score q{i} d{j}: {s} vs {}",
                exact[i * 4 + j]
            );
            // PyLate pads shorter documents with zero vectors, so each query token's max is
            // clamped at 0 for every document shorter than the longest in the batch.
            let p = if d.rows() < longest {
                clamped_maxsim(q, d)
            } else {
                s
            };
            assert!(
                (p - padded[i * 4 + j]).abs() < 1e-3,
                "padded score q{i} d{j}: {p} vs {}",
                padded[i * 4 + j]
            );
        }
    }
}

fn clamped_maxsim(q: &Embeddings, d: &Embeddings) -> f32 {
    q.iter_rows()
        .map(|qr| {
            d.iter_rows()
                .map(|dr| qr.iter().zip(dr).map(|(a, b)| a * b).sum::<f32>())
                .fold(0f32, f32::max)
        })
        .sum()
}
