//! `tartan.Index`: build, open and search a tartan index from Python.
//!
//! A thin layer over `tartan_engine::Index`: each method converts its arguments,
//! releases the GIL, calls the engine, and converts the result. The object holds one
//! snapshot (an immutable, `Sync` engine index) behind a lock: searches clone it and
//! run without holding the lock, so any number of Python threads may search at once;
//! `add`, `delete` and `optimize` commit through the engine's writer and swap in the
//! new snapshot (searches running then finish on the old one).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;
use serde_json::{Map, Value};
use tartan_engine::metadata::{Filter, RoaringBitmap};
use tartan_engine::{
    BuildConfig, CodecKind, CommitReport, Index, IndexBuilder, IndexWriter, Scoring, SearchHit,
    SearchParams, StoredFields,
};

use crate::arrays::{Documents, Queries};
use crate::errors::{self, detached};
use crate::progress::Bars;
use crate::results::SearchResults;

/// A tartan index: a compressed, memory-mapped ColBERT (late-interaction) index.
///
/// Get one with ``Index.build`` (from embeddings) or ``Index.open`` (an existing
/// directory). Opening maps the files without reading them into memory. The object
/// is immutable and thread-safe: any number of Python threads may call ``search``
/// on it at once, and each call releases the GIL while Rust works.
///
/// ``len(index)`` is the number of documents; ``index.dim`` the embedding dimension.
#[pyclass(frozen, name = "Index", module = "tartan")]
pub(crate) struct PyIndex {
    inner: RwLock<Arc<Index>>,
    /// External id -> ordinal of the current snapshot, built on first use by `lookup`.
    ordinals: Mutex<Option<Arc<HashMap<String, u32>>>>,
}

impl PyIndex {
    fn new(inner: Index) -> Self {
        PyIndex {
            inner: RwLock::new(Arc::new(inner)),
            ordinals: Mutex::new(None),
        }
    }

    /// The current snapshot.
    fn index(&self) -> Arc<Index> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Commits `change` through the index's writer (GIL released) and swaps in the
    /// snapshot it committed.
    fn write<T: Send>(
        &self,
        py: Python<'_>,
        change: impl FnOnce(&mut IndexWriter) -> tartan_engine::Result<T> + Send,
    ) -> PyResult<T> {
        let path = self.index().path().to_path_buf();
        let (out, fresh) = detached(py, || {
            let mut writer = IndexWriter::open(&path).map_err(errors::engine)?;
            let out = change(&mut writer).map_err(errors::engine)?;
            drop(writer);
            let fresh = Index::open(&path).map_err(errors::engine)?;
            Ok((out, fresh))
        })?;
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        *self.ordinals.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(out)
    }
}

/// A commit's report as a dict.
fn commit_dict<'py>(py: Python<'py>, r: &CommitReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("generation", r.generation)?;
    d.set_item("added", r.added)?;
    d.set_item("deleted", r.deleted)?;
    d.set_item("unknown", r.unknown.clone())?;
    d.set_item("merged_segments", r.merged_segments)?;
    Ok(d)
}

/// A positive integer argument.
/// The training options of ``Index.build`` and ``train_codec`` (None: the default).
#[derive(Default)]
pub(crate) struct Training {
    pub nbits: Option<u8>,
    pub codec: Option<String>,
    pub num_centroids: Option<i64>,
    pub seed: Option<u64>,
}

impl Training {
    /// The training options among keyword arguments (``nbits``, ``codec``,
    /// ``num_centroids``, ``seed``); another keyword raises ``TypeError``.
    pub(crate) fn from_kwargs(
        function: &str,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Training> {
        let mut training = Training::default();
        for (key, value) in kwargs.into_iter().flat_map(|d| d.iter()) {
            let key: String = key.extract()?;
            if value.is_none() {
                continue;
            }
            let typed =
                |e: PyErr| PyTypeError::new_err(format!("{function}() argument '{key}': {e}"));
            match key.as_str() {
                "nbits" => training.nbits = Some(value.extract().map_err(typed)?),
                "codec" => training.codec = Some(value.extract().map_err(typed)?),
                "num_centroids" => training.num_centroids = Some(value.extract().map_err(typed)?),
                "seed" => training.seed = Some(value.extract().map_err(typed)?),
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "{function}() got an unexpected keyword argument '{key}'"
                    )))
                }
            }
        }
        Ok(training)
    }

    /// The build configuration these options give; with `codec_dir` (a trained codec),
    /// none may be given.
    pub(crate) fn config(&self, codec_dir: Option<PathBuf>) -> PyResult<BuildConfig> {
        let given = self.nbits.is_some()
            || self.codec.is_some()
            || self.num_centroids.is_some()
            || self.seed.is_some();
        if given && codec_dir.is_some() {
            return Err(PyValueError::new_err(
                "nbits, codec, num_centroids and seed train a codec; codec_dir names one already trained",
            ));
        }
        let nbits = self.nbits.unwrap_or(2);
        let codec = match self.codec.as_deref().unwrap_or("product") {
            "product" => CodecKind::Product { nbits },
            "scalar" => CodecKind::Scalar { nbits },
            other => {
                return Err(PyValueError::new_err(format!(
                    "codec must be \"product\" or \"scalar\", got {other:?}"
                )))
            }
        };
        let defaults = BuildConfig::default();
        Ok(BuildConfig {
            codec,
            num_centroids: self
                .num_centroids
                .map(|n| positive("num_centroids", n))
                .transpose()?,
            seed: self.seed.unwrap_or(defaults.seed),
            codec_dir,
            ..defaults
        })
    }
}

/// The keyword arguments ``Index.search`` and ``ShardSet.search`` share, parsed in one
/// place: ``nprobe``, ``ndocs``, ``threshold``, ``exact``, ``exhaustive``, ``filter``.
pub(crate) struct SearchOptions {
    /// PLAID's parameters: the defaults for `k`, overridden by those given.
    pub params: SearchParams,
    /// PLAID, exact or exhaustive.
    pub scoring: Scoring,
    /// The metadata filter.
    pub filter: Option<Filter>,
}

impl SearchOptions {
    /// Parses `k` and the keyword arguments; an unknown keyword raises ``TypeError``
    /// (as Python does for a function without it), a bad value ``ValueError``.
    pub(crate) fn parse(k: i64, options: Option<&Bound<'_, PyDict>>) -> PyResult<SearchOptions> {
        let mut params = SearchParams::for_k(positive("k", k)?);
        let (mut exact, mut exhaustive) = (false, false);
        let mut filter = None;
        for (key, value) in options.into_iter().flat_map(|d| d.iter()) {
            let key: String = key.extract()?;
            if value.is_none() {
                continue;
            }
            let typed = |e: PyErr| PyTypeError::new_err(format!("search() argument '{key}': {e}"));
            match key.as_str() {
                "nprobe" => params.nprobe = positive("nprobe", value.extract().map_err(typed)?)?,
                "ndocs" => params.ndocs = positive("ndocs", value.extract().map_err(typed)?)?,
                "threshold" => params.centroid_score_threshold = value.extract().map_err(typed)?,
                "exact" => exact = value.extract().map_err(typed)?,
                "exhaustive" => exhaustive = value.extract().map_err(typed)?,
                "filter" => filter = Some(parse_filter(&value)?),
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "search() got an unexpected keyword argument '{key}'"
                    )))
                }
            }
        }
        let scoring = match (exact, exhaustive) {
            (true, true) => {
                return Err(PyValueError::new_err("give exact or exhaustive, not both"))
            }
            (true, false) => Scoring::Exact,
            (false, true) => Scoring::Exhaustive,
            (false, false) => Scoring::Plaid,
        };
        Ok(SearchOptions {
            params,
            scoring,
            filter,
        })
    }
}

pub(crate) fn positive(name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| PyValueError::new_err(format!("{name} must be at least 1, got {value}")))
}

#[pymethods]
impl PyIndex {
    /// Builds an index at ``path`` from token embeddings and returns it, open.
    ///
    /// Parameters
    /// ----------
    /// path : str | os.PathLike
    ///     The index directory to create. It is written beside its final place and
    ///     renamed into place last, so an interrupted build leaves no half index.
    /// documents_embeddings : list[numpy.ndarray] | tuple[numpy.ndarray, numpy.ndarray]
    ///     Either one ``[tokens_i, dim]`` array per document (a document may have 0
    ///     tokens: it keeps its id and is never returned), or a tuple ``(E, doclens)``
    ///     with ``E`` ``[total_tokens, dim]`` (each document's rows contiguous, in
    ///     order) and ``doclens`` integer ``[n_docs]`` summing to ``total_tokens``.
    ///     C-contiguous float32 arrays are read in place; float64, other layouts,
    ///     lists and objects with ``__array__`` (CPU torch tensors) are converted to
    ///     float32 first (a copy).
    /// ids : Sequence[str] | None
    ///     The documents' external ids, unique (default ``"0"``, ``"1"``, ...).
    ///     Non-string ids are converted with ``str()``.
    /// nbits : int | None
    ///     Bits a dimension of the residual codes: 1, 2 or 4 (default 2).
    /// codec : str | None
    ///     ``"product"`` (product codes, the default) or ``"scalar"`` (ColBERTv2's).
    /// keep_embeddings : bool
    ///     Also store the uncompressed embeddings, so ``search(exact=True)`` works.
    /// progress : bool
    ///     Progress bars on the process's stderr (shown only on a terminal).
    /// overwrite : bool
    ///     Replace an existing index at ``path`` instead of raising ``FileExistsError``.
    /// num_centroids : int | None
    ///     k-means centroids (default ``2**floor(log2(16 * sqrt(total_tokens)))``).
    /// seed : int | None
    ///     Seed of every random choice (sampling, k-means, codec training; default 42).
    /// metadata : list[dict | None] | None
    ///     One flat dict a document (strings, numbers, bools, None, lists of strings),
    ///     stored in the index for ``search(filter=...)``.
    /// texts : list[str | None] | None
    ///     One text a document, stored in the index (BM25, ``"$text"`` filters).
    /// codec_dir : str | os.PathLike | None
    ///     Train nothing: quantise with the centroids and codec of this directory
    ///     (made by ``tartan.train_codec``), so that shards built from it score alike
    ///     and ``tartan.ShardSet`` can merge them. ``nbits``, ``codec``,
    ///     ``num_centroids`` and ``seed`` are then the codec's (giving one is an error).
    ///
    /// Returns
    /// -------
    /// Index
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     Bad input: wrong shapes or mixed dims, NaN or infinite values, no
    ///     embeddings at all, duplicate ids, a wrong number of ids, bad settings.
    /// FileExistsError
    ///     ``path`` exists and ``overwrite`` is false.
    /// OSError
    ///     The directory cannot be written.
    #[staticmethod]
    #[pyo3(signature = (
        path,
        documents_embeddings,
        ids = None,
        *,
        nbits = None,
        codec = None,
        keep_embeddings = false,
        progress = false,
        overwrite = false,
        num_centroids = None,
        seed = None,
        metadata = None,
        texts = None,
        codec_dir = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn build(
        py: Python<'_>,
        path: PathBuf,
        documents_embeddings: &Bound<'_, PyAny>,
        ids: Option<&Bound<'_, PyAny>>,
        nbits: Option<u8>,
        codec: Option<&str>,
        keep_embeddings: bool,
        progress: bool,
        overwrite: bool,
        num_centroids: Option<i64>,
        seed: Option<u64>,
        metadata: Option<&Bound<'_, PyAny>>,
        texts: Option<Vec<Option<String>>>,
        codec_dir: Option<PathBuf>,
    ) -> PyResult<PyIndex> {
        let training = Training {
            nbits,
            codec: codec.map(str::to_owned),
            num_centroids,
            seed,
        };
        let config = BuildConfig {
            keep_embeddings,
            overwrite,
            ..training.config(codec_dir)?
        };
        let docs = Documents::extract(documents_embeddings)?;
        let ids: Vec<String> = match ids {
            None => (0..docs.len()).map(|i| i.to_string()).collect(),
            Some(ids) => {
                let ids = ids
                    .try_iter()?
                    .map(|id| Ok(id?.str()?.to_string()))
                    .collect::<PyResult<Vec<String>>>()?;
                if ids.len() != docs.len() {
                    return Err(PyValueError::new_err(format!(
                        "{} ids for {} documents",
                        ids.len(),
                        docs.len()
                    )));
                }
                ids
            }
        };
        let fields = stored_fields(metadata, texts, docs.len())?;
        let dim = docs.dim();
        let slices = docs.slices();
        let index = detached(py, || {
            let mut builder = IndexBuilder::new(&path, dim, config).map_err(errors::engine)?;
            for (d, (id, doc)) in ids.iter().zip(&slices).enumerate() {
                let f = fields.get(d);
                builder
                    .add_document_with(
                        id,
                        doc,
                        f.and_then(|f| f.metadata.as_ref()),
                        f.and_then(|f| f.text.as_deref()),
                    )
                    .map_err(errors::engine)?;
            }
            let report = if progress {
                builder.finish(&Bars::new())
            } else {
                builder.finish(&tartan_engine::NoProgress)
            };
            report.map_err(errors::engine)?;
            Index::open(&path).map_err(errors::engine)
        })?;
        Ok(PyIndex::new(index))
    }

    /// Opens the index in directory ``path`` (memory-mapped, nothing read in full).
    ///
    /// Raises
    /// ------
    /// FileNotFoundError
    ///     ``path`` holds no index (no ``meta.json``).
    /// tartan.CorruptIndexError
    ///     A file is missing, truncated, damaged, or of an unsupported format version.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<PyIndex> {
        let index = detached(py, || Index::open(&path).map_err(errors::engine))?;
        Ok(PyIndex::new(index))
    }

    /// Searches the index: the top ``k`` documents of each query by MaxSim.
    ///
    /// Parameters
    /// ----------
    /// queries : numpy.ndarray | list[numpy.ndarray]
    ///     ``[n_queries, tokens, dim]``, a list of ``[tokens_i, dim]`` arrays, or a
    ///     single ``[tokens, dim]`` array (one query). C-contiguous float32 is read in
    ///     place; float64, other layouts and lists are converted to float32 (a copy).
    /// k : int
    ///     Hits per query (at least 1).
    /// nprobe : int | None
    ///     Centroids probed per query token (default by k: 2 up to k = 100, then 4).
    /// ndocs : int | None
    ///     Candidates kept after the pruned centroid interaction; a quarter of them
    ///     is scored exactly (default by k: 512 at k <= 10, 1024 at k <= 100, then
    ///     max(4k, 4096)).
    /// threshold : float | None
    ///     Centroid score threshold of the pruned interaction (default by k: 0.5,
    ///     0.45, 0.4).
    /// exact : bool
    ///     Brute-force MaxSim over the kept uncompressed embeddings instead of PLAID
    ///     (needs an index built with ``keep_embeddings=True``).
    /// filter : str | dict | None
    ///     Only documents whose metadata matches this filter (JSON text or a dict in
    ///     the language of ``tartan search --filter``: ``{"year": {"$gte": 2020}}``,
    ///     ``$eq $ne $gt $gte $lt $lte $in $nin $exists $contains $and $or $not``,
    ///     ``"$text": "words"``). A malformed filter raises ``ValueError`` naming the
    ///     offending part. ``min(k, matching documents)`` hits come back.
    /// ids : list[str] | None
    ///     Only these documents (ids the index does not hold are ignored); with
    ///     ``filter``, the documents in both.
    /// exhaustive : bool
    ///     Score every document over its decompressed embeddings instead of PLAID: the
    ///     codec's own exact ranking (its ceiling); slow.
    ///
    /// Returns
    /// -------
    /// SearchResults
    ///     ``.ids`` (list per query), ``.scores`` (float32 ``[n, k]``, ``-inf``
    ///     past a query's last hit) and ``.docs`` (int64 ordinals, ``-1`` there).
    ///
    /// Several queries are searched in parallel on all cores; the GIL is released
    /// throughout, so other Python threads run (and may search) meanwhile.
    ///
    /// Raises
    /// ------
    /// ValueError
    ///     Wrong shape or dim, no tokens in a query, NaN or infinite values, k,
    ///     nprobe or ndocs below 1.
    /// tartan.IndexError
    ///     ``exact=True`` on an index without kept embeddings.
    #[pyo3(signature = (queries, k = 10, *, ids = None, **options))]
    fn search(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: i64,
        ids: Option<Vec<String>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<SearchResults> {
        let options = SearchOptions::parse(k, options)?;
        let queries = Queries::extract(queries, self.index().dim())?;
        let slices = queries.slices();
        let index = self.index();
        let index = &*index;
        let id_set = ids.map(|ids| self.allowed_ids(&ids));
        let hits = detached(py, || {
            let allowed = match (&options.filter, id_set) {
                (None, None) => None,
                (Some(f), ids) => {
                    let mut a = index.filter(f).map_err(errors::engine)?;
                    if let Some(ids) = ids {
                        a &= ids;
                    }
                    Some(a)
                }
                (None, Some(ids)) => Some(ids),
            };
            search_all(
                index,
                &slices,
                &options.params,
                options.scoring,
                allowed.as_ref(),
            )
            .map_err(errors::engine)
        })?;
        SearchResults::new(py, index, &hits, options.params.k)
    }

    /// Number of live documents (empty ones included, deleted ones not).
    fn __len__(&self) -> usize {
        self.index().num_live_documents()
    }

    /// Adds documents in one commit (one new segment, quantised with the index's
    /// codec) and returns ``{"generation", "added", "deleted", ...}``.
    ///
    /// ``documents_embeddings`` is as for ``Index.build`` (a list of ``[n_i, dim]``
    /// arrays, or ``(E, doclens)``); ``ids`` one unique string a document. An id the
    /// index already holds raises ``ValueError`` naming it, and nothing is committed,
    /// unless ``upsert=True``, which replaces that document in the same commit.
    /// ``metadata`` (one dict or None a document) and ``texts`` (one str or None) are
    /// stored with the documents, as for ``Index.build``.
    #[pyo3(signature = (ids, documents_embeddings, *, upsert = false, metadata = None, texts = None))]
    fn add<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<String>,
        documents_embeddings: &Bound<'_, PyAny>,
        upsert: bool,
        metadata: Option<&Bound<'_, PyAny>>,
        texts: Option<Vec<Option<String>>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let docs = Documents::extract(documents_embeddings)?;
        if docs.dim() != self.index().dim() {
            return Err(PyValueError::new_err(format!(
                "embeddings of dimension {} for an index of dimension {}",
                docs.dim(),
                self.index().dim()
            )));
        }
        if ids.len() != docs.len() {
            return Err(PyValueError::new_err(format!(
                "{} ids for {} documents",
                ids.len(),
                docs.len()
            )));
        }
        let dim = docs.dim();
        let slices = docs.slices();
        let lens: Vec<usize> = slices.iter().map(|d| d.len() / dim).collect();
        let flat: Vec<f32> = slices.iter().flat_map(|d| d.iter().copied()).collect();
        let fields = stored_fields(metadata, texts, ids.len())?;
        let report = self.write(py, |w| {
            w.add_with(
                &ids,
                &flat,
                &lens,
                &fields,
                upsert,
                &tartan_engine::NoProgress,
            )
        })?;
        commit_dict(py, &report)
    }

    /// Deletes the documents with these ids in one commit; returns
    /// ``{"deleted", "unknown", ...}`` (unknown ids are listed, not an error).
    fn delete<'py>(&self, py: Python<'py>, ids: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
        let report = self.write(py, |w| w.delete(&ids))?;
        commit_dict(py, &report)
    }

    /// Merges every segment into one and drops deleted documents (no decoding).
    fn optimize<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let report = self.write(py, |w| w.optimize())?;
        commit_dict(py, &report)
    }

    /// Reopens the index at its current generation (to see commits made elsewhere).
    fn reload(&self, py: Python<'_>) -> PyResult<()> {
        let path = self.index().path().to_path_buf();
        let fresh = detached(py, || Index::open(&path).map_err(errors::engine))?;
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        *self.ordinals.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    /// The generation of the snapshot this object searches.
    #[getter]
    fn generation(&self) -> u64 {
        self.index().generation()
    }

    /// The embedding dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.index().dim()
    }

    /// The index directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.index().path().to_path_buf()
    }

    /// What the index holds, as a dict.
    ///
    /// Keys: ``path``, ``num_documents``, ``num_embeddings``, ``num_centroids``,
    /// ``empty_documents``, ``dim``, ``codec`` (``"product"`` or ``"scalar"``),
    /// ``nbits``, ``bytes_per_code``, ``bytes_on_disk`` (all files but the kept
    /// embeddings), ``bytes_per_embedding``, ``has_embeddings``, ``format_version``
    /// and ``encoder`` (the model settings recorded at build time, or None).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let index = self.index();
        let meta = index.meta();
        let (codec, nbits) = match meta.codec {
            CodecKind::Product { nbits } => ("product", nbits),
            CodecKind::Scalar { nbits } => ("scalar", nbits),
        };
        let bytes = self.index().bytes_on_disk();
        let d = PyDict::new(py);
        d.set_item("path", self.index().path())?;
        d.set_item("num_documents", meta.num_documents)?;
        d.set_item("num_embeddings", meta.num_embeddings)?;
        d.set_item("num_centroids", meta.num_centroids)?;
        d.set_item("empty_documents", meta.empty_documents)?;
        d.set_item("dim", meta.dim)?;
        d.set_item("codec", codec)?;
        d.set_item("nbits", nbits)?;
        d.set_item("bytes_per_code", meta.bytes_per_code)?;
        d.set_item("bytes_on_disk", bytes)?;
        d.set_item(
            "bytes_per_embedding",
            bytes as f64 / meta.num_embeddings.max(1) as f64,
        )?;
        d.set_item("has_embeddings", meta.has_embeddings)?;
        d.set_item("format_version", meta.format_version)?;
        d.set_item("encoder", crate::json::to_python(py, &meta.encoder)?)?;
        Ok(d)
    }

    /// The external id of document ordinal ``doc``.
    ///
    /// Raises ``ValueError`` when ``doc`` is not in ``0 .. len(index)``.
    fn doc_id(&self, doc: i64) -> PyResult<String> {
        self.checked_doc(doc)
            .map(|d| self.index().doc_id(d).to_string())
    }

    /// The ordinals of external ids, as an int64 array in the order given.
    ///
    /// Raises ``ValueError`` naming the first id the index does not hold.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let map = self.id_map();
        let ordinals = ids
            .iter()
            .map(|id| {
                map.get(id)
                    .map(|&d| i64::from(d))
                    .ok_or_else(|| PyValueError::new_err(format!("unknown document id {id:?}")))
            })
            .collect::<PyResult<Vec<i64>>>()?;
        Ok(PyArray1::from_vec(py, ordinals))
    }

    /// The token embeddings of document ordinal ``doc``, float32 ``[tokens, dim]``.
    ///
    /// The kept uncompressed embeddings when the index was built with
    /// ``keep_embeddings=True``, else the decompressed ones (centroid plus decoded
    /// residual). Rows come in stored order: sorted by centroid, not as given.
    fn document_embeddings<'py>(
        &self,
        py: Python<'py>,
        doc: i64,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let doc = self.checked_doc(doc)?;
        let index = self.index();
        let index = &*index;
        let data = detached(py, || {
            if index.has_embeddings() {
                index
                    .document_embeddings(doc)
                    .map(<[f32]>::to_vec)
                    .map_err(errors::engine)
            } else {
                let mut out = Vec::new();
                index
                    .decompress_document(doc, &mut out)
                    .map_err(errors::engine)?;
                Ok(out)
            }
        })?;
        let dim = index.dim();
        let rows = data.len() / dim;
        let array = Array2::from_shape_vec((rows, dim), data)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py))
    }

    /// For ``python/bench/bench_python.py``: the seconds each query's PLAID search
    /// takes in Rust alone (the call ``search`` makes for one query, timed in Rust),
    /// so the bench can measure what Python adds on the same index and queries.
    #[pyo3(signature = (queries, k = 10))]
    fn _rust_search_seconds(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: i64,
    ) -> PyResult<Vec<f64>> {
        let params = SearchParams::for_k(positive("k", k)?);
        let queries = Queries::extract(queries, self.index().dim())?;
        let slices = queries.slices();
        let index = self.index();
        let index = &*index;
        detached(py, || {
            slices
                .iter()
                .map(|q| {
                    let started = Instant::now();
                    let hits = index.search(q, &params).map_err(errors::engine)?;
                    std::hint::black_box(hits);
                    Ok(started.elapsed().as_secs_f64())
                })
                .collect()
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "tartan.Index({:?}, {} documents, dim {})",
            self.index().path().display().to_string(),
            self.index().num_documents(),
            self.index().dim()
        )
    }
}

impl PyIndex {
    /// External id -> ordinal of the current snapshot's live documents (cached).
    fn id_map(&self) -> Arc<HashMap<String, u32>> {
        let mut cached = self.ordinals.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .get_or_insert_with(|| {
                let index = self.index();
                Arc::new(
                    index
                        .live_documents()
                        .map(|d| (index.doc_id(d).to_string(), d))
                        .collect(),
                )
            })
            .clone()
    }

    /// The ordinals of the live documents among `ids` (unknown ids are left out).
    fn allowed_ids(&self, ids: &[String]) -> RoaringBitmap {
        let map = self.id_map();
        ids.iter().filter_map(|id| map.get(id).copied()).collect()
    }

    fn checked_doc(&self, doc: i64) -> PyResult<u32> {
        u32::try_from(doc)
            .ok()
            .filter(|&d| (d as usize) < self.index().num_documents())
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "document {doc} out of range ({} documents)",
                    self.index().num_documents()
                ))
            })
    }
}

/// A filter given as a JSON string or a dict (any JSON-serialisable object).
pub(crate) fn parse_filter(filter: &Bound<'_, PyAny>) -> PyResult<Filter> {
    let text = json_text(filter)?;
    text.parse::<Filter>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A str as it is, anything else through `json.dumps`.
fn json_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.extract::<String>() {
        return Ok(s);
    }
    value
        .py()
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract()
}

/// One `StoredFields` a document from `metadata` (a list of dicts or None) and `texts`
/// (a list of str or None); empty when neither is given.
fn stored_fields(
    metadata: Option<&Bound<'_, PyAny>>,
    texts: Option<Vec<Option<String>>>,
    n: usize,
) -> PyResult<Vec<StoredFields>> {
    let metadata: Option<Vec<Option<Map<String, Value>>>> = metadata
        .map(|m| {
            m.try_iter()?
                .map(|item| {
                    let item = item?;
                    if item.is_none() {
                        return Ok(None);
                    }
                    let value: Value = serde_json::from_str(&json_text(&item)?)
                        .map_err(|e| PyValueError::new_err(format!("metadata: {e}")))?;
                    match value {
                        Value::Object(map) => Ok(Some(map)),
                        other => Err(PyValueError::new_err(format!(
                            "metadata must be a dict (or None) a document, found {other}"
                        ))),
                    }
                })
                .collect::<PyResult<Vec<_>>>()
        })
        .transpose()?;
    for (what, len) in [
        ("metadata entries", metadata.as_ref().map(Vec::len)),
        ("texts", texts.as_ref().map(Vec::len)),
    ] {
        if let Some(len) = len.filter(|&l| l != n) {
            return Err(PyValueError::new_err(format!(
                "{len} {what} for {n} documents"
            )));
        }
    }
    if metadata.is_none() && texts.is_none() {
        return Ok(Vec::new());
    }
    let mut metadata = metadata.unwrap_or_default();
    metadata.resize(n, None);
    let mut texts = texts.unwrap_or_default();
    texts.resize(n, None);
    Ok(metadata
        .into_iter()
        .zip(texts)
        .map(|(metadata, text)| StoredFields { metadata, text })
        .collect())
}

/// Every query searched by `scoring` (within `allowed` when given); several run in
/// parallel.
pub(crate) fn search_all(
    index: &Index,
    queries: &[&[f32]],
    params: &SearchParams,
    scoring: Scoring,
    allowed: Option<&RoaringBitmap>,
) -> tartan_engine::Result<Vec<Vec<SearchHit>>> {
    let one = |q: &[f32]| index.search_by(q, params, scoring, allowed);
    if queries.len() == 1 {
        return Ok(vec![one(queries[0])?]);
    }
    queries.par_iter().map(|q| one(q)).collect()
}
