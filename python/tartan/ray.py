"""tartan on Ray: a corpus built into shards, and the shards served, on a Ray cluster.

``pip install "./python[ray]"`` brings Ray (Ray Data and Ray Serve). Nothing here is
needed to use tartan on one machine; this module only distributes what the package
does there:

- ``build_sharded(corpus, model, out_dir, num_shards)``: samples documents, encodes
  them and trains one codec (``tartan.train_codec``); encodes the corpus with Ray
  Data ``map_batches`` over encoder actors (one GPU each when the cluster has GPUs);
  builds every shard as a Ray task with the shared codec
  (``Index.build(codec_dir=...)``), into ``out_dir`` (a path every worker sees: local
  on one machine, a network file system across machines). Resumable: a shard that is
  complete (its index opens) is neither encoded nor built again.
- ``serve_sharded(shard_dirs, model)``: a Ray Serve application with one deployment
  per shard (a memory-mapped ``tartan.Index``, ``replicas`` each) and an ingress that
  encodes each query once, fans the query embeddings out to every shard at once,
  merges the top-k by score and answers ``tartan serve``'s HTTP JSON API
  (``POST /search``, ``GET /health``, ``GET /stats``). A shard that does not answer
  within ``timeout_s`` makes the reply ``"partial": true`` with the missing shards
  named in ``"missing_shards"``: never a silent wrong answer, never a hang.

Documents go to shard ``crc32(id) % num_shards``: stable across runs and machines.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import time
import zlib
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import ray
import ray.data
from ray import serve

import tartan

__all__ = ["build_sharded", "serve_sharded", "shard_dirs", "shard_of", "SHARDS_FILE"]

#: The record ``build_sharded`` writes in ``out_dir``: the model, the codec and the shards.
SHARDS_FILE = "shards.json"
_CODEC = "codec"

_Path = Union[str, "os.PathLike[str]"]


def shard_of(doc_id: str, num_shards: int) -> int:
    """The shard of document ``doc_id``: ``crc32(id) % num_shards``."""
    return zlib.crc32(doc_id.encode("utf-8")) % num_shards


def _shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def _is_complete(path: pathlib.Path) -> bool:
    """Whether ``path`` holds an index that opens (builds are renamed in last)."""
    try:
        tartan.Index.open(path)
        return True
    except (FileNotFoundError, tartan.IndexError):
        return False


def _documents(corpus: Any) -> "ray.data.Dataset":
    """The corpus as a Ray Dataset of ``id`` and ``text`` columns.

    ``corpus`` is a Ray Dataset, a JSONL file (BEIR's corpus.jsonl: ``_id`` or ``id``,
    ``text``, optional ``title`` joined before the text as BEIR does), a BEIR directory,
    or an iterable of such dicts.
    """
    if isinstance(corpus, (str, os.PathLike)):
        path = pathlib.Path(corpus)
        if path.is_dir():
            path = path / "corpus.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no corpus file")
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        ds = ray.data.from_items(rows)
    elif isinstance(corpus, ray.data.Dataset):
        ds = corpus
    else:
        ds = ray.data.from_items(list(corpus))
    return ds.map_batches(_id_and_text, batch_format="pandas")


def _id_and_text(frame):  # pandas in, pandas out
    import pandas as pd

    if "id" in frame.columns:
        ids = frame["id"]
    elif "_id" in frame.columns:
        ids = frame["_id"]
    else:
        raise ValueError("corpus rows need an 'id' (or BEIR '_id') field")
    if "text" not in frame.columns:
        raise ValueError("corpus rows need a 'text' field")
    texts = frame["text"].fillna("").astype(str)
    if "title" in frame.columns:
        titles = frame["title"].fillna("").astype(str).str.strip()
        texts = [f"{t} {x}" if t else x for t, x in zip(titles, texts)]
    return pd.DataFrame({"id": ids.astype(str), "text": list(texts)})


class _Encode:
    """A Ray Data actor: one model loaded once, documents encoded batch by batch."""

    def __init__(self, model: str, device: str, num_shards: int, batch_size: int) -> None:
        self.encoder = tartan.Encoder(model, device=device)
        self.num_shards = num_shards
        self.batch_size = batch_size

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        embeddings = self.encoder.encode_documents(texts, batch_size=self.batch_size)
        ids = [str(i) for i in batch["id"]]
        return {
            "id": np.array(ids, dtype=object),
            "shard": np.array([shard_of(i, self.num_shards) for i in ids], dtype=np.int64),
            "tokens": np.array([e.shape[0] for e in embeddings], dtype=np.int64),
            "embedding": np.array([np.ascontiguousarray(e, dtype=np.float32).tobytes() for e in embeddings], dtype=object),
        }


def _unpack(batch: Dict[str, np.ndarray], dim: int) -> List[np.ndarray]:
    return [np.frombuffer(b, dtype=np.float32).reshape(int(n), dim) for b, n in zip(batch["embedding"], batch["tokens"])]


def _build_shard(batch: Dict[str, np.ndarray], out_dir: str, codec_dir: str, dim: int) -> Dict[str, np.ndarray]:
    """A Ray Data group (one shard's documents) built into its index."""
    shard = int(batch["shard"][0])
    order = np.argsort(batch["id"].astype(str), kind="stable")
    ids = [str(batch["id"][i]) for i in order]
    docs = _unpack(batch, dim)
    docs = [docs[i] for i in order]
    path = pathlib.Path(out_dir) / _shard_name(shard)
    tartan.Index.build(path, docs, ids=ids, codec_dir=codec_dir, overwrite=True)
    return {"shard": np.array([shard]), "documents": np.array([len(ids)])}


def build_sharded(
    corpus: Any,
    model: _Path,
    out_dir: _Path,
    num_shards: int,
    *,
    sample_documents: int = 2000,
    encoders: int = 1,
    batch_size: int = 32,
    nbits: int = 2,
    seed: int = 42,
    device: Optional[str] = None,
) -> Dict[str, Any]:
    """Builds ``corpus`` into ``num_shards`` tartan indexes sharing one codec, on Ray.

    Parameters
    ----------
    corpus
        A Ray Dataset with ``id`` and ``text`` columns, a JSONL file or BEIR directory,
        or an iterable of ``{"id", "text", "title"?}`` dicts.
    model
        The ColBERT model directory every encoder loads (it must be readable by every
        worker).
    out_dir
        Where the codec (``codec/``), the shards (``shard-00000``, ...) and
        ``shards.json`` go: a path every worker sees.
    num_shards
        How many indexes to split the corpus into (documents by ``shard_of(id)``).
    sample_documents
        Documents encoded to train the codec (a seeded random sample).
    encoders
        Encoder actors (Ray Data's ``concurrency``).
    batch_size
        Documents a model forward pass.
    nbits
        Bits a dimension of the residual codes (1, 2 or 4).
    seed
        Seed of the sample and of the codec's training.
    device
        ``"cpu"`` or ``"cuda"``; by default ``"cuda"`` (one GPU an encoder) when the
        cluster has GPUs.

    Returns
    -------
    dict
        ``shards`` (directories), ``documents`` (per shard), ``built`` (shards built
        by this call) and ``skipped`` (complete ones found), ``codec``, ``seconds``.

    Resumable: run it again after a failure and the complete shards (and the codec)
    are kept; only the rest is encoded and built.
    """
    if num_shards < 1:
        raise ValueError("num_shards must be at least 1")
    started = time.perf_counter()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = str(model)
    gpus = ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0
    device = device or ("cuda" if gpus > 0 else "cpu")
    per_actor = {"num_gpus": 1} if device.startswith("cuda") else {"num_cpus": 1}
    docs = _documents(corpus)
    encode = dict(
        fn_constructor_kwargs={"model": model, "device": device, "num_shards": num_shards, "batch_size": batch_size},
        batch_size=batch_size * 4,
        concurrency=encoders,
        batch_format="numpy",
        **per_actor,
    )

    codec_dir = out / _CODEC
    if not (codec_dir / "codec.json").is_file():
        total = docs.count()
        if total == 0:
            raise ValueError("the corpus holds no documents")
        fraction = min(1.0, sample_documents / total)
        sample = docs.random_sample(fraction, seed=seed) if fraction < 1.0 else docs
        rows = sample.map_batches(_Encode, **encode).take_all()
        # The dimension from the encoded rows: bytes / 4 / tokens of any non-empty one.
        dim = next((len(r["embedding"]) // 4 // int(r["tokens"]) for r in rows if int(r["tokens"]) > 0), None)
        if dim is None:
            raise ValueError("the sampled documents encode to no token embeddings")
        embeddings = np.concatenate(
            [np.frombuffer(r["embedding"], dtype=np.float32).reshape(int(r["tokens"]), dim) for r in rows]
        )
        # Centroids sized for one shard (about corpus / num_shards embeddings).
        per_shard = int(embeddings.shape[0] * total / max(1, len(rows)) / num_shards)
        tartan.train_codec(embeddings, codec_dir, nbits=nbits, seed=seed, shard_embeddings=max(1, per_shard))
    dim = json.loads((codec_dir / "codec.json").read_text())["dim"]

    done = {s for s in range(num_shards) if _is_complete(out / _shard_name(s))}
    todo = [s for s in range(num_shards) if s not in done]
    built: List[int] = []
    if todo:
        wanted = set(todo)
        pending = docs.filter(lambda row: shard_of(str(row["id"]), num_shards) in wanted)
        results = (
            pending.map_batches(_Encode, **encode)
            .groupby("shard")
            .map_groups(
                _build_shard,
                fn_kwargs={"out_dir": str(out), "codec_dir": str(codec_dir), "dim": dim},
                batch_format="numpy",
            )
            .take_all()
        )
        built = sorted(int(r["shard"]) for r in results)
    shards = [s for s in range(num_shards) if (out / _shard_name(s)).exists()]
    counts = {_shard_name(s): len(tartan.Index.open(out / _shard_name(s))) for s in shards}
    record = {
        "format": "tartan-shards",
        "format_version": 1,
        "model": model,
        "codec": _CODEC,
        "num_shards": num_shards,
        "shards": [{"path": _shard_name(s), "documents": counts[_shard_name(s)]} for s in shards],
    }
    tmp = out / f".{SHARDS_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out / SHARDS_FILE)
    return {
        "shards": [str(out / _shard_name(s)) for s in shards],
        "documents": [counts[_shard_name(s)] for s in shards],
        "built": built,
        "skipped": sorted(done),
        "codec": str(codec_dir),
        "seconds": time.perf_counter() - started,
    }


def shard_dirs(out_dir: _Path) -> List[pathlib.Path]:
    """The shard directories ``build_sharded`` recorded in ``out_dir/shards.json``."""
    out = pathlib.Path(out_dir)
    record = json.loads((out / SHARDS_FILE).read_text())
    return [out / s["path"] for s in record["shards"]]


# ---------------------------------------------------------------------------------
# Serving

_SEARCH_FIELDS = {"queries", "embeddings", "k", "nprobe", "threshold", "centroid_score_threshold", "ndocs", "exact", "filter", "mode", "rrf_k"}


class ShardServer:
    """A Ray Serve deployment: one shard, memory-mapped, searched on request."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.index = tartan.Index.open(path)

    def search(self, queries: np.ndarray, k: int, options: Dict[str, Any]) -> List[List[tuple]]:
        """Each query's hits as ``(id, score)`` pairs, best first."""
        results = self.index.search(queries, k=k, **options)
        return [list(zip(results.ids[i], results.scores[i, : len(results.ids[i])].tolist())) for i in range(len(results))]

    def stats(self) -> Dict[str, Any]:
        """The shard's counts."""
        return {"path": self.path, "documents": len(self.index), "generation": self.index.generation}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def merge_hits(per_shard: Sequence[Optional[List[List[tuple]]]], k: int) -> List[List[tuple]]:
    """The top ``k`` of each query over the shards that answered (None: missing), by
    score, ties by shard then rank: the order ``tartan.ShardSet`` gives."""
    answered = [(s, hits) for s, hits in enumerate(per_shard) if hits is not None]
    if not answered:
        return []
    merged = []
    for q in range(len(answered[0][1])):
        pool = [(-float(score), s, rank, doc_id, float(score)) for s, hits in answered for rank, (doc_id, score) in enumerate(hits[q])]
        pool.sort()
        merged.append([(doc_id, score) for _, _, _, doc_id, score in pool[:k]])
    return merged


class Ingress:
    """The Ray Serve ingress: ``tartan serve``'s JSON API over the shard deployments."""

    def __init__(self, model: Optional[str], shards: List[Any], names: List[str], dim: int, timeout_s: float) -> None:
        self.encoder = tartan.Encoder(model) if model else None
        self.model = model
        self.shards = shards
        self.names = names
        self.dim = dim
        self.timeout_s = timeout_s
        self.started = time.time()
        self.counters = {"requests": 0, "errors": 0, "queries_served": 0, "partial_responses": 0}

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        self.counters["requests"] += 1
        path = request.url.path.rstrip("/") or "/"
        try:
            if path.endswith("/health") and request.method == "GET":
                return JSONResponse({"status": "ok"})
            if path.endswith("/stats") and request.method == "GET":
                return JSONResponse(await self._stats())
            if path.endswith("/search") and request.method == "POST":
                try:
                    body = await request.json()
                except ValueError as e:
                    raise _BadRequest(400, f"malformed JSON: {e}") from None
                return JSONResponse(await self._search(body))
            raise _BadRequest(404, f"no route {request.method} {request.url.path}")
        except _BadRequest as e:
            self.counters["errors"] += 1
            return JSONResponse({"error": e.message}, status_code=e.status)

    async def _call_all(self, method: str, *args: Any) -> List[Any]:
        """``method`` on every shard at once; a shard that fails or does not answer
        within the timeout gives None. A shard's ValueError (bad input) is the
        request's error."""

        async def one(handle: Any) -> Any:
            response = getattr(handle, method).remote(*args)
            try:
                return await asyncio.wait_for(_awaited(response), self.timeout_s)
            except asyncio.TimeoutError:
                response.cancel()
                return None
            except Exception as e:  # noqa: BLE001 -- a dead or failing replica: reported as missing
                if _is_user_error(e):
                    raise _BadRequest(400, str(e)) from None
                return None

        return list(await asyncio.gather(*(one(h) for h in self.shards)))

    async def _stats(self) -> Dict[str, Any]:
        per_shard = await self._call_all("stats")
        return {
            "shards": len(self.shards),
            "shards_answering": sum(s is not None for s in per_shard),
            "missing_shards": [n for n, s in zip(self.names, per_shard) if s is None],
            "documents": sum(s["documents"] for s in per_shard if s is not None),
            "dim": self.dim,
            "model": self.model,
            "timeout_s": self.timeout_s,
            "uptime_seconds": time.time() - self.started,
            **self.counters,
            "per_shard": {n: s for n, s in zip(self.names, per_shard)},
        }

    async def _search(self, body: Any) -> Dict[str, Any]:
        started = time.perf_counter()
        if not isinstance(body, dict):
            raise _BadRequest(422, "the body must be a JSON object")
        unknown = set(body) - _SEARCH_FIELDS
        if unknown:
            raise _BadRequest(422, f"unknown field(s): {', '.join(sorted(unknown))}")
        if body.get("mode", "semantic") != "semantic":
            raise _BadRequest(400, "lexical and hybrid search rank by BM25, whose scores do not compare across shards")
        k = body.get("k", 10)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100_000:
            raise _BadRequest(400, "k must be an integer from 1 to 100000")
        options: Dict[str, Any] = {}
        for name in ("nprobe", "ndocs"):
            if body.get(name) is not None:
                options[name] = body[name]
        threshold = body.get("threshold", body.get("centroid_score_threshold"))
        if threshold is not None:
            options["threshold"] = float(threshold)
        if body.get("exact"):
            options["exact"] = True
        if body.get("filter") is not None:
            options["filter"] = body["filter"]
        texts = body.get("queries")
        if (texts is None) == (body.get("embeddings") is None):
            raise _BadRequest(400, "give either \"queries\" (texts) or \"embeddings\"")
        if texts is not None:
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise _BadRequest(400, "\"queries\" must be a non-empty list of strings")
            if self.encoder is None:
                raise _BadRequest(400, "this deployment has no model: send \"embeddings\"")
            queries = await asyncio.to_thread(self.encoder.encode_queries, texts)
        else:
            try:
                queries = [np.asarray(q, dtype=np.float32) for q in body["embeddings"]]
            except (TypeError, ValueError) as e:
                raise _BadRequest(400, f"\"embeddings\": {e}") from None
            if not queries or any(q.ndim != 2 or q.shape[1] != self.dim or q.shape[0] == 0 for q in queries):
                raise _BadRequest(400, f"\"embeddings\" must be a non-empty list of [tokens, {self.dim}] arrays")
        per_shard = await self._call_all("search", queries, k, options)
        merged = merge_hits(per_shard, k)
        missing = [n for n, r in zip(self.names, per_shard) if r is None]
        self.counters["queries_served"] += len(queries)
        if missing:
            self.counters["partial_responses"] += 1
        results = []
        for i in range(len(queries)):
            entry: Dict[str, Any] = {"query": i}
            if texts is not None:
                entry["text"] = texts[i]
            entry["results"] = [{"id": d, "score": s} for d, s in (merged[i] if merged else [])]
            results.append(entry)
        return {
            "results": results,
            "took_ms": (time.perf_counter() - started) * 1000.0,
            "partial": bool(missing),
            "missing_shards": missing,
        }


async def _awaited(response: Any) -> Any:
    return await response


def _is_user_error(error: BaseException) -> bool:
    """Whether a shard's exception is the caller's bad input (a ValueError raised in
    the replica, as Ray wraps it), not a failure of the replica."""
    cause = getattr(error, "cause", None)
    return isinstance(error, ValueError) or isinstance(cause, ValueError)


def serve_sharded(
    shards: Union[_Path, Sequence[_Path]],
    model: Optional[_Path] = None,
    *,
    replicas: int = 1,
    timeout_s: float = 2.0,
    name: str = "tartan",
    route_prefix: str = "/",
    shard_cpus: float = 0.0,
) -> Any:
    """Serves shards on Ray Serve under ``tartan serve``'s HTTP JSON API.

    Parameters
    ----------
    shards
        The shard directories, or the ``out_dir`` of ``build_sharded`` (its
        ``shards.json`` lists them). Each must open, and all must share one codec
        (checked here with ``tartan.ShardSet``).
    model
        The model that encodes text queries (default: the one ``shards.json``
        records; without one, only ``"embeddings"`` requests are answered).
    replicas
        Replicas of each shard's deployment.
    timeout_s
        How long the ingress waits for a shard; past it the reply is flagged
        ``"partial": true`` with the shard in ``"missing_shards"``.
    name, route_prefix
        The Serve application's name and HTTP route (Serve's HTTP options, such as
        the port, are set by ``serve.start`` before this call).
    shard_cpus
        CPUs each shard replica reserves (0: share the node's cores).

    Returns
    -------
    The application's ``DeploymentHandle`` (the ingress).
    """
    if isinstance(shards, (str, os.PathLike)) and (pathlib.Path(shards) / SHARDS_FILE).is_file():
        record = json.loads((pathlib.Path(shards) / SHARDS_FILE).read_text())
        model = model or record.get("model")
        paths = shard_dirs(shards)
    elif isinstance(shards, (str, os.PathLike)):
        paths = [pathlib.Path(shards)]
    else:
        paths = [pathlib.Path(p) for p in shards]
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    checked = tartan.ShardSet(paths)  # same codec and dim, every shard opens
    names = [p.name for p in paths]
    shard_apps = [
        serve.deployment(ShardServer, name=f"shard-{i}-{n}", num_replicas=replicas, ray_actor_options={"num_cpus": shard_cpus}).bind(
            str(p.resolve())
        )
        for i, (p, n) in enumerate(zip(paths, names))
    ]
    ingress = serve.deployment(Ingress, name="ingress", ray_actor_options={"num_cpus": 0}).bind(
        str(model) if model else None, shard_apps, names, checked.dim, timeout_s
    )
    return serve.run(ingress, name=name, route_prefix=route_prefix)
