"""Synthetic negatives from any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp) via ``openai``.

The key comes only from ``OPENAI_API_KEY``; it is never written to params, logs, the cache or metrics.
Requests run concurrently under a bound, the client retries 408/409/429/5xx with backoff, every answer is
stored in :class:`~syneg.llm.cache.AnswerCache` the moment it arrives, and an invalid answer is asked again
a bounded number of times.

Example (params.yaml):
    synthesize:
      backend: openai
      openai: {base_url: "http://127.0.0.1:8000/v1", model: "Qwen/Qwen2.5-7B-Instruct"}
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any, Sequence

from tqdm.auto import tqdm

from syneg.llm.answers import AnswerError, parse_synthesis
from syneg.llm.base import Generator, SynthesisItem, SynthesisResult
from syneg.llm.cache import AnswerCache, request_key
from syneg.llm.prompt import render

KEY_ENV = "OPENAI_API_KEY"


class OpenAIGenerator(Generator):
    """Chat-completions backend.

    Args:
        model: the model name the server knows.
        base_url: the endpoint (``null`` for OpenAI itself).
        temperature, seed, max_tokens: sampling params, part of every cache key.
        concurrency: requests in flight at once.
        timeout: seconds per request.
        max_retries: the client's retries on 408/409/429/5xx and connection errors.
        max_reasks: extra requests after an answer that is not the asked-for JSON.
        response_format: ``json_object`` or ``text`` (for servers without JSON mode).
        cache_path: the answer store (a persistent DVC output; the stage passes the path from dvc.yaml).
    """

    name = "openai"

    def __init__(self, model: str = "gpt-4o-mini", base_url: str | None = None, temperature: float = 0.7,
                 seed: int | None = 42, max_tokens: int = 2048, concurrency: int = 16, timeout: float = 120.0,
                 max_retries: int = 4, max_reasks: int = 1, response_format: str = "json_object",
                 cache_path: str = "data/llm_cache/answers.sqlite"):
        if not os.environ.get(KEY_ENV):
            raise RuntimeError(
                f"synthesize.backend is 'openai' but {KEY_ENV} is not set. Export it "
                f"(any placeholder for a local server that ignores keys); keys never go in params.yaml."
            )
        if response_format not in ("json_object", "text"):
            raise ValueError(f"synthesize.openai.response_format is '{response_format}'; use json_object or text.")
        self.model, self.base_url = model, base_url
        self.temperature, self.seed, self.max_tokens = temperature, seed, max_tokens
        self.concurrency, self.timeout, self.max_retries = int(concurrency), float(timeout), int(max_retries)
        self.max_reasks, self.response_format = int(max_reasks), response_format
        self.cache = AnswerCache(cache_path)
        self.counts: Counter[str] = Counter()

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        req: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                               "max_tokens": self.max_tokens}
        if self.seed is not None:
            req["seed"] = self.seed
        if self.response_format == "json_object":
            req["response_format"] = {"type": "json_object"}
        return req

    async def _call(self, client, req: dict[str, Any], sem: asyncio.Semaphore) -> dict[str, Any]:
        key = request_key({"backend": self.name, "base_url": self.base_url or "", **req})
        hit = self.cache.get(key)
        if hit is not None:
            self.counts["cache_hits"] += 1
            return hit
        async with sem:
            resp = await client.chat.completions.create(**req)
        self.counts["requests"] += 1
        choice = resp.choices[0]
        usage = resp.usage
        answer = {
            "content": choice.message.content or "",
            "refusal": getattr(choice.message, "refusal", None) or "",
            "finish_reason": choice.finish_reason or "",
            "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        }
        self.counts["prompt_tokens"] += answer["prompt_tokens"]
        self.counts["completion_tokens"] += answer["completion_tokens"]
        self.cache.put(key, req, answer)
        return answer

    async def _one(self, client, item: SynthesisItem, n: int, sem: asyncio.Semaphore) -> SynthesisResult:
        messages = [{"role": "user", "content": render(item.query, item.positive, item.attributes, n)}]
        error = ""
        for attempt in range(self.max_reasks + 1):
            try:
                answer = await self._call(client, self._request(messages), sem)
            except Exception as exc:  # the client has already retried what is retryable
                return SynthesisResult([], error=f"request failed: {type(exc).__name__}: {exc}"[:300])
            if answer["refusal"]:
                return SynthesisResult([], error=f"refused: {answer['refusal'][:200]}")
            try:
                parsed = parse_synthesis(answer["content"])
                return SynthesisResult(parsed.hard_negatives[:n], reasoning=parsed.reasoning)
            except AnswerError as exc:
                error = f"invalid answer: {exc}"
                messages = messages[:1] + [
                    {"role": "assistant", "content": answer["content"]},
                    {"role": "user", "content": f"That answer is not valid ({exc}). Reply with only the JSON "
                                                f"object the [Format Definition] asks for."},
                ]
        return SynthesisResult([], error=error)

    async def _run(self, items: Sequence[SynthesisItem], n: int) -> list[SynthesisResult]:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries)
        sem = asyncio.Semaphore(self.concurrency)
        bar = tqdm(total=len(items), desc="synthesize: openai", unit="item")

        async def tracked(item):
            res = await self._one(client, item, n, sem)
            bar.update(1)
            return res

        try:
            return await asyncio.gather(*(tracked(i) for i in items))
        finally:
            bar.close()
            await client.close()

    def generate(self, items: Sequence[SynthesisItem], num_negatives: int) -> list[SynthesisResult]:
        results = asyncio.run(self._run(items, num_negatives))
        for r in results:
            if r.error:
                self.counts["failed:" + r.error.split(":")[0]] += 1
        return results

    def stats(self) -> dict[str, Any]:
        out = {k: int(v) for k, v in self.counts.items()}
        out.setdefault("requests", 0)
        out.setdefault("cache_hits", 0)
        return out

    def close(self) -> None:
        self.cache.close()
