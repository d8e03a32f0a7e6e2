"""Mix synthetic and retrieved negatives into a training set (SyNeg's hybrid, instance-level mixing).

``hybrid`` (the paper's method): every instance gets ``num_negatives`` negatives, ``ratio`` of them synthetic
and the rest retrieved, so every query sees both kinds. ``direct`` (the paper's baseline): the two kinds are
pooled at dataset level, so an instance sees only synthetic or only retrieved negatives. ``synthetic_only``
and ``retrieved_only`` (the paper's other two rows) use one kind alone and ignore ``ratio``.

What ``ratio`` means, per strategy:

========================  ==========================================================================
``hybrid``                the synthetic share of every instance's negatives
``direct``                the share of instances whose negatives are all synthetic (the rest: all retrieved)
``synthetic_only``        ignored (1): an instance short of synthetic negatives gets random documents
``retrieved_only``        ignored (0): an instance short of retrieved negatives gets random documents
========================  ==========================================================================

``ratio`` x ``num_negatives`` is rarely a whole number. :func:`synthetic_counts` rounds it so the dataset
total is exact: every instance gets the floor, and a seeded choice of instances gets one more. With the
defaults (ratio 1/3, 3 negatives) every instance gets exactly 1 synthetic + 2 retrieved, the paper's figure.
When an instance has too few synthetic negatives left after reflection, retrieved ones fill its slots (and
the other way round); the counts of such fills go to the metrics.

Example:
    >>> int(synthetic_counts(4, ratio=0.5, num_negatives=3, seed=0).sum())
    6
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from syneg.data.store import Dataset, doc_texts


STRATEGIES = ("hybrid", "direct", "synthetic_only", "retrieved_only")


@dataclass
class MixConfig:
    """The ``mix`` section of params.yaml.

    Attributes:
        strategy: ``hybrid`` (instance-level), ``direct`` (dataset-level pooling), ``synthetic_only`` or
            ``retrieved_only``.
        ratio: share of negatives that are synthetic, per instance (hybrid) or of instances (direct);
            ignored by the two single-kind strategies.
        num_negatives: hard negatives per training instance.
        retrieved_sampling: ``top`` (best-ranked kept candidates first) or ``random`` (seeded, from the pool).
        synthetic_sampling: ``first`` (in the order they were written) or ``hardest`` (the kept synthetic
            negatives the base model scores closest to their positive first; with ``synthesize.candidates`` > 1,
            the hardest of the candidates that passed reflection).
        seed: seeds rounding and sampling.
    """

    strategy: str = "hybrid"
    ratio: float = 0.333333
    num_negatives: int = 3
    retrieved_sampling: str = "top"
    synthetic_sampling: str = "first"
    seed: int = 42

    @property
    def synthetic_ratio(self) -> float:
        """The synthetic share this strategy uses: ``ratio``, or 1 / 0 for the single-kind strategies."""
        return {"synthetic_only": 1.0, "retrieved_only": 0.0}.get(self.strategy, float(self.ratio))

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"mix.strategy is '{self.strategy}'; use one of {', '.join(STRATEGIES)}.")
        if not 0.0 <= float(self.ratio) <= 1.0:
            raise ValueError(f"mix.ratio is {self.ratio}; use a share in [0, 1].")
        if self.num_negatives < 1:
            raise ValueError("mix.num_negatives must be at least 1.")
        if self.retrieved_sampling not in ("top", "random"):
            raise ValueError(f"mix.retrieved_sampling is '{self.retrieved_sampling}'; use 'top' or 'random'.")
        if self.synthetic_sampling not in ("first", "hardest"):
            raise ValueError(f"mix.synthetic_sampling is '{self.synthetic_sampling}'; use 'first' or 'hardest'.")


def synthetic_counts(n_instances: int, ratio: float, num_negatives: int, seed: int) -> np.ndarray:
    """Synthetic negatives per instance: the dataset total is ``round(ratio * num_negatives * n_instances)``.

    A product within 1e-4 of a whole number counts as that number, so ``ratio: 0.333333`` means one in three.
    """
    want = ratio * num_negatives
    if abs(want - round(want)) < 1e-4:
        want = float(round(want))
    base = int(np.floor(want))
    extra = int(round((want - base) * n_instances))
    counts = np.full(n_instances, base, dtype=int)
    if extra:
        rng = np.random.default_rng(seed)
        counts[rng.permutation(n_instances)[:extra]] += 1
    return counts


def without_flagged(candidates: pd.DataFrame, flagged: pd.DataFrame | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The mined candidates without the ones the judge flagged (the mix's retrieved pool)."""
    if flagged is None or not len(flagged):
        return candidates, {"retrieved_dropped_by_judge": 0}
    key = ["query_id", "pos_id", "doc_id"]
    out = candidates.merge(flagged[key].assign(_flag=True), on=key, how="left")
    kept = out[out["_flag"].isna()].drop(columns="_flag").reset_index(drop=True)
    return kept, {"retrieved_dropped_by_judge": int(len(candidates) - len(kept))}


def _ordered_synthetic(synthetic: pd.DataFrame, sampling: str) -> pd.DataFrame:
    """Kept synthetic negatives in the order ``mix`` takes them: as written, or hardest first (the base model's
    score for the query, highest first: the positive is the pair's own, so this is the score ratio's order too;
    unscored ones last, as written)."""
    if sampling != "hardest" or "neg_score" not in synthetic.columns:
        return synthetic.sort_values(["query_id", "pos_id", "neg_index"])
    hardness = -synthetic["neg_score"].astype(float).fillna(-np.inf)
    return (synthetic.assign(_order=hardness).sort_values(["query_id", "pos_id", "_order", "neg_index"])
            .drop(columns="_order"))


def mix(ds: Dataset, pairs: pd.DataFrame, candidates: pd.DataFrame, synthetic: pd.DataFrame,
        cfg: MixConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Build the training table.

    Args:
        pairs: ``query_id, pos_id`` training instances, in order.
        candidates: the mine stage's kept candidates (``query_id, pos_id, doc_id, rank``).
        synthetic: the reflect stage's kept negatives (``query_id, pos_id, neg_index, text``; ``neg_score`` and
            ``pos_score`` for ``synthetic_sampling: hardest``).

    Returns:
        ``(train, provenance, stats)``: ``train`` in sentence-transformers' shape (``anchor, positive,
        negative_1..k``); ``provenance`` says per instance and slot where each negative came from.
    """
    n, k = len(pairs), cfg.num_negatives
    rng = np.random.default_rng(cfg.seed)
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    dtext = doc_texts(ds)
    retrieved = candidates.sort_values(["query_id", "pos_id", "rank"]).groupby(["query_id", "pos_id"])["doc_id"].agg(list)
    synth = _ordered_synthetic(synthetic, cfg.synthetic_sampling).groupby(["query_id", "pos_id"], sort=False)["text"].agg(list)

    if cfg.strategy == "direct":
        chosen = np.zeros(n, dtype=bool)
        chosen[rng.permutation(n)[: int(round(cfg.ratio * n))]] = True
        want_syn = np.where(chosen, k, 0)
    else:
        want_syn = synthetic_counts(n, cfg.synthetic_ratio, k, cfg.seed)
    # the single-kind strategies never fill one kind's gap with the other
    use_syn, use_ret = cfg.strategy != "retrieved_only", cfg.strategy != "synthetic_only"

    all_ids = ds.corpus["doc_id"].to_numpy()
    positives = ds.positive_ids()
    rows, prov = [], []
    fills: Counter[str] = Counter()
    for i, (q, p) in enumerate(zip(pairs["query_id"], pairs["pos_id"])):
        syn = list(synth.get((q, p), [])) if use_syn else []
        ret = list(retrieved.get((q, p), [])) if use_ret else []
        if cfg.retrieved_sampling == "random" and ret:
            ret = [ret[j] for j in rng.permutation(len(ret))]
        n_syn = min(int(want_syn[i]), len(syn))
        n_ret = min(k - n_syn, len(ret))
        fills["retrieved_for_missing_synthetic"] += max(0, n_ret - (k - int(want_syn[i])))
        if n_syn + n_ret < k:  # too few retrieved: take more synthetic, then random corpus documents
            extra = min(k - n_syn - n_ret, len(syn) - n_syn)
            n_syn += extra
            fills["synthetic_for_missing_retrieved"] += extra
        negs = [(t, "synthetic", "") for t in syn[:n_syn]] + [(dtext[d], "retrieved", d) for d in ret[:n_ret]]
        taken = {d for _, _, d in negs} | positives.get(q, frozenset())
        while len(negs) < k:
            d = str(all_ids[rng.integers(len(all_ids))])
            if d not in taken:
                taken.add(d)
                negs.append((dtext[d], "random", d))
                fills["random"] += 1
        rows.append([qtext[q], dtext[p], *[t for t, _, _ in negs]])
        prov.append([q, p, *[s for _, s, _ in negs], *[d for _, _, d in negs]])
    cols = ["anchor", "positive", *[f"negative_{j + 1}" for j in range(k)]]
    pcols = ["query_id", "pos_id", *[f"source_{j + 1}" for j in range(k)], *[f"doc_id_{j + 1}" for j in range(k)]]
    train = pd.DataFrame(rows, columns=cols)
    provenance = pd.DataFrame(prov, columns=pcols)
    src = Counter(provenance[[f"source_{j + 1}" for j in range(k)]].to_numpy().ravel().tolist())
    total = n * k
    stats = {
        "instances": n,
        "negatives": total,
        "synthetic": int(src.get("synthetic", 0)),
        "retrieved": int(src.get("retrieved", 0)),
        "random": int(src.get("random", 0)),
        "synthetic_share": round(src.get("synthetic", 0) / total, 4) if total else 0.0,
        "synthetic_asked": int(want_syn.sum()),
        "instances_with_both_kinds": int(sum(
            1 for r in provenance[[f"source_{j + 1}" for j in range(k)]].itertuples(index=False)
            if "synthetic" in r and "retrieved" in r)),
        "fills": {key: int(v) for key, v in sorted(fills.items()) if v},
    }
    return train, provenance, stats
