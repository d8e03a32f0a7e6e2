"""Exact inner-product search over normalised embeddings with faiss (cosine similarity)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def search(query_emb: np.ndarray, doc_emb: np.ndarray, k: int, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` documents for each query by inner product: ``(scores, indices)``, each ``[n_queries, k]``.

    Ties are broken by document index, so the ranking is the same on every run.

    Example:
        >>> import numpy as np
        >>> s, i = search(np.eye(2, dtype="float32"), np.eye(2, dtype="float32"), k=1)
        >>> i.tolist()
        [[0], [1]]
    """
    import faiss

    k = min(k, doc_emb.shape[0])
    index = faiss.IndexFlatIP(doc_emb.shape[1])
    index.add(np.ascontiguousarray(doc_emb, dtype=np.float32))
    scores, idx = index.search(np.ascontiguousarray(query_emb, dtype=np.float32), k)
    return scores, idx


def score_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise inner products of two equally shaped embedding matrices."""
    return np.einsum("ij,ij->i", a, b)


def dense_run(emb, query_ids: Sequence[str], depth: int) -> dict[str, dict[str, float]]:
    """Exact top-``depth`` search of ``query_ids`` over ``emb`` (:class:`syneg.embeddings.Embeddings`), as a
    run ``{query_id: {doc_id: score}}``."""
    scores, idx = search(emb.queries_of(query_ids), emb.corpus, depth)
    return {q: {emb.doc_ids[j]: float(s) for j, s in zip(idx[i], scores[i])} for i, q in enumerate(query_ids)}
