"""Synthetic negatives from an LLM: the multi-attribute prompt per instance, validated JSON answers.

Example:
    >>> LLMSynthesizer.stand_in
    False
"""

from __future__ import annotations

from typing import Any, Sequence

from syneg.llm.answers import synthesis_spec
from syneg.llm.asking import Asker
from syneg.llm.base import Generator, SynthesisItem, SynthesisResult
from syneg.llm.prompt import render_synthesis, variant_flags


class LLMSynthesizer(Generator):
    """Writes negatives with any chat backend through an :class:`~syneg.llm.asking.Asker`.

    Args:
        asker: the backend, answer store, format fallback and re-ask policy.
        variant: the prompt variant (``full`` or one of the paper's ablations; see :mod:`syneg.llm.prompt`).
        template: the synthesis template (``synthesize``, ``synthesize_edit``).
        max_words: the length asked for, at most (``synthesize.max_words``).
        worked_example: show the template's worked example.
    """

    stand_in = False

    def __init__(self, asker: Asker, variant: str = "full", template: str = "synthesize",
                 max_words: int | None = None, worked_example: bool = False):
        self.asker, self.variant, self.template = asker, variant, template
        self.max_words, self.worked_example = max_words, worked_example
        self.reflection = variant_flags(variant)[1]
        self.name, self.model = asker.backend.name, asker.backend.model
        self.short_answers = 0

    def prompts(self, items: Sequence[SynthesisItem], num_negatives: int) -> list[str]:
        return [render_synthesis(it.query, it.positive, it.attributes, num_negatives, self.variant, self.template,
                                 self.max_words, self.worked_example) for it in items]

    def generate(self, items: Sequence[SynthesisItem], num_negatives: int) -> list[SynthesisResult]:
        spec = synthesis_spec(num_negatives, reasoning=self.reflection)
        results = []
        # A pair's later requests sample with another seed: with attributes that coincide (or none), the same
        # prompt would otherwise get the same answer again. A pair's only (or first) request is as it always was.
        offsets = [it.request for it in items]
        for asked in self.asker.ask(self.prompts(items, num_negatives), spec, desc="synthesize", seed_offsets=offsets):
            if asked.error:
                results.append(SynthesisResult([], error=asked.error))
                continue
            negatives = asked.value.hard_negatives[:num_negatives]
            # Fewer than asked is kept (each is a usable negative) and counted; mixing fills the gap.
            self.short_answers += len(negatives) < num_negatives
            results.append(SynthesisResult(negatives, reasoning=asked.value.reasoning))
        return results

    def stats(self) -> dict[str, Any]:
        return {**self.asker.stats(), "short_answers": self.short_answers}

    def close(self) -> None:
        self.asker.backend.close()
