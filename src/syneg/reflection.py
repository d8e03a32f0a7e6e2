"""Reflection: check every synthetic negative and drop, with a recorded reason, the ones that would hurt.

Checks, in order (the first that fails is the recorded reason):
    1. ``empty`` / ``too short`` / ``garbled``: not a usable document.
    2. ``near-copy``: its word 3-grams overlap the positive's by more than ``max_copy_jaccard``.
    3. ``duplicate``: the same text as an earlier negative of the same instance.
    4. ``likely false negative``: the base model scores it for the query above
       ``(1 - relative_margin)`` x the positive's score, the same positive-aware rule mining uses.

Example:
    >>> ReflectConfig().relative_margin
    0.05
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from syneg.data.store import Dataset, doc_texts
from syneg.embeddings import encode, encode_corpus, encode_queries
from syneg.text_checks import garbled, shingle_jaccard


@dataclass
class ReflectConfig:
    """The ``reflect`` section of params.yaml."""

    relative_margin: float = 0.05
    max_copy_jaccard: float = 0.5
    min_words: int = 8
    model_check: bool = True


def reflect(ds: Dataset, negatives: pd.DataFrame, cfg: ReflectConfig, model: str = "",
            max_seq_length: int = 256, batch_size: int = 64) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Split ``negatives`` (the synthesize stage's table) into kept and dropped rows.

    Returns:
        ``(kept, dropped, stats)``; both tables keep the input columns and add ``neg_score`` and
        ``pos_score`` (the base model's cosine for the query); ``dropped`` adds ``reason``.
    """
    neg = negatives.reset_index(drop=True).copy()
    dtext = doc_texts(ds)
    reasons = []
    seen: set[tuple[str, str, str]] = set()
    for q, p, text in zip(neg["query_id"], neg["pos_id"], neg["text"]):
        why = garbled(text, min_words=cfg.min_words)
        if not why and shingle_jaccard(text, dtext[p]) > cfg.max_copy_jaccard:
            why = "near-copy of the positive"
        key = (q, p, " ".join(text.lower().split()))
        if not why and key in seen:
            why = "duplicate of another negative of this instance"
        seen.add(key)
        reasons.append(why)
    neg["neg_score"] = np.nan
    neg["pos_score"] = np.nan
    if cfg.model_check and len(neg):
        qids = list(dict.fromkeys(neg["query_id"]))
        q_emb = encode_queries(ds, qids, model, max_seq_length, batch_size)
        d_emb = encode_corpus(ds, model, max_seq_length, batch_size)
        n_emb = encode(model, neg["text"].tolist(), max_seq_length, batch_size)
        qrow = {q: i for i, q in enumerate(qids)}
        drow = {d: i for i, d in enumerate(ds.corpus["doc_id"])}
        qi = neg["query_id"].map(qrow).to_numpy()
        di = neg["pos_id"].map(drow).to_numpy()
        neg["neg_score"] = np.einsum("ij,ij->i", q_emb[qi], n_emb)
        neg["pos_score"] = np.einsum("ij,ij->i", q_emb[qi], d_emb[di])
        limit = neg["pos_score"] * (1.0 - cfg.relative_margin)
        for i, (ns, lim) in enumerate(zip(neg["neg_score"], limit)):
            if not reasons[i] and ns > lim:
                reasons[i] = "likely false negative: scores near or above the positive"
    neg["reason"] = reasons
    kept = neg[neg["reason"] == ""].drop(columns="reason").reset_index(drop=True)
    dropped = neg[neg["reason"] != ""].reset_index(drop=True)
    counts = Counter(r.split(":")[0] for r in dropped["reason"])
    stats = {
        "synthetic_in": int(len(neg)),
        "kept": int(len(kept)),
        "dropped": int(len(dropped)),
        "acceptance_rate": round(len(kept) / len(neg), 4) if len(neg) else 0.0,
        "dropped_by_reason": {k: int(v) for k, v in sorted(counts.items())},
    }
    return kept, dropped, stats
