"""Mine retrieved hard negatives for training pairs, with a positive-aware false-negative filter.

For each training ``(query, positive)`` the retriever ranks the corpus; every judged positive of the query
is removed, and a candidate is dropped when it scores too close to (or above) the positive, as in
NV-Retriever and sentence-transformers' ``mine_hard_negatives``: kept when
``score <= positive_score - |positive_score| * relative_margin`` and ``score <= positive_score - absolute_margin``.
Unlike ``mine_hard_negatives`` with ``output_format="n-tuple"``, no pair is dropped for lack of negatives:
the retriever's depth gives each pair many candidates to keep.

Example:
    >>> from syneg.mining import filter_candidates
    >>> filter_candidates([("d1", 0.99), ("d2", 0.5)], positive_score=1.0, relative_margin=0.05)
    [('d2', 0.5, 2)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from syneg.data.store import DataError, Dataset
from syneg.margins import relative_threshold


@dataclass
class MineConfig:
    """Parameters of the ``mine`` section of params.yaml.

    Attributes:
        method: ``dense`` (the base model, exact search) or ``bm25`` (Pyserini Lucene BM25).
        split: the qrels split whose pairs are mined (the training split).
        depth: retrieved per query before filtering.
        keep: candidates kept per pair after filtering, best first (the pool that ``mix`` draws from).
        relative_margin: drop a candidate scoring above ``positive - |positive| * relative_margin``;
            0 disables.
        absolute_margin: drop a candidate scoring above the positive's score minus this; ``null`` disables.
        max_pairs: train on at most this many (query, positive) pairs, a sample seeded by ``seed`` kept in
            file order (large training sets such as NFCorpus's 110k pairs); ``null`` keeps every pair.
        seed: seeds that sample.
    """

    method: str = "dense"
    split: str = "train"
    depth: int = 1000
    keep: int = 30
    relative_margin: float = 0.05
    absolute_margin: float | None = None
    max_pairs: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        if self.method not in ("dense", "bm25"):
            raise ValueError(f"mine.method is '{self.method}'; use 'dense' or 'bm25'.")
        if self.depth < 1 or self.keep < 1:
            raise ValueError("mine.depth and mine.keep must be at least 1.")
        if self.max_pairs is not None and self.max_pairs < 1:
            raise ValueError(f"mine.max_pairs is {self.max_pairs}; use 1 or more, or null for every pair.")
        if not 0 <= self.relative_margin < 1:
            raise ValueError(f"mine.relative_margin is {self.relative_margin}; use a value in [0, 1).")


def filter_candidates(
    ranked: Sequence[tuple[str, float]],
    positive_score: float,
    relative_margin: float = 0.0,
    absolute_margin: float | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> list[tuple[str, float, int]]:
    """Keep ranked ``(doc_id, score)`` candidates that are not positives and stay below the positive's score
    by the margins; returns ``(doc_id, score, rank)`` with 1-based retriever ranks."""
    out = []
    for rank, (doc_id, score) in enumerate(ranked, 1):
        if doc_id in exclude:
            continue
        if relative_margin and score > relative_threshold(positive_score, relative_margin):
            continue
        if absolute_margin is not None and score > positive_score - absolute_margin:
            continue
        out.append((doc_id, float(score), rank))
    return out


def mine(ds: Dataset, cfg: MineConfig, model: str = "", max_seq_length: int = 256,
         batch_size: int = 64, emb=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Mine candidates for every relevant pair of ``cfg.split``.

    ``emb`` (:class:`syneg.embeddings.Embeddings`, the encode stage's output) gives the dense ranking's
    embeddings; without it they are computed with ``model``.

    Returns:
        ``(pairs, candidates, stats)``: the training pairs (``query_id, pos_id``); one row per kept candidate with ``query_id, pos_id, doc_id, rank, score,
        pos_score``, ordered by pair then rank; and counts for the metrics file.
    """
    if cfg.split not in ds.splits():  # never offer the test split: that would train on the evaluation queries
        raise DataError(f"mine.split is '{cfg.split}', but this dataset has qrels for {', '.join(ds.splits())} only. "
                        f"A dataset with only a test split is evaluated without training: list it in "
                        f"data.datasets but not in data.train (or set mine.split to its training split).")
    pairs = ds.positives(cfg.split)
    available = len(pairs)
    if cfg.max_pairs is not None and available > cfg.max_pairs:
        pairs = pairs.sample(n=cfg.max_pairs, random_state=cfg.seed).sort_index()
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    qids = list(dict.fromkeys(pairs["query_id"]))
    positives = ds.positive_ids()
    doc_ids = ds.corpus["doc_id"].tolist()
    depth = min(cfg.depth + max(len(p) for p in positives.values()), len(doc_ids))

    if cfg.method == "dense":
        from syneg.embeddings import Embeddings
        from syneg.retrieval.dense import search

        emb = emb if emb is not None else Embeddings.compute(ds, model, max_seq_length, batch_size)
        doc_emb, q_emb = emb.corpus, emb.queries_of(qids)
        scores, idx = search(q_emb, doc_emb, depth)
        ranked = {q: [(doc_ids[j], float(s)) for j, s in zip(idx[i], scores[i])] for i, q in enumerate(qids)}
        qrow = {q: i for i, q in enumerate(qids)}
        drow = {d: i for i, d in enumerate(doc_ids)}
        pos_score = lambda q, d: float(q_emb[qrow[q]] @ doc_emb[drow[d]])  # noqa: E731
    else:
        from syneg.retrieval.bm25 import BM25

        from syneg.data.store import corpus_texts

        bm25 = BM25.build(doc_ids, corpus_texts(ds))
        ranked = bm25.search([qtext[q] for q in qids], qids, depth)
        pos_score = lambda q, d: bm25.score(qtext[q], d)  # noqa: E731

    rows = []
    short = 0
    for q, d in tqdm(list(zip(pairs["query_id"], pairs["doc_id"])), desc="mine: filter", unit="pair"):
        ps = pos_score(q, d)
        kept = filter_candidates(ranked[q], ps, cfg.relative_margin, cfg.absolute_margin, positives[q])
        kept = kept[: cfg.keep]
        short += len(kept) < cfg.keep
        rows.extend((q, d, doc, rank, score, ps) for doc, score, rank in kept)
    cand = pd.DataFrame(rows, columns=["query_id", "pos_id", "doc_id", "rank", "score", "pos_score"])
    per_pair = cand.groupby(["query_id", "pos_id"]).size()
    stats = {
        "pairs": int(len(pairs)),
        "pairs_available": int(available),
        "queries": int(len(qids)),
        "pairs_without_candidates": int(len(pairs) - len(per_pair)),
        "pairs_with_fewer_than_keep": int(short),
        "candidates": int(len(cand)),
        "mean_candidates_per_pair": float(np.round(per_pair.mean(), 3)) if len(per_pair) else 0.0,
        "mean_top_rank_kept": float(np.round(cand.groupby(["query_id", "pos_id"])["rank"].min().mean(), 3))
        if len(cand) else 0.0,
    }
    pairs_out = pairs.rename(columns={"doc_id": "pos_id"})[["query_id", "pos_id"]]
    return pairs_out, cand, stats
