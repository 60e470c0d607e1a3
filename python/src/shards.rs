//! Train once, build many: ``tartan.train_codec`` (a codec directory that
//! ``Index.build(codec_dir=...)`` quantises with) and ``tartan.ShardSet`` (indexes
//! built from one codec, searched together, top-k merged by score).

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rayon::prelude::*;
use tartan_engine::{num_centroids_for, train_codec as engine_train, ShardHit, ShardSet};

use crate::arrays::{Documents, Floats, Queries};
use crate::errors::{self, detached};
use crate::index::{positive, search_all, SearchOptions, Training};
use crate::progress::Bars;
use crate::results::SearchResults;

/// Trains centroids and a residual codec once, into directory ``path``, for several
/// indexes (the shards of one corpus) built with ``Index.build(..., codec_dir=path)``.
///
/// Parameters
/// ----------
/// embeddings : numpy.ndarray | list[numpy.ndarray] | tuple[numpy.ndarray, numpy.ndarray]
///     Token embeddings to train on, L2-normalised: ``[n, dim]``, one ``[tokens_i,
///     dim]`` array a document, or ``(E, doclens)``. A sample of the corpus is
///     enough: a build samples anyway.
/// path : str | os.PathLike
///     The codec directory to create (written beside its place, renamed in last).
/// nbits, codec, num_centroids, seed
///     Keyword arguments as ``Index.build``'s (defaults 2, ``"product"``, by size, 42).
/// shard_embeddings : int | None
///     Embeddings one index built with the codec will hold (a shard): the default
///     centroid count follows it (``2**floor(log2(16 * sqrt(shard_embeddings)))``, the
///     count an index of that size gets, capped by what the sample can train) rather
///     than the sample's size.
/// overwrite : bool
///     Replace an existing codec directory at ``path``.
/// progress : bool
///     Progress bars on stderr (on a terminal).
///
/// Returns
/// -------
/// dict
///     ``path``, ``dim``, ``num_centroids``, ``kmeans_points``,
///     ``codec_training_points``, ``seconds``.
///
/// Raises
/// ------
/// ValueError
///     Bad embeddings (not unit norm, NaN, wrong shape), bad settings.
/// FileExistsError
///     ``path`` exists and ``overwrite`` is false.
#[pyfunction]
#[pyo3(signature = (embeddings, path, *, shard_embeddings = None, overwrite = false, progress = false, **training))]
pub(crate) fn train_codec<'py>(
    py: Python<'py>,
    embeddings: &Bound<'py, PyAny>,
    path: PathBuf,
    shard_embeddings: Option<i64>,
    overwrite: bool,
    progress: bool,
    training: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let training = Training::from_kwargs("train_codec", training)?;
    if training.num_centroids.is_some() && shard_embeddings.is_some() {
        return Err(PyValueError::new_err(
            "give num_centroids or shard_embeddings, not both",
        ));
    }
    let mut config = training.config(None)?;
    config.overwrite = overwrite;
    // One [n, dim] array, or documents as Index.build takes them.
    let (rows, dim): (Vec<f32>, usize) =
        if embeddings.is_instance_of::<PyList>() || embeddings.is_instance_of::<PyTuple>() {
            let docs = Documents::extract(embeddings)?;
            (docs.slices().concat(), docs.dim())
        } else {
            let array = Floats::extract(embeddings, "embeddings")?;
            match array.shape() {
                [_, dim] => (array.as_slice().to_vec(), *dim),
                shape => {
                    return Err(PyValueError::new_err(format!(
                        "embeddings: expected an [n, dim] array, found shape {shape:?}"
                    )))
                }
            }
        };
    if let Some(n) = shard_embeddings {
        let n = positive("shard_embeddings", n)?;
        config.num_centroids = Some(num_centroids_for(n, rows.len() / dim.max(1)));
    }
    let report = detached(py, || {
        if progress {
            engine_train(&rows, dim, &path, &config, &Bars::new())
        } else {
            engine_train(&rows, dim, &path, &config, &tartan_engine::NoProgress)
        }
        .map_err(errors::engine)
    })?;
    let out = PyDict::new(py);
    out.set_item("path", report.dir)?;
    out.set_item("dim", report.dim)?;
    out.set_item("num_centroids", report.num_centroids)?;
    out.set_item("kmeans_points", report.kmeans_points)?;
    out.set_item("codec_training_points", report.codec_training_points)?;
    out.set_item("seconds", report.seconds)?;
    Ok(out)
}

/// Several indexes built from one codec (``tartan.train_codec``, then
/// ``Index.build(..., codec_dir=...)``), searched as one: each shard runs its own
/// search, in parallel, and the hits are merged by score into one top-k.
///
/// ``ShardSet(paths)`` opens every directory (memory-mapped) and refuses shards of
/// different dimensions or codecs (``ValueError``: their scores would not compare).
/// A document id held by two shards is returned by each. ``len(shards)`` is the
/// number of live documents over all shards.
#[pyclass(frozen, name = "ShardSet", module = "tartan")]
pub(crate) struct PyShardSet {
    inner: ShardSet,
    paths: Vec<PathBuf>,
}

#[pymethods]
impl PyShardSet {
    #[new]
    fn new(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<PyShardSet> {
        let inner = detached(py, || ShardSet::open(&paths).map_err(errors::engine))?;
        Ok(PyShardSet { inner, paths })
    }

    /// Searches every shard and merges: the top ``k`` documents of each query.
    ///
    /// The keyword arguments are ``Index.search``'s (``nprobe``, ``ndocs``,
    /// ``threshold``, ``exact``, ``exhaustive``, ``filter``; not ``ids``); ``filter``
    /// applies to each shard's metadata.
    ///
    /// Returns
    /// -------
    /// SearchResults
    ///     As ``Index.search``'s, with ``.docs`` the ordinal within the hit's shard and
    ///     ``.shards`` (int64 ``[n, k]``, ``-1`` past a query's last hit) the shard,
    ///     an index into ``paths``.
    #[pyo3(signature = (queries, k = 10, **options))]
    fn search(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: i64,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<SearchResults> {
        let options = SearchOptions::parse(k, options)?;
        let (params, scoring) = (&options.params, options.scoring);
        let queries = Queries::extract(queries, self.inner.dim())?;
        let slices = queries.slices();
        let set = &self.inner;
        let hits: Vec<Vec<ShardHit>> = detached(py, || {
            let allowed = set
                .shards()
                .iter()
                .map(|index| options.filter.as_ref().map(|f| index.filter(f)).transpose())
                .collect::<tartan_engine::Result<Vec<_>>>()
                .map_err(errors::engine)?;
            slices
                .par_iter()
                .map(|q| {
                    set.search_with(params.k, |shard, index| {
                        search_all(index, &[q], params, scoring, allowed[shard].as_ref())
                            .map(|mut lists| lists.remove(0))
                    })
                })
                .collect::<tartan_engine::Result<Vec<_>>>()
                .map_err(errors::engine)
        })?;
        SearchResults::from_shards(py, set, &hits, params.k)
    }

    /// The shards' directories, in order (a hit's shard indexes this list).
    #[getter]
    fn paths(&self) -> Vec<PathBuf> {
        self.paths.clone()
    }

    /// The embedding dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Live documents over all shards.
    fn __len__(&self) -> usize {
        self.inner.num_documents()
    }

    fn __repr__(&self) -> String {
        format!(
            "ShardSet({} shards, {} documents, dim {})",
            self.paths.len(),
            self.inner.num_documents(),
            self.inner.dim()
        )
    }
}
