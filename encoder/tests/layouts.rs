//! Checkpoint layouts (colbert-ai, ModernBERT), missing files and bad input.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device as CDevice};
use candle_nn::{VarBuilder, VarMap};
use common::{max_abs_diff, shared_or_skip};
use tartan_encoder::{Architecture, Device, Encoder, EncoderError, Layout};

fn copy(from: &Path, to: &Path, name: &str) {
    std::fs::copy(from.join(name), to.join(name)).unwrap();
}

/// Writes `model.safetensors` in colbert-ai's layout: `bert.`-prefixed BERT weights plus
/// `linear.weight`, from the PyLate checkpoint (same weights, so the same vectors).
fn colbert_ai_dir(shared: &Path, metadata: Option<serde_json::Value>) -> tempfile::TempDir {
    let src = shared.join("models/minilm-colbert-pylate");
    let dir = tempfile::tempdir().unwrap();
    copy(&src, dir.path(), "config.json");
    copy(&src, dir.path(), "tokenizer.json");
    let bert = std::fs::read(src.join("model.safetensors")).unwrap();
    let dense = std::fs::read(src.join("1_Dense/model.safetensors")).unwrap();
    let bert = safetensors::SafeTensors::deserialize(&bert).unwrap();
    let dense = safetensors::SafeTensors::deserialize(&dense).unwrap();
    let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = bert
        .tensors()
        .into_iter()
        .map(|(n, v)| (format!("bert.{n}"), v))
        .collect();
    tensors.push((
        "linear.weight".into(),
        dense.tensor("linear.weight").unwrap(),
    ));
    safetensors::serialize_to_file(tensors, None, &dir.path().join("model.safetensors")).unwrap();
    if let Some(m) = metadata {
        std::fs::write(dir.path().join("artifact.metadata"), m.to_string()).unwrap();
    }
    dir
}

#[test]
fn colbert_ai_layout_matches_pylate_with_the_same_markers() {
    let Some(shared) = shared_or_skip("colbert_ai_layout_matches_pylate_with_the_same_markers")
    else {
        return;
    };
    let meta = serde_json::json!({"query_token_id": "[Q] ", "doc_token_id": "[D] ",
        "query_maxlen": 32, "doc_maxlen": 180, "mask_punctuation": true});
    let dir = colbert_ai_dir(&shared, Some(meta));
    let ours = Encoder::load(dir.path().to_str().unwrap(), Device::Cpu).unwrap();
    assert_eq!(ours.layout(), Layout::ColbertAi);
    let pylate = common::minilm(&shared);
    let texts = [
        "Hello, world! (This) is a test.",
        "ColBERT scores documents with MaxSim.",
    ];
    for (a, b) in ours
        .encode_documents(&texts, 8)
        .unwrap()
        .iter()
        .zip(pylate.encode_documents(&texts, 8).unwrap().iter())
        .chain(
            ours.encode_queries(&texts)
                .unwrap()
                .iter()
                .zip(pylate.encode_queries(&texts).unwrap().iter()),
        )
    {
        assert_eq!(a.rows(), b.rows());
        assert!(max_abs_diff(&a.data, &b.data) < 1e-6);
    }
}

#[test]
fn colbert_ai_defaults_use_unused_markers() {
    let Some(shared) = shared_or_skip("colbert_ai_defaults_use_unused_markers") else {
        return;
    };
    let dir = colbert_ai_dir(&shared, None);
    let enc = Encoder::load(dir.path().to_str().unwrap(), Device::Cpu).unwrap();
    let q = enc.tokenize_queries(&["hello"]).unwrap();
    let d = enc.tokenize_documents(&["hello."]).unwrap();
    // [unused0] = 1, [unused1] = 2 in the BERT vocabulary.
    assert_eq!(q[0].ids[..4], [101, 1, 7592, 102]);
    assert_eq!(q[0].len(), 32);
    assert_eq!(d[0].ids, [101, 2, 7592, 1012, 102]);
    assert_eq!(d[0].keep, [true, true, true, false, true]);
    assert_eq!(enc.settings()["query_prefix"], "[unused0]");
}

#[test]
fn missing_files_are_named() {
    let Some(shared) = shared_or_skip("missing_files_are_named") else {
        return;
    };
    let src = shared.join("models/minilm-colbert-pylate");
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "modules.json",
        "config_sentence_transformers.json",
    ] {
        copy(&src, dir.path(), f);
    }
    let path = dir.path().to_str().unwrap();
    let err = Encoder::load(path, Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, EncoderError::MissingFile { file, .. } if file == "tokenizer.json"),
        "{err}"
    );
    copy(&src, dir.path(), "tokenizer.json");
    let err = Encoder::load(path, Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, EncoderError::MissingFile { file, .. } if file == "model.safetensors"),
        "{err}"
    );
    std::os::unix::fs::symlink(
        src.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let err = Encoder::load(path, Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("1_Dense"), "{err}");
    let err = Encoder::load("/nonexistent/model/dir", Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model/dir"), "{err}");
}

#[test]
fn bad_input_has_defined_behaviour() {
    let Some(shared) = shared_or_skip("bad_input_has_defined_behaviour") else {
        return;
    };
    let enc = common::minilm(&shared);
    // Empty and whitespace-only texts become [CLS] [D] [SEP]: three vectors.
    let long = "word ".repeat(100_000);
    let docs = enc
        .encode_documents(&["", " \t\n ", &long, "ok"], 2)
        .unwrap();
    assert_eq!(
        docs.iter().map(|d| d.rows()).collect::<Vec<_>>(),
        [3, 3, 180, 4]
    );
    for d in &docs {
        for r in d.iter_rows() {
            let n: f32 = r.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
    }
    let q = enc.encode_queries(&["", &long]).unwrap();
    assert!(q.iter().all(|e| e.rows() == 32 && e.dim == 128));
    assert!(enc.encode_documents(&[], 4).unwrap().is_empty());
    assert!(matches!(
        enc.encode_documents(&["x"], 0),
        Err(EncoderError::InvalidInput(_))
    ));
    // Results come back in input order whatever the batching.
    let texts = ["a b c d e f", "a", "a b c", "", "a b"];
    let one = enc.encode_documents(&texts, 1).unwrap();
    let many = enc.encode_documents(&texts, 3).unwrap();
    for (a, b) in one.iter().zip(&many) {
        assert_eq!(a.rows(), b.rows());
        assert!(max_abs_diff(&a.data, &b.data) < 1e-5);
    }
}

/// A tiny random ModernBERT saved the way sentence-transformers saves it (no `model.` prefix),
/// with the MiniLM tokenizer and a PyLate Dense module.
#[test]
fn modernbert_checkpoint_loads_and_encodes() {
    let Some(shared) = shared_or_skip("modernbert_checkpoint_loads_and_encodes") else {
        return;
    };
    let src = shared.join("models/minilm-colbert-pylate");
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "model_type": "modernbert", "architectures": ["ModernBertModel"],
        "vocab_size": 30524, "hidden_size": 32, "num_hidden_layers": 3,
        "num_attention_heads": 4, "intermediate_size": 48, "max_position_embeddings": 512,
        "layer_norm_eps": 1e-5, "pad_token_id": 0, "global_attn_every_n_layers": 3,
        "global_rope_theta": 160000.0, "local_attention": 128, "local_rope_theta": 10000.0
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let cfg: candle_transformers::models::modernbert::Config =
        serde_json::from_value(config).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &CDevice::Cpu);
    candle_transformers::models::modernbert::ModernBert::load(vb, &cfg).unwrap();
    let renamed: HashMap<String, candle_core::Tensor> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.strip_prefix("model.").unwrap().to_string(),
                v.as_tensor().clone(),
            )
        })
        .collect();
    candle_core::safetensors::save(&renamed, dir.path().join("model.safetensors")).unwrap();
    copy(&src, dir.path(), "tokenizer.json");
    copy(&src, dir.path(), "modules.json");
    copy(&src, dir.path(), "config_sentence_transformers.json");
    let dense = dir.path().join("1_Dense");
    std::fs::create_dir(&dense).unwrap();
    std::fs::write(
        dense.join("config.json"),
        r#"{"in_features": 32, "out_features": 16, "bias": false,
            "activation_function": "torch.nn.modules.linear.Identity"}"#,
    )
    .unwrap();
    let w = candle_core::Tensor::randn(0f32, 1.0, (16, 32), &CDevice::Cpu).unwrap();
    candle_core::safetensors::save(
        &HashMap::from([("linear.weight".to_string(), w)]),
        dense.join("model.safetensors"),
    )
    .unwrap();

    let enc = Encoder::load(dir.path().to_str().unwrap(), Device::Cpu).unwrap();
    assert_eq!(enc.architecture(), Architecture::ModernBert);
    assert_eq!(enc.dim(), 16);
    let d = enc
        .encode_documents(&["a short document.", "another, longer document here"], 2)
        .unwrap();
    assert_eq!(d[0].rows(), 6); // [CLS] [D] a short document . [SEP], minus "."
    let q = enc.encode_queries(&["a query"]).unwrap();
    assert_eq!(q[0].rows(), 32);
    assert!(q[0].data.iter().all(|x| x.is_finite()));
}
