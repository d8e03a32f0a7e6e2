"""The two interfaces of the LLM layer.

:class:`Generator` writes synthetic negatives for training instances (the ``synthesize`` stage talks to it).
:class:`ChatBackend` sends chat requests to one kind of LLM (OpenAI-compatible servers, the OpenAI Batch API,
a local Hugging Face model). Caching, validation, re-asks and format fallback live once, in
:mod:`syneg.llm.asking`, above every backend; a backend only turns request bodies into :class:`Reply` objects.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

# Structured-output modes, strongest first: OpenAI's strict json_schema; JSON mode constrained to the schema
# (llama.cpp's servers); plain JSON mode; text with the JSON extracted from it.
FORMATS = ("json_schema", "json_object_schema", "json_object", "text")


@dataclass
class SynthesisItem:
    """One training instance to write negatives for.

    Attributes:
        query_id, pos_id: ids of the query and its positive document.
        query, positive: their texts.
        attributes: ``domain``, ``difficulty`` and ``length`` chosen for this instance (empty to omit).
        neighbors: texts of retrieved non-positive documents, best first (used only by the offline stand-in).
        request: which of the pair's requests this is (0 when a pair's negatives are asked in one).
    """

    query_id: str
    pos_id: str
    query: str
    positive: str
    attributes: dict[str, str] = field(default_factory=dict)
    neighbors: list[str] = field(default_factory=list)
    request: int = 0


@dataclass
class SynthesisResult:
    """What a generator wrote for one item: negatives and the stated reasoning, or why it failed."""

    negatives: list[str]
    reasoning: str = ""
    error: str = ""


class Generator(abc.ABC):
    """A backend that writes synthetic hard negatives.

    Attributes:
        name: the backend's name as params.yaml spells it.
        model: what wrote the negatives (the LLM's name or path), recorded with every negative.
        stand_in: True for a generator that is not an LLM; its outputs are labelled as such everywhere.
    """

    name: str = ""
    model: str = ""
    stand_in: bool = False

    @abc.abstractmethod
    def generate(self, items: Sequence[SynthesisItem], num_negatives: int) -> list[SynthesisResult]:
        """Write ``num_negatives`` negatives for each item; results follow ``items``' order."""

    def stats(self) -> dict[str, Any]:
        """Counters for the metrics file (requests, cache hits, tokens, cost)."""
        return {}

    def close(self) -> None:
        """Release files and connections."""


@dataclass
class Reply:
    """One answer to one request, as stored in the answer cache.

    Attributes:
        content: the message text (JSON when a structured mode was honoured).
        refusal: the model's refusal text, if it refused.
        finish_reason: ``stop``, ``length`` (cut at max tokens) and so on.
        prompt_tokens, completion_tokens: from the response's ``usage`` (0 when the server gives none).
        batch: answered through the OpenAI Batch API (billed at half price).
        error: why no answer came (after the client's retries): ``"<category>: <detail>"``; never cached.
        format_rejected: the server refused the request's ``response_format`` (the caller falls back).
    """

    content: str = ""
    refusal: str = ""
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch: bool = False
    error: str = ""
    format_rejected: bool = False

    def to_cache(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("error"), out.pop("format_rejected")
        return out

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> "Reply":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


OnReply = Callable[[int, Reply], None]


class ChatBackend(abc.ABC):
    """Sends chat requests to one kind of LLM.

    Attributes:
        name: the backend's name as params.yaml spells it (``llm.backend``).
        model: the model as priced in ``llm.openai.prices`` (a name, or a local path).
        formats: the structured-output modes it can be asked for, strongest first.
        max_tokens: the most tokens an answer may have.
        free: True when requests cost no API money (a local model).
        is_batch: True when answers come through the Batch API (billed at half price).
        probes_format: True when a server may refuse a ``response_format`` (the asker then tries one request
            before sending the rest).
    """

    name: str = ""
    model: str = ""
    max_tokens: int = 2048
    formats: tuple[str, ...] = FORMATS
    free: bool = False
    is_batch: bool = False
    probes_format: bool = False

    @abc.abstractmethod
    def body(self, messages: list[dict[str, str]], fmt: str, schema: dict[str, Any] | None) -> dict[str, Any]:
        """The request exactly as it will be sent; its hash (with :meth:`identity`) is the cache key."""

    def identity(self) -> dict[str, Any]:
        """What, besides the body, decides the answer (the backend and the endpoint); part of the key."""
        return {"backend": self.name}

    @abc.abstractmethod
    def complete(self, bodies: Sequence[dict[str, Any]], keys: Sequence[str], on_reply: OnReply,
                 desc: str = "") -> None:
        """Send ``bodies``; call ``on_reply(i, reply)`` for each as soon as its answer (or failure) is known,
        so the caller can store it before the next one arrives. ``keys[i]`` is the cache key of ``bodies[i]``
        (the Batch API uses it as ``custom_id``)."""

    def stats(self) -> dict[str, Any]:
        """What the engine itself measured this run (tokens evaluated, seconds); empty when nothing."""
        return {}

    def close(self) -> None:
        """Release connections and models."""
