//! `tartan.Encoder`: texts to ColBERT token embeddings with tartan's candle encoder.

use std::path::PathBuf;

use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray2, PyArray3};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tartan_encoder::{Device, Embeddings, Encoder, LoadOptions, Precision};

use crate::errors::{self, detached};

/// A ColBERT model that turns texts into L2-normalised token embeddings, exactly as
/// PyLate does (and as ``tartan encode`` writes them).
///
/// Parameters
/// ----------
/// model : str | os.PathLike
///     A local Hugging Face model directory (PyLate / sentence-transformers or
///     colbert-ai layout) or a hub id (``owner/name``) resolved into the Hugging Face
///     cache (fetched when the network allows).
/// device : str
///     ``"cpu"`` (default), ``"cuda"`` or ``"cuda:N"`` (CUDA needs a build with the
///     encoder's ``cuda`` feature).
/// precision : str
///     Precision of the linear layers on the CPU: ``"auto"`` (default: bf16 where the CPU
///     has AVX-512 BF16, which passes tartan's quality gate, f32 elsewhere), ``"f32"``
///     (exact: PyLate's vectors to 1e-6), ``"bf16"`` or ``"int8"``. A reduced precision
///     the CPU lacks runs in f32; ``Encoder.precision`` says what runs.
///
/// The encoder is immutable and thread-safe; encoding releases the GIL.
///
/// Raises
/// ------
/// FileNotFoundError
///     The model directory lacks a file the checkpoint needs.
/// ValueError
///     An unknown or unavailable device, or a bad setting in the checkpoint.
/// tartan.EncoderError
///     The checkpoint cannot be parsed or run, or a hub id is not reachable.
#[pyclass(frozen, name = "Encoder", module = "tartan")]
pub(crate) struct PyEncoder {
    inner: Encoder,
}

#[pymethods]
impl PyEncoder {
    #[new]
    #[pyo3(signature = (model, device = "cpu", precision = "auto"))]
    fn new(py: Python<'_>, model: PathBuf, device: &str, precision: &str) -> PyResult<PyEncoder> {
        let device: Device = device.parse().map_err(errors::encoder)?;
        let precision: Precision = precision.parse().map_err(errors::encoder)?;
        let model = model
            .to_str()
            .ok_or_else(|| PyValueError::new_err("model: the path is not valid UTF-8"))?
            .to_string();
        let inner = detached(py, || {
            let options = LoadOptions {
                device,
                precision,
                ..LoadOptions::default()
            };
            Encoder::load_with(&model, &options).map_err(errors::encoder)
        })?;
        Ok(PyEncoder { inner })
    }

    /// Encodes documents: one float32 ``[tokens_i, dim]`` array per text, in order.
    ///
    /// Marker token, truncation at ``document_length``, punctuation skiplist, as
    /// PyLate. ``batch_size`` texts go through the model at once (sorted by length).
    /// The result feeds ``Index.build`` directly.
    #[pyo3(signature = (texts, batch_size = 32))]
    fn encode_documents<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        batch_size: i64,
    ) -> PyResult<Vec<Bound<'py, PyArray2<f32>>>> {
        let batch_size = usize::try_from(batch_size)
            .ok()
            .filter(|&b| b >= 1)
            .ok_or_else(|| {
                PyValueError::new_err(format!("batch_size must be at least 1, got {batch_size}"))
            })?;
        let inner = &self.inner;
        let encoded = detached(py, || {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            inner
                .encode_documents(&texts, batch_size)
                .map_err(errors::encoder)
        })?;
        let dim = inner.dim();
        encoded
            .into_iter()
            .map(|e| {
                let rows = e.rows();
                Array2::from_shape_vec((rows, dim), e.data)
                    .map(|a| a.into_pyarray(py))
                    .map_err(|e| PyValueError::new_err(e.to_string()))
            })
            .collect()
    }

    /// Encodes queries: float32 ``[n, query_length, dim]``.
    ///
    /// Marker token and ``[MASK]`` expansion to ``query_length``, as PyLate. For a
    /// model that does not expand queries, shorter queries are padded with zero
    /// vectors, which add nothing to a MaxSim score. The result feeds
    /// ``Index.search`` directly.
    fn encode_queries<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray3<f32>>> {
        let inner = &self.inner;
        let encoded = detached(py, || {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            inner.encode_queries(&texts).map_err(errors::encoder)
        })?;
        let dim = inner.dim();
        let len = encoded.iter().map(Embeddings::rows).max().unwrap_or(0);
        let n = encoded.len();
        let mut data = vec![0f32; n * len * dim];
        for (i, e) in encoded.iter().enumerate() {
            let start = i * len * dim;
            data[start..start + e.data.len()].copy_from_slice(&e.data);
        }
        let out = Array3::from_shape_vec((n, len, dim), data)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(out.into_pyarray(py))
    }

    /// The output dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Vectors per query (with ``[MASK]`` expansion).
    #[getter]
    fn query_length(&self) -> usize {
        self.inner.query_length()
    }

    /// Most tokens kept per document.
    #[getter]
    fn document_length(&self) -> usize {
        self.inner.document_length()
    }

    /// Where the model runs (``"cpu"``, ``"cuda:0"``, ...).
    #[getter]
    fn device(&self) -> String {
        self.inner.device().to_string()
    }

    /// The precision the linear layers run at (``"f32"``, ``"bf16"`` or ``"int8"``).
    #[getter]
    fn precision(&self) -> &'static str {
        self.inner.precision().name()
    }

    /// The encoding settings (model, prefixes, lengths, skiplist), the dict tartan
    /// records in an index built from text.
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::json::to_python(py, &self.inner.settings())
    }

    fn __repr__(&self) -> String {
        format!(
            "tartan.Encoder({:?}, device={:?}, dim={}, query_length={})",
            self.inner.settings()["model"].as_str().unwrap_or_default(),
            self.inner.device().to_string(),
            self.inner.dim(),
            self.inner.query_length()
        )
    }
}
