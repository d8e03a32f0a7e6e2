"""Shared fixtures: a tiny hand-written BEIR folder and a small cut of the real SciFact."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SYNEG_BEIR_DIR", ROOT.parent / "shared" / "data" / "beir")) / "scifact"

DOCS = [
    ("d1", "Statins and stroke", "Statin therapy reduced the incidence of ischemic stroke by 21% in adults over 65. "
     "The effect was consistent across subgroups."),
    ("d2", "Statin safety", "Statins are widely prescribed for cholesterol. Muscle pain is the most reported side "
     "effect. Liver enzymes rarely rise."),
    ("d3", "", "Aspirin lowers the risk of a second heart attack. Bleeding risk rises with dose."),
    ("d4", "Influenza vaccines", "Seasonal influenza vaccination reduces hospital admissions in the elderly. "
     "Efficacy varies by season and strain match."),
    ("d5", "Vaccine hesitancy", "Trust in public health agencies predicts vaccine uptake. Misinformation spreads "
     "quickly on social media platforms."),
    ("q1", "Collision", "A document whose id equals a query id, to test BEIR's ignore_identical_ids option."),
]
QUERIES = [("q1", "Statins reduce stroke risk in older adults."), ("q2", "Flu vaccines prevent hospital visits."),
           ("q3", "Aspirin prevents second heart attacks.")]


def write_beir(folder: Path, docs=DOCS, queries=QUERIES, qrels=None) -> Path:
    """Write a BEIR folder; ``qrels`` maps split -> list of (query, doc, score) rows."""
    import pandas as pd

    from syneg.data.beir import Dataset, write_folder

    qrels = qrels if qrels is not None else {
        "train": [("q1", "d1", 1), ("q1", "d2", 0), ("q2", "d4", 2)],
        "test": [("q3", "d3", 1)],
    }
    return write_folder(Dataset(
        corpus=pd.DataFrame(docs, columns=["doc_id", "title", "text"]),
        queries=pd.DataFrame(queries, columns=["query_id", "text"]),
        qrels=pd.DataFrame([(sp, *r) for sp, rows in qrels.items() for r in rows],
                           columns=["split", "query_id", "doc_id", "score"]),
    ), folder)


@pytest.fixture
def tiny_beir(tmp_path) -> Path:
    return write_beir(tmp_path / "tiny")


@pytest.fixture
def tiny_ds(tiny_beir):
    from syneg.data.beir import load_folder

    return load_folder(tiny_beir)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test shares one embedding/BM25 cache of its own, never the developer's."""
    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "syneg-cache"))


@pytest.fixture(scope="session")
def scifact_small(tmp_path_factory) -> Path:
    """A small, consistent cut of the real SciFact (40 train + 20 test queries, their documents, 150 others)."""
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {SCIFACT}; set SYNEG_BEIR_DIR")
    from syneg.data.subset import write_subset

    root = tmp_path_factory.mktemp("beir")
    write_subset(SCIFACT, root / "scifact", {"train": 40, "test": 20}, extra_docs=150, seed=0)
    return root


def clustered_embeddings(n_docs: int, n_queries: int, dim: int, clusters: int, doc_noise: float,
                         query_noise: float, seed: int = 0):
    """Unit-norm float32 ``(docs, queries)``: documents are noisy copies of ``clusters`` centres (what an index
    sees of an encoder's output), and query ``i`` a noisy copy of document ``i`` (its positive)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    docs = centers[rng.integers(0, clusters, n_docs)] + doc_noise * rng.normal(size=(n_docs, dim))
    queries = docs[:n_queries] + query_noise * rng.normal(size=(n_queries, dim))
    norm = lambda a: (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return norm(docs), norm(queries)
