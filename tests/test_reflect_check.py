import pandas as pd

from syneg.reflect_check import CheckConfig, dropped_shares, sources


def test_sources_pair_each_positive_with_an_unjudged_off_topic_document(tiny_ds):
    pairs = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d4"]})
    ranked = {"q1": ["d2", "d3"], "q2": ["d5"]}
    src = sources(tiny_ds, pairs, CheckConfig(pairs=2, seed=1, exclude_top=2, hard_negatives=False), ranked)
    assert src["label"].tolist() == ["false_negative", "true_negative"] * 2
    fn, tn = src[src["label"] == "false_negative"], src[src["label"] == "true_negative"]
    assert (fn["source_id"] == fn["pos_id"]).all()
    judged = {("q1", "d1"), ("q1", "d2"), ("q2", "d4")}
    for q, d in zip(tn["query_id"], tn["source_id"]):
        assert (q, d) not in judged and d not in ranked[q]
    assert src.equals(sources(tiny_ds, pairs, CheckConfig(pairs=2, seed=1, exclude_top=2, hard_negatives=False),
                              ranked))  # seeded


def test_a_hard_true_negative_is_the_best_ranked_unjudged_document_and_keeps_the_other_labels(tiny_ds):
    pairs = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d4"]})
    ranked = {"q1": ["d1", "d2", "d3"], "q2": ["d4", "d5"]}  # d1 / d4: the positives; d2: judged for q1
    cfg = CheckConfig(pairs=2, seed=1, exclude_top=2)
    src = sources(tiny_ds, pairs, cfg, ranked)
    hard = src[src["label"] == "hard_true_negative"]
    assert hard[["query_id", "source_id"]].values.tolist() == [["q1", "d3"], ["q2", "d5"]]
    without = sources(tiny_ds, pairs, CheckConfig(pairs=2, seed=1, exclude_top=2, hard_negatives=False), ranked)
    assert src[src["label"] != "hard_true_negative"].reset_index(drop=True).equals(without)  # same draws


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
    hard = pd.DataFrame([("hard_true_negative", "", False, "keep"), ("hard_true_negative", "critique drop: z", False,
                          "drop"), ("hard_true_negative", "", False, "keep"), ("hard_true_negative", "", False, "keep")],
                        columns=["label", "reason", "margin_flag", "decision"]).assign(
        verdict=lambda f: f["decision"], answers_query=False, on_topic=True)
    out = dropped_shares(pd.concat([frame, hard], ignore_index=True))
    assert out["hard_true_negatives_kept"] == 0.75 and out["hard_goal_met"] is True
    assert out["hard_true_negatives_kept_by"]["critique"] == 0.75 and out["hard_true_negatives_kept_by"]["margin_check"] == 1


def test_the_critique_gate_is_chosen_on_one_half_and_measured_on_the_other():
    from syneg.reflect_check import split_half

    rows = []
    for q in range(8):  # a false negative scoring like its positive, an off-topic true negative far below
        rows.append((f"q{q}", "false_negative", 0.98, "drop"))
        rows.append((f"q{q}", "true_negative", 0.65 if q % 4 < 2 else 0.2, "drop"))  # the judge says drop to all
    frame = pd.DataFrame(rows, columns=["query_id", "label", "neg_score", "decision"]).assign(
        pos_score=1.0, reason="", margin_flag=False)
    out = split_half(frame)
    for half in out.values():  # any gate above 0.65 keeps every true negative and drops every false negative
        assert half["ratio_chosen_on_other_half"] == 0.7
        assert half["false_negatives_dropped"] == 1.0 and half["true_negatives_kept"] == 1.0


def test_reflection_is_reported_on_the_hard_negatives_read_by_hand():
    from syneg.reflect_check import annotated

    results = pd.DataFrame({"query_id": ["q1", "q2", "q3", "q4"], "source_id": ["a", "b", "c", "d"],
                            "label": ["hard_true_negative"] * 3 + ["false_negative"],
                            "answers_query": [True, False, False, True],  # the critique's own column
                            "reason": ["critique drop: x", "", "", "near-copy of the positive"]})
    read = pd.DataFrame({"query_id": ["q1", "q2", "q3"], "doc_id": ["a", "b", "c"],
                         "answers_query": ["yes", "no", "unsure"], "note": ["", "", ""]})
    assert annotated(results, read) == {"read": 3, "no_count": 1, "not_answering_kept": 1.0, "yes_count": 1,
                                        "answering_dropped": 1.0, "unsure_count": 1, "unsure_kept": 1.0}
