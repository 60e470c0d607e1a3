//! ModernBERT's `config.json`, in transformers 4.48's or 5's layout, read into
//! candle-transformers' `modernbert::Config`.
//!
//! transformers names the LayerNorm epsilon `norm_eps` (candle reads `layer_norm_eps`, which
//! transformers ignores), and transformers 5 replaces `global_rope_theta`,
//! `local_rope_theta` and `global_attn_every_n_layers` by `rope_parameters` and
//! `layer_types`. Settings candle's model does not implement (biases, another activation,
//! RoPE scaling, a layer pattern that is not "global every n-th layer from layer 0") are
//! refused rather than silently ignored.

use candle_transformers::models::modernbert;
use serde_json::{Map, Value};

/// transformers' `ModernBertConfig` defaults for the keys candle needs.
const DEFAULT_NORM_EPS: f64 = 1e-5;
const DEFAULT_GLOBAL_ROPE_THETA: f64 = 160_000.0;
const DEFAULT_LOCAL_ROPE_THETA: f64 = 10_000.0;
const DEFAULT_GLOBAL_EVERY: usize = 3;
const DEFAULT_LOCAL_ATTENTION: usize = 128;
const DEFAULT_MAX_POSITIONS: usize = 8192;
const DEFAULT_PAD_TOKEN_ID: u32 = 50283;

/// candle's config for a ModernBERT `config.json`; the error says which key is the problem.
pub(crate) fn candle_config(config_json: &str) -> Result<modernbert::Config, String> {
    let value: Value = serde_json::from_str(config_json).map_err(|e| e.to_string())?;
    let Value::Object(mut map) = value else {
        return Err("config.json is not a JSON object".into());
    };
    refuse_unsupported(&map)?;

    // transformers reads `norm_eps`; `layer_norm_eps`, where present, is unused there.
    let eps = number(&map, "norm_eps")?.unwrap_or(DEFAULT_NORM_EPS);
    map.insert("layer_norm_eps".into(), eps.into());

    let (global_theta, local_theta) = rope_thetas(&map)?;
    map.insert("global_rope_theta".into(), global_theta.into());
    map.insert("local_rope_theta".into(), local_theta.into());

    let layers = map
        .get("num_hidden_layers")
        .and_then(Value::as_u64)
        .ok_or("num_hidden_layers is missing")? as usize;
    let every = global_every(&map, layers)?;
    map.insert("global_attn_every_n_layers".into(), every.into());

    for (key, default) in [
        ("local_attention", DEFAULT_LOCAL_ATTENTION as u64),
        ("max_position_embeddings", DEFAULT_MAX_POSITIONS as u64),
        ("pad_token_id", u64::from(DEFAULT_PAD_TOKEN_ID)),
    ] {
        if map.get(key).is_none_or(Value::is_null) {
            map.insert(key.into(), default.into());
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| format!("not a ModernBERT config: {e}"))
}

fn number(map: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{key} is not a number: {v}")),
    }
}

fn refuse_unsupported(map: &Map<String, Value>) -> Result<(), String> {
    for key in ["attention_bias", "mlp_bias", "norm_bias"] {
        if map.get(key).and_then(Value::as_bool) == Some(true) {
            return Err(format!(
                "{key} = true is not supported (candle's ModernBERT has no biases)"
            ));
        }
    }
    if let Some(act) = map.get("hidden_activation").and_then(Value::as_str) {
        if act != "gelu" {
            return Err(format!(
                "hidden_activation {act:?} is not supported (candle's ModernBERT uses the exact \
                 erf GELU, transformers' \"gelu\")"
            ));
        }
    }
    if map.get("rope_scaling").is_some_and(|v| !v.is_null()) {
        return Err("rope_scaling is not supported (candle's ModernBERT has plain RoPE)".into());
    }
    Ok(())
}

/// (global, local) RoPE bases from transformers 5's `rope_parameters` or 4.48's keys.
fn rope_thetas(map: &Map<String, Value>) -> Result<(f64, f64), String> {
    let mut global = number(map, "global_rope_theta")?;
    let mut local = number(map, "local_rope_theta")?;
    if let Some(params) = map.get("rope_parameters").filter(|v| !v.is_null()) {
        for (kind, slot) in [
            ("full_attention", &mut global),
            ("sliding_attention", &mut local),
        ] {
            let Some(p) = params.get(kind).filter(|v| !v.is_null()) else {
                continue;
            };
            let ty = p
                .get("rope_type")
                .and_then(Value::as_str)
                .unwrap_or("default");
            if ty != "default" {
                return Err(format!(
                    "rope_parameters.{kind}.rope_type {ty:?} is not supported (plain RoPE only)"
                ));
            }
            if let Some(theta) = p.get("rope_theta").and_then(Value::as_f64) {
                *slot = Some(theta);
            }
        }
    }
    Ok((
        global.unwrap_or(DEFAULT_GLOBAL_ROPE_THETA),
        local.unwrap_or(DEFAULT_LOCAL_ROPE_THETA),
    ))
}

/// candle's `global_attn_every_n_layers` (layer `i` is global iff `i % n == 0`), checked
/// against `layer_types` when the config has them.
fn global_every(map: &Map<String, Value>, layers: usize) -> Result<usize, String> {
    let declared = map
        .get("global_attn_every_n_layers")
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    let Some(types) = map.get("layer_types").filter(|v| !v.is_null()) else {
        let n = declared.unwrap_or(DEFAULT_GLOBAL_EVERY);
        return if n == 0 {
            Err("global_attn_every_n_layers must be at least 1".into())
        } else {
            Ok(n)
        };
    };
    let global: Vec<bool> = types
        .as_array()
        .ok_or("layer_types is not a list")?
        .iter()
        .map(|t| match t.as_str() {
            Some("full_attention") => Ok(true),
            Some("sliding_attention") => Ok(false),
            _ => Err(format!(
                "layer_types holds {t}, not full_attention or sliding_attention"
            )),
        })
        .collect::<Result<_, _>>()?;
    if global.len() != layers {
        return Err(format!(
            "layer_types has {} entries for {layers} layers",
            global.len()
        ));
    }
    // The period is the index of the second global layer (or any n >= layers if only layer 0
    // is global); `declared` breaks the tie in that case.
    let n = match global.iter().skip(1).position(|&g| g) {
        Some(p) => p + 1,
        None => declared.filter(|&n| n >= layers).unwrap_or(layers.max(1)),
    };
    if global.iter().enumerate().any(|(i, &g)| g != (i % n == 0)) {
        return Err(format!(
            "layer_types {types} is not \"full attention every n-th layer from layer 0\", the only \
             pattern candle's ModernBERT runs"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "model_type": "modernbert", "vocab_size": 100, "hidden_size": 64,
            "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 80,
            "max_position_embeddings": 64, "pad_token_id": 0, "local_attention": 8
        })
    }

    fn parse(v: &Value) -> Result<modernbert::Config, String> {
        candle_config(&v.to_string())
    }

    #[test]
    fn transformers_5_layout() {
        let mut v = base();
        v["norm_eps"] = json!(1e-6);
        v["layer_types"] = json!([
            "full_attention",
            "sliding_attention",
            "full_attention",
            "sliding_attention"
        ]);
        v["rope_parameters"] = json!({
            "full_attention": {"rope_type": "default", "rope_theta": 80000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 5000.0}
        });
        let c = parse(&v).unwrap();
        assert_eq!(c.global_attn_every_n_layers, 2);
        assert_eq!(c.global_rope_theta, 80000.0);
        assert_eq!(c.local_rope_theta, 5000.0);
        assert_eq!(c.layer_norm_eps, 1e-6);
    }

    #[test]
    fn legacy_layout_and_defaults() {
        let mut v = base();
        v["global_attn_every_n_layers"] = json!(3);
        v["global_rope_theta"] = json!(160000.0);
        // transformers uses norm_eps; a stale layer_norm_eps must not win.
        v["layer_norm_eps"] = json!(1e-12);
        v["norm_eps"] = json!(1e-5);
        let c = parse(&v).unwrap();
        assert_eq!(c.global_attn_every_n_layers, 3);
        assert_eq!(c.layer_norm_eps, 1e-5);
        assert_eq!(c.local_rope_theta, DEFAULT_LOCAL_ROPE_THETA);
        let c = parse(&base()).unwrap();
        assert_eq!(c.global_attn_every_n_layers, DEFAULT_GLOBAL_EVERY);
        assert_eq!(c.layer_norm_eps, DEFAULT_NORM_EPS);
    }

    #[test]
    fn only_layer_zero_global() {
        let mut v = base();
        v["layer_types"] = json!([
            "full_attention",
            "sliding_attention",
            "sliding_attention",
            "sliding_attention"
        ]);
        assert_eq!(parse(&v).unwrap().global_attn_every_n_layers, 4);
    }

    #[test]
    fn unsupported_settings_are_refused() {
        for (key, value, needle) in [
            ("mlp_bias", json!(true), "mlp_bias"),
            (
                "hidden_activation",
                json!("gelu_pytorch_tanh"),
                "hidden_activation",
            ),
            ("rope_scaling", json!({"type": "linear"}), "rope_scaling"),
            (
                "layer_types",
                json!([
                    "full_attention",
                    "full_attention",
                    "sliding_attention",
                    "full_attention"
                ]),
                "layer_types",
            ),
            ("layer_types", json!(["full_attention"]), "layer_types"),
            (
                "rope_parameters",
                json!({"full_attention": {"rope_type": "yarn", "rope_theta": 1.0}}),
                "yarn",
            ),
        ] {
            let mut v = base();
            v[key] = value;
            let err = parse(&v).unwrap_err();
            assert!(err.contains(needle), "{key}: {err}");
        }
    }
}
