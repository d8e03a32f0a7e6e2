"""The ``llm`` section of params.yaml and the backend it names.

Both LLM stages (``synthesize`` writes negatives, ``reflect`` critiques them) ask the same LLM, so its
settings live in one section that both stages list in dvc.yaml. Keys never live here: ``OPENAI_API_KEY``
comes from the environment.

Example:
    >>> cfg = LLMConfig()
    >>> cfg.backend, cfg.is_llm
    ('llamacpp', True)
    >>> LLMConfig(backend="offline").is_llm
    False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syneg.llm.asking import Asker
from syneg.llm.base import FORMATS, ChatBackend
from syneg.llm.cache import AnswerCache
from syneg.llm.pricing import Prices

BACKENDS = ("llamacpp", "offline", "openai", "transformers")
#: The ``llm`` keys an LLM stage's answers depend on: the sampling, and the section of the backend in use.
LLM_KEYS = ("llm.backend", "llm.response_format", "llm.max_reasks", "llm.temperature", "llm.seed", "llm.max_tokens",
            "llm.max_failed_share", "llm.${llm.backend}")
#: Per backend, the keys of ``llm.<backend>`` (they shape answers or their cost: stages declare them) and of
#: ``runtime.<backend>`` (speed only: no stage declares them, changing one reruns nothing).
KEYS = {
    "llamacpp": {"model", "sha256", "n_ctx", "top_p", "top_k", "min_p", "repeat_penalty"},
    "openai": {"model", "base_url", "mode", "prices"},
    "transformers": {"path", "device", "dtype"},
    "offline": {"max_overlap"},
}
RUNTIME_KEYS = {
    "llamacpp": {"mode", "n_threads", "n_gpu_layers", "parallel", "server_binary", "timeout", "speculative",
                 "draft_model", "draft_max", "batch_size", "ubatch_size"},
    "openai": {"concurrency", "timeout", "max_retries", "batch_poll_seconds", "batch_max_wait_hours",
               "batch_max_requests"},
    "transformers": {"batch_size"},
    "offline": set(),
}


@dataclass
class LLMConfig:
    """The ``llm`` section, with the ``runtime`` knobs of its backend.

    Attributes:
        backend: ``llamacpp`` (a local GGUF model through llama.cpp, the default), ``offline`` (the no-LLM
            STAND-IN; synthesis by rules, no critique; for tests), ``openai`` (any OpenAI-compatible server, or
            the OpenAI Batch API with ``openai.mode: batch``) or ``transformers`` (a local Hugging Face causal LM).
        response_format: the strongest structured-output mode to ask for (``json_schema`` strict, then
            ``json_object``, then ``text``); a server that refuses it gets the next one.
        max_reasks: extra requests after an answer that is not valid JSON for the schema.
        temperature, seed, max_tokens: sampling, part of every request and cache key.
        max_failed_share: a stage fails (exit 1, nothing recorded) when more than this share of its items got
            no valid answer; the failed items are asked again on the next run, the answered ones are not.
        llamacpp: ``model, sha256, n_ctx, top_p, top_k, min_p, repeat_penalty``.
        openai: ``model, base_url, mode (online|batch), prices`` (USD per million tokens,
            ``{model: {input, output}}``; the Batch API is billed at half).
        transformers: ``path, device, dtype``.
        offline: the stand-in's ``max_overlap``.
        runtime: the ``runtime`` section; its ``<backend>`` part (threads, slots, timeouts, concurrency,
            batch sizes) changes speed, never an answer.
    """

    backend: str = "llamacpp"
    response_format: str = "json_schema"
    max_reasks: int = 1
    temperature: float = 0.7
    seed: int | None = 42
    max_tokens: int = 2048
    max_failed_share: float = 0.02
    llamacpp: dict[str, Any] = field(default_factory=dict)
    openai: dict[str, Any] = field(default_factory=dict)
    transformers: dict[str, Any] = field(default_factory=dict)
    offline: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"llm.backend is '{self.backend}'; use one of {', '.join(BACKENDS)}.")
        if self.response_format not in FORMATS:
            raise ValueError(f"llm.response_format is '{self.response_format}'; use one of {', '.join(FORMATS)}.")
        if not 0 <= self.max_failed_share <= 1:
            raise ValueError(f"llm.max_failed_share is {self.max_failed_share}; use a share from 0 to 1 (0.02 = 2%).")
        for name in BACKENDS:
            given, speed = set(getattr(self, name) or {}), set((self.runtime or {}).get(name) or {})
            for key in sorted(given & RUNTIME_KEYS[name]):
                raise ValueError(f"llm.{name}.{key} changes speed, not answers: move it to runtime.{name}.{key} "
                                 f"(so changing it reruns nothing).")
            unknown = sorted(given - KEYS[name])
            if unknown:
                raise ValueError(f"unknown key(s) llm.{name}.{', llm.{name}.'.join(unknown)}; "
                                 f"known: {', '.join(sorted(KEYS[name]))}.")
            unknown = sorted(speed - RUNTIME_KEYS[name])
            if unknown:
                raise ValueError(f"unknown key(s) runtime.{name}.{', runtime.{name}.'.join(unknown)}; "
                                 f"known: {', '.join(sorted(RUNTIME_KEYS[name])) or 'none'}.")
        mode = (self.openai or {}).get("mode", "online")
        if mode not in ("online", "batch"):
            raise ValueError(f"llm.openai.mode is '{mode}'; use online or batch.")
        Prices(self.prices)  # fails early on a malformed table

    @property
    def is_llm(self) -> bool:
        return self.backend != "offline"

    @property
    def batch(self) -> bool:
        return self.backend == "openai" and (self.openai or {}).get("mode", "online") == "batch"

    @property
    def prices(self) -> dict[str, dict[str, float]]:
        return dict((self.openai or {}).get("prices") or {})

    def options(self, name: str) -> dict[str, Any]:
        """The constructor options of backend ``name``: ``llm.<name>`` and ``runtime.<name>`` together."""
        return {**(getattr(self, name) or {}), **((self.runtime or {}).get(name) or {})}


def from_params(p: Any) -> LLMConfig:
    """The ``llm`` section a stage declared (see :mod:`syneg.params`), with the ``runtime`` knobs."""
    return p.build(LLMConfig, "llm", runtime=p.runtime_section)


def make_backend(cfg: LLMConfig, cache: AnswerCache) -> ChatBackend:
    """The chat backend ``cfg.backend`` names (not for ``offline``, which is not an LLM)."""
    sampling = {"temperature": cfg.temperature, "seed": cfg.seed, "max_tokens": cfg.max_tokens}
    if cfg.backend == "openai":
        opts = {k: v for k, v in cfg.options("openai").items() if k not in ("mode", "prices")}
        if cfg.batch:
            from syneg.llm.openai_batch import OpenAIBatchBackend

            opts.pop("concurrency", None)
            return OpenAIBatchBackend(cache=cache, **sampling, **opts)
        from syneg.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(**sampling, **{k: v for k, v in opts.items() if not k.startswith("batch_")})
    if cfg.backend == "llamacpp":
        from syneg.llm.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(**sampling, **cfg.options("llamacpp"))
    if cfg.backend == "transformers":
        from syneg.llm.transformers_backend import TransformersBackend

        return TransformersBackend(**sampling, **cfg.options("transformers"))
    raise ValueError(f"llm.backend '{cfg.backend}' is not an LLM; there is no chat backend for it.")


def make_asker(cfg: LLMConfig, cache: AnswerCache) -> Asker:
    """An :class:`~syneg.llm.asking.Asker` over the configured backend and the answer store ``cache``."""
    return Asker(make_backend(cfg, cache), cache, cfg.response_format, cfg.max_reasks, Prices(cfg.prices))
