import pandas as pd

from syneg.diagnostics import diagnose, histogram


def test_histogram_shares_per_bin_and_out_of_range_values_go_to_the_edges():
    h = histogram({"a": [-1.0, 0.1, 0.6, 5.0]}, [0.0, 0.5, 1.0])
    assert h["bin"].tolist() == [0.25, 0.75] and h["a"].tolist() == [0.5, 0.5]


def test_diagnose_compares_synthetic_and_retrieved_and_measures_length():
    synthetic = pd.DataFrame({
        "query_id": ["q1", "q1", "q2"], "pos_id": ["d1", "d1", "d2"],
        "text": ["one two three four", "one two", "a b c d e f g h"],
        "length": ["approximately the same as", "approximately the same as", "nearly the same as"],
        "neg_score": [0.5, 0.99, 0.4], "pos_score": [1.0, 1.0, 0.8], "reason": ["", "likely false negative", ""]})
    candidates = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d2"], "doc_id": ["d9", "d8"],
                               "score": [0.3, 0.6], "pos_score": [1.0, 0.8]})
    provenance = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d2"], "source_1": ["retrieved"] * 2,
                               "source_2": ["synthetic"] * 2, "doc_id_1": ["d9", "d8"], "doc_id_2": ["", ""]})
    docs = {"d1": "w w w w", "d2": "w w w w"}
    metrics, scores, lengths = diagnose(synthetic, candidates, provenance, docs, relative_margin=0.05)
    assert metrics["score_ratio"]["synthetic"]["n"] == 3 and metrics["score_ratio"]["synthetic_kept"]["n"] == 2
    assert metrics["score_ratio"]["retrieved_used"]["median"] == 0.525  # 0.3 and 0.75
    assert metrics["model_check_flagged"] == 1 and metrics["model_check_flagged_share"] == round(1 / 3, 4)
    assert metrics["length_ratio"]["all"]["median"] == 1.0 and metrics["length_within_25pct"] == round(1 / 3, 4)
    assert set(scores.columns) == {"bin", "synthetic", "synthetic_kept", "retrieved"}
    assert abs(scores["retrieved"].sum() - 1) < 1e-6
    assert {"all", "approximately the same as", "nearly the same as"} <= set(lengths.columns)


def test_quality_puts_the_goals_of_a_run_in_one_block():
    from syneg.diagnostics import quality

    synthetic = pd.DataFrame({
        "query_id": ["q1", "q1", "q2", "q2"], "pos_id": ["d1", "d1", "d2", "d2"],
        "text": ["one two three four", "one two", "a b c d", "a b c"],
        "length": [""] * 4, "neg_score": [0.9, 0.99, 0.88, 0.5], "pos_score": [1.0] * 4,
        "reason": ["", "likely false negative", "", "critique drop: x"]})
    candidates = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d2"], "doc_id": ["d9", "d8"],
                               "score": [0.8, 0.9], "pos_score": [1.0, 1.0]})
    provenance = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d2"], "source_1": ["retrieved"] * 2,
                               "source_2": ["synthetic", "retrieved"], "doc_id_1": ["d9", "d8"], "doc_id_2": ["", "d9"]})
    metrics, _, _ = diagnose(synthetic, candidates, provenance, {"d1": "w w w w", "d2": "w w w w"}, 0.05)
    q = quality(synthetic, metrics, {"synthetic": 1, "synthetic_asked": 2},
                {"requests": 1, "cache_hits": 1, "completion_tokens_all_answers": 300},
                {"llm": {"requests": 0, "cache_hits": 2, "completion_tokens_all_answers": 100}})
    assert (q["kept"], q["kept_share"], q["synthetic_slots_filled_share"]) == (2, 0.5, 0.5)
    assert q["score_ratio_kept_median"] == 0.89 and q["length_ratio_kept_median"] == 1.0
    assert (q["llm_requests_per_kept"], q["generated_tokens_per_kept"]) == (2.0, 200.0)
    assert q["goals_met"] == {"kept_share": True, "score_ratio_kept_median": True, "length_ratio_kept_median": True,
                              "synthetic_slots_filled_share": False}
