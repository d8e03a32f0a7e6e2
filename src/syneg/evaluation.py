"""Retrieval metrics over every judged query: nDCG@10, MRR@10, R@10, R@100, MAP@100, mean and per query.

The measures are pytrec_eval's (nDCG, recall, MAP; the engine of beir's ``EvaluateRetrieval``) and beir's MRR@k
rule. Every mean is over *all* queries of the split that have judgements, a query with no retrieved document
counting 0, as ``trec_eval -c`` and Pyserini's published figures do. beir's ``EvaluateRetrieval.evaluate``
averages over the queries present in the run only, so a query that BM25 finds nothing for (every term a
stopword) raises its mean; on a run where every query has a document the two agree to the digit
(``tests/test_evaluation.py`` checks both). Every metrics file records how many queries were scored and how
many had no retrieved document.

``ignore_identical_ids`` follows BEIR: when True, a retrieved document whose id equals the query id is
removed before scoring (it matters only for datasets whose query and document ids collide).

Example:
    >>> m = evaluate({"q": {"d": 1}, "r": {"e": 1}}, {"q": {"d": 1.0, "e": 0.5}})
    >>> m["ndcg@10"], m["mrr@10"], m["queries"], m["queries_without_results"]
    (0.5, 0.5, 2, 1)
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from syneg.retrieval.trec import Run

CURVE_KS = (1, 3, 5, 10, 20, 50, 100)
METRICS = ("ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100")  # the columns of a per-query table
DECIMALS = 5  # means, as beir rounds them
PER_QUERY_DECIMALS = 6


def qrels_sha256(qrels: dict[str, dict[str, int]]) -> str:
    """A fingerprint of the judgements scored against (sorted query, document, grade lines; 16 hex digits):
    recorded in every metrics file so that ``syneg.compare`` refuses runs scored on different qrels."""
    import hashlib

    lines = "".join(f"{q}\t{d}\t{g}\n" for q in sorted(qrels) for d, g in sorted(qrels[q].items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()[:16]


def _clean(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool) -> Run:
    """The judged queries' rankings (a copy), without a document whose id is the query's when asked."""
    return {q: {d: s for d, s in docs.items() if not (ignore_identical_ids and d == q)}
            for q, docs in run.items() if q in qrels}


def _mrr(relevant: dict[str, int], ranking: dict[str, float], k: int) -> float:
    """beir's MRR@k rule: 1 / rank of the first document judged > 0 in the top ``k`` by score, else 0."""
    top = sorted(ranking.items(), key=lambda item: item[1], reverse=True)[:k]
    return next((1.0 / rank for rank, (doc, _) in enumerate(top, 1) if relevant.get(doc, 0) > 0), 0.0)


def scores(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool = False,
           ndcg_ks: Sequence[int] = (10,), recall_ks: Sequence[int] = (10, 100), map_ks: Sequence[int] = (100,),
           mrr_ks: Sequence[int] = (10,)) -> dict[str, dict[str, float]]:
    """Each judged query's ``ndcg@k``, ``recall@k``, ``map@k`` (pytrec_eval) and ``mrr@k`` (beir's rule), and
    ``retrieved`` (documents ranked), in pytrec_eval's order, then the queries it had nothing for, at 0."""
    import pytrec_eval

    run = _clean(qrels, run, ignore_identical_ids)
    measures = {f"{name}.{','.join(map(str, ks))}" for name, ks in (("ndcg_cut", ndcg_ks), ("recall", recall_ks),
                                                                      ("map_cut", map_ks)) if ks}
    evaluated = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run) if run else {}
    out: dict[str, dict[str, float]] = {}
    for query in [*evaluated, *(q for q in qrels if q not in evaluated)]:
        got = evaluated.get(query, {})
        row = {f"ndcg@{k}": got.get(f"ndcg_cut_{k}", 0.0) for k in ndcg_ks}
        row |= {f"recall@{k}": got.get(f"recall_{k}", 0.0) for k in recall_ks}
        row |= {f"map@{k}": got.get(f"map_cut_{k}", 0.0) for k in map_ks}
        row |= {f"mrr@{k}": _mrr(qrels[query], run.get(query, {}), k) for k in mrr_ks}
        row["retrieved"] = len(run.get(query, {}))
        out[query] = row
    return out


def _means(rows: dict[str, dict[str, float]], names: Sequence[str]) -> dict[str, float]:
    n = len(rows)
    return {name: round(sum(row[name] for row in rows.values()) / n, DECIMALS) if n else 0.0 for name in names}


def _summary(rows: dict[str, dict[str, float]]) -> dict:
    out: dict = _means(rows, METRICS)
    out["queries"] = len(rows)
    out["queries_without_results"] = sum(1 for row in rows.values() if not row["retrieved"])
    return out


def _table(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"query_id": q, **{m: rows[q][m] for m in METRICS}} for q in sorted(rows)],
                        columns=["query_id", *METRICS])


def evaluate(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool = False) -> dict:
    """The means of :data:`METRICS` over every judged query (values x 1, 5 places), with ``queries`` (judged
    queries scored) and ``queries_without_results`` (of those, the ones the run retrieved nothing for)."""
    return _summary(scores(qrels, run, ignore_identical_ids))


def per_query(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool = False) -> pd.DataFrame:
    """One row per judged query (sorted by id): ``query_id`` and :data:`METRICS`, 0 where nothing was retrieved."""
    return _table(scores(qrels, run, ignore_identical_ids))


def curve(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool = False,
          ks: Sequence[int] = CURVE_KS) -> list[dict[str, float]]:
    """nDCG@k and Recall@k over every judged query for each ``k`` in ``ks``: rows for a ``dvc plots`` curve."""
    return _curve(scores(qrels, run, ignore_identical_ids, ndcg_ks=ks, recall_ks=ks, map_ks=(), mrr_ks=()), ks)


def _curve(rows: dict[str, dict[str, float]], ks: Sequence[int]) -> list[dict[str, float]]:
    means = _means(rows, [f"{m}@{k}" for k in ks for m in ("ndcg", "recall")])
    return [{"k": k, "ndcg": means[f"ndcg@{k}"], "recall": means[f"recall@{k}"]} for k in ks]


def write_curve(path, rows: list[dict[str, float]]) -> None:
    """Write curve rows as CSV, atomically."""
    from syneg.io import atomic_path

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def write_per_query(path, table: pd.DataFrame) -> None:
    """Write a per-query table as CSV (6 places), atomically: small, diffable, read by ``syneg.compare``."""
    from syneg.io import atomic_path

    with atomic_path(path) as tmp:
        table.round(PER_QUERY_DECIMALS).to_csv(tmp, index=False, float_format=f"%.{PER_QUERY_DECIMALS}f")


def read_per_query(path_or_buffer) -> pd.DataFrame:
    """A per-query table written by :func:`write_per_query` (query ids kept as strings)."""
    return pd.read_csv(path_or_buffer, dtype={"query_id": str})


def score_run_file(qrels: dict[str, dict[str, int]], run_file, curve_file, per_query_file=None,
                   ignore_identical_ids: bool = False) -> dict[str, float]:
    """Score a TREC run file (a retrieve stage's) over every judged query; write its nDCG@k / Recall@k curve
    and, when asked, its per-query table; return its metrics."""
    from syneg.retrieval.trec import read_trec

    rows = scores(qrels, read_trec(run_file), ignore_identical_ids, ndcg_ks=sorted({*CURVE_KS, 10}),
                  recall_ks=sorted({*CURVE_KS, 10, 100}))  # one pass: the curve's cut-offs and the metrics'
    write_curve(curve_file, _curve(rows, CURVE_KS))
    if per_query_file is not None:
        write_per_query(per_query_file, _table(rows))
    return _summary(rows)
