"""The reflection's judge on the retrieved side: the LLM critique of the mined negatives the mix would use.

Mined negatives are unjudged documents ranked high for the query, and judgements are incomplete: reading 30
of the base model's best unjudged documents found 6 that answer the claim (``data/annotations/``). With
``judge.retrieved`` on, the ``judge`` stage sends each training pair's first ``judge.candidates`` mined
candidates (the ones the mix takes first) through :func:`syneg.reflection.reflect` as real text, with the
critique gated by the base model's margin exactly as for synthetic negatives (``reflect.*``), and lists the ones
the critique judges to answer the query; ``mix`` leaves those out of the retrieved pool
(:func:`syneg.mixing.without_flagged`). Off by default: it
costs one LLM judgement per candidate (about 2,400 on SciFact).

Example:
    >>> JudgeConfig().retrieved, JudgeConfig().candidates
    (False, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from syneg.data.store import Dataset, doc_texts

FLAGGED = ["query_id", "pos_id", "doc_id", "reason"]


@dataclass
class JudgeConfig:
    """The ``judge`` section of params.yaml.

    Attributes:
        retrieved: critique the retrieved negatives the mix would use and drop the ones judged to answer.
        candidates: mined candidates judged per pair, best-ranked first (the mix uses the first ones).
    """

    retrieved: bool = False
    candidates: int = 3

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"judge.candidates is {self.candidates}; use 1 or more.")


def to_judge(candidates: pd.DataFrame, k: int) -> pd.DataFrame:
    """Each pair's ``k`` best-ranked mined candidates, as a reflect candidates table (``doc_id``)."""
    top = candidates.sort_values(["query_id", "pos_id", "rank"]).groupby(["query_id", "pos_id"], sort=False).head(k)
    return top[["query_id", "pos_id", "doc_id"]].reset_index(drop=True)


def judge(ds: Dataset, candidates: pd.DataFrame, k: int, rcfg, critic, model: str, max_seq_length: int,
          batch_size: int, emb=None, precision: str = "fp32", backend: str = "torch") -> tuple[pd.DataFrame, dict]:
    """The flagged retrieved negatives (``query_id, pos_id, doc_id, reason``) and the stage's figures."""
    from syneg.reflection import reflect

    table = to_judge(candidates, k)
    text = doc_texts(ds)
    frame = table.assign(text=table["doc_id"].map(text), neg_index=table.groupby(["query_id", "pos_id"]).cumcount())
    kept, dropped, stats = reflect(ds, frame, rcfg, model, max_seq_length, batch_size, critic, emb=emb,
                                   precision=precision, backend=backend)
    flagged = dropped[dropped["reason"].str.startswith("critique drop")]
    stats = {"judged": int(len(frame)), "critiqued": stats.get("critiqued", 0),
             "flagged_answers_query": int(len(flagged)), "dropped_by_reason": stats["dropped_by_reason"],
             "flagged_share": round(len(flagged) / len(frame), 4) if len(frame) else 0.0}
    return flagged[FLAGGED].reset_index(drop=True), stats
