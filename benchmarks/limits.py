"""What the machine can do: the matmul rate every other figure is divided by, and FLOP counts of a MiniLM pass.

The limit is a square fp32 matmul (4096 x 4096 x 4096 by default) on the threads torch uses, the best of a
few repeats; the bf16 rate is measured the same way, for CPUs with bf16 units (AVX512-BF16, AMX).
"""

from __future__ import annotations

import time


def matmul_gflops(n: int = 4096, repeats: int = 3, dtype: str = "float32") -> float:
    """Best GFLOP/s of an ``n x n x n`` matmul in ``dtype`` (``float32`` or ``bfloat16``)."""
    import torch

    dt = getattr(torch, dtype)
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    a @ b  # warm-up: thread pool and kernels
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def encoder_flops(model, token_lengths: list[int]) -> float:
    """Forward FLOPs of a BERT-style encoder over texts of ``token_lengths`` tokens (no padding counted):
    2 x (parameters outside the embedding tables) per token, plus attention's two n x n x d products per layer."""
    config = model[0].auto_model.config
    params = sum(p.numel() for name, p in model[0].auto_model.named_parameters() if "embeddings" not in name)
    layers, hidden = config.num_hidden_layers, config.hidden_size
    return float(sum(2 * params * n + 4 * layers * hidden * n * n for n in token_lengths))


def token_lengths(model, texts: list[str]) -> list[int]:
    """Tokens per text after truncation at the model's ``max_seq_length`` (special tokens included)."""
    enc = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)
    return [len(ids) for ids in enc["input_ids"]]
