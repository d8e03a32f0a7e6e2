"""Write a small, self-consistent BEIR folder cut from a bigger one (for tests, CI and quick runs).

Example:
    >>> write_subset("../shared/data/beir/scifact", "/tmp/scifact-small", {"train": 40, "test": 20})  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from syneg.data.beir import Dataset, load_folder, write_folder


def write_subset(src: str | os.PathLike, dest: str | os.PathLike, queries_per_split: dict[str, int],
                 extra_docs: int = 200, seed: int = 0) -> Path:
    """Keep the first ``queries_per_split[split]`` judged queries of each split, every document they judge,
    and ``extra_docs`` other documents chosen with ``seed``; write them in BEIR's layout to ``dest``."""
    ds = load_folder(src)
    keep_q: set[str] = set()
    for split, n in queries_per_split.items():
        keep_q.update(list(dict.fromkeys(ds.qrels[ds.qrels["split"] == split]["query_id"]))[:n])
    qrels = ds.qrels[ds.qrels["query_id"].isin(keep_q) & ds.qrels["split"].isin(queries_per_split)]
    judged = set(qrels["doc_id"])
    others = [d for d in ds.corpus["doc_id"] if d not in judged]
    keep_d = judged | set(random.Random(seed).sample(others, min(extra_docs, len(others))))
    sub = Dataset(corpus=ds.corpus[ds.corpus["doc_id"].isin(keep_d)],
                  queries=ds.queries[ds.queries["query_id"].isin(keep_q)], qrels=qrels)
    return write_folder(sub, dest)
