"""Contrastive fine-tuning with InfoNCE over in-batch and hard negatives (sentence-transformers' trainer).

``MultipleNegativesRankingLoss`` with ``scale = 1 / temperature`` is the paper's loss
``L = -log f(q, D+) / (f(q, D+) + sum f(q, D-))`` with ``f = exp(cos / tau)``, where the D- are the
instance's hard negatives plus every other instance's positive and negatives in the batch. The batch sampler
keeps duplicate texts out of a batch, so a query's other positive is never used as its negative.

Example:
    >>> TrainConfig(temperature=0.05).scale
    20.0
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """The ``train`` section of params.yaml."""

    temperature: float = 0.05
    batch_size: int = 32
    learning_rate: float = 2e-5
    epochs: float = 1.0
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    logging_steps: int = 1

    @property
    def scale(self) -> float:
        return round(1.0 / self.temperature, 6)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"train.temperature is {self.temperature}; use a positive value (paper: 0.02).")


def _live_callback(live_dir: str | None):
    from transformers import TrainerCallback

    class LiveCallback(TrainerCallback):
        """Log loss and learning rate per step to DVCLive (``dvc plots`` draws them)."""

        def __init__(self):
            from dvclive import Live

            self.live = Live(live_dir, save_dvc_exp=False, dvcyaml=None, report=None)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:  # the trainer's closing summary is not a step
                return
            self.live.step = state.global_step
            for key in ("loss", "learning_rate", "grad_norm"):
                if key in logs:
                    self.live.log_metric(f"train/{key}", float(logs[key]))
            self.live.next_step()

        def on_train_end(self, args, state, control, **kwargs):
            self.live.end()

    return LiveCallback()


def train(model_name: str, data: pd.DataFrame, cfg: TrainConfig, output_dir: str | os.PathLike,
          live_dir: str | None = None, max_seq_length: int = 256) -> dict:
    """Fine-tune ``model_name`` on ``data`` (``anchor, positive, negative_1..k``) and save it to ``output_dir``.

    Returns:
        Summary figures for the metrics file (steps, final loss, seconds).
    """
    import time

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import set_seed

    from syneg import models
    from syneg.io import atomic_path

    set_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = models.load(model_name, max_seq_length)
    loss = MultipleNegativesRankingLoss(model, scale=cfg.scale)
    output_dir = Path(output_dir)
    with atomic_path(output_dir, is_dir=True) as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp / "checkpoints"),
            num_train_epochs=cfg.epochs,
            per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            warmup_steps=cfg.warmup_ratio,
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            data_seed=cfg.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            logging_steps=cfg.logging_steps,
            save_strategy="no",
            report_to="none",
            dataloader_drop_last=False,
            use_cpu=not torch.cuda.is_available(),
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=Dataset.from_pandas(data, preserve_index=False), loss=loss,
            callbacks=[_live_callback(live_dir)] if live_dir else None,
        )
        t0 = time.time()
        result = trainer.train()
        seconds = time.time() - t0
        # The model card would record the wall time, so equal runs would give unequal folders (and DVC
        # hashes); the time goes to metrics/train.json instead.
        card = getattr(model, "model_card_data", None)
        if card is not None and hasattr(card, "_training_start_time"):
            card._training_start_time = None
        model.save(str(tmp))
        import shutil

        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
    return {
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 6),
        "seconds": round(seconds, 1),
        "instances": int(len(data)),
        "scale": cfg.scale,
    }
