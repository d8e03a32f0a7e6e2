"""The LLM layer: one small generator class per backend behind one interface, prompts as template files.

Backends:
    ``offline``: :class:`syneg.llm.offline.OfflineGenerator`, a rule-based STAND-IN with no LLM (the default,
    so the pipeline runs anywhere). ``openai``: :class:`syneg.llm.openai_backend.OpenAIGenerator`, any
    OpenAI-compatible endpoint.
"""

from syneg.llm.base import Generator, SynthesisItem, SynthesisResult, make_generator

__all__ = ["Generator", "SynthesisItem", "SynthesisResult", "make_generator"]
