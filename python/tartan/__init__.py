"""tartan: a compressed, memory-mapped ColBERT (late-interaction) search engine.

numpy in and out, the GIL released while Rust works::

    import tartan
    idx = tartan.Index.build("scifact.idx", documents_embeddings, ids=doc_ids)
    res = idx.search(queries_embeddings, k=10)   # [n, tokens, dim] float32
    res.ids[0], res.scores[0]                    # query 0's ids and scores

- ``Index``: build (``Index.build``), open (``Index.open``) and search an index.
- ``SearchResults``: what ``Index.search`` returns.
- ``train_codec`` and ``ShardSet``: train a codec once, build shards with it
  (``Index.build(..., codec_dir=...)``), search them as one index.
- ``Encoder``: texts to token embeddings with tartan's own (candle) encoder.
- ``evaluate``: nDCG, recall, MRR, MAP, P as pytrec_eval computes them.
- ``tartan.pylate.Tartan``: PyLate's index interface, for ``retrieve.ColBERT``.

Errors: ``ValueError`` for bad input, ``FileNotFoundError`` / ``FileExistsError`` /
``OSError`` for files, ``tartan.IndexError`` for index problems with its subclass
``tartan.CorruptIndexError`` for damaged indexes, ``tartan.EncoderError`` for model
problems and ``tartan.InternalError`` (a ``RuntimeError``) for a bug (a Rust panic).
``tartan.IndexError`` is not the builtin ``IndexError``: always write it qualified
(it is left out of ``__all__`` so ``from tartan import *`` cannot shadow the builtin).
"""

from tartan import pylate
from tartan._tartan import (
    CorruptIndexError,
    Encoder,
    EncoderError,
    Index,
    IndexError,  # noqa: A004 -- tartan.IndexError, see the module docstring
    InternalError,
    SearchResults,
    ShardSet,
    __version__,
    evaluate,
    train_codec,
)

__all__ = [
    "CorruptIndexError",
    "Encoder",
    "EncoderError",
    "Index",
    "InternalError",
    "SearchResults",
    "ShardSet",
    "__version__",
    "evaluate",
    "pylate",
    "train_codec",
]
