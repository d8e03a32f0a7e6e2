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

COLUMNS = ["query_id", "pos_id", "neg_index", "text", "domain", "difficulty", "length", "change", "backend",
           "stand_in", "model", "prompt", "reasoning"]
TOKENS_PER_WORD = 2.0  # a generous bound for English scientific text with Qwen2.5's tokenizer (about 1.4 measured)
REASONING_TOKENS = 250


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
        template: the prompt template, ``prompts/<template>.jinja2`` (``synthesize``: the paper's;
            ``synthesize_edit``: edit the positive into a different study).
        per_request: negatives asked for in one request; ``None``: all of a pair's in one (the paper's way).
            Each further request of a pair gets its own attributes.
        candidates: negatives written per slot; reflect checks them all and mix takes the hardest kept ones
            (``mix.synthetic_sampling: hardest``).
        max_words: the length a negative is asked for, in words: its positive's, at most this; ``None`` leaves
            the length to the attributes sentence. When set, it must fit ``llm.max_tokens``.
        worked_example: show the edit template's worked example.

    The LLM itself (backend, model, sampling, prices; the stand-in's ``llm.offline``) is the shared ``llm``
    section: see
    :class:`syneg.llm.config.LLMConfig`.
    """

    num_negatives: int = 2
    seed: int = 42
    prompt: str = "full"
    attributes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    neighbors: int = 5
    template: str = "synthesize"
    per_request: int | None = None
    candidates: int = 1
    max_words: int | None = None
    worked_example: bool = False

    def __post_init__(self) -> None:
        from syneg.llm.prompt import synthesis_templates

        variant_flags(self.prompt)  # names the variants when the value is wrong
        if self.num_negatives < 1:
            raise ValueError(f"synthesize.num_negatives is {self.num_negatives}; use 1 or more.")
        if self.template not in synthesis_templates():
            raise ValueError(f"synthesize.template is '{self.template}'; use one of {', '.join(synthesis_templates())} "
                             f"(src/syneg/llm/prompts/<name>.jinja2).")
        if self.candidates < 1:
            raise ValueError(f"synthesize.candidates is {self.candidates}; use 1 or more.")
        if self.per_request is not None and (self.per_request < 1 or self.written % self.per_request):
            raise ValueError(f"synthesize.per_request is {self.per_request}, which does not divide the "
                             f"{self.written} negatives written per pair (num_negatives x candidates); use a divisor "
                             f"of {self.written}, or null for one request per pair.")
        if self.max_words is not None and self.max_words < 20:
            raise ValueError(f"synthesize.max_words is {self.max_words}; use 20 or more, or null.")
        if self.template == "synthesize" and (self.max_words is not None or self.worked_example):
            raise ValueError("synthesize.max_words and synthesize.worked_example work with a template that asks for "
                             "a length in words and shows an example (synthesize_edit); the paper's template "
                             "(synthesize) gives the positive's word count only: set them to null / false, or "
                             "synthesize.template to synthesize_edit.")

    @property
    def written(self) -> int:
        """Negatives written per pair: ``num_negatives x candidates``."""
        return self.num_negatives * self.candidates

    @property
    def batch(self) -> int:
        """Negatives asked for per request."""
        return self.per_request or self.written

    def check_length(self, max_tokens: int) -> None:
        """A one-line error when ``max_words`` cannot be written within ``max_tokens`` (before any request)."""
        if self.max_words is None:
            return
        need = int(self.batch * self.max_words * TOKENS_PER_WORD + (REASONING_TOKENS if variant_flags(self.prompt)[1]
                                                                      else 0) + 50)
        if need > max_tokens:
            raise ValueError(f"synthesize.max_words is {self.max_words}: {self.batch} negative(s) of that length per "
                             f"request need about {need} tokens, more than llm.max_tokens {max_tokens}; raise "
                             f"llm.max_tokens or lower synthesize.max_words (or synthesize.per_request).")

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

    return LLMSynthesizer(make_asker(llm, cache), cfg.prompt, cfg.template, cfg.max_words, cfg.worked_example)


def build_items(ds: Dataset, pairs: pd.DataFrame, candidates: pd.DataFrame, cfg: SynthesizeConfig,
                dataset: str) -> list[SynthesisItem]:
    """One item per request: ``written / batch`` per training pair (``pairs``: ``query_id, pos_id``), in that
    order; request ``r`` of a pair has its own attributes."""
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    dtext = doc_texts(ds)
    lists = cfg.attribute_lists(dataset)
    neigh = candidates.groupby(["query_id", "pos_id"], sort=False)["doc_id"].agg(list)
    items = []
    for q, d in zip(pairs["query_id"], pairs["pos_id"]):
        for r in range(cfg.written // cfg.batch):
            items.append(SynthesisItem(
                query_id=q, pos_id=d, query=qtext[q], positive=dtext[d],
                attributes=attrs.sample(lists, cfg.seed, q, d, r),
                neighbors=[dtext[n] for n in neigh.get((q, d), [])[: cfg.neighbors]], request=r,
            ))
    return items


def synthesize(items: list[SynthesisItem], gen: Generator, num_negatives: int,
               prompt: str = "full") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``gen`` over ``items`` (``num_negatives`` per request); returns ``(negatives, failures)``. Every
    request ends in one of the two; a pair's negatives are numbered across its requests."""
    results = gen.generate(items, num_negatives)
    if len(results) != len(items):
        raise RuntimeError(f"{type(gen).__name__} returned {len(results)} results for {len(items)} items")
    rows, fails = [], []
    for item, res in zip(items, results):
        if res.error or not res.negatives:
            fails.append((item.query_id, item.pos_id, res.error or "no negatives"))
        for k, text in enumerate(res.negatives):
            rows.append((item.query_id, item.pos_id, item.request * num_negatives + k, text,
                         *(item.attributes.get(a, "") for a in ("domain", "difficulty", "length", "change")),
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
    n = cfg.batch
    open_store = lambda p: AnswerCache(p if Path(p).exists() else ":memory:")  # noqa: E731 - writes nothing
    rows = []
    cache = open_store(cache_path)
    writer = LLMSynthesizer(make_asker(llm, cache), cfg.prompt, cfg.template, cfg.max_words, cfg.worked_example)
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
            f"{'batch API (half price), ' if llm.batch else ''}{len(items)} requests x {n} negatives, "
            f"response_format {writer.asker.fmt}")
    return head + "\n" + table(rows)
