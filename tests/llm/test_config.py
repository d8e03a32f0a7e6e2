import pytest

from syneg.llm.cache import AnswerCache
from syneg.llm.config import LLM_KEYS, LLMConfig, from_params, make_asker, make_backend
from syneg.llm.openai_batch import OpenAIBatchBackend
from syneg.llm.pricing import Prices
from syneg.params import Params, declared, for_stage, read
from syneg.sandbox import ROOT


def test_the_committed_params_load_and_default_to_the_local_llm():
    cfg = from_params(for_stage("synthesize", LLM_KEYS, ROOT / "params.yaml"))
    assert cfg.backend == "llamacpp" and cfg.is_llm and cfg.response_format == "json_schema"
    assert cfg.llamacpp["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m" and cfg.max_failed_share == 0.02
    assert cfg.options("llamacpp")["mode"] == "server"  # runtime.llamacpp joins the backend's options
    assert cfg.openai == {}  # the stage declares only the backend in use: llm.openai is not read
    data = read(ROOT / "params.yaml")
    data["llm"]["backend"] = "openai"
    openai = from_params(Params(data, declared(LLM_KEYS, data), "synthesize"))
    assert openai.llamacpp == {} and Prices(openai.prices).price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "anthropic"}, "use one of llamacpp, offline, openai, transformers"),
    ({"response_format": "xml"}, "use one of json_schema, json_object_schema, json_object, text"),
    ({"llamacpp": {"threads": 2}}, "unknown key.*llm.llamacpp.threads"),
    ({"max_failed_share": 2}, "use a share from 0 to 1"),
    ({"openai": {"modle": "x"}}, "unknown key.*llm.openai.modle"),
    ({"openai": {"mode": "async"}}, "use online or batch"),
    ({"openai": {"prices": {"m": {"in": 1}}}}, "input: USD per 1M prompt tokens"),
    ({"llamacpp": {"n_threads": 2}}, "move it to runtime.llamacpp.n_threads"),
    ({"runtime": {"llamacpp": {"thread": 2}}}, "unknown key.*runtime.llamacpp.thread"),
])
def test_bad_values_name_the_key_and_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LLMConfig(**kwargs)


def test_backends_are_built_from_the_section(tmp_path):
    cache = AnswerCache(tmp_path / "c")
    online = make_asker(LLMConfig(backend="openai", openai={"model": "gpt-4o"},
                                  runtime={"openai": {"concurrency": 3}}), cache)
    assert online.backend.model == "gpt-4o" and online.backend.concurrency == 3
    batch = make_backend(LLMConfig(backend="openai", openai={"mode": "batch"}, runtime={"openai": {"concurrency": 3}}),
                         cache)
    assert isinstance(batch, OpenAIBatchBackend)
    with pytest.raises(ValueError, match="llm.transformers.path"):
        make_backend(LLMConfig(backend="transformers"), cache)
    with pytest.raises(ValueError, match="not an LLM"):
        make_backend(LLMConfig(backend="offline"), cache)
    local = make_backend(LLMConfig(runtime={"llamacpp": {"mode": "in_process", "n_threads": 1}}), cache)
    assert local.name == "llamacpp" and local.mode == "in_process" and local._llm is None  # nothing loaded
    with pytest.raises(ValueError, match="runtime.llamacpp.mode"):
        make_backend(LLMConfig(runtime={"llamacpp": {"mode": "remote"}}), cache)
