"""The answers the prompts ask for: pydantic models, their strict JSON schemas, and a tolerant parser.

A server may honour the schema (``json_schema``), only promise JSON (``json_object``), or return prose with
JSON inside (``text``); :func:`parse` reads all three and validates against the same pydantic model, so the
rest of the pipeline never sees an unchecked answer.

Example:
    >>> spec = synthesis_spec(num_negatives=2, reasoning=True)
    >>> parse('```json\\n{"reasoning": "r", "hard_negatives": ["a b", "c d"]}\\n```', spec).hard_negatives
    ['a b', 'c d']
    >>> spec.json_schema["schema"]["required"]
    ['reasoning', 'hard_negatives']
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, field_validator, model_validator


class SynthesisAnswer(BaseModel):
    """The synthesis prompt's [Format Definition]: the reasoning first, then the negatives."""

    reasoning: str = ""
    hard_negatives: list[str]

    @field_validator("hard_negatives")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the list of hard negatives is empty")
        if any(not isinstance(v, str) or not v.strip() for v in value):
            raise ValueError("every hard negative must be a non-empty string")
        return [v.strip() for v in value]


class CritiqueJudgment(BaseModel):
    """The critique prompt's answer: three judgments, a verdict and its reason."""

    answers_query: bool
    on_topic: bool
    keeps_attributes: bool
    verdict: Literal["keep", "revise", "drop"]
    reason: str
    revised_document: str = ""


class CritiqueAnswer(CritiqueJudgment):
    """The critique prompt's answer when revisions are asked for: a verdict "revise" brings the revision."""

    @model_validator(mode="after")
    def _revision_present(self) -> "CritiqueAnswer":
        if self.verdict == "revise" and not self.revised_document.strip():
            raise ValueError("verdict 'revise' needs a non-empty revised_document")
        return self


class ParaphraseAnswer(BaseModel):
    """The paraphrase prompt's answer (reflect's labelled check)."""

    paraphrase: str

    @field_validator("paraphrase")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the paraphrase is empty")
        return value.strip()


@dataclass(frozen=True)
class AnswerSpec:
    """A pydantic model with the strict JSON schema sent as ``response_format`` for it."""

    model: type[BaseModel]
    json_schema: dict[str, Any]


def _strict(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    # OpenAI's strict mode wants every property required and no others allowed.
    return {"name": name, "strict": True, "schema": {
        "type": "object", "properties": properties, "required": list(properties),
        "additionalProperties": False}}


def synthesis_spec(num_negatives: int, reasoning: bool = True) -> AnswerSpec:
    """The answer of the synthesis prompt; ``reasoning=False`` for the no-reflection ablation."""
    props: dict[str, Any] = {"reasoning": {"type": "string"}} if reasoning else {}
    props["hard_negatives"] = {"type": "array", "items": {"type": "string"},
                               "minItems": num_negatives, "maxItems": num_negatives}
    return AnswerSpec(SynthesisAnswer, _strict("hard_negatives", props))


def critique_spec(revise: bool = True) -> AnswerSpec:
    """The critique's answer. The judgments come first, so that they are made before any wandering reason;
    ``revise=False`` leaves out the revised document (a verdict "revise" then keeps the candidate as it is)."""
    props: dict[str, Any] = {
        "answers_query": {"type": "boolean"},
        "on_topic": {"type": "boolean"},
        "keeps_attributes": {"type": "boolean"},
        "verdict": {"type": "string", "enum": ["keep", "revise", "drop"]},
        "reason": {"type": "string"},
    }
    if revise:
        props["revised_document"] = {"type": "string"}
    return AnswerSpec(CritiqueAnswer if revise else CritiqueJudgment, _strict("critique", props))


class AnswerError(ValueError):
    """The answer is not the asked-for JSON. ``kind`` is ``empty``, ``malformed_json`` or ``schema``."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _json_object(content: str | None) -> Any:
    if not content or not content.strip():
        raise AnswerError("empty", "the answer has no text")
    text = content.strip()
    m = _FENCE.search(text)
    if m:
        text = m.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise AnswerError("malformed_json", "no JSON object in the answer") from None
        try:
            return json.loads(text[start:end + 1])
        except json.JSONDecodeError as exc:
            raise AnswerError("malformed_json", f"{exc.msg} at character {exc.pos}") from None


def parse(content: str | None, spec: AnswerSpec) -> BaseModel:
    """Read ``spec.model`` from a reply, whether plain JSON, fenced, or JSON inside prose."""
    obj = _json_object(content)
    if not isinstance(obj, dict):
        raise AnswerError("schema", f"a JSON {type(obj).__name__}, expected an object")
    try:
        return spec.model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "top level"
        raise AnswerError("schema", f"{where}: {first['msg']}") from None

PARAPHRASE_SPEC = AnswerSpec(ParaphraseAnswer, _strict("paraphrase", {"paraphrase": {"type": "string"}}))

CRITIQUE_SPEC = critique_spec(revise=True)
