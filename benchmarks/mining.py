"""Mining a large corpus: time and peak memory of ``syneg.mining.mine`` with exact and approximate search.

The corpus is synthetic: ``docs`` documents whose 384-dimensional embeddings are clustered noise (what an
encoder's output looks like to an index: neighbourhoods, not uniform spread), ``queries`` queries made from
documents (each query's positive is the document it was made from), mined with the pipeline's params (depth
1000, keep 30, relative margin 0.05). Encoding is not part of it (the encode stage's output is the input).
Each index runs in its own process, so the peak resident memory (``ru_maxrss``) is its own; the corpus
embeddings alone take ``docs x 384 x 4`` bytes. Recall is the approximate top-``depth``'s share of the exact
top-``depth``, on every query.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)


@app.callback()
def _cli() -> None:
    """One configuration in its own process: ``one ...`` (``make bench`` calls it)."""


def synthetic(docs: int, queries: int, dim: int = 384, clusters: int = 1000, seed: int = 0):
    """``(Dataset, Embeddings)`` of the synthetic corpus described in the module docstring."""
    import numpy as np
    import pandas as pd

    from syneg.data.store import Dataset
    from syneg.embeddings import Embeddings

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    d = centers[rng.integers(0, clusters, docs)] + 0.7 * rng.normal(size=(docs, dim)).astype(np.float32)
    q = d[:queries] + 0.4 * rng.normal(size=(queries, dim)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    doc_ids, query_ids = [f"d{i}" for i in range(docs)], [f"q{i}" for i in range(queries)]
    ds = Dataset(corpus=pd.DataFrame({"doc_id": doc_ids, "title": "", "text": ""}),
                 queries=pd.DataFrame({"query_id": query_ids, "text": query_ids}),
                 qrels=pd.DataFrame({"split": "train", "query_id": query_ids, "doc_id": doc_ids[:queries],
                                     "score": 1}))
    return ds, Embeddings(d, q, doc_ids, query_ids)


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


@app.command()
def one(index: str, docs: int, queries: int, depth: int, chunk: int, out: Path, nprobe: int = 32) -> None:
    """Mine the synthetic corpus with ``index``; write time, memory and sampled recall to ``out`` (JSON).

    Memory: the resident set before mining (corpus and query embeddings, libraries), and the peak during
    mining above it (Linux: the peak is reset through ``/proc/self/clear_refs`` once the data is built)."""
    import gc

    from syneg.mining import MineConfig, mine

    ds, emb = synthetic(docs, queries)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the peak from here on is mining's
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    _, cand, stats = mine(ds, MineConfig(depth=depth, keep=30, index=index, index_nprobe=nprobe), emb=emb,
                          chunk_size=chunk)
    seconds = time.perf_counter() - t0
    out.write_text(json.dumps({"seconds": round(seconds, 2), "rss_before_mb": round(before),
                               "mining_peak_above_mb": round(_status_mb("VmHWM") - before),
                               "candidates": len(cand), "sampled_recall": stats.get("index_recall", 1.0)}))


def bench_mining(docs: int = 100_000, queries: int = 2_000, depth: int = 1000, chunk: int = 4096) -> dict:
    """Exact, IVF and HNSW mining of the synthetic corpus, each in its own process; plus exact search with
    a small chunk, to show that memory follows the chunk, not the number of queries."""
    root = Path(__file__).resolve().parents[1]
    out = {"documents": docs, "queries": queries, "depth": depth, "chunk": chunk}
    runs = (("exact", "exact", chunk, 32), ("exact_chunk_256", "exact", 256, 32), ("ivf", "ivf", chunk, 32),
            ("ivf_nprobe_128", "ivf", chunk, 128), ("hnsw", "hnsw", chunk, 32))
    for name, index, size, nprobe in runs:
        with tempfile.NamedTemporaryFile(suffix=".json") as fh:
            subprocess.run([sys.executable, __file__, "one", index, str(docs), str(queries), str(depth), str(size),
                            fh.name, "--nprobe", str(nprobe)], check=True, cwd=root, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            out[name] = json.loads(Path(fh.name).read_text())
    for name in ("ivf", "ivf_nprobe_128", "hnsw"):
        out[f"{name}_speedup"] = round(out["exact"]["seconds"] / out[name]["seconds"], 2)
    return out


if __name__ == "__main__":
    app()
