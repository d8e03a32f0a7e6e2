"""Chat completions from any OpenAI-compatible endpoint (OpenAI, Azure-style, vLLM, Ollama, llama.cpp).

The key comes only from ``OPENAI_API_KEY``; it is never written to params, logs, the answer store or
metrics. Requests run concurrently under a bound (``runtime.openai.concurrency``); the ``openai`` client retries
408/409/429/5xx and connection errors with exponential backoff and honours ``Retry-After`` (up to two
minutes); ``timeout`` bounds each attempt. A failure left after the retries becomes a :class:`Reply` with its
reason, so no item is lost. A 400/422 that names the ``response_format`` marks the reply
``format_rejected`` and the caller falls back to a weaker mode.

Example (params.yaml, a vLLM server):
    llm:
      backend: openai
      openai: {base_url: "http://127.0.0.1:8000/v1", model: "Qwen/Qwen2.5-7B-Instruct"}
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from syneg.errors import UserError
from syneg.llm.base import ChatBackend, OnReply, Reply

KEY_ENV = "OPENAI_API_KEY"
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured output")
# Servers refuse a response_format they do not know with 400 or 422, some (llama-cpp-python's server) with a
# 500 whose body is the validation error.
_FORMAT_STATUS = (400, 422, 500)


class BackendError(UserError, RuntimeError):
    """The server cannot be used at all (no key, unreachable, key refused): one line, before any item is sent."""


def require_key() -> None:
    if not os.environ.get(KEY_ENV):
        raise BackendError(f"llm.backend is 'openai' but {KEY_ENV} is not set. Export it (any placeholder for a "
                           f"local server that ignores keys); keys never go in params.yaml.")


async def probe(client: Any, base_url: str | None) -> None:
    """One cheap request (``GET /models``) before the first item: a server that does not answer, or refuses
    the key, stops the stage with one line instead of failing every item after its retries. Any other answer
    (a 404 from a server without that route included) means the server is there."""
    import openai

    where = base_url or "https://api.openai.com/v1"
    try:
        await client.get("/models", cast_to=object, options={"max_retries": 0})
    except openai.APIConnectionError as exc:
        raise BackendError(f"llm.openai.base_url is {where}, which does not answer ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0]}); start the server or fix llm.openai.base_url.") from None
    except openai.AuthenticationError:
        raise BackendError(f"the server at {where} refused {KEY_ENV} (HTTP 401); export a key it accepts.") from None
    except openai.APIStatusError:
        pass


def reply_from_completion(resp: Any, batch: bool = False) -> Reply:
    """A :class:`Reply` from a ``ChatCompletion`` (object or dict, as the Batch API's output file has it)."""
    data = resp if isinstance(resp, dict) else resp.model_dump()
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = data.get("usage") or {}
    return Reply(content=message.get("content") or "", refusal=message.get("refusal") or "",
                 finish_reason=choice.get("finish_reason") or "",
                 prompt_tokens=int(usage.get("prompt_tokens") or 0),
                 completion_tokens=int(usage.get("completion_tokens") or 0), batch=batch)


def reply_from_error(exc: BaseException, timeout: float) -> Reply:
    """The failure reason for an exception the client raised after its retries."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return Reply(error=f"timeout: no answer within {timeout:g} s, after the client's retries")
    if isinstance(exc, openai.APIConnectionError):
        return Reply(error=f"connection: {exc}"[:300])
    if isinstance(exc, openai.APIStatusError):
        message = str(exc)
        rejected = exc.status_code in _FORMAT_STATUS and any(w in message.lower() for w in _FORMAT_WORDS)
        return Reply(error=f"http_{exc.status_code}: {message}"[:300], format_rejected=rejected)
    return Reply(error=f"{type(exc).__name__}: {exc}"[:300])


class OpenAIBackend(ChatBackend):
    """Synchronous-style chat completions with bounded concurrency.

    Args:
        model: the model name the server knows (and ``llm.openai.prices`` prices).
        base_url: the endpoint; ``None`` for api.openai.com.
        temperature, seed, max_tokens: sampling params, part of every request and so of every cache key.
        concurrency: requests in flight at once.
        timeout: seconds per attempt.
        max_retries: the client's retries on 408/409/429/5xx and connection errors.
    """

    name = "openai"
    probes_format = True

    def __init__(self, model: str = "gpt-4o-mini", base_url: str | None = None, temperature: float = 0.7,
                 seed: int | None = 42, max_tokens: int = 2048, concurrency: int = 16, timeout: float = 120.0,
                 max_retries: int = 4, api_key: str | None = None):
        if int(concurrency) < 1:
            raise ValueError(f"runtime.openai.concurrency is {concurrency}; use 1 or more.")
        self.model, self.base_url = model, base_url
        self.api_key = api_key  # only for a server this process started itself; users' keys: the environment
        self.temperature, self.seed, self.max_tokens = temperature, seed, int(max_tokens)
        self.concurrency, self.timeout, self.max_retries = int(concurrency), float(timeout), int(max_retries)

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.base_url or ""}

    def body(self, messages, fmt, schema):
        req: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                               "max_tokens": self.max_tokens}
        if self.seed is not None:
            req["seed"] = self.seed
        if fmt == "json_schema":
            req["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif fmt == "json_object_schema":
            # The JSON-mode extension of llama.cpp's servers (and others): JSON constrained to this schema.
            req["response_format"] = {"type": "json_object", "schema": schema["schema"]}
        elif fmt == "json_object":
            req["response_format"] = {"type": "json_object"}
        return req

    async def _run(self, bodies: Sequence[dict[str, Any]], on_reply: OnReply, desc: str,
                   observe: Callable[[dict[str, Any]], None] | None = None) -> None:
        from openai import AsyncOpenAI

        if self.api_key is None:
            require_key()  # here, not at construction: a warm-cache rerun or a dry run needs no key
        client = AsyncOpenAI(base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries,
                             api_key=self.api_key)
        try:
            await probe(client, self.base_url)
        except BaseException:
            await client.close()
            raise
        sem = asyncio.Semaphore(self.concurrency)
        bar = tqdm(total=len(bodies), desc=desc or "llm: openai", unit="req")

        async def one(j: int, body: dict[str, Any]) -> None:
            async with sem:
                try:
                    # The body is already the exact JSON to send: posting it skips the SDK's per-request
                    # walk of typed params (0.8 ms a request with a schema, the bottleneck at 300 req/s),
                    # keeping its retries, Retry-After, timeouts and errors.
                    raw = await client.post("/chat/completions", body=body, cast_to=object)
                    reply = reply_from_completion(raw)
                    if observe is not None and isinstance(raw, dict):
                        observe(raw)
                except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded reason
                    reply = reply_from_error(exc, self.timeout)
            on_reply(j, reply)
            bar.update(1)

        try:
            await asyncio.gather(*(one(j, b) for j, b in enumerate(bodies)))
        finally:
            bar.close()
            await client.close()

    def complete(self, bodies, keys, on_reply, desc="", observe=None):
        """As :meth:`ChatBackend.complete`; ``observe(raw)`` also sees each raw response (engine timings)."""
        asyncio.run(self._run(bodies, on_reply, desc, observe))
