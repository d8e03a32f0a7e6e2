"""Build the synthesis items from mined pairs, run a generator, and tabulate what it wrote.

Example:
    >>> from syneg.synthesis import SynthesizeConfig
    >>> SynthesizeConfig(backend="offline").num_negatives
    2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from syneg.data.store import Dataset, doc_texts
from syneg.llm import attributes as attrs
from syneg.llm.base import Generator, SynthesisItem

COLUMNS = ["query_id", "pos_id", "neg_index", "text", "domain", "difficulty", "length", "backend", "stand_in"]


@dataclass
class SynthesizeConfig:
    """The ``synthesize`` section of params.yaml.

    Attributes:
        backend: ``offline`` (no-LLM stand-in, the default) or ``openai``.
        num_negatives: negatives written per (query, positive); the paper's figure shows 2.
        seed: seeds the per-instance attribute choice.
        use_attributes: False gives the paper's "without attributes" ablation.
        attributes: per-dataset lists ``{dataset: {domain: [...], difficulty: [...], length: [...]}}``;
            ``default`` is used for a dataset without its own lists.
        neighbors: retrieved neighbours passed to the offline stand-in.
    """

    backend: str = "offline"
    num_negatives: int = 2
    seed: int = 42
    use_attributes: bool = True
    attributes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    neighbors: int = 5
    offline: dict[str, Any] = field(default_factory=dict)
    openai: dict[str, Any] = field(default_factory=dict)

    def attribute_lists(self, dataset: str) -> dict[str, list[str]]:
        if not self.use_attributes:
            return {}
        return self.attributes.get(dataset) or self.attributes.get("default") or {}


def build_items(ds: Dataset, pairs: pd.DataFrame, candidates: pd.DataFrame, cfg: SynthesizeConfig,
                dataset: str) -> list[SynthesisItem]:
    """One item per training pair (``pairs``: ``query_id, pos_id``), in that order."""
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    dtext = doc_texts(ds)
    lists = cfg.attribute_lists(dataset)
    neigh = candidates.groupby(["query_id", "pos_id"], sort=False)["doc_id"].agg(list)
    items = []
    for q, d in zip(pairs["query_id"], pairs["pos_id"]):
        items.append(SynthesisItem(
            query_id=q, pos_id=d, query=qtext[q], positive=dtext[d],
            attributes=attrs.sample(lists, cfg.seed, q, d),
            neighbors=[dtext[n] for n in neigh.get((q, d), [])[: cfg.neighbors]],
        ))
    return items


def synthesize(items: list[SynthesisItem], gen: Generator, num_negatives: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``gen`` over ``items``; returns ``(negatives, failures)``."""
    results = gen.generate(items, num_negatives)
    rows, fails = [], []
    for item, res in zip(items, results):
        if res.error or not res.negatives:
            fails.append((item.query_id, item.pos_id, res.error or "no negatives"))
        for k, text in enumerate(res.negatives):
            rows.append((item.query_id, item.pos_id, k, text, item.attributes.get("domain", ""),
                         item.attributes.get("difficulty", ""), item.attributes.get("length", ""),
                         gen.name, gen.stand_in))
    return (pd.DataFrame(rows, columns=COLUMNS),
            pd.DataFrame(fails, columns=["query_id", "pos_id", "reason"]))
