"""How far below its positive's score a negative must stay: one rule for mining, reflection and diagnostics.

Example:
    >>> round(relative_threshold(0.8, 0.05), 4), round(relative_threshold(-0.2, 0.05), 4)
    (0.76, -0.21)
"""

from __future__ import annotations


def relative_threshold(positive_score, relative_margin: float):
    """``positive - |positive| * relative_margin``: a negative scoring above it is too close to the positive.

    Below the positive whatever its sign; ``(1 - margin) * positive`` lies *above* a negative positive score
    and filters nothing, which is why sentence-transformers' ``mine_hard_negatives`` moved to this form.
    Works on floats and numpy / pandas arrays alike.
    """
    return positive_score - abs(positive_score) * relative_margin
