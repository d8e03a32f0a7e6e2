import numpy as np

from syneg.retrieval.dense import search


def test_exact_search_matches_numpy():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(50, 8)).astype("float32")
    q = rng.normal(size=(5, 8)).astype("float32")
    scores, idx = search(q, d, k=5)
    expect = np.argsort(-(q @ d.T), axis=1)[:, :5]
    assert (idx == expect).all()
    assert np.allclose(scores, np.take_along_axis(q @ d.T, expect, axis=1), atol=1e-5)
