"""The LLM layer: prompts as template files, one small class per backend behind one interface.

Backends (``llm.backend``):
    ``offline``: :class:`syneg.llm.offline.OfflineGenerator`, a rule-based STAND-IN with no LLM (the default,
    so the pipeline runs anywhere). ``openai``: :mod:`syneg.llm.openai_backend` (any OpenAI-compatible server)
    and :mod:`syneg.llm.openai_batch` (the Batch API). ``transformers``: :mod:`syneg.llm.transformers_backend`
    (a local Hugging Face model). Caching, validation, re-asks and cost: :mod:`syneg.llm.asking`.
"""

from syneg.llm.base import ChatBackend, Generator, Reply, SynthesisItem, SynthesisResult
from syneg.llm.config import LLMConfig, make_asker, make_backend

__all__ = ["ChatBackend", "Generator", "LLMConfig", "Reply", "SynthesisItem", "SynthesisResult", "make_asker",
           "make_backend"]
