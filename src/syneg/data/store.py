"""A dataset in memory (:class:`Dataset`) and its prepared form on disk: three parquet files and a manifest.

Every stage after ``prepare`` reads the prepared form through :func:`load`; only ``prepare`` reads BEIR's
files (``syneg.data.beir``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from syneg.errors import UserError
from syneg.io import read_parquet, write_json, write_parquet


class DataError(UserError, ValueError):
    """The dataset is malformed or lacks what was asked; the message names the file, line or id, and the fix."""


@dataclass
class Dataset:
    """A retrieval dataset as three frames.

    Attributes:
        corpus: columns ``doc_id, title, text`` in file order.
        queries: columns ``query_id, text`` in file order.
        qrels: columns ``split, query_id, doc_id, score``; only ``score > 0`` counts as relevant.
    """

    corpus: pd.DataFrame
    queries: pd.DataFrame
    qrels: pd.DataFrame

    def splits(self) -> list[str]:
        return sorted(self.qrels["split"].unique().tolist())

    def relevant(self, split: str) -> dict[str, dict[str, int]]:
        """Qrels of ``split`` as ``{query_id: {doc_id: score}}``, the shape pytrec_eval takes (all grades kept)."""
        if split not in set(self.qrels["split"]):
            raise DataError(f"no qrels for split '{split}' (this dataset has: {', '.join(self.splits()) or 'none'}). "
                            f"Set the stage's 'split' param to one of those.")
        out: dict[str, dict[str, int]] = {}
        sel = self.qrels[self.qrels["split"] == split]
        for q, d, s in zip(sel["query_id"], sel["doc_id"], sel["score"]):
            out.setdefault(q, {})[d] = int(s)
        return out

    def positives(self, split: str) -> pd.DataFrame:
        """Relevant (score > 0) pairs of ``split``, in qrels file order: columns ``query_id, doc_id, score``."""
        self.relevant(split)  # raises a clear error for an unknown split
        sel = self.qrels[(self.qrels["split"] == split) & (self.qrels["score"] > 0)]
        return sel[["query_id", "doc_id", "score"]].reset_index(drop=True)

    def positive_ids(self) -> dict[str, frozenset[str]]:
        """``{query_id: relevant doc ids}`` over every split (a query is in one split only)."""
        rel = self.qrels[self.qrels["score"] > 0]
        return {q: frozenset(g) for q, g in rel.groupby("query_id")["doc_id"]}


FILES = ("corpus.parquet", "queries.parquet", "qrels.parquet")


def save(ds: Dataset, folder: str | os.PathLike, manifest: dict) -> None:
    folder = Path(folder)
    write_parquet(folder / "corpus.parquet", ds.corpus)
    write_parquet(folder / "queries.parquet", ds.queries)
    write_parquet(folder / "qrels.parquet", ds.qrels)
    write_json(folder / "manifest.json", manifest)


def load(folder: str | os.PathLike, qrels: bool = True) -> Dataset:
    """Load a dataset written by :func:`save` (the ``prepare`` stage); ``qrels=False`` reads only the texts
    (the encode stages, which must not rerun when only judgments change)."""
    folder = Path(folder)
    files = FILES if qrels else FILES[:2]
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{folder}: {', '.join(missing)} missing. Run `dvc repro prepare` first.")
    frames = [read_parquet(folder / f) for f in files]
    if not qrels:
        frames.append(pd.DataFrame({"query_id": [], "doc_id": [], "score": [], "split": []}))
    return Dataset(*frames)


def load_relevant(qrels_file: str | os.PathLike, split: str) -> dict[str, dict[str, int]]:
    """The qrels of ``split`` from a prepared ``qrels.parquet`` alone (what the scoring stages read)."""
    qrels_file = Path(qrels_file)
    if not qrels_file.is_file():
        raise DataError(f"{qrels_file}: not found. Run `dvc repro prepare` first.")
    return Dataset(pd.DataFrame(), pd.DataFrame(), read_parquet(qrels_file)).relevant(split)


def doc_text(title: str, text: str) -> str:
    """The text a model or BM25 sees for a document: ``title + " " + text`` (BEIR's and MTEB's convention)."""
    return f"{title} {text}".strip() if title else text


def corpus_texts(ds: Dataset) -> list[str]:
    """The corpus as every model and BM25 sees it, in prepared order."""
    return [doc_text(t, x) for t, x in zip(ds.corpus["title"], ds.corpus["text"])]


def doc_texts(ds: Dataset) -> dict[str, str]:
    """``{doc_id: title + " " + text}`` for the whole corpus."""
    return dict(zip(ds.corpus["doc_id"], corpus_texts(ds)))
