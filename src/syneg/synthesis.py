"""Build the synthesis items from mined pairs, run a generator, and tabulate what it wrote.

Example:
    >>> from syneg.synthesis import SynthesizeConfig
    >>> SynthesizeConfig(prompt="no_attributes").attribute_lists("scifact")
    {}
"""

from __future__ import annotations

from dataclasses import dataclass, field


import pandas as pd

from syneg.data.store import Dataset, doc_texts
from syneg.llm import attributes as attrs
from syneg.llm.base import Generator, SynthesisItem
from syneg.llm.cache import AnswerCache
from syneg.llm.config import LLMConfig, make_asker
from syneg.llm.prompt import variant_flags

COLUMNS = ["query_id", "pos_id", "neg_index", "text", "domain", "difficulty", "length", "backend", "stand_in",
           "model", "prompt", "reasoning"]


@dataclass
class SynthesizeConfig:
    """The ``synthesize`` section of params.yaml.

    Attributes:
        num_negatives: negatives written per (query, positive); the paper's figure shows 2.
        seed: seeds the per-instance attribute choice.
        prompt: ``full``, or the paper's ablations ``no_attributes`` and ``no_attributes_no_reflection``.
        attributes: per-dataset lists ``{dataset: {domain: [...], difficulty: [...], length: [...]}}``;
            ``default`` is used for a dataset without its own lists.
        neighbors: retrieved neighbours passed to the offline stand-in.

    The LLM itself (backend, model, sampling, prices; the stand-in's ``llm.offline``) is the shared ``llm``
    section: see
    :class:`syneg.llm.config.LLMConfig`.
    """

    num_negatives: int = 2
    seed: int = 42
    prompt: str = "full"
    attributes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    neighbors: int = 5

    def __post_init__(self) -> None:
        variant_flags(self.prompt)  # names the variants when the value is wrong
        if self.num_negatives < 1:
            raise ValueError(f"synthesize.num_negatives is {self.num_negatives}; use 1 or more.")

    def attribute_lists(self, dataset: str) -> dict[str, list[str]]:
        if not variant_flags(self.prompt)[0]:
            return {}
        return self.attributes.get(dataset) or self.attributes.get("default") or {}


def make_generator(llm: LLMConfig, cfg: SynthesizeConfig, cache: AnswerCache) -> Generator:
    """The offline STAND-IN for ``llm.backend: offline``, else the LLM writer over the configured backend."""
    if not llm.is_llm:
        from syneg.llm.offline import OfflineGenerator

        return OfflineGenerator(neighbors=cfg.neighbors, **llm.offline)
    from syneg.llm.synthesizer import LLMSynthesizer

    return LLMSynthesizer(make_asker(llm, cache), cfg.prompt)


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


def synthesize(items: list[SynthesisItem], gen: Generator, num_negatives: int,
               prompt: str = "full") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``gen`` over ``items``; returns ``(negatives, failures)``. Every item ends in one of the two."""
    results = gen.generate(items, num_negatives)
    if len(results) != len(items):
        raise RuntimeError(f"{type(gen).__name__} returned {len(results)} results for {len(items)} items")
    rows, fails = [], []
    for item, res in zip(items, results):
        if res.error or not res.negatives:
            fails.append((item.query_id, item.pos_id, res.error or "no negatives"))
        for k, text in enumerate(res.negatives):
            rows.append((item.query_id, item.pos_id, k, text, item.attributes.get("domain", ""),
                         item.attributes.get("difficulty", ""), item.attributes.get("length", ""),
                         gen.name, gen.stand_in, gen.model, prompt, res.reasoning))
    return (pd.DataFrame(rows, columns=COLUMNS),
            pd.DataFrame(fails, columns=["query_id", "pos_id", "reason"]))


def dry_run(items: list[SynthesisItem], llm: LLMConfig, cfg: SynthesizeConfig, cache_path, reflect_cache_path,
            critique: bool = True) -> str:
    """The projected requests, tokens and cost of synthesize (and of reflect's critique), sending nothing."""
    from pathlib import Path

    from syneg.llm.answers import CRITIQUE_SPEC, synthesis_spec
    from syneg.llm.projection import CHARS_PER_TOKEN, project, table
    from syneg.llm.prompt import render_critique
    from syneg.llm.synthesizer import LLMSynthesizer

    if not llm.is_llm:
        return (f"llm.backend is 'offline' (the rule-based STAND-IN): {len(items)} instances, 0 requests, "
                f"0 tokens, cost 0. Set llm.backend to openai or transformers to project an LLM run.")
    n = cfg.num_negatives
    open_store = lambda p: AnswerCache(p if Path(p).exists() else ":memory:")  # noqa: E731 - writes nothing
    rows = []
    cache = open_store(cache_path)
    writer = LLMSynthesizer(make_asker(llm, cache), cfg.prompt)
    reasoning_chars = 600 if writer.reflection else 0
    est = [round((n * len(it.positive) + reasoning_chars + 40) / CHARS_PER_TOKEN) for it in items]
    rows.append(project(writer.asker, "synthesize", writer.prompts(items, n),
                        synthesis_spec(n, writer.reflection), est))
    cache.close()
    if critique:
        # The candidates do not exist yet: each is taken as long as its positive, and every one is critiqued.
        rcache = open_store(reflect_cache_path)
        prompts = [render_critique(it.query, it.positive, it.positive, it.attributes) for it in items for _ in range(n)]
        rows.append(project(make_asker(llm, rcache), "reflect (critique, upper bound)", prompts, CRITIQUE_SPEC,
                            [60] * len(prompts), consult_store=False))
        rcache.close()
    head = (f"dry run, nothing sent: backend {llm.backend}, model {writer.asker.backend.model}, "
            f"{'batch API (half price), ' if llm.batch else ''}{len(items)} instances x {n} negatives, "
            f"response_format {writer.asker.fmt}")
    return head + "\n" + table(rows)
