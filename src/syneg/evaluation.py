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

from syneg.retrieval.trec import Run
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


def score_run_file(qrels: dict[str, dict[str, int]], run_file, curve_file, ignore_identical_ids: bool = False
                   ) -> dict[str, float]:
    """Score a TREC run file (a retrieve stage's), write its nDCG@k / Recall@k curve, return its metrics."""
    from syneg.retrieval.trec import read_trec

    ranking = read_trec(run_file)
    write_curve(curve_file, curve(qrels, ranking, ignore_identical_ids))
    return evaluate(qrels, ranking, ignore_identical_ids)
