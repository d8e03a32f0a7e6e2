"""Seeded per-instance sampling of the prompt's attributes (domain, difficulty, length)."""

from __future__ import annotations

import random
from typing import Sequence

ATTRIBUTES = ("domain", "difficulty", "length", "change")


def sample(lists: dict[str, Sequence[str]], seed: int, query_id: str, pos_id: str, request: int = 0) -> dict[str, str]:
    """Choose one value per attribute for the instance ``(query_id, pos_id)``, for its ``request``-th request
    (when a pair's negatives are asked one request at a time, each request gets its own attributes).

    The choice depends only on the seed, the instance ids and the request, never on the order instances are
    visited, so a subset of the data gets the same attributes as the full run. Request 0 draws as a pair's only
    request always has, and ``change`` (the edit template's attribute) is drawn after the paper's three, so
    their values do not move when a ``change`` list is added.

    Example:
        >>> sample({"domain": ["Virology", "Pharmacology"]}, 42, "q1", "d1") == sample(
        ...     {"domain": ["Virology", "Pharmacology"]}, 42, "q1", "d1")
        True
    """
    rng = random.Random(f"{seed}\0{query_id}\0{pos_id}" + (f"\0{request}" if request else ""))
    out = {}
    for name in ATTRIBUTES:
        values = list(lists.get(name) or [])
        if values:
            out[name] = values[rng.randrange(len(values))]
    return out
