"""Type stubs of tartan's compiled module (``tartan._tartan``).

Everything here is re-exported by ``tartan``; the docstrings at run time come from
the Rust sources (``help(tartan.Index.search)``).
"""

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt
from typing_extensions import TypedDict, Unpack

__version__: str

_Path = Union[str, "os.PathLike[str]"]
_Floats = Union[npt.NDArray[np.floating[Any]], Sequence[Any]]
_Documents = Union[Sequence[_Floats], Tuple[_Floats, Union[npt.NDArray[np.integer[Any]], Sequence[int]]]]
_Queries = Union[_Floats, Sequence[_Floats]]

class _SearchOptions(TypedDict, total=False):
    """The keyword arguments of ``Index.search`` and ``ShardSet.search``."""

    nprobe: Optional[int]
    ndocs: Optional[int]
    threshold: Optional[float]
    exact: bool
    exhaustive: bool
    filter: Optional[Union[str, Dict[str, Any]]]

class IndexError(Exception):
    """A problem with a tartan index (not the builtin IndexError): e.g. exact search
    on an index built without ``keep_embeddings``."""

class CorruptIndexError(IndexError):
    """An index directory that cannot be read: a file truncated, damaged, missing or
    of an unsupported format version. Fix: rebuild the index."""

class EncoderError(Exception):
    """A model that cannot be loaded or run."""

class InternalError(RuntimeError):
    """A bug in tartan: Rust code panicked; the interpreter keeps running."""

class SearchResults:
    """The results of ``Index.search``: for query ``i``, its hits best first.

    ``scores`` is float32 ``[n_queries, k]``, ``-inf`` past a query's last hit;
    ``docs`` int64 ordinals, ``-1`` there; ``ids[i]`` holds only the real hits.
    """

    @property
    def ids(self) -> List[List[str]]: ...
    @property
    def scores(self) -> npt.NDArray[np.float32]: ...
    @property
    def docs(self) -> npt.NDArray[np.int64]: ...
    @property
    def shards(self) -> Optional[npt.NDArray[np.int64]]:
        """Each hit's shard (``ShardSet.search``); None for ``Index.search``."""
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> List[Tuple[str, float]]: ...

class Index:
    """A compressed, memory-mapped ColBERT index; immutable and thread-safe."""

    @staticmethod
    def build(
        path: _Path,
        documents_embeddings: _Documents,
        ids: Optional[Sequence[Any]] = None,
        *,
        nbits: Optional[int] = None,
        codec: Optional[str] = None,
        keep_embeddings: bool = False,
        progress: bool = False,
        overwrite: bool = False,
        num_centroids: Optional[int] = None,
        seed: Optional[int] = None,
        metadata: Optional[Sequence[Optional[Dict[str, Any]]]] = None,
        texts: Optional[Sequence[Optional[str]]] = None,
        codec_dir: Optional[_Path] = None,
    ) -> "Index":
        """Builds an index at ``path`` from token embeddings and returns it, open."""
    @staticmethod
    def open(path: _Path) -> "Index":
        """Opens the index in directory ``path`` (memory-mapped)."""
    def search(
        self,
        queries: _Queries,
        k: int = 10,
        *,
        ids: Optional[Sequence[str]] = None,
        **options: Unpack[_SearchOptions],
    ) -> SearchResults:
        """The top ``k`` documents of each query by MaxSim (PLAID, or exact)."""
    def __len__(self) -> int: ...
    def add(
        self,
        ids: Sequence[str],
        documents_embeddings: _Documents,
        *,
        upsert: bool = False,
        metadata: Optional[Sequence[Optional[Dict[str, Any]]]] = None,
        texts: Optional[Sequence[Optional[str]]] = None,
    ) -> Dict[str, Any]:
        """Adds documents in one commit (``upsert``: replace existing ids)."""
    def delete(self, ids: Sequence[str]) -> Dict[str, Any]:
        """Deletes documents in one commit; unknown ids are listed, not an error."""
    def optimize(self) -> Dict[str, Any]:
        """Merges every segment into one, dropping deleted documents."""
    def reload(self) -> None:
        """Reopens the index at its current generation."""
    @property
    def generation(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def path(self) -> Path: ...
    def stats(self) -> Dict[str, Any]:
        """Counts, sizes, codec and the recorded encoder settings."""
    def doc_id(self, doc: int) -> str:
        """The external id of document ordinal ``doc``."""
    def lookup(self, ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """The ordinals of external ids (ValueError for an unknown one)."""
    def document_embeddings(self, doc: int) -> npt.NDArray[np.float32]:
        """Document ``doc``'s token embeddings (kept, else decompressed), ``[tokens, dim]``."""
    def _rust_search_seconds(self, queries: _Queries, k: int = 10) -> List[float]:
        """For the bench script: each query's PLAID search timed in Rust alone."""

class ShardSet:
    """Indexes built from one codec, searched as one (top-k merged by score)."""

    def __init__(self, paths: Sequence[_Path]) -> None: ...
    def search(self, queries: _Queries, k: int = 10, **options: Unpack[_SearchOptions]) -> SearchResults:
        """Every shard searched (in parallel), hits merged: ``results.shards`` names each hit's shard."""
    @property
    def paths(self) -> List[Path]: ...
    @property
    def dim(self) -> int: ...
    def __len__(self) -> int: ...

def train_codec(
    embeddings: Union[_Floats, _Documents],
    path: _Path,
    *,
    nbits: Optional[int] = None,
    codec: Optional[str] = None,
    num_centroids: Optional[int] = None,
    seed: Optional[int] = None,
    shard_embeddings: Optional[int] = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Dict[str, Any]:
    """Centroids and a codec trained once into ``path``, for ``Index.build(codec_dir=path)``."""

class Encoder:
    """A ColBERT model: texts to L2-normalised token embeddings, as PyLate makes them."""

    def __init__(self, model: _Path, device: str = "cpu", precision: str = "auto") -> None: ...
    def encode_documents(self, texts: Sequence[str], batch_size: int = 32) -> List[npt.NDArray[np.float32]]:
        """One float32 ``[tokens_i, dim]`` array per text."""
    def encode_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """float32 ``[n, query_length, dim]``."""
    @property
    def dim(self) -> int: ...
    @property
    def query_length(self) -> int: ...
    @property
    def document_length(self) -> int: ...
    @property
    def device(self) -> str: ...
    @property
    def precision(self) -> str: ...
    def settings(self) -> Dict[str, Any]:
        """The encoding settings recorded in an index built from text."""

def evaluate(
    qrels: Dict[str, Dict[str, int]],
    run: Dict[str, Dict[str, float]],
    measures: Sequence[str] = ["ndcg_cut_10", "recall_100"],
    *,
    relevance_level: int = 1,
    per_query: bool = False,
) -> Dict[str, Any]:
    """pytrec_eval's measures: ``{measure: mean}``, or per query with ``per_query=True``."""

def _panic_for_tests(message: str) -> None: ...
