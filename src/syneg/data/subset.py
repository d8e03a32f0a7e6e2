"""Write a small, self-consistent BEIR folder cut from a bigger one (for tests, CI and quick runs).

Example:
    >>> write_subset("../shared/data/beir/scifact", "/tmp/scifact-small", {"train": 40, "test": 20})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from syneg.data.beir import load_folder


def write_subset(src: str | os.PathLike, dest: str | os.PathLike, queries_per_split: dict[str, int],
                 extra_docs: int = 200, seed: int = 0) -> Path:
    """Keep the first ``queries_per_split[split]`` judged queries of each split, every document they judge,
    and ``extra_docs`` other documents chosen with ``seed``; write them in BEIR's layout to ``dest``."""
    ds = load_folder(src)
    dest = Path(dest)
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    keep_q: set[str] = set()
    for split, n in queries_per_split.items():
        qrels = ds.qrels[ds.qrels["split"] == split]
        qids = list(dict.fromkeys(qrels["query_id"]))[:n]
        keep_q.update(qids)
        sel = qrels[qrels["query_id"].isin(qids)]
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in
                                                  zip(sel["query_id"], sel["doc_id"], sel["score"])]
        (dest / "qrels" / f"{split}.tsv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    judged = set(ds.qrels[ds.qrels["query_id"].isin(keep_q)]["doc_id"])
    others = [d for d in ds.corpus["doc_id"] if d not in judged]
    keep_d = judged | set(random.Random(seed).sample(others, min(extra_docs, len(others))))
    with (dest / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for d, t, x in zip(ds.corpus["doc_id"], ds.corpus["title"], ds.corpus["text"]):
            if d in keep_d:
                fh.write(json.dumps({"_id": d, "title": t, "text": x, "metadata": {}}) + "\n")
    with (dest / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q, x in zip(ds.queries["query_id"], ds.queries["text"]):
            if q in keep_q:
                fh.write(json.dumps({"_id": q, "text": x, "metadata": {}}) + "\n")
    return dest
