"""``Tartan``: a tartan index behind PyLate's index interface.

``pylate.retrieve.ColBERT(index=tartan.pylate.Tartan(...))`` works unchanged: the
class has the methods and attributes of ``pylate.indexes.base.Base`` (PyLate 1.6)
and the constructor arguments of ``pylate.indexes.PLAID`` that mean something here.
It needs nothing from PyLate: ``import tartan`` never imports pylate (or torch), and
torch tensors are accepted by duck typing. When pylate is already imported, the class
is registered as a virtual subclass of ``pylate.indexes.base.Base``, so
``isinstance`` checks pass too.

The first ``add_documents`` builds the index (training its centroids and codec);
later calls add segments quantised with that codec, ``remove_documents`` deletes and
``update_documents`` replaces documents, each in one commit. ``subset`` restricts a
search to given document ids (one list for every query, or one list a query): the
ids become the allowed set of tartan's filtered search, which returns
``min(k, documents in the subset)`` hits.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from tartan._tartan import Index

__all__ = ["Tartan"]

#: PyLate PLAID settings that have no meaning for tartan (accepted, then ignored).
_PLAID_ONLY = (
    "use_fast",
    "kmeans_niters",
    "max_points_per_centroid",
    "n_samples_kmeans",
    "use_triton",
    "n_ivf_probe",
    "n_full_scores",
    "batch_size",
    "num_threads",
    "device",
    "low_memory",
)

def _as_float32(x: Any) -> np.ndarray:
    """A numpy float32 array of a numpy array, a torch tensor (any device or float
    dtype, by duck typing) or nested lists."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def _queries(queries_embeddings: Any) -> Union[np.ndarray, List[np.ndarray]]:
    """PyLate's query forms: a [n, tokens, dim] or [tokens, dim] array or tensor, or
    a list of [tokens, dim] arrays or tensors."""
    if isinstance(queries_embeddings, (list, tuple)):
        return [_as_float32(q) for q in queries_embeddings]
    return _as_float32(queries_embeddings)


def _rerank_results(results: Any) -> List[List[Dict[str, Any]]]:
    """tartan's SearchResults as PyLate's RerankResult lists."""
    scores = results.scores.tolist()
    return [
        [{"id": doc_id, "score": score} for doc_id, score in zip(ids, row)]
        for ids, row in zip(results.ids, scores)
    ]


class Tartan:
    """A tartan index with PyLate's index interface.

    Parameters
    ----------
    index_folder
        The folder holding the index (created if needed).
    index_name
        The index directory's name inside ``index_folder``.
    override
        Remove an existing index of that name first.
    nbits
        Bits a dimension of the residual codes: 1, 2 or 4 (tartan's default 2).
    codec
        ``"product"`` (default) or ``"scalar"`` (ColBERTv2's codes).
    keep_embeddings
        Also store the uncompressed embeddings: ``get_documents_embeddings`` then
        returns them exactly (else decompressed), and exact search becomes possible.
    seed
        Seed of k-means and codec training.
    nprobe, ndocs, centroid_score_threshold
        PLAID search settings (default: tartan's defaults for each k).
    show_progress
        Progress bars while building (on a terminal).
    **kwargs
        PyLate PLAID settings with no tartan meaning (``use_fast``, ``n_ivf_probe``,
        ``n_full_scores``, ``device``, ...) are accepted and ignored with a warning.
    """

    is_end_to_end_index = True

    def __init__(
        self,
        index_folder: str = "indexes",
        index_name: str = "colbert",
        override: bool = False,
        nbits: int = 2,
        codec: str = "product",
        keep_embeddings: bool = False,
        seed: int = 42,
        nprobe: Optional[int] = None,
        ndocs: Optional[int] = None,
        centroid_score_threshold: Optional[float] = None,
        show_progress: bool = True,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - set(_PLAID_ONLY))
        if unknown:
            raise TypeError(f"Tartan() got unexpected keyword arguments: {', '.join(unknown)}")
        if kwargs:
            warnings.warn(
                f"tartan.pylate.Tartan ignores PyLate PLAID settings: {', '.join(sorted(kwargs))}",
                UserWarning,
                stacklevel=2,
            )
        self.index_folder = index_folder
        self.index_name = index_name
        self.index_path = os.path.join(index_folder, index_name)
        self.nbits = nbits
        self.codec = codec
        self.keep_embeddings = keep_embeddings
        self.seed = seed
        self.nprobe = nprobe
        self.ndocs = ndocs
        self.centroid_score_threshold = centroid_score_threshold
        self.show_progress = show_progress

        if override and os.path.exists(self.index_path):
            shutil.rmtree(self.index_path)
        os.makedirs(index_folder, exist_ok=True)
        self.index: Optional[Index] = None
        if os.path.exists(os.path.join(self.index_path, "CURRENT")) or os.path.exists(
            os.path.join(self.index_path, "meta.json")
        ):
            self.index = Index.open(self.index_path)
        _register_with_pylate()

    @property
    def is_indexed(self) -> bool:
        """Whether the index holds documents (``add_documents`` was called)."""
        return self.index is not None

    def add_documents(
        self,
        documents_ids: Union[str, Sequence[Any]],
        documents_embeddings: Sequence[Any],
        **kwargs: Any,
    ) -> "Tartan":
        """Adds these documents (ids and ``[tokens, dim]`` embeddings): the first call
        builds the index, later ones add to it in one commit (an id already indexed
        raises ``ValueError``; use ``update_documents`` to replace it).
        """
        if isinstance(documents_ids, str):
            documents_ids = [documents_ids]
        ids = [str(i) for i in documents_ids]
        embeddings = [_as_float32(e) for e in documents_embeddings]
        if len(ids) != len(embeddings):
            raise ValueError(f"{len(ids)} ids for {len(embeddings)} documents")
        if self.index is not None:
            self.index.add(ids, embeddings)
            return self
        # An empty directory (left by a PyLate index of the same name, say) is replaced;
        # anything else at the path is refused by the build.
        if os.path.isdir(self.index_path) and not os.listdir(self.index_path):
            os.rmdir(self.index_path)
        self.index = Index.build(
            self.index_path,
            embeddings,
            ids=ids,
            nbits=self.nbits,
            codec=self.codec,
            keep_embeddings=self.keep_embeddings,
            progress=self.show_progress,
            seed=self.seed,
        )
        return self

    def remove_documents(self, documents_ids: Sequence[str]) -> "Tartan":
        """Deletes these documents in one commit (ids the index does not hold are
        ignored, as PyLate's PLAID index does)."""
        if self.index is not None:
            self.index.delete([str(i) for i in documents_ids])
        return self

    def update_documents(self, documents_ids: Sequence[str], documents_embeddings: Sequence[Any]) -> "Tartan":
        """Replaces (or adds) these documents in one commit."""
        ids = [str(i) for i in documents_ids]
        embeddings = [_as_float32(e) for e in documents_embeddings]
        if self.index is None:
            return self.add_documents(ids, embeddings)
        self.index.add(ids, embeddings, upsert=True)
        return self

    def __call__(
        self,
        queries_embeddings: Any,
        k: int = 10,
        subset: Optional[Union[List[List[str]], List[str]]] = None,
    ) -> List[List[Dict[str, Any]]]:
        """The top ``k`` documents of each query: a list per query of
        ``{"id": str, "score": float}`` dicts, best first (PyLate's RerankResult).

        ``queries_embeddings``: a ``[n, tokens, dim]`` or ``[tokens, dim]`` (one
        query) array or tensor, or a list of ``[tokens, dim]`` ones.
        ``subset``: document ids to search within, one list for every query or one
        list a query (ids the index does not hold are ignored).
        """
        if self.index is None:
            raise ValueError("The index is empty. Please add documents before querying.")
        queries = _queries(queries_embeddings)
        settings = dict(
            k=k,
            nprobe=self.nprobe,
            ndocs=self.ndocs,
            threshold=self.centroid_score_threshold,
        )
        per_query = subset is not None and len(subset) > 0 and not isinstance(subset[0], str)
        if not per_query:
            ids = None if subset is None else [str(i) for i in subset]
            return _rerank_results(self.index.search(queries, ids=ids, **settings))
        if isinstance(queries, np.ndarray):
            queries = list(queries if queries.ndim == 3 else queries[None])
        if len(subset) != len(queries):
            raise ValueError(f"{len(subset)} subsets for {len(queries)} queries")
        out: List[List[Dict[str, Any]]] = []
        for query, ids in zip(queries, subset):
            out.extend(
                _rerank_results(self.index.search(query, ids=[str(i) for i in ids], **settings))
            )
        return out

    def get_documents_embeddings(self, documents_ids: Sequence[Sequence[str]]) -> List[List[np.ndarray]]:
        """For each list of ids, each document's ``[tokens, dim]`` embeddings: the kept
        ones with ``keep_embeddings=True``, else decompressed from the index.

        Raises ``ValueError`` for an id the index does not hold.
        """
        if self.index is None:
            raise ValueError("The index is empty. Please add documents before querying.")
        index = self.index
        return [
            [index.document_embeddings(int(d)) for d in index.lookup([str(i) for i in ids])]
            for ids in documents_ids
        ]

    def __repr__(self) -> str:
        state = f"{len(self.index)} documents" if self.index is not None else "empty"
        return f"tartan.pylate.Tartan({self.index_path!r}, {state})"


def _register_with_pylate() -> None:
    """Makes ``Tartan`` a virtual subclass of PyLate's index base when pylate is
    already imported (never imports it)."""
    base = sys.modules.get("pylate.indexes.base")
    if base is not None and not issubclass(Tartan, base.Base):
        base.Base.register(Tartan)
