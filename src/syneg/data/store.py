"""The prepared form of a dataset that every later stage reads: three parquet files and a manifest."""

from __future__ import annotations

import os
from pathlib import Path

from syneg.data.beir import Dataset
from syneg.io import read_parquet, write_json, write_parquet

FILES = ("corpus.parquet", "queries.parquet", "qrels.parquet")


def save(ds: Dataset, folder: str | os.PathLike, manifest: dict) -> None:
    folder = Path(folder)
    write_parquet(folder / "corpus.parquet", ds.corpus)
    write_parquet(folder / "queries.parquet", ds.queries)
    write_parquet(folder / "qrels.parquet", ds.qrels)
    write_json(folder / "manifest.json", manifest)


def load(folder: str | os.PathLike) -> Dataset:
    """Load a dataset written by :func:`save` (the ``prepare`` stage)."""
    folder = Path(folder)
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: {', '.join(missing)} missing. Run `dvc repro prepare` first.")
    return Dataset(*(read_parquet(folder / f) for f in FILES))


def doc_text(title: str, text: str) -> str:
    """The text a model or BM25 sees for a document: ``title + " " + text`` (BEIR's and MTEB's convention)."""
    return f"{title} {text}".strip() if title else text
