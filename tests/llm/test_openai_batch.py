"""The OpenAI Batch API mode against the local server's files and batches endpoints."""

import json

import pytest

from syneg.llm.answers import synthesis_spec
from syneg.llm.asking import Asker
from syneg.llm.cache import AnswerCache
from syneg.llm.openai_batch import BatchPending, OpenAIBatchBackend
from syneg.llm.pricing import Prices
from tests.llm.fake_openai import GOOD, FakeOpenAI, completion, error

SPEC = synthesis_spec(2)


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-placeholder")


def asker(srv, path, **kw):
    cache = AnswerCache(path)
    backend = OpenAIBatchBackend(cache=cache, model="fake", base_url=srv.base_url, batch_poll_seconds=0.01,
                                 max_retries=0, timeout=5, **kw)
    return Asker(backend, cache, "json_schema", 1, Prices({"fake": {"input": 1.0, "output": 2.0}}))


def test_batch_submits_polls_and_maps_results_back_by_custom_id_at_half_price(tmp_path):
    def script(body, n):  # each answer names its prompt, to prove the mapping
        prompt = body["messages"][0]["content"]
        return 200, completion(json.dumps({"reasoning": prompt, "hard_negatives": [f"{prompt} a", f"{prompt} b"]})), {}

    prompts = [f"prompt {i}" for i in range(5)]
    with FakeOpenAI(script, batch_polls=3) as srv:
        a = asker(srv, tmp_path / "c")
        out = a.ask(prompts, SPEC)
        assert [o.value.reasoning for o in out] == prompts
        assert len(srv.batches) == 1 and srv.polls["batch_1"] == 3
        line = json.loads(srv.files["file-1"].splitlines()[0])
        assert line["url"] == "/v1/chat/completions" and line["method"] == "POST"
        assert line["body"]["response_format"]["type"] == "json_schema" and len(line["custom_id"]) == 64
        s = a.stats()
        assert s["batch_requests"] == 5 and s["requests"] == 0
        assert s["cost_usd"] == pytest.approx(0.5 * 5 * (100 + 50 * 2.0) / 1e6)
        assert a.cache.open_batches() == []
        a.cache.close()
        b = asker(srv, tmp_path / "c")  # warm: nothing uploaded, nothing submitted
        assert all(o.value for o in b.ask(prompts, SPEC)) and len(srv.batches) == 1 and len(srv.files) == 2


def test_an_interrupted_batch_is_resumed_from_its_saved_id_not_resubmitted(tmp_path):
    prompts = [f"prompt {i}" for i in range(4)]
    with FakeOpenAI(lambda b, n: (200, completion(GOOD), {}), batch_polls=None) as srv:
        a = asker(srv, tmp_path / "c", batch_max_wait_hours=1e-5)
        with pytest.raises(BatchPending, match="batch_1 not finished.*Run the stage again to resume"):
            a.ask(prompts, SPEC)
        a.cache.close()
        assert len(srv.batches) == 1 and srv.requests == []
        srv.batch_polls = 1  # the batch finishes while nobody watches
        b = asker(srv, tmp_path / "c")
        out = b.ask(prompts, SPEC)
        assert all(o.value for o in out) and len(srv.batches) == 1 and len(srv.requests) == 4
        assert b.cache.open_batches() == []


def test_failed_lines_are_recorded_with_their_reason_and_asked_again_later(tmp_path):
    def script(body, n):
        return error(500, "server hiccup") if "bad" in body["messages"][0]["content"] else (200, completion(GOOD), {})

    with FakeOpenAI(script) as srv:
        out = asker(srv, tmp_path / "c").ask(["good", "bad"], SPEC)
    assert out[0].value and out[1].category == "batch_http_500" and "server hiccup" in out[1].error


def test_invalid_batch_answers_are_re_asked_in_a_second_batch(tmp_path):
    with FakeOpenAI(lambda b, n: (200, completion("not json" if len(b["messages"]) == 1 else GOOD), {})) as srv:
        out = asker(srv, tmp_path / "c").ask(["p"], SPEC)
    assert out[0].value and len(srv.batches) == 2
