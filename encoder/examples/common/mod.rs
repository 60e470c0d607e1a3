//! What the encoder's measuring examples share: the `--model` argument and the exit on a bad
//! command line. Not every example uses every item.
#![allow(dead_code)]

use std::path::PathBuf;

use tartan_encoder::synthetic::SyntheticConfig;

/// A model to measure: a local checkpoint, or seeded random weights of a known shape.
pub enum ModelSpec {
    /// A local checkpoint directory.
    Checkpoint(PathBuf),
    /// Seeded random weights of this shape.
    Random(SyntheticConfig),
}

impl ModelSpec {
    /// Parses `checkpoint=DIR`, `minilm` or `bert-base`; `usage` ends the error message.
    pub fn parse(v: &str, usage: &str) -> Result<Self, String> {
        Ok(match v {
            "bert-base" => ModelSpec::Random(SyntheticConfig::bert_base()),
            "minilm" => ModelSpec::Random(SyntheticConfig::minilm()),
            other => match other.strip_prefix("checkpoint=") {
                Some(dir) => ModelSpec::Checkpoint(PathBuf::from(dir)),
                None => return Err(format!("unknown model {other}\n{usage}")),
            },
        })
    }
}

/// The parsed arguments, or the parser's message on stderr and exit status 2.
pub fn args_or_exit<A>(parsed: Result<A, String>) -> A {
    parsed.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    })
}
