"""Cheap text checks used by reflection: garbled text and near-copies.

Example:
    >>> shingle_jaccard("the cat sat on the mat", "the cat sat on the mat")
    1.0
    >>> garbled("!!!! ???? ####", min_words=3)
    'garbled: 0% letters'
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
