"""A dry run: what the current params would send and cost, computed without sending anything.

Requests are the prompts whose first request is not in the answer store yet. Prompt tokens are counted from
the rendered requests at the store's own tokens-per-character ratio (from the usage of the answers already
stored for this model) or, with an empty store, at 4 characters per token. Completion tokens are the
caller's estimate per prompt (or the store's mean), with ``max_tokens`` per request as the upper bound;
re-asks are in the upper bound only.

Example:
    >>> Projection("synthesize", 10, 0, 5000, 2000, 20000, 0.5, 1.0, "4 chars/token").row()[:3]
    ['synthesize', '10', '0']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from syneg.llm.answers import AnswerSpec
from syneg.llm.asking import Asker

CHARS_PER_TOKEN = 4.0  # OpenAI's rule of thumb for English text


@dataclass
class Projection:
    stage: str
    requests: int
    cached: int
    prompt_tokens: int
    completion_tokens: int
    completion_tokens_max: int
    cost_usd: float | None
    cost_usd_max: float | None
    basis: str

    HEADER = ["stage", "requests", "stored/dup", "prompt tok", "completion tok", "completion max", "cost USD",
              "cost max USD"]

    def row(self) -> list[str]:
        money = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        return [self.stage, str(self.requests), str(self.cached), str(self.prompt_tokens),
                str(self.completion_tokens), str(self.completion_tokens_max), money(self.cost_usd),
                money(self.cost_usd_max)]


def _store_rates(asker: Asker) -> tuple[float | None, float | None]:
    """(prompt tokens per character, mean completion tokens) over the stored answers of this model."""
    chars = ptok = ctok = n = 0
    for entry in asker.cache.entries():
        ans = entry.answer
        if entry.model != asker.backend.model or not ans.get("prompt_tokens"):
            continue
        chars += entry.prompt_chars
        ptok += ans["prompt_tokens"]
        ctok += ans.get("completion_tokens", 0)
        n += 1
    if not n or not chars:
        return None, None
    return ptok / chars, ctok / n


def project(asker: Asker, stage: str, prompts: Sequence[str], spec: AnswerSpec,
            completion_estimates: Sequence[int], consult_store: bool = True) -> Projection:
    """Project the requests, tokens and cost of asking ``prompts`` (see the module docstring).

    ``consult_store=False`` counts every prompt as a request (for prompts that are placeholders).
    """
    per_char, mean_completion = _store_rates(asker)
    basis = "store usage" if per_char else f"{CHARS_PER_TOKEN:g} chars/token"
    per_char = per_char or 1 / CHARS_PER_TOKEN
    max_tokens = asker.backend.max_tokens
    seen: set[str] = set()
    requests = cached = ptok = ctok = ctok_max = 0
    for prompt, est in zip(prompts, completion_estimates):
        messages = [{"role": "user", "content": prompt}]
        _, key = asker.request(messages, spec)
        if consult_store and (key in seen or asker.cache.get(key) is not None):
            cached += 1
            continue
        seen.add(key)
        requests += 1
        ptok += round(len(prompt) * per_char)
        ctok += min(max_tokens, round(mean_completion or est))
        ctok_max += max_tokens * (1 + asker.max_reasks)
    model, batch = asker.backend.model, asker.backend.is_batch
    if asker.backend.free:
        cost = cost_max = 0.0
    else:
        cost = asker.prices.cost(model, ptok, ctok, batch)
        cost_max = asker.prices.cost(model, ptok * (1 + asker.max_reasks), ctok_max, batch)
    return Projection(stage, requests, cached, ptok, ctok, ctok_max, cost, cost_max, basis)


def table(rows: Sequence[Projection]) -> str:
    """A plain-text table of projections, with a total line."""
    lines = [Projection.HEADER] + [p.row() for p in rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(Projection.HEADER))]
    fmt = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa
    out = [fmt(r) for r in lines]
    out.append("token counts: " + "; ".join(f"{p.stage} from {p.basis}" for p in rows))
    return "\n".join(out)
