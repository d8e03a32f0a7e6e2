"""syneg.retrieval.index: exact and approximate faiss search in chunks."""

from __future__ import annotations

import numpy as np
import pytest

from syneg.retrieval.index import IndexConfig, build, recall_at_k, search, search_chunks
from tests.conftest import clustered_embeddings


def _clustered(n_docs=4000, n_queries=200, dim=32, seed=0):
    return clustered_embeddings(n_docs, n_queries, dim, clusters=40, doc_noise=0.5, query_noise=0.2, seed=seed)


def test_exact_search_equals_numpy_and_chunking_changes_nothing():
    docs, queries = _clustered()
    index = build(docs)
    scores, idx = search(index, queries, 10, chunk_size=10_000)
    truth = np.argsort(-(queries @ docs.T), axis=1, kind="stable")[:, :10]
    assert (idx == truth).mean() > 0.999  # float ties aside
    for chunk in (1, 7, 64):
        s, i = search(index, queries, 10, chunk_size=chunk)
        assert (i == idx).all() and np.allclose(s, scores, atol=1e-6)


def test_chunks_bound_what_is_held_at_once():
    docs, queries = _clustered()
    shapes = [(start, s.shape) for start, s, _ in search_chunks(build(docs), queries, 5, chunk_size=64)]
    assert shapes == [(0, (64, 5)), (64, (64, 5)), (128, (64, 5)), (192, (8, 5))]


@pytest.mark.parametrize("cfg, floor", [(IndexConfig(kind="ivf", nprobe=8), 0.9), (IndexConfig(kind="hnsw"), 0.9)])
def test_approximate_indexes_are_reproducible_and_report_their_recall(cfg, floor):
    docs, queries = _clustered()
    _, exact = search(build(docs), queries, 20)
    _, first = search(build(docs, cfg), queries, 20)
    _, again = search(build(docs, cfg), queries, 20)
    assert (first == again).all()  # seeded k-means, single-threaded graph build
    assert floor <= recall_at_k(first, exact) <= 1.0


def test_ivf_probing_every_cell_is_exact():
    docs, queries = _clustered()
    _, exact = search(build(docs), queries, 10)
    _, ivf = search(build(docs, IndexConfig(kind="ivf", nlist=16, nprobe=16)), queries, 10)
    assert recall_at_k(ivf, exact) == 1.0


def test_a_bad_index_config_names_what_is_allowed():
    with pytest.raises(ValueError, match="index kind is 'annoy'; use one of exact, ivf, hnsw"):
        IndexConfig(kind="annoy")
    with pytest.raises(ValueError, match="chunk_size is 0; use 1 or more"):
        next(search_chunks(build(np.eye(2, dtype=np.float32)), np.eye(2, dtype=np.float32), 1, chunk_size=0))
