"""A local GGUF model through llama.cpp: the pipeline's default LLM, no network, no key, no cost.

Two ways to run the same model, chosen by ``runtime.llamacpp.mode``; both send the same request bodies, so they
share cache keys and each replays the other's stored answers:

- ``in_process``: llama-cpp-python's ``Llama.create_chat_completion``, one request at a time. llama-cpp-python
  keeps the previous request's evaluated tokens and evaluates only what follows the longest shared prefix, so
  the prompts put their fixed instructions first.
- ``server``: llama.cpp's own ``llama-server`` started on a free local port with ``parallel`` slots
  (continuous batching: several sequences share each pass over the weights, which on a memory-bound CPU
  decoder raises the tokens per second), driven through the ``openai`` client like any other endpoint, and
  stopped when the stage closes. Its binary is ``server_binary``, else ``llama-server`` on ``PATH``, else the
  one :mod:`syneg.llm.llama_server` builds into the cache folder.

Structured output is a grammar: ``response_format: {"type": "json_object", "schema": ...}`` constrains
decoding to the answer's JSON schema in both modes. The cache key is the request body plus the model file's
sha256 (:func:`syneg.llm.gguf.model_sha256`), never its path, so a stored answer replays on any machine and
never outlives the weights that wrote it. Nothing is loaded, fetched or started until a request misses the
answer store.

Speed knobs of the server (``runtime.llamacpp``, never in a cache key): ``speculative: draft`` decodes with a
small draft model of the same tokenizer (``draft_model``, the 0.5B Qwen2.5-Coder by default; ``draft_max``
tokens drafted per step) that the target model verifies; ``speculative: ngram`` drafts from n-grams of the text
so far (prompt lookup: no second model); ``batch_size`` / ``ubatch_size`` are llama.cpp's logical and physical
prompt batch. A knob this engine cannot honour (speculation in process, a draft whose vocabulary differs) is a
one-line error naming it and the fallback, before any request.

``n_threads: auto`` takes the cores that are idle when the model loads (llama.cpp's threads spin while they
wait, so a thread on a busy core slows every other one: two threads on a 2-core machine busy with anything
else fell below 1 token/s). ``n_gpu_layers: auto`` puts every layer on the GPU when llama.cpp was built with
GPU support, else none.

Example (params.yaml):
    llm:
      backend: llamacpp
      llamacpp: {model: qwen2.5-coder-1.5b-instruct-q4_k_m}
    runtime:
      llamacpp: {mode: server, parallel: 4}   # speed only: same answers, same cache keys

Example (Python; building the backend loads nothing):
    >>> b = LlamaCppBackend("qwen2.5-coder-1.5b-instruct-q4_k_m", temperature=0.7, seed=42, max_tokens=512)
    >>> b.identity()["model_sha256"][:12]
    'cc324af070c2'
    >>> sorted(b.body([{"role": "user", "content": "hi"}], "json_schema", {"schema": {"type": "object"}}))
    ['max_tokens', 'messages', 'min_p', 'repeat_penalty', 'response_format', 'seed', 'temperature', 'top_k', 'top_p']
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from tqdm.auto import tqdm

from syneg.llm.base import ChatBackend, Reply
from syneg.llm.gguf import model_sha256, resolve

log = logging.getLogger(__name__)

MODES = ("server", "in_process")
SPECULATIVE = ("none", "draft", "ngram")
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
DEFAULT_DRAFT = "qwen2.5-coder-0.5b-instruct-q4"
#: llama-server's speculative decoding types for each ``runtime.llamacpp.speculative``.
SPEC_TYPES = {"draft": "draft-simple", "ngram": "ngram-simple"}


def same_vocabulary(target, draft) -> str | None:
    """Why two GGUF files cannot be target and draft of speculative decoding (their tokenizers differ), or None.

    Loads the vocabularies only (no weights): the token count and every token's text must be equal."""
    from llama_cpp import Llama

    vocab = [Llama(model_path=str(path), vocab_only=True, verbose=False) for path in (target, draft)]
    sizes = [v.n_vocab() for v in vocab]
    if sizes[0] != sizes[1]:
        return f"{sizes[1]} tokens against the target's {sizes[0]}"
    for i in range(sizes[0]):
        if vocab[0].detokenize([i]) != vocab[1].detokenize([i]):
            return f"token {i} is {vocab[1].detokenize([i])!r} against the target's {vocab[0].detokenize([i])!r}"
    return None


def free_cores(sample_seconds: float = 0.5) -> int:
    """Cores idle right now (measured from /proc/stat over ``sample_seconds``), at least 1."""
    total = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def snap() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:]]
        return vals[3] + vals[4], sum(vals)  # idle + iowait, all

    try:
        idle0, all0 = snap()
        time.sleep(sample_seconds)
        idle1, all1 = snap()
    except OSError:
        return total
    busy = (1 - (idle1 - idle0) / max(1, all1 - all0)) * (os.cpu_count() or total)
    return max(1, min(total, int(total - busy + 0.5)))


def threads(n_threads: int | str) -> int:
    if n_threads in ("auto", None, 0):
        n = free_cores()
        log.info("runtime.llamacpp.n_threads auto: %d idle core(s)", n)
        return n
    if int(n_threads) < 1:
        raise ValueError(f"runtime.llamacpp.n_threads is {n_threads}; use auto or 1 or more.")
    return int(n_threads)


def gpu_layers(n_gpu_layers: int | str) -> int:
    if n_gpu_layers == "auto":
        import llama_cpp

        return -1 if llama_cpp.llama_supports_gpu_offload() else 0
    return int(n_gpu_layers)


class LlamaCppBackend(ChatBackend):
    """A GGUF model run by llama.cpp, in process or as a local ``llama-server`` (see the module docstring).

    Args:
        model: a name from :data:`syneg.llm.gguf.MODELS`, a ``.gguf`` path, or ``hf:<repo>/<file>``.
        sha256: the file's checksum when it cannot be known otherwise (``hf:``); checked against the file.
        mode: ``server`` (parallel slots) or ``in_process``.
        n_threads: CPU threads, or ``auto`` (the idle cores).
        n_ctx: context length per sequence (prompt + answer).
        n_gpu_layers: layers offloaded to a GPU, ``-1`` all, or ``auto``.
        parallel: server slots (requests decoded together).
        server_binary: path of ``llama-server``; ``None`` finds or builds it.
        speculative: ``none``, ``draft`` (a draft model) or ``ngram`` (prompt lookup); server mode only.
        draft_model: the draft model for ``speculative: draft`` (a listed name or a ``.gguf`` path).
        draft_max: tokens drafted per step.
        batch_size, ubatch_size: llama.cpp's logical and physical batch (server mode).
        timeout: seconds per request (server mode).
        temperature, seed, max_tokens, top_p, top_k, min_p, repeat_penalty: sampling, in every request body.
    """

    name = "llamacpp"
    formats = ("json_schema", "json_object", "text")
    free = True

    def __init__(self, model: str = DEFAULT_MODEL, sha256: str | None = None, mode: str = "server",
                 n_threads: int | str = "auto", n_ctx: int = 4096, n_gpu_layers: int | str = "auto",
                 parallel: int = 4, server_binary: str | None = None, timeout: float = 1800.0,
                 speculative: str = "none", draft_model: str | None = None, draft_max: int = 8,
                 batch_size: int = 2048, ubatch_size: int = 512,
                 temperature: float = 0.7, seed: int | None = 42, max_tokens: int = 2048, top_p: float = 0.95,
                 top_k: int = 40, min_p: float = 0.05, repeat_penalty: float = 1.0):
        if mode not in MODES:
            raise ValueError(f"runtime.llamacpp.mode is '{mode}'; use {' or '.join(MODES)}.")
        if int(parallel) < 1:
            raise ValueError(f"runtime.llamacpp.parallel is {parallel}; use 1 or more.")
        if int(n_ctx) < 256:
            raise ValueError(f"llm.llamacpp.n_ctx is {n_ctx}; use at least 256 (prompt plus answer).")
        if speculative not in SPECULATIVE:
            raise ValueError(f"runtime.llamacpp.speculative is '{speculative}'; use {', '.join(SPECULATIVE)}.")
        if speculative != "none" and mode != "server":
            raise ValueError(f"runtime.llamacpp.speculative is '{speculative}', which only mode: server does; set "
                             f"runtime.llamacpp.mode: server, or speculative: none to decode without it.")
        for knob, value in (("draft_max", draft_max), ("batch_size", batch_size), ("ubatch_size", ubatch_size)):
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"runtime.llamacpp.{knob} is {value!r}; use a whole number >= 1.")
        if ubatch_size > batch_size:
            raise ValueError(f"runtime.llamacpp.ubatch_size is {ubatch_size}, larger than batch_size {batch_size}; "
                             f"the physical batch cannot exceed the logical one: lower ubatch_size.")
        self.speculative, self.draft_model = speculative, draft_model or DEFAULT_DRAFT
        self.draft_max, self.batch_size, self.ubatch_size = draft_max, batch_size, ubatch_size
        self.model, self.pinned, self.mode = str(model), sha256, mode
        self.n_threads, self.n_ctx, self.n_gpu_layers = n_threads, int(n_ctx), n_gpu_layers
        self.parallel, self.server_binary, self.timeout = int(parallel), server_binary, float(timeout)
        self.sampling = {"temperature": float(temperature), "seed": seed, "max_tokens": int(max_tokens),
                         "top_p": float(top_p), "top_k": int(top_k), "min_p": float(min_p),
                         "repeat_penalty": float(repeat_penalty)}
        self.max_tokens = int(max_tokens)
        self._sha: str | None = None
        self._llm: Any = None
        self._server: Any = None
        self.engine: dict[str, float] = {"prompt_tokens_evaluated": 0, "prompt_tokens_reused": 0,
                                         "completion_tokens": 0, "prompt_seconds": 0.0, "generation_seconds": 0.0,
                                         "wall_seconds": 0.0}

    def identity(self) -> dict[str, Any]:
        if self._sha is None:
            self._sha = model_sha256(self.model, self.pinned)
        return {"backend": self.name, "model_sha256": self._sha}

    def body(self, messages, fmt, schema):
        req: dict[str, Any] = {"messages": messages, **self.sampling}
        if fmt == "json_schema":
            # The form both llama-cpp-python and llama-server turn into a grammar for this schema.
            req["response_format"] = {"type": "json_object", "schema": (schema or {}).get("schema", schema)}
        elif fmt == "json_object":
            req["response_format"] = {"type": "json_object"}
        return req

    # -- in process ---------------------------------------------------------------------------------------
    def _load(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            path = resolve(self.model, self.pinned)
            n_threads = threads(self.n_threads)
            log.info("loading %s (%d threads, n_ctx %d)", path, n_threads, self.n_ctx)
            self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=n_threads,
                              n_threads_batch=n_threads, n_gpu_layers=gpu_layers(self.n_gpu_layers),
                              seed=self.sampling["seed"] or 0, verbose=False)
        return self._llm

    def _perf(self) -> tuple[float, float, int, int]:
        import llama_cpp

        p = llama_cpp.llama_perf_context(self._llm._ctx.ctx)
        return p.t_p_eval_ms, p.t_eval_ms, p.n_p_eval, p.n_eval

    def _complete_in_process(self, bodies, on_reply, desc) -> None:
        from syneg.llm.openai_backend import reply_from_completion

        llm = self._load()
        bar = tqdm(total=len(bodies), desc=desc or "llm: llamacpp", unit="req")
        try:
            for j, body in enumerate(bodies):
                before = self._perf()
                try:
                    reply = reply_from_completion(llm.create_chat_completion(**body))
                except Exception as exc:  # noqa: BLE001 - a failed generation is this request's failure
                    reply = Reply(error=f"generation: {type(exc).__name__}: {exc}"[:300])
                after = self._perf()
                evaluated = after[2] - before[2]
                self.engine["prompt_seconds"] += (after[0] - before[0]) / 1000
                self.engine["generation_seconds"] += (after[1] - before[1]) / 1000
                self.engine["prompt_tokens_evaluated"] += evaluated
                self.engine["prompt_tokens_reused"] += max(0, reply.prompt_tokens - evaluated)
                self.engine["completion_tokens"] += reply.completion_tokens
                on_reply(j, reply)
                bar.update(1)
        finally:
            bar.close()

    # -- server -------------------------------------------------------------------------------------------
    def server_args(self, target, n_threads: int) -> list[str]:
        """llama-server's flags for the batch sizes and speculative decoding; a draft model whose tokenizer
        is not the target's is a one-line error (``ServerError``) before the server starts."""
        from syneg.llm.llama_server import ServerError

        args = ["--batch-size", str(self.batch_size), "--ubatch-size", str(self.ubatch_size)]
        if self.speculative == "none":
            return args
        args += ["--spec-type", SPEC_TYPES[self.speculative]]
        if self.speculative == "draft":
            draft = resolve(self.draft_model, None)
            why = same_vocabulary(target, draft)
            if why:
                raise ServerError(f"runtime.llamacpp.draft_model {self.draft_model}: its vocabulary differs from "
                                  f"llm.llamacpp.model's ({why}); speculative decoding needs the same tokenizer: use "
                                  f"a draft of the same family, or runtime.llamacpp.speculative: none.")
            args += ["--model-draft", str(draft), "--spec-draft-n-max", str(self.draft_max),
                     "--threads-draft", str(n_threads), "--n-gpu-layers-draft", str(gpu_layers(self.n_gpu_layers))]
        else:
            args += ["--spec-ngram-simple-size-m", str(self.draft_max)]
        return args

    def _complete_server(self, bodies, on_reply, desc) -> None:
        from syneg.llm.llama_server import LlamaServer
        from syneg.llm.openai_backend import OpenAIBackend

        if self._server is None:
            target = resolve(self.model, self.pinned)  # a wrong file fails before anything is logged
            n_threads = threads(self.n_threads)
            self._server = LlamaServer(target, n_threads=n_threads, n_ctx=self.n_ctx, parallel=self.parallel,
                                       n_gpu_layers=gpu_layers(self.n_gpu_layers), binary=self.server_binary,
                                       extra_args=self.server_args(target, n_threads))
            self._server.start()
        client = OpenAIBackend(model="local", base_url=self._server.base_url, concurrency=self.parallel,
                               timeout=self.timeout, max_retries=1, api_key="local")

        def observe(raw: dict[str, Any]) -> None:
            t = raw.get("timings") or {}
            self.engine["draft_tokens"] = self.engine.get("draft_tokens", 0) + int(t.get("draft_n") or 0)
            self.engine["draft_tokens_accepted"] = (self.engine.get("draft_tokens_accepted", 0)
                                                    + int(t.get("draft_n_accepted") or 0))
            self.engine["prompt_tokens_evaluated"] += int(t.get("prompt_n") or 0)
            self.engine["prompt_tokens_reused"] += int(t.get("cache_n") or 0)
            self.engine["completion_tokens"] += int(t.get("predicted_n") or 0)
            self.engine["prompt_seconds"] += float(t.get("prompt_ms") or 0) / 1000
            self.engine["generation_seconds"] += float(t.get("predicted_ms") or 0) / 1000

        client.complete([{"model": "local", **b} for b in bodies], [""] * len(bodies), on_reply,
                        desc=desc or "llm: llama-server", observe=observe)

    def complete(self, bodies, keys, on_reply, desc=""):
        if not bodies:
            return
        start = time.perf_counter()
        try:
            if self.mode == "server":
                self._complete_server(bodies, on_reply, desc)
            else:
                self._complete_in_process(bodies, on_reply, desc)
        finally:
            self.engine["wall_seconds"] += time.perf_counter() - start

    def stats(self) -> dict[str, Any]:
        """What the engine did this run: tokens evaluated and reused, seconds, generated tokens per second."""
        e = self.engine
        if not e["wall_seconds"]:
            return {}  # nothing was asked: the model was never loaded
        out: dict[str, Any] = {"mode": self.mode, **{k: round(v, 3) if isinstance(v, float) else int(v)
                                                      for k, v in e.items()}}
        if e["wall_seconds"]:
            out["completion_tokens_per_second"] = round(e["completion_tokens"] / e["wall_seconds"], 3)
        return out

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None
