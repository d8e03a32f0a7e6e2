"""The interface every synthetic-negative generator implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class SynthesisItem:
    """One training instance to write negatives for.

    Attributes:
        query_id, pos_id: ids of the query and its positive document.
        query, positive: their texts.
        attributes: ``domain``, ``difficulty`` and ``length`` chosen for this instance (empty to omit).
        neighbors: texts of retrieved non-positive documents, best first (used only by the offline stand-in).
    """

    query_id: str
    pos_id: str
    query: str
    positive: str
    attributes: dict[str, str] = field(default_factory=dict)
    neighbors: list[str] = field(default_factory=list)


@dataclass
class SynthesisResult:
    """What a generator wrote for one item: negatives and the stated reasoning, or why it failed."""

    negatives: list[str]
    reasoning: str = ""
    error: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    cached: bool = False


class Generator(abc.ABC):
    """A backend that writes synthetic hard negatives.

    Attributes:
        name: the backend's name as params.yaml spells it.
        stand_in: True for a generator that is not an LLM; its outputs are labelled as such everywhere.
    """

    name: str = ""
    stand_in: bool = False

    @abc.abstractmethod
    def generate(self, items: Sequence[SynthesisItem], num_negatives: int) -> list[SynthesisResult]:
        """Write ``num_negatives`` negatives for each item; results follow ``items``' order."""

    def stats(self) -> dict[str, Any]:
        """Counters for the metrics file (requests, cache hits, tokens)."""
        return {}


def make_generator(backend: str, section: dict[str, Any]) -> Generator:
    """Build the generator named ``backend`` from the ``synthesize`` params section."""
    if backend == "offline":
        from syneg.llm.offline import OfflineGenerator

        return OfflineGenerator(**section.get("offline", {}))
    if backend == "openai":
        from syneg.llm.openai_backend import OpenAIGenerator

        return OpenAIGenerator(**section.get("openai", {}))
    raise ValueError(f"synthesize.backend is '{backend}'; use 'offline' (the no-LLM stand-in) or 'openai'.")
