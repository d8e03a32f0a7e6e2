"""Cost of LLM answers from the price table in params (``llm.openai.prices``, USD per million tokens).

Example:
    >>> p = Prices({"gpt-4o-mini": {"input": 0.15, "output": 0.60}})
    >>> p.cost("gpt-4o-mini-2024-07-18", prompt_tokens=1_000_000, completion_tokens=0, batch=True)
    0.075
"""

from __future__ import annotations

from typing import Any

BATCH_DISCOUNT = 0.5  # the OpenAI Batch API bills half the synchronous price


class Prices:
    """Look up a model's price; a dated variant (``gpt-4o-mini-2024-07-18``) takes its family's price."""

    def __init__(self, table: dict[str, dict[str, Any]] | None = None):
        self.table = {}
        for model, row in (table or {}).items():
            if not isinstance(row, dict) or set(row) - {"input", "output"}:
                raise ValueError(f"llm.openai.prices.{model} must be {{input: USD per 1M prompt tokens, "
                                 f"output: USD per 1M completion tokens}}; got {row!r}")
            self.table[model] = (float(row.get("input", 0.0)), float(row.get("output", 0.0)))

    def price(self, model: str) -> tuple[float, float] | None:
        if model in self.table:
            return self.table[model]
        family = [m for m in self.table if model.startswith(m)]
        return self.table[max(family, key=len)] if family else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float | None:
        """USD for one answer, or None when the table has no price for ``model``."""
        price = self.price(model)
        if price is None:
            return None
        usd = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
        return usd * BATCH_DISCOUNT if batch else usd
