"""Exact inner-product search over normalised embeddings with faiss (cosine similarity), in chunks."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def search(query_emb: np.ndarray, doc_emb: np.ndarray, k: int,
           chunk_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` documents for each query by inner product: ``(scores, indices)``, each
    ``[n_queries, k]``, searched ``chunk_size`` queries at a time (:mod:`syneg.retrieval.index`).

    Example:
        >>> import numpy as np
        >>> s, i = search(np.eye(2, dtype="float32"), np.eye(2, dtype="float32"), k=1)
        >>> i.tolist()
        [[0], [1]]
    """
    from syneg.retrieval import index

    return index.search(index.build(doc_emb), query_emb, k, chunk_size)


def score_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise inner products of two equally shaped embedding matrices."""
    return np.einsum("ij,ij->i", a, b)


def dense_run(emb, query_ids: Sequence[str], depth: int, chunk_size: int = 4096) -> dict[str, dict[str, float]]:
    """Exact top-``depth`` search of ``query_ids`` over ``emb`` (:class:`syneg.embeddings.Embeddings`), as a
    run ``{query_id: {doc_id: score}}``; ``chunk_size`` queries are searched at a time, so beyond the run
    itself memory grows with ``chunk_size x depth``."""
    from syneg.retrieval import index

    built, run = index.build(emb.corpus), {}
    for start, scores, idx in index.search_chunks(built, emb.queries_of(query_ids), depth, chunk_size):
        for r in range(len(idx)):
            run[query_ids[start + r]] = {emb.doc_ids[j]: float(s) for j, s in zip(idx[r], scores[r])}
    return run
