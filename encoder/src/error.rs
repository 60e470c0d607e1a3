//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading a checkpoint or encoding text.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A file the checkpoint layout needs is not in the model directory.
    #[error("model directory {dir} has no {file} ({why})")]
    MissingFile {
        /// The model directory that was searched.
        dir: PathBuf,
        /// The file name, relative to `dir`.
        file: String,
        /// Why the file is needed, or how to obtain it.
        why: String,
    },
    /// Reading a file failed.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config, modules, metadata) could not be parsed.
    #[error("cannot parse {path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer error ({context}): {message}")]
    Tokenizer {
        /// What was being done (a file path or an operation).
        context: String,
        /// The tokenizer's message.
        message: String,
    },
    /// A tensor operation or weight load in candle failed.
    #[error("candle error while {context}")]
    Candle {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: candle_core::Error,
    },
    /// The checkpoint uses something this encoder does not implement.
    #[error("unsupported checkpoint {dir}: {what}")]
    Unsupported {
        /// The model directory.
        dir: PathBuf,
        /// What is unsupported.
        what: String,
    },
    /// A setting (from the checkpoint or from the caller) is out of range or inconsistent.
    #[error("invalid setting {name}: {message}")]
    InvalidSetting {
        /// The setting's name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The requested device is not available in this build or on this machine.
    #[error("device {device} unavailable: {message}")]
    Device {
        /// The requested device, e.g. `cuda:0`.
        device: String,
        /// Why.
        message: String,
    },
    /// A hub id could not be resolved: no network (or hub error) and nothing usable cached.
    #[error(
        "cannot fetch model {repo_id} from {endpoint} ({reason}) and it is not in the Hugging Face \
         cache at {cache_dir}; pass a local model directory instead (one holding config.json, \
         tokenizer.json and model.safetensors, e.g. a clone of https://huggingface.co/{repo_id}), \
         or fill the cache ({cache_dir}/{cache_folder})"
    )]
    HubUnavailable {
        /// The hub id, `owner/name`.
        repo_id: String,
        /// The hub endpoint that was tried.
        endpoint: String,
        /// The Hugging Face cache directory that was searched.
        cache_dir: PathBuf,
        /// The repository's folder inside the cache (`models--owner--name`).
        cache_folder: String,
        /// Why the hub could not be used.
        reason: String,
    },
    /// A caller-supplied input is invalid (e.g. a batch size of zero, mismatched lengths).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, EncoderError>;

/// Wraps candle errors with what was being done.
pub(crate) trait CandleContext<T> {
    /// Adds `context` to a candle error.
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> CandleContext<T> for std::result::Result<T, candle_core::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| EncoderError::Candle {
            context: context(),
            source,
        })
    }
}

/// Reads a whole file as UTF-8 text, with the path in the error.
pub(crate) fn read_text(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| EncoderError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses a JSON file, with the path in the error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|source| EncoderError::Json {
        path: path.to_path_buf(),
        source,
    })
}
