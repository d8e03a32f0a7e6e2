"""Seeded per-instance sampling of the prompt's attributes (domain, difficulty, length)."""

from __future__ import annotations

import random
from typing import Sequence

ATTRIBUTES = ("domain", "difficulty", "length")


def sample(lists: dict[str, Sequence[str]], seed: int, query_id: str, pos_id: str) -> dict[str, str]:
    """Choose one value per attribute for the instance ``(query_id, pos_id)``.

    The choice depends only on the seed and the instance ids, never on the order instances are visited, so
    a subset of the data gets the same attributes as the full run.

    Example:
        >>> sample({"domain": ["Virology", "Pharmacology"]}, 42, "q1", "d1") == sample(
        ...     {"domain": ["Virology", "Pharmacology"]}, 42, "q1", "d1")
        True
    """
    rng = random.Random(f"{seed}\0{query_id}\0{pos_id}")
    out = {}
    for name in ATTRIBUTES:
        values = list(lists.get(name) or [])
        if values:
            out[name] = values[rng.randrange(len(values))]
    return out
