"""The paper's reflection as an LLM pass: critique each synthetic negative, then keep, revise or drop it.

The prompt (``prompts/critique.jinja2``) asks three questions of one candidate (does it answer the query, is
it on the query's topic, does it keep the instance's attributes) and for a verdict with its reason, and for
the whole rewritten document when the verdict is ``revise``.

Example:
    >>> from syneg.llm.answers import CritiqueAnswer
    >>> CritiqueAnswer(answers_query=False, on_topic=True, keeps_attributes=True, verdict="keep",
    ...                reason="on topic, no answer").verdict
    'keep'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from syneg.llm.answers import critique_spec
from syneg.llm.asking import Asked, Asker
from syneg.llm.prompt import render_critique


@dataclass
class Candidate:
    """One synthetic negative to critique, with its instance."""

    query: str
    positive: str
    text: str
    attributes: dict[str, str] = field(default_factory=dict)


class Critic:
    """Asks the configured LLM for a :class:`~syneg.llm.answers.CritiqueJudgment` per candidate.

    Args:
        asker: the backend and answer store.
        revise: ask for a revised document with a "revise" verdict (a longer, costlier answer).
    """

    def __init__(self, asker: Asker, revise: bool = True):
        self.asker, self.revise = asker, revise

    def critique(self, candidates: Sequence[Candidate]) -> list[Asked]:
        prompts = [render_critique(c.query, c.positive, c.text, c.attributes, self.revise) for c in candidates]
        return self.asker.ask(prompts, critique_spec(self.revise), desc="reflect: critique")

    def stats(self) -> dict[str, Any]:
        return self.asker.stats()

    def close(self) -> None:
        self.asker.backend.close()
