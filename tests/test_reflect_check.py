import pandas as pd

from syneg.reflect_check import CheckConfig, dropped_shares, sources


def test_sources_pair_each_positive_with_an_unjudged_off_topic_document(tiny_ds):
    pairs = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d4"]})
    ranked = {"q1": ["d2", "d3"], "q2": ["d5"]}
    src = sources(tiny_ds, pairs, CheckConfig(pairs=2, seed=1, exclude_top=2), ranked)
    assert src["label"].tolist() == ["false_negative", "true_negative"] * 2
    fn, tn = src[src["label"] == "false_negative"], src[src["label"] == "true_negative"]
    assert (fn["source_id"] == fn["pos_id"]).all()
    judged = {("q1", "d1"), ("q1", "d2"), ("q2", "d4")}
    for q, d in zip(tn["query_id"], tn["source_id"]):
        assert (q, d) not in judged and d not in ranked[q]
    assert src.equals(sources(tiny_ds, pairs, CheckConfig(pairs=2, seed=1, exclude_top=2), ranked))  # seeded


def test_shares_per_check_and_the_goal():
    rows = [("false_negative", "near-copy of the positive", True, "drop"),
            ("false_negative", "likely false negative: x", True, "keep"),
            ("true_negative", "", False, "keep"),
            ("true_negative", "critique drop: y", False, "drop")]
    frame = pd.DataFrame(rows, columns=["label", "reason", "margin_flag", "decision"]).assign(
        verdict=lambda f: f["decision"], answers_query=[True, False, False, True], on_topic=True)
    out = dropped_shares(frame)
    assert out["false_negative"]["dropped_by"] == {"text_checks": 0.5, "margin_check": 1.0, "critique": 0.5,
                                                   "margin_or_critique": 1.0, "reflect": 1.0}
    assert out["true_negative"]["dropped_by"]["critique"] == 0.5 and out["true_negatives_kept"] == 0.5
    assert out["false_negatives_dropped"] == 1.0 and out["goal_met"] is False
