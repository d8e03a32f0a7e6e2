"""Negative diagnostics of a run: how hard the negatives are, how many look like false negatives, and whether
the LLM kept to the length it was asked for.

- **score ratio**: the base model's score of a negative for the query divided by its positive's score (1.0:
  as close as the positive). Histograms for every synthetic negative reflect scored, the synthetic ones it
  kept, and the retrieved negatives the training mix used.
- **flagged**: synthetic negatives the model check flagged as likely false negatives (above
  ``positive - |positive| x reflect.relative_margin``, as reflect decides).
- **length ratio**: a synthetic negative's word count over its positive's, per sampled ``length`` attribute.
- **quality** (:func:`quality`): what a researcher asks of the synthetic negatives, with the goals of issue
  22: the share reflection keeps (>= 0.5), the kept ones' median score ratio against the retrieved negatives
  the mix used (>= 0.85), their median length ratio (within 25% of 1), the share of the synthetic slots the mix
  asked for that a synthetic negative filled (>= 0.9), and the LLM requests and generated tokens per kept
  negative.

Example:
    >>> histogram({"a": [0.1, 0.12, 0.9]}, [0.0, 0.5, 1.0])["a"].tolist()
    [0.6667, 0.3333]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from syneg.margins import relative_threshold

SCORE_BINS = np.round(np.arange(0.0, 1.30001, 0.05), 2)
LENGTH_BINS = np.round(np.arange(0.0, 3.00001, 0.1), 2)


def histogram(series: dict[str, Sequence[float]], bins: Sequence[float]) -> pd.DataFrame:
    """Share of each series per bin (values outside go to the first or last bin); ``bin`` is its centre."""
    edges = np.asarray(bins, dtype=float)
    out = pd.DataFrame({"bin": np.round((edges[:-1] + edges[1:]) / 2, 4)})
    for name, values in series.items():
        v = np.clip(np.asarray(values, dtype=float), edges[0], edges[-1] - 1e-9)
        counts, _ = np.histogram(v, bins=edges)
        out[name] = np.round(counts / max(1, len(v)), 4)
    return out


def _words(text: str) -> int:
    return len(str(text).split())


def _summary(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {"n": 0}
    q = np.quantile(values, [0.1, 0.5, 0.9])
    return {"n": int(len(values)), "mean": round(float(values.mean()), 4), "p10": round(float(q[0]), 4),
            "median": round(float(q[1]), 4), "p90": round(float(q[2]), 4)}


def diagnose(synthetic: pd.DataFrame, candidates: pd.DataFrame, provenance: pd.DataFrame,
             doc_text: dict[str, str], relative_margin: float) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Metrics and the two histograms (score ratio, length ratio).

    Args:
        synthetic: every synthetic negative reflect saw (kept and dropped), with ``neg_score, pos_score,
            reason, pos_id, text, length``.
        candidates: the mine stage's candidates (``query_id, pos_id, doc_id, score, pos_score``).
        provenance: the mix stage's provenance (``query_id, pos_id, source_j, doc_id_j``).
        doc_text: corpus text per document id.
    """
    scored = synthetic[synthetic["neg_score"].notna()]
    syn_ratio = (scored["neg_score"] / scored["pos_score"]).to_numpy()
    kept = scored[scored["reason"] == ""]
    kept_ratio = (kept["neg_score"] / kept["pos_score"]).to_numpy()
    k = sum(1 for c in provenance.columns if c.startswith("source_"))
    used = pd.concat([provenance[["query_id", "pos_id", f"source_{j}", f"doc_id_{j}"]]
                      .set_axis(["query_id", "pos_id", "source", "doc_id"], axis=1) for j in range(1, k + 1)])
    used = used[used["source"] == "retrieved"].merge(candidates, on=["query_id", "pos_id", "doc_id"], how="left")
    ret_ratio = (used["score"] / used["pos_score"]).dropna().to_numpy()
    scores = histogram({"synthetic": syn_ratio, "synthetic_kept": kept_ratio, "retrieved": ret_ratio}, SCORE_BINS)

    pos_words = synthetic["pos_id"].map(lambda d: _words(doc_text[d])).to_numpy()
    len_ratio = synthetic["text"].map(_words).to_numpy() / np.maximum(1, pos_words)
    kept_len = len_ratio[(synthetic["reason"] == "").to_numpy()]
    by_length = {str(a) or "none": len_ratio[(synthetic["length"] == a).to_numpy()]
                 for a in sorted(synthetic["length"].unique())} if "length" in synthetic else {}
    lengths = histogram({"all": len_ratio, **by_length}, LENGTH_BINS)
    flagged = int((scored["neg_score"] > relative_threshold(scored["pos_score"], relative_margin)).sum())
    metrics = {
        "score_ratio": {"synthetic": _summary(syn_ratio), "synthetic_kept": _summary(kept_ratio),
                        "retrieved_used": _summary(ret_ratio)},
        "model_check_flagged": flagged,
        "model_check_flagged_share": round(flagged / max(1, len(syn_ratio)), 4),
        "length_ratio": {"all": _summary(len_ratio), "kept": _summary(kept_len),
                         **{a: _summary(v) for a, v in by_length.items()}},
        "length_within_25pct": round(float(np.mean(np.abs(len_ratio - 1) <= 0.25)), 4) if len(len_ratio) else None,
    }
    return metrics, scores, lengths


GOALS = {"kept_share": (">=", 0.5), "score_ratio_kept_median": (">=", 0.85),
         "length_ratio_kept_median": ("within", 0.25), "synthetic_slots_filled_share": (">=", 0.9)}


def _met(value: float | None, rule: tuple[str, float]) -> bool | None:
    if value is None:
        return None
    kind, bound = rule
    return bool(abs(value - 1) <= bound) if kind == "within" else bool(value >= bound)


def quality(synthetic: pd.DataFrame, metrics: dict[str, Any], mix: dict[str, Any], synthesize: dict[str, Any],
            reflect: dict[str, Any]) -> dict[str, Any]:
    """The negative-quality figures of a run, in one block (module docstring), from reflect's table of every
    synthetic negative, the diagnostics' distributions and the synthesize, reflect and mix metrics."""
    kept = int((synthetic["reason"] == "").sum())
    answers = lambda m: int(m.get("requests", 0)) + int(m.get("cache_hits", 0))  # noqa: E731 - answered requests
    critique = reflect.get("llm") or {}
    requests = answers(synthesize) + answers(critique)
    tokens = int(synthesize.get("completion_tokens_all_answers", 0)) + int(critique.get("completion_tokens_all_answers", 0))
    asked = mix.get("synthetic_asked")
    out = {
        "synthetic_written": int(len(synthetic)),
        "kept": kept,
        "kept_share": round(kept / len(synthetic), 4) if len(synthetic) else None,
        "score_ratio_kept_median": metrics["score_ratio"]["synthetic_kept"].get("median"),
        "score_ratio_retrieved_used_median": metrics["score_ratio"]["retrieved_used"].get("median"),
        "length_ratio_kept_median": metrics["length_ratio"].get("kept", {}).get("median"),
        "synthetic_slots_asked": asked,
        "synthetic_slots_filled": mix.get("synthetic"),
        "synthetic_slots_filled_share": round(mix["synthetic"] / asked, 4) if asked else None,
        "llm_requests_per_kept": round(requests / kept, 3) if kept else None,
        "generated_tokens_per_kept": round(tokens / kept, 1) if kept else None,
    }
    out["goals_met"] = {key: _met(out[key], rule) for key, rule in GOALS.items()}
    return out


def examples(kept: pd.DataFrame, queries: dict[str, str], doc_text: dict[str, str], n: int = 5, seed: int = 0,
             width: int = 400) -> str:
    """A markdown table of ``n`` kept synthetic negatives (a seeded sample) beside their query and positive."""
    sample = kept.sample(n=min(n, len(kept)), random_state=seed).sort_values(["query_id", "neg_index"])
    cut = lambda t: (t if len(t) <= width else t[: width - 3].rsplit(" ", 1)[0] + " ...").replace("|", "/")  # noqa
    rows = ["| query | positive (start) | synthetic negative (start) | attributes | base-model score / positive's |",
            "| --- | --- | --- | --- | --- |"]
    for r in sample.itertuples(index=False):
        attrs = ", ".join(str(getattr(r, k)) for k in ("domain", "difficulty", "length") if getattr(r, k, ""))
        ratio = f"{r.neg_score / r.pos_score:.2f}" if pd.notna(getattr(r, "neg_score", None)) else "n/a"
        rows.append(f"| {cut(queries[r.query_id])} | {cut(doc_text[r.pos_id])} | {cut(r.text)} | {attrs} | {ratio} |")
    return "\n".join(rows)
