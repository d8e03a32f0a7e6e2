"""Chat answers from a local Hugging Face causal LM, for users with a GPU and open weights.

No server and no API cost: the model and its tokenizer are loaded with ``transformers`` on first use (building
the backend, e.g. for a dry run, loads nothing) and requests are generated in batches of ``batch_size``, each
prompt rendered with the tokenizer's chat template and left-padded. There is no constrained decoding, so the
only structured-output mode is ``text``: the prompt asks for JSON and :mod:`syneg.llm.asking` extracts it from
the text (and re-asks when there is none). A batch that fails (CUDA out of memory, say) becomes a failed
:class:`Reply` for each of its requests; the other batches go on.

Cache keys cover a content hash of the model folder (:func:`syneg.models.fingerprint`), so different weights at
the same path never share answers. With sampling (``temperature > 0``) the generator is seeded before each
batch, so an answer depends on the seed *and* on the batch it was generated in (its neighbours and their
padding); greedy answers (``temperature: 0``) depend only on the prompt, up to float noise of the hardware.

Example (params.yaml):
    llm:
      backend: transformers
      transformers: {path: /models/Qwen2.5-7B-Instruct}
    runtime:
      transformers: {batch_size: 16}

Example (Python; building loads nothing, the first ``complete`` loads the model):
    >>> backend = TransformersBackend("/models/Qwen2.5-7B-Instruct", temperature=0, batch_size=16)
    >>> backend.body([{"role": "user", "content": "Say hi as JSON."}], "text", None)["max_new_tokens"]
    2048
    >>> replies = {}
    >>> backend.complete([backend.body([{"role": "user", "content": "hi"}], "text", None)], ["k"],
    ...                  lambda j, r: replies.update({j: r}))  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import os
from typing import Any

from tqdm.auto import tqdm

from syneg.llm.base import ChatBackend, Reply
from syneg.models import fingerprint

DTYPES = ("auto", "float32", "float16", "bfloat16")


def pick_device(device: str = "auto") -> str:
    """``auto``: cuda when available, else mps when available, else cpu; anything else is returned as is."""
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str):
    """``auto``: bfloat16 on a cuda device that supports it, else float32 (float16 overflows too easily in
    some models to be a safe default)."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


class TransformersBackend(ChatBackend):
    """Batched generation with a local ``AutoModelForCausalLM``.

    Args:
        path: a local folder with the model and its tokenizer (a hub name works too where the hub is
            reachable); it must have a chat template.
        temperature: 0 for greedy decoding, else the sampling temperature (the model's own
            ``generation_config`` supplies top_p/top_k and the like).
        seed: seeds the generator before each batch; ``None`` leaves it unseeded.
        max_tokens: the most new tokens per answer.
        batch_size: requests generated together (lower it on out-of-memory failures).
        device: ``auto`` (cuda, else mps, else cpu) or a torch device such as ``cuda:1``.
        dtype: ``auto`` (bfloat16 on cuda where supported, else float32), ``float32``, ``float16`` or
            ``bfloat16``.
    """

    name = "transformers"
    formats = ("text",)
    free = True

    def __init__(self, path: str = "", temperature: float = 0.7, seed: int | None = 42, max_tokens: int = 2048,
                 batch_size: int = 8, device: str = "auto", dtype: str = "auto"):
        if not path:
            raise ValueError("llm.transformers.path is empty; set it to a local folder with a Hugging Face "
                             "causal LM and its tokenizer (e.g. /models/Qwen2.5-7B-Instruct).")
        if int(batch_size) < 1:
            raise ValueError(f"runtime.transformers.batch_size is {batch_size}; use 1 or more.")
        if int(max_tokens) < 1:
            raise ValueError(f"llm.max_tokens is {max_tokens}; use 1 or more.")
        if dtype not in DTYPES:
            raise ValueError(f"llm.transformers.dtype is '{dtype}'; use one of {', '.join(DTYPES)}.")
        self.model = str(path)
        self.temperature, self.seed, self.max_tokens = float(temperature), seed, int(max_tokens)
        self.batch_size, self.device, self.dtype = int(batch_size), device, dtype
        self._identity: dict[str, Any] | None = None
        self._lm: Any = None
        self._tokenizer: Any = None
        self._torch: Any = None
        self._device = ""
        self._ends: list[int] = []  # token ids that end an answer

    def identity(self) -> dict[str, Any]:
        # Hashed once per backend: the folder is hashed in full (gigabytes) and the weights are loaded once
        # per process anyway. For a hub name the fingerprint is a hash of the name.
        if self._identity is None:
            self._identity = {"backend": self.name, "weights": fingerprint(self.model)}
        return self._identity

    def body(self, messages, fmt, schema):
        # fmt and schema are ignored: text is the only mode, the prompt itself asks for the JSON.
        return {"model": self.model, "messages": messages, "temperature": self.temperature, "seed": self.seed,
                "max_new_tokens": self.max_tokens}

    def _load(self) -> None:
        if self._lm is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        where = self.model if os.path.isdir(self.model) else f"'{self.model}' (not a local folder)"
        self._device = pick_device(self.device)
        tokenizer = AutoTokenizer.from_pretrained(self.model)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer at {where} has no chat_template; llm.transformers.path must be a "
                             f"chat (instruct) model whose tokenizer defines one.")
        # Decoder-only models continue from the last position, so padding must go on the left.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        lm = AutoModelForCausalLM.from_pretrained(self.model, dtype=pick_dtype(self.dtype, self._device))
        lm.to(self._device).eval()
        ends = lm.generation_config.eos_token_id
        ends = set(ends if isinstance(ends, (list, tuple)) else [ends] if ends is not None else [])
        if tokenizer.eos_token_id is not None:
            ends.add(tokenizer.eos_token_id)
        self._ends = sorted(ends)
        self._lm, self._tokenizer = lm, tokenizer
        self._torch = torch

    def _render(self, messages: list[dict[str, str]]) -> str:
        try:
            return self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # a template that rejects these messages fails every request alike: stop
            raise ValueError(f"the chat template of {self.model} failed on a request: "
                             f"{type(exc).__name__}: {exc}") from exc

    def _generate(self, prompts: list[str]) -> list[Reply]:
        """Replies for one batch of rendered prompts (every body carries this backend's sampling params)."""
        torch, tokenizer = self._torch, self._tokenizer
        temperature, seed, max_new = self.temperature, self.seed, self.max_tokens
        # The rendered template already holds the model's special tokens (BOS and role markers); adding
        # them again would put a second BOS in front.
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self._device)
        sampling = temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": sampling,
                                  "pad_token_id": tokenizer.pad_token_id, "eos_token_id": self._ends}
        if sampling:
            kwargs["temperature"] = temperature
        else:
            # Instruct models often ship sampling defaults (temperature, top_p, top_k) in their
            # generation_config; they mean nothing for greedy decoding and only draw warnings.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if seed is not None:
            torch.manual_seed(int(seed))
        with torch.inference_mode():
            out = self._lm.generate(**enc, **kwargs)
        width = enc["input_ids"].shape[1]
        new = out[:, width:].tolist()
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
        ends = set(self._ends)
        replies = []
        for row, n_prompt in zip(new, prompt_lengths):
            stop = next((k for k, tok in enumerate(row) if tok in ends), None)
            # After its end a row is filled with pad tokens while the others go on; they are not the answer.
            used = row if stop is None else row[:stop + 1]
            finish = "length" if stop is None and len(row) >= max_new else "stop"
            replies.append(Reply(content=tokenizer.decode(used, skip_special_tokens=True), finish_reason=finish,
                                 prompt_tokens=int(n_prompt), completion_tokens=len(used)))
        return replies

    def complete(self, bodies, keys, on_reply, desc=""):
        if not bodies:
            return
        self._load()
        bar = tqdm(total=len(bodies), desc=desc or "llm: transformers", unit="req")
        try:
            for start in range(0, len(bodies), self.batch_size):
                chunk = range(start, min(start + self.batch_size, len(bodies)))
                prompts = [self._render(bodies[j]["messages"]) for j in chunk]  # raises: a setup problem
                try:
                    replies = self._generate(prompts)
                except Exception as exc:  # noqa: BLE001 - OOM and the like fail this batch, not the run
                    self._free_cuda()
                    error = f"generation: {type(exc).__name__}: {exc}"[:300]
                    replies = [Reply(error=error) for _ in chunk]
                for j, reply in zip(chunk, replies):
                    on_reply(j, reply)
                bar.update(len(chunk))
        finally:
            bar.close()

    def _free_cuda(self) -> None:
        if self._device.startswith("cuda"):
            gc.collect()
            self._torch.cuda.empty_cache()

    def close(self) -> None:
        self._lm = self._tokenizer = None
        if self._device:
            self._free_cuda()
