"""The openai backend through the real openai client against a local OpenAI-compatible server."""

import json

import pytest

from syneg.llm.base import SynthesisItem
from syneg.llm.openai_backend import OpenAIGenerator
from tests.llm.fake_openai import FakeOpenAI, completion

GOOD = json.dumps({"reasoning": "both stay on statins but say nothing of stroke",
                   "hard_negatives": ["Statins lower LDL cholesterol in most adults.",
                                      "Muscle pain is the side effect most often reported with statins."]})


def items(n=3):
    return [SynthesisItem(f"q{i}", f"d{i}", f"claim {i}", f"positive {i}",
                          {"domain": "Epidemiology", "difficulty": "Intermediate", "length": "nearly the same as"})
            for i in range(n)]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-placeholder")


def gen(server, tmp_path, **kw):
    return OpenAIGenerator(model="fake", base_url=server.base_url, cache_path=str(tmp_path / "c.sqlite"),
                           max_retries=2, timeout=5, **kw)


def test_answers_are_parsed_and_a_warm_rerun_sends_nothing(tmp_path, key):
    with FakeOpenAI(lambda body, n: (200, completion(GOOD), {})) as srv:
        g = gen(srv, tmp_path)
        res = g.generate(items(), 2)
        assert [len(r.negatives) for r in res] == [2, 2, 2] and not any(r.error for r in res)
        assert len(srv.requests) == 3
        body = srv.requests[0]
        assert body["model"] == "fake" and body["response_format"] == {"type": "json_object"}
        assert body["seed"] == 42 and "Assume you are an expert in Epidemiology" in body["messages"][0]["content"]
        assert srv.auth[0] == "Bearer sk-test-placeholder"
        assert g.stats()["prompt_tokens"] == 300 and g.stats()["completion_tokens"] == 150
        g.close()
        g2 = gen(srv, tmp_path)
        assert [r.negatives for r in g2.generate(items(), 2)] == [r.negatives for r in res]
        assert len(srv.requests) == 3 and g2.stats()["requests"] == 0 and g2.stats()["cache_hits"] == 3
    assert b"sk-test" not in (tmp_path / "c.sqlite").read_bytes()  # the key is never stored


def test_server_errors_are_retried(tmp_path, key):
    def script(body, n):
        if n == 0:
            return 500, {"error": {"message": "boom"}}, {}
        if n == 1:
            return 429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}
        return 200, completion(GOOD), {}

    with FakeOpenAI(script) as srv:
        res = gen(srv, tmp_path).generate(items(1), 2)
    assert res[0].negatives and len(srv.requests) == 3


def test_invalid_answer_is_asked_again_once_then_recorded(tmp_path, key):
    with FakeOpenAI(lambda body, n: (200, completion('{"reasoning": "r"' if n == 0 else GOOD), {})) as srv:
        res = gen(srv, tmp_path).generate(items(1), 2)
        assert res[0].negatives and len(srv.requests) == 2
        assert "not valid" in srv.requests[1]["messages"][-1]["content"]
    with FakeOpenAI(lambda body, n: (200, completion('{"hard_negatives": []}'), {})) as srv:
        res = gen(srv, tmp_path, max_reasks=1).generate(items(1), 2)
        assert res[0].negatives == [] and res[0].error.startswith("invalid answer: breaks the schema")
        assert len(srv.requests) == 2


def test_refusal_and_persistent_failure_are_recorded_not_lost(tmp_path, key):
    with FakeOpenAI(lambda body, n: (200, completion(None, refusal="I can't help with that."), {})) as srv:
        res = gen(srv, tmp_path).generate(items(2), 2)
    assert all(r.error.startswith("refused") for r in res)
    with FakeOpenAI(lambda body, n: (503, {"error": {"message": "down"}}, {"Retry-After": "0"})) as srv:
        g = gen(srv, tmp_path)
        res = g.generate(items(2), 2)
    assert all(r.error.startswith("request failed") for r in res)
    assert g.stats()["failed:request failed"] == 2


def test_missing_key_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY is not set"):
        OpenAIGenerator(cache_path=str(tmp_path / "c.sqlite"))
