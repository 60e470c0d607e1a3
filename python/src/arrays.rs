//! Embeddings from Python: numpy arrays read in place when they are C-contiguous
//! float32, anything else (float64, other layouts, lists, tensors with `__array__`)
//! converted once by `numpy.asarray`.

use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

/// A float32 array from Python, row-major.
pub(crate) struct Floats<'py> {
    data: Data<'py>,
    shape: Vec<usize>,
}

enum Data<'py> {
    /// The caller's own buffer (kept borrowed while Rust reads it).
    Borrowed(PyReadonlyArrayDyn<'py, f32>),
    /// A C-order copy of a non-contiguous float32 array.
    Owned(Vec<f32>),
}

impl<'py> Floats<'py> {
    /// Reads `obj` as float32: `what` names it in errors.
    pub(crate) fn extract(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Floats<'py>> {
        let array = match obj.cast::<PyArrayDyn<f32>>() {
            Ok(array) => array.clone(),
            Err(_) => {
                let numpy = obj.py().import("numpy")?;
                let converted = numpy
                    .call_method1("asarray", (obj, "float32"))
                    .map_err(|e| {
                        PyValueError::new_err(format!(
                            "{what}: cannot be read as a float32 array: {e}"
                        ))
                    })?;
                converted.cast_into::<PyArrayDyn<f32>>().map_err(|_| {
                    PyValueError::new_err(format!("{what}: numpy.asarray gave no float32 array"))
                })?
            }
        };
        let shape = array.shape().to_vec();
        let readonly = array
            .try_readonly()
            .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))?;
        // `as_slice` also accepts Fortran order, whose memory order is not row-major.
        let data = if array.is_c_contiguous() && readonly.as_slice().is_ok() {
            Data::Borrowed(readonly)
        } else {
            Data::Owned(readonly.as_array().iter().copied().collect())
        };
        Ok(Floats { data, shape })
    }

    /// The values, row-major.
    pub(crate) fn as_slice(&self) -> &[f32] {
        match &self.data {
            // Checked C-contiguous when extracted.
            Data::Borrowed(a) => a.as_slice().unwrap_or(&[]),
            Data::Owned(v) => v,
        }
    }

    /// The array's shape.
    pub(crate) fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// Queries as given to `search`: one `[n, q, dim]` array, one `[q, dim]` array (one
/// query), or a sequence of `[q_i, dim]` arrays.
pub(crate) struct Queries<'py> {
    arrays: Vec<Floats<'py>>,
}

impl<'py> Queries<'py> {
    /// Reads `obj`, checking every query's dimension against `dim`.
    pub(crate) fn extract(obj: &Bound<'py, PyAny>, dim: usize) -> PyResult<Queries<'py>> {
        let arrays = if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            let mut arrays = Vec::new();
            for (i, item) in obj.try_iter()?.enumerate() {
                let what = format!("query {i}");
                let a = Floats::extract(&item?, &what)?;
                if a.shape().len() != 2 {
                    return Err(PyValueError::new_err(format!(
                        "{what}: expected a [tokens, dim] array, found shape {:?}",
                        a.shape()
                    )));
                }
                arrays.push(a);
            }
            arrays
        } else {
            let a = Floats::extract(obj, "queries")?;
            if !matches!(a.shape().len(), 2 | 3) {
                return Err(PyValueError::new_err(format!(
                    "queries: expected a [n_queries, tokens, dim] array, a [tokens, dim] array \
                     (one query) or a list of [tokens, dim] arrays, found shape {:?}",
                    a.shape()
                )));
            }
            vec![a]
        };
        for (i, a) in arrays.iter().enumerate() {
            let found = a.shape()[a.shape().len() - 1];
            if found != dim {
                let which = if arrays.len() == 1 && a.shape().len() == 3 {
                    "queries".to_string()
                } else {
                    format!("query {i}")
                };
                return Err(PyValueError::new_err(format!(
                    "{which}: vectors have dim {found} but the index has dim {dim}"
                )));
            }
        }
        Ok(Queries { arrays })
    }

    /// One row-major `tokens x dim` slice per query, in order.
    pub(crate) fn slices(&self) -> Vec<&[f32]> {
        let mut out = Vec::new();
        for a in &self.arrays {
            match *a.shape() {
                [n, q, d] => {
                    let len = q * d;
                    out.extend((0..n).map(|i| &a.as_slice()[i * len..(i + 1) * len]));
                }
                _ => out.push(a.as_slice()),
            }
        }
        out
    }
}

/// Documents as given to `Index.build`: a sequence of `[n_i, dim]` arrays, or a
/// tuple `(E [total, dim], doclens)`.
pub(crate) struct Documents<'py> {
    arrays: Vec<Floats<'py>>,
    /// Row offsets into the single array of the `(E, doclens)` form.
    offsets: Option<Vec<usize>>,
    dim: usize,
}

impl<'py> Documents<'py> {
    /// Reads and checks the documents (shapes, one dimension, lengths summing up).
    pub(crate) fn extract(obj: &Bound<'py, PyAny>) -> PyResult<Documents<'py>> {
        if let Some((e, doclens)) = as_flat_form(obj)? {
            return Self::flat(&e, doclens);
        }
        if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
            return Err(PyValueError::new_err(
                "documents_embeddings: expected a list of [tokens, dim] arrays or a tuple \
                 (embeddings [total, dim], doclens)",
            ));
        }
        let mut arrays = Vec::new();
        let mut dim = None;
        for (i, item) in obj.try_iter()?.enumerate() {
            let what = format!("document {i}");
            let a = Floats::extract(&item?, &what)?;
            let [_, d] = *a.shape() else {
                return Err(PyValueError::new_err(format!(
                    "{what}: expected a [tokens, dim] array, found shape {:?}",
                    a.shape()
                )));
            };
            match dim {
                None => dim = Some(d),
                Some(first) if first != d => {
                    return Err(PyValueError::new_err(format!(
                        "{what}: vectors have dim {d} but document 0's have dim {first}"
                    )))
                }
                Some(_) => {}
            }
            arrays.push(a);
        }
        let dim = dim.ok_or_else(|| {
            PyValueError::new_err("documents_embeddings: no documents (at least one is needed)")
        })?;
        Ok(Documents {
            arrays,
            offsets: None,
            dim,
        })
    }

    fn flat(e: &Bound<'py, PyAny>, doclens: Vec<i64>) -> PyResult<Documents<'py>> {
        let a = Floats::extract(e, "embeddings")?;
        let [total, dim] = *a.shape() else {
            return Err(PyValueError::new_err(format!(
                "embeddings: expected a [total, dim] array, found shape {:?}",
                a.shape()
            )));
        };
        let mut offsets = Vec::with_capacity(doclens.len() + 1);
        offsets.push(0usize);
        for (i, &len) in doclens.iter().enumerate() {
            let len = usize::try_from(len).map_err(|_| {
                PyValueError::new_err(format!("doclens: negative length {len} at document {i}"))
            })?;
            offsets.push(offsets[i] + len);
        }
        let sum = offsets[offsets.len() - 1];
        if sum != total {
            return Err(PyValueError::new_err(format!(
                "doclens: lengths sum to {sum} but the embeddings hold {total} rows"
            )));
        }
        Ok(Documents {
            arrays: vec![a],
            offsets: Some(offsets),
            dim,
        })
    }

    /// Number of documents.
    pub(crate) fn len(&self) -> usize {
        match &self.offsets {
            Some(o) => o.len() - 1,
            None => self.arrays.len(),
        }
    }

    /// The embedding dimension.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// One row-major `tokens x dim` slice per document, in order.
    pub(crate) fn slices(&self) -> Vec<&[f32]> {
        match &self.offsets {
            Some(o) => {
                let data = self.arrays[0].as_slice();
                o.windows(2)
                    .map(|w| &data[w[0] * self.dim..w[1] * self.dim])
                    .collect()
            }
            None => self.arrays.iter().map(Floats::as_slice).collect(),
        }
    }
}

/// `(E, doclens)` when `obj` is a 2-tuple whose second item is a sequence of integers.
fn as_flat_form<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<(Bound<'py, PyAny>, Vec<i64>)>> {
    let Ok(tuple) = obj.cast::<PyTuple>() else {
        return Ok(None);
    };
    if tuple.len() != 2 {
        return Ok(None);
    }
    let second = tuple.get_item(1)?;
    // A per-document array (2-D) is not lengths: then the tuple is two documents.
    let numpy = obj.py().import("numpy")?;
    let ndim: usize = numpy.call_method1("ndim", (&second,))?.extract()?;
    if ndim != 1 {
        return Ok(None);
    }
    let lengths = numpy.call_method1("asarray", (&second,))?;
    let kind: String = lengths.getattr("dtype")?.getattr("kind")?.extract()?;
    let empty = lengths.len()? == 0;
    if !(kind == "i" || kind == "u" || empty) {
        return Err(PyValueError::new_err(format!(
            "doclens: expected integers, found dtype {}",
            lengths.getattr("dtype")?.str()?
        )));
    }
    let lengths: Vec<i64> = lengths
        .call_method1("astype", ("int64",))?
        .call_method0("tolist")?
        .extract()?;
    Ok(Some((tuple.get_item(0)?, lengths)))
}
