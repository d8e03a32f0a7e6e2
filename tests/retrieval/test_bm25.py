import pytest

from syneg.retrieval.bm25 import BM25


def test_bm25_ranks_by_term_match_and_scores_a_given_document():
    bm25 = BM25.build(["a", "b", "c"], ["statins lower stroke risk", "vaccines prevent flu", "stroke rehabilitation"])
    hits = bm25.search(["statins stroke"], ["q"], k=3)["q"]
    assert hits[0][0] == "a" and {d for d, _ in hits} == {"a", "c"}
    assert abs(bm25.score("statins stroke", "a") - hits[0][1]) < 1e-3


def test_index_is_reused_for_the_same_content():
    a = BM25.build(["x"], ["some text here"])
    b = BM25.build(["x"], ["some text here"])
    assert a.index_dir == b.index_dir


def test_a_multifield_index_searches_the_title_too():
    # "statins" is only in b's title: Pyserini's add_batch_dict would have dropped it (text-only BM25)
    bm25 = BM25.build(["a", "b"], ["vaccines prevent flu", "stroke risk falls"],
                      titles=["influenza vaccines", "statins"])
    hits = bm25.search(["statins"], ["q"], k=2)["q"]
    assert [d for d, _ in hits] == ["b"]
    with pytest.raises(ValueError, match="flat index"):
        bm25.score("statins", "b")
