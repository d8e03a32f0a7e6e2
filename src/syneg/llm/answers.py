"""Parse and validate an LLM's JSON answer (pydantic), tolerating servers that wrap it in prose or fences."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, Field, ValidationError, field_validator


class SynthesisAnswer(BaseModel):
    """The answer the synthesis prompt's [Format Definition] asks for."""

    reasoning: str = ""
    hard_negatives: list[str] = Field(min_length=1)

    @field_validator("hard_negatives")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if any(not isinstance(v, str) or not v.strip() for v in value):
            raise ValueError("every hard negative must be a non-empty string")
        return [v.strip() for v in value]


class AnswerError(ValueError):
    """The answer could not be read as the JSON the prompt asks for; the message says why."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_synthesis(content: str | None) -> SynthesisAnswer:
    """Read a :class:`SynthesisAnswer` from a model's reply.

    Example:
        >>> parse_synthesis('```json\\n{"reasoning": "r", "hard_negatives": ["a"]}\\n```').hard_negatives
        ['a']
    """
    if not content or not content.strip():
        raise AnswerError("empty answer")
    text = content.strip()
    m = _FENCE.search(text)
    if m:
        text = m.group(1).strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise AnswerError("no JSON object in the answer")
        try:
            obj = json.loads(text[start:end + 1])
        except json.JSONDecodeError as exc:
            raise AnswerError(f"malformed JSON ({exc.msg})")
    if not isinstance(obj, dict):
        raise AnswerError(f"a JSON {type(obj).__name__}, expected an object")
    try:
        return SynthesisAnswer.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AnswerError(f"breaks the schema at {'.'.join(map(str, first['loc'])) or 'top'}: {first['msg']}")
