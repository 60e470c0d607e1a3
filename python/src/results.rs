//! `tartan.SearchResults`: the hits of many queries as numpy arrays and id lists.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyArrayMethods};
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use tartan_engine::{Index, SearchHit, ShardHit, ShardSet};

/// The results of ``Index.search``: for query ``i``, its hits best first.
///
/// Attributes
/// ----------
/// ids : list[list[str]]
///     The documents' external ids; ``ids[i]`` holds only the hits query ``i`` got
///     (fewer than ``k`` when fewer documents were candidates).
/// scores : numpy.ndarray
///     float32 ``[n_queries, k]``, the MaxSim scores, descending along each row.
///     Where query ``i`` got fewer than ``k`` hits, the rest of its row is ``-inf``
///     (so ``numpy.isfinite(scores)`` masks the real hits, and rows stay sorted).
/// docs : numpy.ndarray
///     int64 ``[n_queries, k]``, the documents' ordinals in the index (``0 ..
///     len(index)``; ``Index.doc_id`` maps one to its id); ``-1`` where
///     ``scores`` is ``-inf``.
/// shards : numpy.ndarray | None
///     int64 ``[n_queries, k]``, each hit's shard (an index into
///     ``ShardSet.paths``; ``-1`` where ``scores`` is ``-inf``) for results of
///     ``ShardSet.search``; None for ``Index.search``.
///
/// ``len(results)`` is the number of queries and ``results[i]`` is query ``i``'s
/// hits as a list of ``(id, score)`` pairs.
#[pyclass(frozen, name = "SearchResults", module = "tartan")]
pub(crate) struct SearchResults {
    /// list[list[str]]
    #[pyo3(get)]
    ids: Py<PyList>,
    /// float32 [n, k]
    #[pyo3(get)]
    scores: Py<PyArray2<f32>>,
    /// int64 [n, k]
    #[pyo3(get)]
    docs: Py<PyArray2<i64>>,
    /// int64 [n, k]: each hit's shard (``ShardSet.search``), None for one index.
    #[pyo3(get)]
    shards: Option<Py<PyArray2<i64>>>,
    /// Hits per query, for `__getitem__` without touching the arrays.
    lens: Vec<usize>,
    /// Columns of the arrays.
    k: usize,
}

impl SearchResults {
    /// The results of `hits` (one list per query) padded to `k` columns.
    pub(crate) fn new(
        py: Python<'_>,
        index: &Index,
        hits: &[Vec<SearchHit>],
        k: usize,
    ) -> PyResult<SearchResults> {
        let rows = Self::rows(hits, |h| (index.doc_id(h.doc), h.score, h.doc, 0));
        Self::from_rows(py, &rows, k, false)
    }

    /// The results of a [`ShardSet`] search, with each hit's shard.
    pub(crate) fn from_shards(
        py: Python<'_>,
        set: &ShardSet,
        hits: &[Vec<ShardHit>],
        k: usize,
    ) -> PyResult<SearchResults> {
        let rows = Self::rows(hits, |h| (set.doc_id(h), h.score, h.doc, h.shard));
        Self::from_rows(py, &rows, k, true)
    }

    /// Each query's hits as (id, score, document, shard).
    fn rows<'a, H>(
        hits: &[Vec<H>],
        row: impl Fn(&H) -> (&'a str, f32, u32, usize),
    ) -> Vec<Vec<(&'a str, f32, u32, usize)>> {
        hits.iter().map(|q| q.iter().map(&row).collect()).collect()
    }

    /// Rows of (id, score, document, shard) hits, padded to `k` columns.
    fn from_rows(
        py: Python<'_>,
        rows: &[Vec<(&str, f32, u32, usize)>],
        k: usize,
        with_shards: bool,
    ) -> PyResult<SearchResults> {
        let n = rows.len();
        let mut scores = Array2::<f32>::from_elem((n, k), f32::NEG_INFINITY);
        let mut docs = Array2::<i64>::from_elem((n, k), -1);
        let mut shards = Array2::<i64>::from_elem((n, k), -1);
        let ids = PyList::empty(py);
        for (i, query_hits) in rows.iter().enumerate() {
            let row = PyList::empty(py);
            for (j, &(id, score, doc, shard)) in query_hits.iter().take(k).enumerate() {
                scores[[i, j]] = score;
                docs[[i, j]] = i64::from(doc);
                shards[[i, j]] = shard as i64;
                row.append(PyString::new(py, id))?;
            }
            ids.append(row)?;
        }
        Ok(SearchResults {
            ids: ids.unbind(),
            scores: scores.into_pyarray(py).unbind(),
            docs: docs.into_pyarray(py).unbind(),
            shards: with_shards.then(|| shards.into_pyarray(py).unbind()),
            lens: rows.iter().map(|h| h.len().min(k)).collect(),
            k,
        })
    }
}

#[pymethods]
impl SearchResults {
    /// Number of queries.
    fn __len__(&self) -> usize {
        self.lens.len()
    }

    /// Query ``i``'s hits, best first, as ``(id, score)`` pairs.
    fn __getitem__(&self, py: Python<'_>, i: isize) -> PyResult<Vec<(String, f32)>> {
        let n = self.lens.len() as isize;
        let at = if i < 0 { i + n } else { i };
        if !(0..n).contains(&at) {
            return Err(PyIndexError::new_err(format!(
                "query {i} out of range ({n} queries)"
            )));
        }
        let at = at as usize;
        let ids = self.ids.bind(py).get_item(at)?;
        let scores = self.scores.bind(py).readonly();
        let scores = scores.as_array();
        (0..self.lens[at])
            .map(|j| Ok((ids.get_item(j)?.extract()?, scores[[at, j]])))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("SearchResults({} queries, k={})", self.lens.len(), self.k)
    }
}
