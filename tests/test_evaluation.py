import math

from syneg.evaluation import evaluate


def test_metrics_match_hand_computation():
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 2}}
    run = {"q1": {"b": 3.0, "a": 2.0, "x": 1.0}, "q2": {"y": 2.0, "z": 1.5, "c": 1.0}}
    m = evaluate(qrels, run)
    assert m["mrr@10"] == round((1 / 2 + 1 / 3) / 2, 5)
    assert abs(m["ndcg@10"] - round(((1 / math.log2(3)) + (1 / math.log2(4))) / 2, 5)) < 1e-5
    assert m["recall@10"] == 1.0


def test_identical_ids_switch():
    qrels = {"q1": {"a": 1}}
    run = {"q1": {"q1": 5.0, "a": 1.0}}
    assert evaluate(qrels, run, ignore_identical_ids=False)["mrr@10"] == 0.5
    assert evaluate(qrels, run, ignore_identical_ids=True)["mrr@10"] == 1.0
    assert "q1" in run["q1"]  # the caller's run is not modified


def test_curve_rises_with_k_and_matches_evaluate_at_10():
    from syneg.evaluation import curve

    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}}
    run = {"q1": {"x": 3.0, "a": 2.0, "y": 1.5, "b": 1.0}, "q2": {"c": 1.0}}
    rows = curve(qrels, run, ks=(1, 2, 10))
    assert [r["k"] for r in rows] == [1, 2, 10]
    recalls = [r["recall"] for r in rows]
    assert recalls == sorted(recalls) and recalls[-1] == 1.0
    assert rows[-1]["ndcg"] == evaluate(qrels, run)["ndcg@10"]
