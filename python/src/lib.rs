//! The compiled half of the `tartan` Python package (`tartan._tartan`): a thin PyO3
//! layer over the engine, the encoder and the datasets crate's metrics.
//!
//! Each Python method is one Rust method here that converts its arguments (numpy
//! arrays read in place where the layout allows), releases the GIL around the Rust
//! work (`errors::detached`, which also turns a panic into an exception), and maps
//! the crate's error enum to Python exceptions in one place (`errors`).
//! The pure-Python half (`python/tartan/`) re-exports these and adds the PyLate
//! adapter.

mod arrays;
mod encoder;
mod errors;
mod evaluate;
mod index;
mod json;
mod progress;
mod results;
mod shards;

use pyo3::prelude::*;

/// tartan: a compressed, memory-mapped ColBERT (late-interaction) search engine.
#[pymodule]
fn _tartan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<index::PyIndex>()?;
    m.add_class::<results::SearchResults>()?;
    m.add_class::<encoder::PyEncoder>()?;
    m.add_class::<shards::PyShardSet>()?;
    m.add_function(wrap_pyfunction!(shards::train_codec, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_panic_for_tests, m)?)?;
    m.add("IndexError", py.get_type::<errors::IndexError>())?;
    m.add(
        "CorruptIndexError",
        py.get_type::<errors::CorruptIndexError>(),
    )?;
    m.add("EncoderError", py.get_type::<errors::EncoderError>())?;
    m.add("InternalError", py.get_type::<errors::InternalError>())?;
    Ok(())
}
