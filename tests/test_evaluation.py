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


def test_a_query_with_no_retrieved_document_counts_zero_in_every_mean(tmp_path):
    """Real BM25 finds nothing for a query of stopwords, so the TREC run file has no line for it; the mean is
    over both judged queries (trec_eval -c, Pyserini's published figures), not over the one in the run as
    beir's EvaluateRetrieval averages."""
    from beir.retrieval.evaluation import EvaluateRetrieval

    from syneg.evaluation import score_run_file
    from syneg.retrieval.bm25 import BM25
    from syneg.retrieval.trec import read_trec, write_trec

    bm25 = BM25.build(["a", "b"], ["statins lower stroke risk", "vaccines prevent flu"])
    run = bm25.search(["statins stroke", "the of and"], ["q1", "q2"], k=10)
    run = {q: dict(hits) for q, hits in run.items()}
    write_trec(tmp_path / "bm25.trec", run, "bm25")
    assert set(read_trec(tmp_path / "bm25.trec")) == {"q1"}  # the stopword query left no line
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    m = score_run_file(qrels, tmp_path / "bm25.trec", tmp_path / "curve.csv", tmp_path / "per_query.csv")
    assert (m["ndcg@10"], m["mrr@10"], m["recall@100"]) == (0.5, 0.5, 0.5)
    assert (m["queries"], m["queries_without_results"]) == (2, 1)
    beir_ndcg = EvaluateRetrieval.evaluate(qrels, read_trec(tmp_path / "bm25.trec"), [10])[0]["NDCG@10"]
    assert beir_ndcg == 1.0  # what the metrics said before: the mean over the one query present
    table = (tmp_path / "per_query.csv").read_text().splitlines()
    assert table == ["query_id,ndcg@10,mrr@10,recall@10,recall@100,map@100",
                     "q1,1.000000,1.000000,1.000000,1.000000,1.000000",
                     "q2,0.000000,0.000000,0.000000,0.000000,0.000000"]
    assert [r["ndcg"] for r in __import__("csv").DictReader(open(tmp_path / "curve.csv"))][-1] == "0.5"


def test_on_a_run_with_every_query_the_means_equal_beirs():
    import random

    from beir.retrieval.evaluation import EvaluateRetrieval

    rng = random.Random(7)
    docs = [f"d{i}" for i in range(60)]
    qrels = {f"q{i}": {d: rng.choice([1, 2]) for d in rng.sample(docs, rng.randint(1, 4))} for i in range(40)}
    run = {q: {d: rng.random() for d in rng.sample(docs, 30)} for q in qrels}
    ours = evaluate(qrels, run)
    ndcg, _map, recall, _ = EvaluateRetrieval.evaluate(qrels, run, [10, 100], ignore_identical_ids=False)
    mrr = EvaluateRetrieval.evaluate_custom(qrels, run, [10], metric="mrr")
    assert ours == {"ndcg@10": ndcg["NDCG@10"], "mrr@10": mrr["MRR@10"], "recall@10": recall["Recall@10"],
                    "recall@100": recall["Recall@100"], "map@100": _map["MAP@100"], "queries": 40,
                    "queries_without_results": 0}
