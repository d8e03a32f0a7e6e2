"""Render the multi-attribute self-reflection prompt from its template files.

The templates live in ``syneg/llm/prompts/`` and are DVC dependencies of the ``synthesize`` stage, so editing
a prompt reruns exactly what it affects. Placeholders use ``$name`` (``string.Template``) so that JSON braces
in the text need no escaping.

Example:
    >>> from syneg.llm.prompt import render
    >>> text = render("a claim", "a document", {"domain": "Virology", "difficulty": "Intermediate",
    ...               "length": "approximately the same as"}, num_negatives=2)
    >>> text.startswith("Assume you are an expert in Virology")
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

PROMPTS = Path(__file__).parent / "prompts"
DEFAULT_DOMAIN = "the subject of the example"


def template(name: str) -> Template:
    path = PROMPTS / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"prompt template {path} not found; the templates are {sorted(PROMPTS.glob('*.md'))}")
    return Template(path.read_text(encoding="utf-8"))


def render(query: str, positive: str, attributes: dict[str, str], num_negatives: int) -> str:
    """The synthesis prompt for one instance; attributes missing from ``attributes`` are left out."""
    if "difficulty" in attributes or "length" in attributes:
        attr = template("attributes").substitute(
            difficult_level=attributes.get("difficulty", "any level"),
            length=attributes.get("length", "about the same as"),
        ).strip()
    else:
        attr = template("attributes_none").substitute().strip()
    example = json.dumps({"user_query": query, "positive_document": positive}, ensure_ascii=False)
    return template("synthesize").substitute(
        domain_name=attributes.get("domain", DEFAULT_DOMAIN),
        example=example,
        num_negatives=num_negatives,
        attributes_definition=attr,
    )
