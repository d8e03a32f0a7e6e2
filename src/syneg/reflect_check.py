"""Reflect's labelled check: does reflection drop false negatives and keep true negatives?

Mined negatives come without labels, so this builds candidates whose label is known, in the LLM's own style:
for ``pairs`` training pairs of the split (seeded), the LLM rewrites

- the query's own positive, keeping every finding: a **false negative** (it answers the query);
- a document that is not judged for the query in any split and is not among the documents the base model
  retrieves for it (``exclude_top`` deep), so off its topic: a **true negative**;

and, unchanged (real text, no rewrite), the base model's highest-ranked document for the query that is judged
for it in no split and is not its positive: a **hard true negative**, on the query's topic and close to the
positive but, by the judgements, not answering it, which is what a good synthetic negative is. Judgements
are incomplete, so some of these answer the query after all; ``docs/results.md`` gives the share found by
reading a sample, and so how far the labels can be trusted.

All go through :func:`syneg.reflection.reflect` with every check run on every candidate, and the share of each
label that each check drops is reported: the text checks, the base model's margin check alone, the LLM critique
alone, margin or critique, and reflect as the pipeline runs it (any check). Goals: at least 90% of the false
negatives dropped, at least 90% of the true negatives kept, and at least 70% of the hard true negatives kept.

Example:
    >>> CheckConfig().pairs
    100
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from syneg.data.store import Dataset, doc_texts
from syneg.llm.answers import PARAPHRASE_SPEC
from syneg.llm.asking import Asker
from syneg.llm.critic import Critic
from syneg.llm.prompt import render_paraphrase
from syneg.reflection import FALSE_NEGATIVE, ReflectConfig, reflect

TEXT_REASONS = ("empty", "garbled", "too short", "near-copy", "duplicate", "meta-text")
LABELS = ("false_negative", "true_negative", "hard_true_negative")


@dataclass
class CheckConfig:
    """The ``reflect_check`` section of params.yaml.

    Attributes:
        pairs: training pairs sampled; each gives one false and one true negative.
        seed: seeds the sample of pairs and of true-negative source documents.
        exclude_top: a true negative's source is not among the base model's top this many for the query.
        hard_negatives: add each sampled pair's hard true negative (the base model's best unjudged document).
    """

    pairs: int = 100
    seed: int = 42
    exclude_top: int = 100
    hard_negatives: bool = True

    def __post_init__(self) -> None:
        if self.pairs < 1:
            raise ValueError(f"reflect_check.pairs is {self.pairs}; use 1 or more.")


def sources(ds: Dataset, pairs: pd.DataFrame, cfg: CheckConfig, ranked: dict[str, list[str]]) -> pd.DataFrame:
    """The labelled sources: per sampled pair, its positive (false negative) and an unjudged, off-topic
    document (true negative). ``ranked``: the base model's ranking of the corpus per query (best first)."""
    rng = np.random.default_rng(cfg.seed)
    pairs = pairs.drop_duplicates(["query_id", "pos_id"]).reset_index(drop=True)
    take = np.sort(rng.choice(len(pairs), size=min(cfg.pairs, len(pairs)), replace=False))
    judged = ds.qrels.groupby("query_id")["doc_id"].agg(set).to_dict()
    doc_ids = ds.corpus["doc_id"].to_numpy()
    rows = []
    for q, p in pairs.loc[take, ["query_id", "pos_id"]].itertuples(index=False):
        near = set(ranked.get(q, [])[: cfg.exclude_top]) | judged.get(q, set())
        while True:
            other = str(doc_ids[rng.integers(len(doc_ids))])
            if other not in near:
                break
        rows.append((q, p, p, "false_negative"))
        rows.append((q, p, other, "true_negative"))
        if cfg.hard_negatives:
            hard = next((d for d in ranked.get(q, []) if d not in judged.get(q, set()) and d != p), None)
            if hard is not None:
                rows.append((q, p, hard, "hard_true_negative"))
    return pd.DataFrame(rows, columns=["query_id", "pos_id", "source_id", "label"])


def paraphrase(src: pd.DataFrame, ds: Dataset, asker: Asker) -> pd.DataFrame:
    """``src`` with ``text``: the LLM's rewrite of each source document (empty and ``error`` when it failed);
    a hard true negative keeps its own text (a real document, not rewritten)."""
    dtext = doc_texts(ds)
    rewrite = (src["label"] != "hard_true_negative").to_numpy()
    asked = iter(asker.ask([render_paraphrase(dtext[d]) for d in src.loc[rewrite, "source_id"]], PARAPHRASE_SPEC,
                           desc="reflect_check: paraphrase"))
    texts, errors = [], []
    for doc, again in zip(src["source_id"], rewrite):
        a = next(asked) if again else None
        texts.append(dtext[doc] if a is None else (a.value.paraphrase if not a.error else ""))
        errors.append("" if a is None else a.error)
    out = src.copy()
    out["text"], out["error"] = texts, errors
    return out


def dropped_shares(frame: pd.DataFrame) -> dict[str, Any]:
    """Per label: how many, and the share each check (alone and together) drops."""
    out: dict[str, Any] = {}
    for label in LABELS:
        sub = frame[frame["label"] == label]
        if not len(sub):
            continue
        text = sub["reason"].str.startswith(TEXT_REASONS)
        margin = sub["margin_flag"].eq(True)
        critique = sub["decision"].eq("drop")  # the critique's own decision, wherever the candidate scores
        share = lambda m: round(float(m.mean()), 4)  # noqa: E731
        out[label] = {
            "n": int(len(sub)),
            "dropped_by": {
                "text_checks": share(text),
                "margin_check": share(margin),
                "critique": share(critique),
                "margin_or_critique": share(margin | critique),
                "reflect": share(sub["reason"] != ""),  # as the stage applies them: text, margin, gated critique
            },
            "critique_failed": int(sub["verdict"].eq("failed").sum()),
            "critique_verdicts": {k: int(v) for k, v in sub["verdict"].value_counts().sort_index().items() if k},
            "critique_decisions": {k: int(v) for k, v in sub["decision"].value_counts().sort_index().items() if k},
            "critique_says_answers_query": share(sub["answers_query"].eq(True)),
            "critique_says_on_topic": share(sub["on_topic"].eq(True)),
        }
    fn, tn, hard = out.get("false_negative"), out.get("true_negative"), out.get("hard_true_negative")
    if fn and tn:
        out["goal"] = "false negatives dropped >= 0.9 and true negatives kept >= 0.9 (reflect)"
        out["false_negatives_dropped"] = fn["dropped_by"]["reflect"]
        out["true_negatives_kept"] = round(1 - tn["dropped_by"]["reflect"], 4)
        out["goal_met"] = bool(out["false_negatives_dropped"] >= 0.9 and out["true_negatives_kept"] >= 0.9)
    if fn and hard:
        out["hard_goal"] = "false negatives dropped >= 0.9 and hard true negatives kept >= 0.7 (reflect)"
        out["hard_true_negatives_kept"] = round(1 - hard["dropped_by"]["reflect"], 4)
        out["hard_true_negatives_kept_by"] = {check: round(1 - share, 4) for check, share in hard["dropped_by"].items()}
        out["hard_goal_met"] = bool(out["false_negatives_dropped"] >= 0.9 and out["hard_true_negatives_kept"] >= 0.7)
    return out


def dense_ranking(emb, query_ids: list[str], k: int) -> dict[str, list[str]]:
    """The base model's top ``k`` documents per query, from its embeddings (the encode stage's output)."""
    from syneg.retrieval.dense import dense_run

    return {q: list(hits) for q, hits in dense_run(emb, query_ids, k).items()}  # best first, as searched


GRID = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def split_half(frame: pd.DataFrame) -> dict[str, Any]:
    """How the critique's score-ratio gate generalises: for each half of the queries, the grid value that is
    best (highest of the two goal shares' minimum) on the other half, and the shares it gives on this one."""
    ratio = frame["neg_score"] / frame["pos_score"]
    cheap = frame["reason"].str.startswith(TEXT_REASONS) | frame["margin_flag"].eq(True)
    raw = frame["decision"].eq("drop")
    queries = sorted(frame["query_id"].unique())
    half = frame["query_id"].map({q: i % 2 for i, q in enumerate(queries)})

    def shares(mask: pd.Series, lo: float) -> tuple[float, float]:
        dropped = (cheap | (raw & (ratio >= lo)))[mask]
        label = frame.loc[mask, "label"]
        return round(float(dropped[label == "false_negative"].mean()), 4), \
            round(float(1 - dropped[label == "true_negative"].mean()), 4)

    out = {}
    for h in (0, 1):
        best = max(GRID, key=lambda lo: min(shares(half != h, lo)))
        fn, tn = shares(half == h, best)
        out[f"half_{h}"] = {"ratio_chosen_on_other_half": best, "false_negatives_dropped": fn, "true_negatives_kept": tn}
    return out


def annotated(results: pd.DataFrame, annotations: pd.DataFrame | None) -> dict[str, Any]:
    """How reflection treats the hard true negatives a reader labelled (``query_id, doc_id, answers_query``:
    yes / no / unsure): the share of the ``no`` ones kept and of the ``yes`` ones dropped."""
    if annotations is None or not len(annotations):
        return {}
    hard = results[results["label"] == "hard_true_negative"]
    labels = annotations.rename(columns={"doc_id": "source_id", "answers_query": "read_answer"})
    read = hard.merge(labels[["query_id", "source_id", "read_answer"]], on=["query_id", "source_id"])
    out: dict[str, Any] = {"read": int(len(read))}
    for answer, key, keep in (("no", "not_answering_kept", True), ("yes", "answering_dropped", False),
                              ("unsure", "unsure_kept", True)):
        sub = read[read["read_answer"] == answer]
        out[f"{answer}_count"] = int(len(sub))
        if len(sub):
            kept = float((sub["reason"] == "").mean())
            out[key] = round(kept if keep else 1 - kept, 4)
    return out


def run_check(ds: Dataset, pairs: pd.DataFrame, ranked: dict[str, list[str]], cfg: CheckConfig,
              rcfg: ReflectConfig, writer: Asker, judge: Asker, model: str, max_seq_length: int = 256,
              batch_size: int = 64, emb=None, precision: str = "fp32", backend: str = "torch",
              annotations: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the labelled candidates (``writer`` paraphrases), reflect on them with every check (``judge``
    critiques), and measure (module docstring)."""
    src = paraphrase(sources(ds, pairs, cfg, ranked), ds, writer)
    writer.backend.close()  # its work is done; a local model's server or weights are freed for the judge
    ok = src[src["error"] == ""].reset_index(drop=True)
    cand = ok.assign(neg_index=0, domain="", difficulty="", length="")
    kept, dropped, _ = reflect(ds, cand, rcfg, model, max_seq_length, batch_size, Critic(judge, rcfg.revise),
                               critique_all=True, emb=emb, precision=precision, backend=backend)
    results = pd.concat([kept.assign(reason=""), dropped], ignore_index=True)
    results = results.sort_values(["query_id", "pos_id", "label"], kind="stable").reset_index(drop=True)
    stats = {"pairs": int(src[["query_id", "pos_id"]].drop_duplicates().shape[0]), "candidates": int(len(src)),
             "paraphrase_failed": int((src["error"] != "").sum()), **dropped_shares(results),
             "model_check_reason": FALSE_NEGATIVE.split(":")[0],
             "critique_min_score_ratio": rcfg.critique_min_score_ratio, "split_half": split_half(results),
             **({"hard_true_negatives_read": annotated(results, annotations)} if annotations is not None else {}),
             "llm": {"paraphrase": writer.stats(), "critique": judge.stats()}}
    stats["failures"] = [e for e in src["error"] if e] + results.loc[results["verdict"] == "failed",
                                                                      "critique_reason"].tolist()
    return results, stats
