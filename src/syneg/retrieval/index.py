"""Dense search over normalised embeddings with faiss, exact or approximate, in bounded memory.

``exact`` (``IndexFlatIP``) gives the true top-k; ``ivf`` (``IndexIVFFlat``: k-means cells, ``nprobe`` of them
searched) and ``hnsw`` (``IndexHNSWFlat``: a proximity graph, ``ef_search`` candidates kept while walking it) are
the approximate indexes for large corpora. Queries are searched in chunks of ``chunk_size``, so memory grows
with ``chunk_size x k``, never with queries x corpus; the caller consumes one chunk before the next.

Both approximate indexes are built deterministically: k-means is seeded, and the graph is built on one thread
(faiss inserts in parallel otherwise, and the graph then depends on thread timing).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> docs = rng.normal(size=(500, 16)).astype("float32")
    >>> docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    >>> exact = build(docs, IndexConfig())
    >>> approx = build(docs, IndexConfig(kind="ivf", nlist=8, nprobe=8))  # every cell searched: exact
    >>> [(s.shape, i.shape) for _, s, i in search_chunks(exact, docs[:5], k=3, chunk_size=2)]
    [((2, 3), (2, 3)), ((2, 3), (2, 3)), ((1, 3), (1, 3))]
    >>> recall_at_k(search(approx, docs[:50], 10)[1], search(exact, docs[:50], 10)[1])
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

KINDS = ("exact", "ivf", "hnsw")


@dataclass(frozen=True)
class IndexConfig:
    """Which faiss index a dense search uses.

    Attributes:
        kind: ``exact``, ``ivf`` or ``hnsw``.
        nlist: IVF cells; ``None``: ``4 * sqrt(documents)``, at most documents / 39 (faiss wants 39 training
            points per cell).
        nprobe: IVF cells searched per query (more: higher recall, slower).
        hnsw_m: HNSW neighbours per node (more: higher recall, more memory).
        ef_search: HNSW candidates kept while searching; ``None``: ``2 * k``; never below ``k``.
        seed: seeds IVF's k-means.
    """

    kind: str = "exact"
    nlist: int | None = None
    nprobe: int = 32
    hnsw_m: int = 32
    ef_search: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"index kind is '{self.kind}'; use one of {', '.join(KINDS)}.")
        for name in ("nprobe", "hnsw_m"):
            if getattr(self, name) < 1:
                raise ValueError(f"index {name} is {getattr(self, name)}; use 1 or more.")


def _float32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


@dataclass
class DenseIndex:
    """A built faiss index and the config it was built with (search-time settings come from it)."""

    faiss: object
    cfg: IndexConfig

    @property
    def ntotal(self) -> int:
        return int(self.faiss.ntotal)


def build(doc_emb: np.ndarray, cfg: IndexConfig = IndexConfig()) -> DenseIndex:
    """A faiss inner-product index over ``doc_emb`` (rows: documents), of the kind ``cfg`` names."""
    import faiss

    docs = _float32(doc_emb)
    n, dim = docs.shape
    if cfg.kind == "exact" or n == 0:
        index = faiss.IndexFlatIP(dim)
    elif cfg.kind == "ivf":
        nlist = cfg.nlist or int(4 * math.sqrt(n))
        nlist = max(1, min(nlist, n // 39 or 1))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = cfg.seed
        index.train(docs)
        index.nprobe = min(cfg.nprobe, nlist)
    else:
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # parallel insertion makes the graph depend on thread timing
        try:
            index.add(docs)
        finally:
            faiss.omp_set_num_threads(threads)
        return DenseIndex(index, cfg)
    index.add(docs)
    return DenseIndex(index, cfg)


def search_chunks(index: DenseIndex, query_emb: np.ndarray, k: int,
                  chunk_size: int = 4096) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Search ``query_emb`` in chunks: yields ``(first_row, scores, indices)``, each ``[rows, k]``; an index
    of -1 (an approximate index that found fewer than ``k``) has score ``-inf``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size is {chunk_size}; use 1 or more.")
    k = min(k, index.ntotal)
    if index.cfg.kind == "hnsw":
        index.faiss.hnsw.efSearch = max(index.cfg.ef_search or 2 * k, k)
    queries = _float32(query_emb)
    for start in range(0, len(queries), chunk_size):
        scores, idx = index.faiss.search(queries[start:start + chunk_size], k)
        scores[idx < 0] = -np.inf
        yield start, scores, idx


def search(index: DenseIndex, query_emb: np.ndarray, k: int, chunk_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """All chunks of :func:`search_chunks` joined: ``(scores, indices)``, each ``[queries, k]``."""
    parts = list(search_chunks(index, query_emb, k, chunk_size))
    if not parts:
        k = min(k, index.ntotal)
        return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
    return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def recall_at_k(approx_idx: np.ndarray, exact_idx: np.ndarray) -> float:
    """Share of the exact top-k that the approximate top-k also holds, over all queries."""
    if exact_idx.size == 0:
        return 1.0
    found = sum(len(set(a[a >= 0]) & set(e)) for a, e in zip(approx_idx, exact_idx))
    return round(found / exact_idx.size, 4)
