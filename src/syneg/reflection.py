"""Reflection: check every synthetic negative and drop, with a recorded reason, the ones that would hurt.

Checks, in order (the first that fails is the recorded reason):
    1. ``empty`` / ``too short`` / ``garbled``: not a usable document.
    2. ``near-copy``: its word 3-grams overlap the positive's by more than ``max_copy_jaccard``.
    3. ``duplicate``: the same text as an earlier negative of the same instance.
    4. ``critique``: with an LLM backend and ``critique: true``, the LLM checks whether the candidate answers
       the query, stays on its topic and keeps the attributes, and keeps, revises (the revision replaces the
       text and goes through checks 1-2 again) or drops it (``critique drop``), with its reason. A candidate
       whose critique failed (endpoint down, invalid answers) is dropped as ``critique failed``: unchecked
       text is not trained on, and a rerun asks again for exactly those. The offline stand-in has no LLM, so
       with it this check is skipped and the metrics say so.
    5. ``likely false negative``: the base model scores it for the query above
       ``(1 - relative_margin)`` x the positive's score, the same positive-aware rule mining uses. It runs
       for every backend.

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
from syneg.llm.critic import Candidate, Critic
from syneg.text_checks import garbled, shingle_jaccard


@dataclass
class ReflectConfig:
    """The ``reflect`` section of params.yaml.

    Attributes:
        critique: ask the ``llm`` to critique, revise or drop each candidate (skipped with the offline stand-in).
        relative_margin: drop a candidate the base model scores above ``(1 - this)`` x the positive's score.
        max_copy_jaccard: drop a candidate whose word 3-grams overlap the positive's more than this.
        min_words: drop shorter candidates.
        model_check: run the base-model check (5 in the module docstring).
    """

    critique: bool = True
    relative_margin: float = 0.05
    max_copy_jaccard: float = 0.5
    min_words: int = 8
    model_check: bool = True


def _text_problem(text: str, positive: str, cfg: ReflectConfig) -> str:
    why = garbled(text, min_words=cfg.min_words)
    if not why and shingle_jaccard(text, positive) > cfg.max_copy_jaccard:
        why = "near-copy of the positive"
    return why


def _critique(neg: pd.DataFrame, reasons: list[str], critic: Critic, ds: Dataset, dtext: dict,
              cfg: ReflectConfig) -> Counter:
    """Ask ``critic`` about every row still without a reason; apply keep / revise / drop in place."""
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    rows = [i for i, r in enumerate(reasons) if not r]
    attrs = lambda i: {k: neg.at[i, k] for k in ("domain", "difficulty", "length")  # noqa: E731
                       if k in neg.columns and neg.at[i, k]}
    asked = critic.critique([Candidate(qtext[neg.at[i, "query_id"]], dtext[neg.at[i, "pos_id"]],
                                       neg.at[i, "text"], attrs(i)) for i in rows])
    verdicts: Counter = Counter()
    for i, a in zip(rows, asked):
        if a.error:
            reasons[i] = f"critique failed: {a.error}"
            verdicts["failed"] += 1
            continue
        c = a.value
        verdicts[c.verdict] += 1
        verdicts["flag_answers_query"] += c.answers_query
        verdicts["flag_off_topic"] += not c.on_topic
        verdicts["flag_breaks_attributes"] += not c.keeps_attributes
        neg.at[i, "verdict"], neg.at[i, "critique_reason"] = c.verdict, c.reason
        if c.verdict == "drop":
            reasons[i] = f"critique drop: {c.reason}"
        elif c.verdict == "revise":
            neg.at[i, "original_text"], neg.at[i, "text"] = neg.at[i, "text"], c.revised_document.strip()
            why = _text_problem(neg.at[i, "text"], dtext[neg.at[i, "pos_id"]], cfg)
            if why:
                reasons[i] = f"revision unusable: {why}"
    return verdicts


def reflect(ds: Dataset, negatives: pd.DataFrame, cfg: ReflectConfig, model: str = "",
            max_seq_length: int = 256, batch_size: int = 64,
            critic: Critic | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Split ``negatives`` (the synthesize stage's table) into kept and dropped rows.

    Args:
        critic: the LLM critique (check 4); ``None`` skips it.

    Returns:
        ``(kept, dropped, stats)``; both tables keep the input columns and add ``verdict``,
        ``critique_reason`` and ``original_text`` (the text before an LLM revision, else empty), ``neg_score``
        and ``pos_score`` (the base model's cosine for the query); ``dropped`` adds ``reason``.
    """
    neg = negatives.reset_index(drop=True).copy()
    neg["verdict"], neg["critique_reason"], neg["original_text"] = "", "", ""
    dtext = doc_texts(ds)
    reasons = []
    seen: set[tuple[str, str, str]] = set()
    for q, p, text in zip(neg["query_id"], neg["pos_id"], neg["text"]):
        why = _text_problem(text, dtext[p], cfg)
        key = (q, p, " ".join(text.lower().split()))
        if not why and key in seen:
            why = "duplicate of another negative of this instance"
        seen.add(key)
        reasons.append(why)
    verdicts = _critique(neg, reasons, critic, ds, dtext, cfg) if critic is not None and len(neg) else Counter()
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
        "critique": "on" if critic is not None else "off",
    }
    if critic is not None:
        stats["verdicts"] = {k: int(v) for k, v in sorted(verdicts.items()) if not k.startswith("flag_")}
        stats["critique_flags"] = {k[5:]: int(v) for k, v in sorted(verdicts.items()) if k.startswith("flag_")}
        stats["revised_kept"] = int((kept["verdict"] == "revise").sum())
    return kept, dropped, stats
