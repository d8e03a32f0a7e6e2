"""Retrieval metrics with beir's EvaluateRetrieval (pytrec_eval): nDCG@10, MRR@10, R@10, R@100, MAP@100.

``ignore_identical_ids`` follows BEIR: when True, a retrieved document whose id equals the query id is
removed before scoring (it matters only for datasets whose query and document ids collide). Every metrics
file records which setting produced it.

Example:
    >>> m = evaluate({"q": {"d": 1}}, {"q": {"d": 1.0, "e": 0.5}})
    >>> m["ndcg@10"], m["mrr@10"]
    (1.0, 1.0)
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

Run = dict[str, dict[str, float]]
CURVE_KS = (1, 3, 5, 10, 20, 50, 100)


def evaluate(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool = False) -> dict[str, float]:
    """Score ``run`` against ``qrels`` (values x 1, rounded to 5 places as beir does)."""
    from beir.retrieval.evaluation import EvaluateRetrieval

    run = copy.deepcopy(run)  # beir deletes identical ids in place
    ndcg, _map, recall, _p = EvaluateRetrieval.evaluate(qrels, run, [10, 100], ignore_identical_ids=ignore_identical_ids)
    mrr = EvaluateRetrieval.evaluate_custom(qrels, run, [10], metric="mrr")
    return {
        "ndcg@10": ndcg["NDCG@10"],
        "mrr@10": mrr["MRR@10"],
        "recall@10": recall["Recall@10"],
        "recall@100": recall["Recall@100"],
        "map@100": _map["MAP@100"],
    }


def curve(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool = False,
          ks: Sequence[int] = CURVE_KS) -> list[dict[str, float]]:
    """nDCG@k and Recall@k for each ``k`` in ``ks``: rows for a ``dvc plots`` curve that compares systems."""
    from beir.retrieval.evaluation import EvaluateRetrieval

    ndcg, _map, recall, _p = EvaluateRetrieval.evaluate(qrels, copy.deepcopy(run), list(ks),
                                                         ignore_identical_ids=ignore_identical_ids)
    return [{"k": k, "ndcg": ndcg[f"NDCG@{k}"], "recall": recall[f"Recall@{k}"]} for k in ks]


def write_curve(path, rows: list[dict[str, float]]) -> None:
    """Write curve rows as CSV, atomically."""
    import pandas as pd

    from syneg.io import atomic_path

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def dense_run(query_ids: Sequence[str], q_emb: np.ndarray, doc_ids: Sequence[str], d_emb: np.ndarray,
              k: int = 100) -> Run:
    """Exact top-``k`` dense retrieval as a run ``{query_id: {doc_id: score}}``."""
    from syneg.retrieval.dense import search

    scores, idx = search(q_emb, d_emb, k)
    return {q: {doc_ids[j]: float(s) for j, s in zip(idx[i], scores[i])} for i, q in enumerate(query_ids)}


def write_trec(path, run: Run, tag: str) -> None:
    """Write a run in TREC format (for trec_eval, significance tests, fusion), atomically."""
    from syneg.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for q in sorted(run):
            ranked = sorted(run[q].items(), key=lambda kv: (-kv[1], kv[0]))
            for r, (d, s) in enumerate(ranked, 1):
                fh.write(f"{q} Q0 {d} {r} {s:.6f} {tag}\n")


def dense_metrics(ds, split: str, model_name: str, max_seq_length: int = 256, batch_size: int = 64,
                  k: int = 100, ignore_identical_ids: bool = False) -> tuple[dict[str, float], Run]:
    """Encode the corpus (once per model, cached) and the ``split`` queries; exact search; score."""
    from syneg.embeddings import encode_corpus, encode_queries

    qrels = ds.relevant(split)
    qids = list(qrels)
    d_emb = encode_corpus(ds, model_name, max_seq_length, batch_size)
    q_emb = encode_queries(ds, qids, model_name, max_seq_length, batch_size)
    run = dense_run(qids, q_emb, ds.corpus["doc_id"].tolist(), d_emb, k)
    return evaluate(qrels, run, ignore_identical_ids), run


def bm25_metrics(ds, split: str, k1: float = 0.9, b: float = 0.4, k: int = 100,
                 ignore_identical_ids: bool = False) -> tuple[dict[str, float], Run]:
    """Pyserini Lucene BM25 over ``title + " " + text`` (Pyserini's BEIR "flat" condition); score."""
    from syneg.data.store import corpus_texts
    from syneg.retrieval.bm25 import BM25

    qrels = ds.relevant(split)
    qids = list(qrels)
    text = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    bm25 = BM25.build(ds.corpus["doc_id"].tolist(), corpus_texts(ds), k1=k1, b=b)
    hits = bm25.search([text[q] for q in qids], qids, k)
    run = {q: dict(h) for q, h in hits.items()}
    return evaluate(qrels, run, ignore_identical_ids), run
