"""Render the prompts from their Jinja2 template files.

The templates live in ``syneg/llm/prompts/``: ``synthesize.jinja2`` (the multi-attribute self-reflection
prompt, all five sections), ``synthesize_edit.jinja2`` (hard negatives by editing the positive into a different
study: ``synthesize.template: synthesize_edit``) and ``critique.jinja2`` (the reflect stage's critique and
revise). Every ``synthesize*`` template takes the same placeholders. Each is a DVC
dependency of exactly the stage that sends it, so editing a prompt reruns what it affects and nothing else.

Prompt variants are the paper's ablations: ``full``; ``no_attributes`` (no domain persona, difficulty or
length); ``no_attributes_no_reflection`` (also no reasoning section and no ``reasoning`` field).

Example:
    >>> text = render_synthesis("a claim", "a document", {"domain": "Virology", "difficulty": "Intermediate",
    ...                         "length": "approximately the same as"}, num_negatives=2)
    >>> text.startswith("[Task Definition]"), "Assume you are an expert in Virology" in text
    (True, True)
    >>> "[Reasoning Definition]" in render_synthesis("q", "d", {}, 2, variant="no_attributes_no_reflection")
    False
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jinja2
import jinja2.meta

from syneg.errors import UserError

PROMPTS = Path(__file__).parent / "prompts"
VARIANTS = {  # variant -> (attributes, reflection)
    "full": (True, True),
    "no_attributes": (False, True),
    "no_attributes_no_reflection": (False, False),
}


SYNTHESIS = {"attributes", "reflection", "example", "num_negatives", "domain_name", "difficult_level", "length",
             "positive_words", "target_words", "change", "worked_example"}
#: The names each template may use: exactly what its render function passes.
PLACEHOLDERS = {
    "synthesize": SYNTHESIS,
    "synthesize_edit": SYNTHESIS,
    "critique": {"attributes", "example", "domain_name", "difficult_level", "length", "positive_words",
                 "candidate_words", "revise"},
    "paraphrase": {"document"},
}


class PromptError(UserError):
    """A prompt template that is missing, not valid Jinja2, or uses a name its renderer does not pass."""


def _line_of(env: jinja2.Environment, source: str, name: str) -> int:
    for lineno, kind, value in env.lex(source):
        if kind == "name" and value == name:
            return lineno
    return 1


@functools.lru_cache(maxsize=None)
def template(name: str) -> jinja2.Template:
    """The template ``prompts/<name>.jinja2``, checked when loaded: a syntax error or a placeholder the renderer
    does not pass is a one-line :class:`PromptError` naming the file and line (rendering would otherwise fail
    on the first item, or, for a name inside a branch not taken, only on some items)."""
    path = PROMPTS / f"{name}.jinja2"
    if not path.is_file():
        raise PromptError(f"prompt template {path} not found; the templates are "
                          f"{sorted(p.name for p in PROMPTS.glob('*.jinja2'))}")
    source = path.read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    try:
        parsed = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        message = (exc.message or "syntax error").rstrip(".")
        raise PromptError(f"{path}:{exc.lineno}: {message}. Fix the template's Jinja2 syntax.") from None
    unknown = sorted(jinja2.meta.find_undeclared_variables(parsed) - PLACEHOLDERS.get(name, set()))
    if unknown:
        raise PromptError(f"{path}:{_line_of(env, source, unknown[0])}: unknown placeholder '{unknown[0]}'; this "
                          f"template may use {', '.join(sorted(PLACEHOLDERS.get(name, ())))}.")
    return env.from_string(source)


def check(*names: str) -> None:
    """Load (and so check) the templates ``names`` before a stage starts its work.

    Example:
        >>> check("synthesize", "critique", "paraphrase")
    """
    for name in names:
        template(name)


def variant_flags(variant: str) -> tuple[bool, bool]:
    """``(attributes, reflection)`` for a prompt variant; the error lists the variants."""
    if variant not in VARIANTS:
        raise ValueError(f"synthesize.prompt is '{variant}'; use one of {', '.join(VARIANTS)}.")
    return VARIANTS[variant]


def _example(query: str, positive: str) -> str:
    return json.dumps({"user_query": query, "positive_document": positive}, ensure_ascii=False)


def synthesis_templates() -> list[str]:
    """The names of the synthesis templates (``prompts/synthesize*.jinja2``)."""
    return sorted(p.stem for p in PROMPTS.glob("synthesize*.jinja2"))


def target_words(positive: str, max_words: int | None = None) -> int:
    """The words a synthetic negative is asked for: its positive's, at most ``max_words``."""
    words = len(positive.split())
    return min(words, max_words) if max_words else words


def render_synthesis(query: str, positive: str, attributes: dict[str, str], num_negatives: int,
                     variant: str = "full", name: str = "synthesize", max_words: int | None = None,
                     worked_example: bool = False) -> str:
    """The synthesis prompt for one request (``attributes``: domain, difficulty, length and, for the edit
    template, change), from the template ``name``."""
    use_attributes, reflection = variant_flags(variant)
    use_attributes = use_attributes and bool(attributes)
    return template(name).render(
        attributes=use_attributes, reflection=reflection, example=_example(query, positive),
        num_negatives=num_negatives, domain_name=attributes.get("domain", "the subject of the example"),
        difficult_level=attributes.get("difficulty", "any level"),
        length=attributes.get("length", "about the same as"), positive_words=len(positive.split()),
        target_words=target_words(positive, max_words), change=attributes.get("change", "the main finding"),
        worked_example=worked_example,
    ).strip() + "\n"


def render_critique(query: str, positive: str, candidate: str, attributes: dict[str, str], revise: bool = True) -> str:
    """The critique prompt for one candidate negative of an instance with ``attributes`` (may be empty);
    ``revise``: ask for a revised document with a "revise" verdict."""
    example = json.dumps({"user_query": query, "positive_document": positive, "candidate": candidate},
                         ensure_ascii=False)
    return template("critique").render(
        attributes=bool(attributes.get("difficulty") or attributes.get("length")), example=example,
        domain_name=attributes.get("domain", ""), difficult_level=attributes.get("difficulty", "any level"),
        length=attributes.get("length", "about the same as"), positive_words=len(positive.split()),
        candidate_words=len(candidate.split()), revise=revise,
    ).strip() + "\n"


def render_paraphrase(document: str) -> str:
    """The paraphrase prompt of reflect's labelled check: ``document`` rewritten, every finding kept."""
    return template("paraphrase").render(document=json.dumps(document, ensure_ascii=False)).strip() + "\n"
