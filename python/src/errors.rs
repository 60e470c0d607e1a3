//! Python exceptions: the classes `tartan` defines, the one mapping from each Rust
//! error enum to them, and [`detached`], which runs Rust work with the GIL released
//! and turns a panic into an exception instead of a crash.

use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError,
    PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use tartan_datasets::DatasetsError;
use tartan_encoder::EncoderError as RustEncoderError;
use tartan_engine::metadata::MetadataError;
use tartan_engine::EngineError;

create_exception!(
    tartan,
    IndexError,
    PyException,
    "A problem with a tartan index: the base of tartan's index errors.\n\n\
     Not the builtin ``IndexError`` (an out-of-range subscript): always write it\n\
     qualified, ``tartan.IndexError``. Raised as such for an operation the index\n\
     cannot do (exact search on an index built without ``keep_embeddings``)."
);
create_exception!(
    tartan,
    CorruptIndexError,
    IndexError,
    "An index directory that cannot be read: a file truncated, damaged, missing or\n\
     written by an unsupported format version. The message names the file.\n\
     Fix: rebuild the index."
);
create_exception!(
    tartan,
    EncoderError,
    PyException,
    "A model that cannot be loaded or run: an unparsable config or tokenizer, an\n\
     unsupported checkpoint, a tensor error, or a hub id that is neither cached nor\n\
     reachable. The message names the file or the model."
);
create_exception!(
    tartan,
    InternalError,
    PyRuntimeError,
    "A bug in tartan: Rust code panicked. The interpreter keeps running; the message\n\
     carries the panic's text. Please report it."
);

/// The Python exception for an engine error. The match lists every variant, so a
/// variant the engine gains later does not compile until it is mapped here.
pub(crate) fn engine(e: EngineError) -> PyErr {
    // The message with its causes (an OS error is the source of `Io`, not in its text).
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    match e {
        EngineError::Io { source, .. } => io(source.kind(), message),
        // No directory, or no CURRENT in it, means there is no index at all; any other
        // absent file is a damaged index.
        EngineError::NoIndex { .. } => PyFileNotFoundError::new_err(message),
        EngineError::MissingFile { path } if path.file_name().is_some_and(|n| n == "CURRENT") => {
            PyFileNotFoundError::new_err(message)
        }
        EngineError::MissingFile { .. }
        | EngineError::Corrupt { .. }
        | EngineError::UnsupportedVersion { .. } => CorruptIndexError::new_err(message),
        EngineError::TargetExists { .. } => PyFileExistsError::new_err(message),
        EngineError::NoEmbeddings
        | EngineError::Locked { .. }
        | EngineError::ReadOnlyFormat { .. } => IndexError::new_err(message),
        EngineError::InvalidInput { .. }
        | EngineError::DimensionMismatch { .. }
        | EngineError::NonFinite { .. }
        | EngineError::EmptyQuery
        | EngineError::EmptyCorpus
        | EngineError::DuplicateId { .. }
        | EngineError::NotUnitNorm { .. }
        | EngineError::InvalidConfig { .. }
        | EngineError::IncompatibleShards { .. }
        | EngineError::Quantize(_) => PyValueError::new_err(message),
        // Metadata that is not a flat object of supported values is the caller's input;
        // anything else is the segment's database failing.
        EngineError::Metadata(MetadataError::InvalidMetadata { .. }) => {
            PyValueError::new_err(message)
        }
        EngineError::Metadata(MetadataError::Io { source, .. }) => io(source.kind(), message),
        EngineError::Metadata(_) => CorruptIndexError::new_err(message),
    }
}

/// The Python exception for an encoder error.
pub(crate) fn encoder(e: RustEncoderError) -> PyErr {
    let message = e.to_string();
    match e {
        RustEncoderError::MissingFile { .. } => PyFileNotFoundError::new_err(message),
        RustEncoderError::Io { source, .. } => io(source.kind(), message),
        RustEncoderError::InvalidInput(_)
        | RustEncoderError::InvalidSetting { .. }
        | RustEncoderError::Device { .. } => PyValueError::new_err(message),
        RustEncoderError::Json { .. }
        | RustEncoderError::Tokenizer { .. }
        | RustEncoderError::Candle { .. }
        | RustEncoderError::Unsupported { .. }
        | RustEncoderError::HubUnavailable { .. } => EncoderError::new_err(message),
    }
}

/// The Python exception for a datasets error (evaluation input).
pub(crate) fn datasets(e: DatasetsError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// `OSError`, or its subclass for the kinds Python names.
fn io(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
        ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
        ErrorKind::AlreadyExists => PyFileExistsError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}

/// Runs `work` with the GIL released (other Python threads run meanwhile); a panic in
/// it, or in the rayon tasks it waits for, becomes [`InternalError`].
///
/// `work` builds its own `PyErr`s: creating one is lazy and needs no GIL.
pub(crate) fn detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: Send + FnOnce() -> PyResult<T>,
    T: Send,
{
    py.detach(|| match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            Err(InternalError::new_err(format!(
                "tartan panicked (a bug, please report it): {text}"
            )))
        }
    })
}

/// Panics inside [`detached`] with `message`, so tests can check that a panic reaches
/// Python as `tartan.InternalError` and the interpreter survives.
#[pyfunction]
pub(crate) fn _panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    detached(py, move || -> PyResult<()> { panic!("{message}") })
}
