"""Cheap text checks used by reflection: garbled text, near-copies, and text about the task instead of a document.

Example:
    >>> shingle_jaccard("the cat sat on the mat", "the cat sat on the mat")
    1.0
    >>> garbled("!!!! ???? ####", min_words=3)
    'garbled: 0% letters'
    >>> meta_text("The positive_document discusses statins, but this document does not address the query.")
    "meta-text: 'positive_document'"
    >>> meta_text("Statins lowered LDL cholesterol by 30% in 400 adults.")
    ''
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.U)


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def shingle_jaccard(a: str, b: str, n: int = 3) -> float:
    """Jaccard similarity of the word ``n``-gram sets of two texts (1.0 = same wording)."""
    sa, sb = shingles(a, n), shingles(b, n)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def garbled(text: str, min_words: int = 8, min_letter_share: float = 0.6, min_unique_share: float = 0.3) -> str:
    """A reason string when ``text`` is empty, too short, mostly non-letters or one word repeated; else ''."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    non_space = [c for c in stripped if not c.isspace()]
    letters = sum(c.isalpha() for c in non_space) / max(1, len(non_space))
    if letters < min_letter_share:
        return f"garbled: {letters:.0%} letters"
    words = _WORD.findall(stripped.lower())
    if len(words) < min_words:
        return f"too short: {len(words)} words"
    if len(set(words)) / len(words) < min_unique_share:
        return "garbled: repetitive"
    return ""


#: Words of the task, not of a document: an answer holding one writes about the prompt (``The positive_document
#: discusses ...``, ``This document does not address the query``) instead of being a document.
META = re.compile(
    r"\b(positive[ _]document|user[ _]query|hard[ _-]negatives?|negative documents?"
    r"|the (?:given|provided|original|positive|example) (?:document|abstract|passage|query|claim)"
    r"|(?:this|the) (?:document|passage|text) (?:does not|doesn't|is not|isn't) (?:address|answer|discuss|relate|support)"
    r"|(?:does|do) not (?:answer|address) the (?:query|question|claim))\b", re.I)


def meta_text(text: str) -> str:
    """A reason when ``text`` talks about the task (the query, the positive, hard negatives) rather than being
    a document; else ''."""
    found = META.search(text)
    return f"meta-text: '{found.group(0)}'" if found else ""
