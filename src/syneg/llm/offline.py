"""The offline generator: a deterministic, rule-based STAND-IN for an LLM, so the pipeline runs anywhere.

It is not the paper's method. It writes each "synthetic" negative from sentences of retrieved non-positive
documents (the instance's neighbours), choosing the sentences that share the most words with the query,
skipping any sentence that overlaps the positive (its evidence), and filling them up to the length the
``length`` attribute asks for relative to the positive. ``domain`` and ``difficulty`` are recorded but not
honoured: rules cannot write as a virologist or for a school pupil. Every output it makes carries
``backend = "offline"`` and ``stand_in = True``.

Example:
    >>> from syneg.llm.base import SynthesisItem
    >>> gen = OfflineGenerator()
    >>> item = SynthesisItem("q", "d", "statins lower stroke risk", "Statins reduced strokes by 20%.",
    ...                      {"length": "approximately the same as"},
    ...                      ["Statins are widely prescribed. Stroke risk rises with age.", "Aspirin is cheap."])
    >>> gen.generate([item], num_negatives=1)[0].negatives
    ['Statins are widely prescribed. Stroke risk rises with age.']
"""

from __future__ import annotations

import re
from typing import Sequence

from syneg.llm.base import Generator, SynthesisItem, SynthesisResult

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were which with "
    "not no than these those their there been being also may can into between after before during".split()
)
LENGTH_FACTORS = {
    "approximately the same as": 1.0,
    "nearly the same as": 1.0,
    "about the same as": 1.0,
    "shorter than": 0.6,
    "half": 0.5,
    "longer than": 1.5,
}


def _terms(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.lower()) if t not in _STOP and len(t) > 2}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s.strip()]


class OfflineGenerator(Generator):
    """Rule-based stand-in (see the module docstring).

    Args:
        max_overlap: a neighbour sentence sharing more than this fraction of its terms with any one sentence
            of the positive is treated as the positive's evidence and never used.
        neighbors: how many retrieved neighbours a negative may draw sentences from.
    """

    name = "offline"
    model = "rule-based stand-in"
    stand_in = True

    def __init__(self, max_overlap: float = 0.5, neighbors: int = 5):
        self.max_overlap = float(max_overlap)
        self.neighbors = int(neighbors)
        self._made = 0

    def _pool(self, item: SynthesisItem) -> list[tuple[float, int, int, str]]:
        q_terms = _terms(item.query)
        pos_sents = [_terms(s) for s in sentences(item.positive)]
        pool = []
        for n, doc in enumerate(item.neighbors[: self.neighbors]):
            for i, sent in enumerate(sentences(doc)):
                terms = _terms(sent)
                if not terms:
                    continue
                if any(len(terms & p) / len(terms) > self.max_overlap for p in pos_sents if p):
                    continue
                # Query overlap first; earlier neighbours and earlier sentences break ties (topic lead).
                score = len(terms & q_terms) + 0.5 / (1 + n) + 0.1 / (1 + i)
                pool.append((score, n, i, sent))
        pool.sort(key=lambda r: (-r[0], r[1], r[2]))
        return pool

    def _one(self, item: SynthesisItem, num_negatives: int) -> SynthesisResult:
        factor = LENGTH_FACTORS.get(item.attributes.get("length", ""), 1.0)
        target = max(8, int(round(len(item.positive.split()) * factor)))
        pool = self._pool(item)
        if not pool:
            return SynthesisResult([], error="no usable neighbour sentences")
        negatives = []
        for k in range(num_negatives):
            # Negative k starts from the k-th best sentence and takes every num_negatives-th one, so the
            # negatives of one instance share no sentence while the pool lasts.
            picks = pool[k::num_negatives] or pool
            chosen, words = [], 0
            for row in picks:
                if words >= target:
                    break
                chosen.append(row)
                words += len(row[3].split())
            chosen.sort(key=lambda r: (r[1], r[2]))  # read in source order
            text = " ".join(r[3] for r in chosen)
            tokens = text.split()
            if len(tokens) > int(target * 1.2):
                text = " ".join(tokens[: int(target * 1.2)])
            negatives.append(text)
        self._made += len(negatives)
        return SynthesisResult(
            negatives,
            reasoning="STAND-IN, no LLM: sentences of retrieved non-positive documents that share the most "
            "terms with the query, without sentences overlapping the positive, filled to the length attribute.",
        )

    def generate(self, items: Sequence[SynthesisItem], num_negatives: int) -> list[SynthesisResult]:
        return [self._one(item, num_negatives) for item in items]

    def stats(self) -> dict[str, int]:
        return {"requests": 0, "negatives_written": self._made}
