"""The openai backend, through the real openai client, against a scripted local server (tests/llm/fake_openai)."""

import random

import pytest

from syneg.llm.answers import synthesis_spec
from syneg.llm.asking import Asker
from syneg.llm.base import SynthesisItem
from syneg.llm.cache import AnswerCache
from syneg.llm.openai_backend import OpenAIBackend
from syneg.llm.pricing import Prices
from syneg.llm.synthesizer import LLMSynthesizer
from tests.llm.fake_openai import GOOD, FakeOpenAI, completion, error

SPEC = synthesis_spec(2)
PRICES = Prices({"fake": {"input": 1.0, "output": 2.0}})


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-placeholder")


def store_text(folder):
    """Everything an answer store holds on disk, decompressed."""
    import gzip

    return "".join(gzip.open(p, "rt").read() if p.suffix == ".gz" else p.read_text() for p in folder.iterdir())


def asker(srv, tmp_path, response_format="json_schema", max_reasks=1, **kw):
    opts = {"max_retries": 2, "timeout": 5, **kw}
    return Asker(OpenAIBackend(model="fake", base_url=srv.base_url, **opts), AnswerCache(tmp_path / "c"),
                 response_format, max_reasks, PRICES)


def items(n=3):
    return [SynthesisItem(f"q{i}", f"d{i}", f"claim {i}", f"positive {i}",
                          {"domain": "Epidemiology", "difficulty": "Intermediate", "length": "nearly the same as"})
            for i in range(n)]


def always(*resp):
    return lambda body, n: resp if len(resp) == 3 else (*resp, {})


def test_answers_are_validated_counted_priced_and_a_warm_rerun_sends_nothing(tmp_path):
    with FakeOpenAI(always(200, completion(GOOD))) as srv:
        a = asker(srv, tmp_path)
        gen = LLMSynthesizer(a)
        res = gen.generate(items(), 2)
        assert [len(r.negatives) for r in res] == [2, 2, 2] and not any(r.error for r in res)
        assert len(srv.requests) == 3
        body = srv.requests[0]
        assert body["model"] == "fake" and body["seed"] == 42 and body["temperature"] == 0.7
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["schema"]["properties"]["hard_negatives"]["minItems"] == 2
        assert "Assume you are an expert in Epidemiology" in body["messages"][0]["content"]
        assert srv.auth[0] == "Bearer sk-test-placeholder"
        s = gen.stats()
        assert (s["requests"], s["cache_hits"], s["prompt_tokens"], s["completion_tokens"]) == (3, 0, 300, 150)
        assert s["cost_usd"] == pytest.approx(3 * (100 * 1.0 + 50 * 2.0) / 1e6)
        a.cache.close()
        again = LLMSynthesizer(asker(srv, tmp_path))
        assert [r.negatives for r in again.generate(items(), 2)] == [r.negatives for r in res]
        s2 = again.stats()
        assert len(srv.requests) == 3 and s2["requests"] == 0 and s2["cache_hits"] == 3
        assert s2["cost_usd"] == 0 and s2["cost_usd_all_answers"] == pytest.approx(s["cost_usd"])
    assert "sk-test" not in store_text(tmp_path / "c")  # the key is never stored


def test_a_pairs_later_requests_sample_with_another_seed_and_its_first_is_as_before(tmp_path):
    """Two requests of one pair with the same prompt (no attributes to tell them apart) are two requests, with
    seeds 42 and 42 + 1,000,003; a pair's first request keeps the seed every stored answer was asked with."""
    same = [SynthesisItem("q0", "d0", "claim", "positive", {}, request=r) for r in (0, 1)]
    with FakeOpenAI(always(200, completion(GOOD))) as srv:
        LLMSynthesizer(asker(srv, tmp_path)).generate(same, 1)
        assert sorted(body["seed"] for body in srv.requests) == [42, 1_000_045]
        assert srv.requests[0]["messages"] == srv.requests[1]["messages"]


def test_429_waits_as_long_as_retry_after_says(tmp_path):
    def script(body, n):
        return error(429, "slow down", **{"Retry-After": "1.5"}) if n == 0 else (200, completion(GOOD), {})

    with FakeOpenAI(script) as srv:
        out = asker(srv, tmp_path).ask(["p"], SPEC)
    assert out[0].value is not None and len(srv.requests) == 2
    # Without Retry-After the client's first backoff is at most 0.5 s.
    assert srv.times[1] - srv.times[0] >= 1.4


def test_500_is_retried_and_a_persistent_one_is_recorded(tmp_path):
    with FakeOpenAI(lambda b, n: error(500, "boom") if n == 0 else (200, completion(GOOD), {})) as srv:
        assert asker(srv, tmp_path).ask(["p"], SPEC)[0].value is not None and len(srv.requests) == 2
    with FakeOpenAI(always(*error(500, "down", **{"Retry-After": "0"}))) as srv:
        a = asker(srv, tmp_path / "2", max_retries=1)
        out = a.ask(["p", "q"], SPEC)
    assert [o.category for o in out] == ["http_500", "http_500"] and len(srv.requests) == 4
    assert a.stats()["failures_by_reason"] == {"http_500": 2} and a.stats()["failed_requests"] == 2


def test_an_answer_slower_than_the_timeout_is_recorded_as_timeout(tmp_path):
    with FakeOpenAI(always(200, completion(GOOD), {"x-sleep": "1.5"})) as srv:
        out = asker(srv, tmp_path, timeout=0.3, max_retries=1).ask(["p"], SPEC)
    assert out[0].category == "timeout" and len(srv.requests) == 2  # first try + one retry


def test_malformed_json_is_asked_again_with_the_reason_then_recorded(tmp_path):
    with FakeOpenAI(lambda b, n: (200, completion('{"reasoning": "r", "hard_neg' if n == 0 else GOOD), {})) as srv:
        out = asker(srv, tmp_path).ask(["p"], SPEC)
        assert out[0].value is not None and len(srv.requests) == 2
        reask = srv.requests[1]["messages"]
        assert reask[1] == {"role": "assistant", "content": '{"reasoning": "r", "hard_neg'}
        assert "not valid" in reask[2]["content"]
    with FakeOpenAI(always(200, completion("Sure! Here are the documents you asked for."))) as srv:
        out = asker(srv, tmp_path / "2", max_reasks=2).ask(["p"], SPEC)
    assert out[0].category == "malformed_json" and len(srv.requests) == 3


@pytest.mark.parametrize("content, where", [
    ('{"reasoning": "r", "hard_negatives": "one string"}', "hard_negatives"),
    ('{"reasoning": "r", "hard_negatives": []}', "empty"),
    ('{"reasoning": "r", "hard_negatives": ["ok", ""]}', "non-empty"),
    ('["a", "b"]', "expected an object"),
])
def test_schema_breaks_and_an_empty_list_are_invalid(tmp_path, content, where):
    with FakeOpenAI(always(200, completion(content))) as srv:
        out = asker(srv, tmp_path).ask(["p"], SPEC)
    assert out[0].category == "schema" and where in out[0].error and len(srv.requests) == 2


def test_refusal_is_recorded_and_not_asked_again(tmp_path):
    with FakeOpenAI(always(200, completion(None, refusal="I can't help with that."))) as srv:
        out = asker(srv, tmp_path).ask(["p", "q"], SPEC)
    assert [o.category for o in out] == ["refused", "refused"] and len(srv.requests) == 2


def test_answer_cut_at_max_tokens_is_truncated(tmp_path):
    with FakeOpenAI(always(200, completion('{"reasoning": "long', finish_reason="length"))) as srv:
        out = asker(srv, tmp_path, max_reasks=0).ask(["p"], SPEC)
    assert out[0].category == "truncated" and "max_tokens" in out[0].error


def test_refused_response_format_steps_down_once_per_run_whatever_the_status(tmp_path):
    def script(body, n):
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":  # what llama-cpp-python's server does: a 500 with the validation
            return error(500, "1 validation error: response_format.type: Input should be 'text' or 'json_object'")
        if "schema" in fmt:
            return error(422, "response_format.schema: extra fields not permitted")
        if fmt.get("type") == "json_object":
            return error(400, "Unknown parameter: response_format")
        return 200, completion("Here it is:\n```json\n" + GOOD + "\n```"), {}

    with FakeOpenAI(script) as srv:
        a = asker(srv, tmp_path)
        out = a.ask(["p", "q", "r", "s"], SPEC)
        assert all(o.value is not None for o in out) and a.fmt == "text"
        assert a.stats()["format_fallbacks"] == 3 and a.stats()["response_format"] == "text"
        assert a.stats()["failed_requests"] == 0
        sent = [(r.get("response_format") or {}).get("type", "text") + ("+schema" if "schema" in
                (r.get("response_format") or {}) else "") for r in srv.requests]
        # One request tries each format (the client retries the 500 twice: it cannot tell a validation error
        # from an outage); the other items wait and go out once a format is taken.
        assert sent == ["json_schema"] * 3 + ["json_object+schema", "json_object", "text", "text", "text", "text"]
        a.cache.close()
        b = asker(srv, tmp_path)  # a rerun starts where the fallback ended and finds every answer stored
        assert b.fmt == "text" and all(o.value for o in b.ask(["p", "q", "r", "s"], SPEC)) and len(srv.requests) == 9


def test_with_30_percent_random_failures_no_item_is_lost(tmp_path):
    """300 items against a server that fails 30% of requests five ways (500, 429 with Retry-After, an answer
    slower than the timeout, malformed JSON, JSON that breaks the schema): every item is answered or recorded
    failed with its reason, none is lost, and a rerun asks only for what got no answer."""
    rng = random.Random(7)
    lock_rng = __import__("threading").Lock()

    healthy, injected = [], __import__("collections").Counter()

    def script(body, n):
        with lock_rng:
            roll = 1.0 if healthy else rng.random()
        kind = ("http_500" if roll < 0.10 else "http_429" if roll < 0.16 else "timeout" if roll < 0.20
                else "malformed_json" if roll < 0.25 else "schema" if roll < 0.30 else None)
        with lock_rng:
            injected[kind or "ok"] += 1
        if kind == "http_500":
            return error(500, "flaky", **{"Retry-After": "0"})
        if kind == "http_429":
            return error(429, "busy", **{"Retry-After": "0"})
        if kind == "timeout":
            return 200, completion(GOOD), {"x-sleep": "1.5"}
        if kind == "malformed_json":
            return 200, completion('{"hard_negatives": [1'), {}
        if kind == "schema":
            return 200, completion('{"reasoning": "r", "hard_negatives": "not a list"}'), {}
        return 200, completion(GOOD), {}

    prompts = [f"prompt {i}" for i in range(300)]
    with FakeOpenAI(script) as srv:
        a = asker(srv, tmp_path, max_retries=1, concurrency=16, timeout=0.5, max_reasks=0)
        out = a.ask(prompts, SPEC)
        done = [o for o in out if o.value is not None]
        failed = [o for o in out if o.error]
        assert len(done) + len(failed) == 300 and all(o.category for o in failed)  # 0 lost
        faults = sum(v for k, v in injected.items() if k != "ok")
        assert 0.25 < faults / sum(injected.values()) < 0.35
        by_reason = a.stats()["failures_by_reason"]
        assert by_reason == dict(sorted(__import__("collections").Counter(o.category for o in failed).items()))
        assert {"timeout", "malformed_json", "schema"} <= set(by_reason), by_reason
        # A rerun once the server is healthy asks again for exactly the requests that got no answer; a
        # stored (invalid) answer is an answer, so those items fail the same way without a request.
        a.cache.close()
        healthy.append(True)
        first = len(srv.requests)
        out2 = asker(srv, tmp_path, max_reasks=0).ask(prompts, SPEC)
        stored_invalid = {"malformed_json", "schema"}
        transport = {p for p, o in zip(prompts, out) if o.error and o.category not in stored_invalid}
        assert transport and {r["messages"][0]["content"] for r in srv.requests[first:]} == transport
        assert [o.error for o in out2 if o.error] == [o.error for o in out if o.category in stored_invalid]


def test_identical_prompts_are_sent_once(tmp_path):
    with FakeOpenAI(always(200, completion(GOOD))) as srv:
        out = asker(srv, tmp_path).ask(["same", "same", "other"], SPEC)
    assert all(o.value for o in out) and len(srv.requests) == 2


def test_missing_key_names_the_variable_only_when_something_must_be_sent(monkeypatch, tmp_path):
    with FakeOpenAI(always(200, completion(GOOD))) as srv:
        asker(srv, tmp_path).ask(["p"], SPEC)
        monkeypatch.delenv("OPENAI_API_KEY")
        a = asker(srv, tmp_path)
        assert a.ask(["p"], SPEC)[0].value is not None  # warm cache: no key needed
        with pytest.raises(RuntimeError, match="OPENAI_API_KEY is not set"):
            a.ask(["new"], SPEC)
