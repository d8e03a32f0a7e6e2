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
        method: ``dense`` (the base model's embeddings) or ``bm25`` (Pyserini Lucene BM25).
        split: the qrels split whose pairs are mined (the training split).
        depth: retrieved per query before filtering.
        keep: candidates kept per pair after filtering, best first (the pool that ``mix`` draws from).
        relative_margin: drop a candidate scoring above ``positive - |positive| * relative_margin``;
            0 disables.
        absolute_margin: drop a candidate scoring above the positive's score minus this; ``null`` disables.
        max_pairs: train on at most this many (query, positive) pairs, a sample seeded by ``seed`` kept in
            file order (large training sets such as NFCorpus's 110k pairs); ``null`` keeps every pair.
        seed: seeds that sample.
        index: the dense search: ``exact`` (the true top ``depth``), or ``ivf`` / ``hnsw``, faiss's approximate
            indexes for large corpora; the metrics then report their recall against exact search on a seeded
            sample of queries (:mod:`syneg.retrieval.index`).
        index_nlist, index_nprobe: IVF cells (``null``: 4 x sqrt(documents)) and cells searched per query.
        index_hnsw_m, index_ef_search: HNSW neighbours per node, and candidates kept while searching
            (``null``: 2 x depth).
    """

    method: str = "dense"
    split: str = "train"
    depth: int = 1000
    keep: int = 30
    relative_margin: float = 0.05
    absolute_margin: float | None = None
    max_pairs: int | None = None
    seed: int = 42
    index: str = "exact"
    index_nlist: int | None = None
    index_nprobe: int = 32
    index_hnsw_m: int = 32
    index_ef_search: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ("dense", "bm25"):
            raise ValueError(f"mine.method is '{self.method}'; use 'dense' or 'bm25'.")
        if self.depth < 1 or self.keep < 1:
            raise ValueError("mine.depth and mine.keep must be at least 1.")
        if self.max_pairs is not None and self.max_pairs < 1:
            raise ValueError(f"mine.max_pairs is {self.max_pairs}; use 1 or more, or null for every pair.")
        if not 0 <= self.relative_margin < 1:
            raise ValueError(f"mine.relative_margin is {self.relative_margin}; use a value in [0, 1).")
        try:
            self.index_config()
        except ValueError as exc:
            raise ValueError(f"mine.{exc}") from None

    def index_config(self):
        from syneg.retrieval.index import IndexConfig

        return IndexConfig(kind=self.index, nlist=self.index_nlist, nprobe=self.index_nprobe,
                           hnsw_m=self.index_hnsw_m, ef_search=self.index_ef_search, seed=self.seed)


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
         batch_size: int = 64, emb=None, chunk_size: int = 4096) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Mine candidates for every relevant pair of ``cfg.split``.

    ``emb`` (:class:`syneg.embeddings.Embeddings`, the encode stage's output) gives the dense ranking's
    embeddings; without it they are computed with ``model``. Queries are searched ``chunk_size`` at a time
    and each chunk's rankings are filtered and dropped before the next, so memory grows with
    ``chunk_size x depth``, not with the number of queries.

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

    pair_rows: dict[str, list[tuple[int, str]]] = {}
    for i, (q, d) in enumerate(zip(pairs["query_id"], pairs["doc_id"])):
        pair_rows.setdefault(q, []).append((i, d))
    extra: dict = {}
    if cfg.method == "dense":
        from syneg.embeddings import Embeddings
        from syneg.retrieval import index as ix

        emb = emb if emb is not None else Embeddings.compute(ds, model, max_seq_length, batch_size)
        doc_emb, q_emb = emb.corpus, emb.queries_of(qids)
        index = ix.build(doc_emb, cfg.index_config())
        drow = {d: i for i, d in enumerate(doc_ids)}

        def chunks():
            for start, scores, idx in ix.search_chunks(index, q_emb, depth, chunk_size):
                for r in range(len(idx)):
                    q = qids[start + r]
                    ranked = [(doc_ids[j], float(s)) for j, s in zip(idx[r], scores[r]) if j >= 0]
                    yield q, ranked, lambda d, r=start + r: float(q_emb[r] @ doc_emb[drow[d]])

        if cfg.index != "exact":
            extra = {"index": cfg.index, "index_recall": _sample_recall(index, q_emb, doc_emb, depth, cfg.seed)}
    else:
        from syneg.retrieval.bm25 import BM25

        from syneg.data.store import corpus_texts

        bm25 = BM25.build(doc_ids, corpus_texts(ds))

        def chunks():
            for start in range(0, len(qids), chunk_size):
                part = qids[start:start + chunk_size]
                ranked = bm25.search([qtext[q] for q in part], part, depth)
                for q in part:
                    yield q, ranked[q], lambda d, q=q: bm25.score(qtext[q], d)

    rows = []
    short = 0
    with tqdm(total=len(pairs), desc="mine: search and filter", unit="pair") as bar:
        for q, ranked, pos_score in chunks():  # one chunk of queries' rankings is held at a time
            for i, d in pair_rows[q]:
                ps = pos_score(d)
                kept = filter_candidates(ranked, ps, cfg.relative_margin, cfg.absolute_margin, positives[q])
                kept = kept[: cfg.keep]
                short += len(kept) < cfg.keep
                rows.extend((i, q, d, doc, rank, score, ps) for doc, score, rank in kept)
            bar.update(len(pair_rows[q]))
    rows.sort(key=lambda row: row[0])  # pair order, as the pairs file; stable, so rank order within a pair
    rows = [row[1:] for row in rows]
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
        **extra,
    }
    pairs_out = pairs.rename(columns={"doc_id": "pos_id"})[["query_id", "pos_id"]]
    return pairs_out, cand, stats


def _sample_recall(index, q_emb: np.ndarray, doc_emb: np.ndarray, depth: int, seed: int, n: int = 256) -> float:
    """Recall@depth of an approximate ``index`` against exact search, on a seeded sample of ``n`` queries."""
    from syneg.retrieval import index as ix

    rows = np.sort(np.random.default_rng(seed).permutation(len(q_emb))[:n])
    _, exact = ix.search(ix.build(doc_emb), q_emb[rows], depth)
    _, approx = ix.search(index, q_emb[rows], depth)
    return ix.recall_at_k(approx, exact)
