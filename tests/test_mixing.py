import pandas as pd
import pytest

from syneg.mixing import MixConfig, mix, synthetic_counts


@pytest.mark.parametrize("n, ratio, k, total", [(10, 1 / 3, 3, 10), (10, 0.333333, 3, 10), (10, 0.5, 3, 15),
                                                (7, 0.0, 3, 0), (7, 1.0, 3, 21), (9, 0.7, 3, 19)])
def test_rounding_is_exact_at_dataset_level(n, ratio, k, total):
    c = synthetic_counts(n, ratio, k, seed=1)
    assert c.sum() == total and c.max() - c.min() <= 1
    assert (c == synthetic_counts(n, ratio, k, seed=1)).all()


def _inputs(tiny_ds, syn_per_pair=2):
    pairs = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d4"]})
    cand = pd.DataFrame({"query_id": ["q1"] * 3 + ["q2"] * 3, "pos_id": ["d1"] * 3 + ["d4"] * 3,
                         "doc_id": ["d2", "d3", "d5", "d5", "d2", "d3"], "rank": [1, 2, 3, 1, 2, 3]})
    syn = pd.DataFrame([(q, p, i, f"synthetic {q} {i}") for q, p in [("q1", "d1"), ("q2", "d4")]
                        for i in range(syn_per_pair)], columns=["query_id", "pos_id", "neg_index", "text"])
    return pairs, cand, syn


def test_hybrid_default_gives_every_instance_one_synthetic_and_the_top_two_retrieved(tiny_ds):
    train, prov, stats = mix(tiny_ds, *_inputs(tiny_ds), MixConfig())
    assert list(train.columns) == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    assert prov[["source_1", "source_2", "source_3"]].values.tolist() == [["synthetic", "retrieved", "retrieved"]] * 2
    assert prov["doc_id_2"].tolist() == ["d2", "d5"] and prov["doc_id_3"].tolist() == ["d3", "d2"]
    assert train["anchor"][0] == "Statins reduce stroke risk in older adults."
    assert stats["synthetic_share"] == round(1 / 3, 4) and stats["instances_with_both_kinds"] == 2


def test_ratio_zero_is_retrieved_only_and_direct_pools_by_instance(tiny_ds):
    _, prov, stats = mix(tiny_ds, *_inputs(tiny_ds), MixConfig(ratio=0.0))
    assert stats["synthetic"] == 0 and stats["retrieved"] == 6
    _, prov, stats = mix(tiny_ds, *_inputs(tiny_ds), MixConfig(strategy="direct", ratio=0.5))
    kinds = [set(r) for r in prov[["source_1", "source_2", "source_3"]].values.tolist()]
    assert stats["instances_with_both_kinds"] == 1  # 3 slots but only 2 synthetic: one retrieved fill
    assert {"retrieved"} in kinds


def test_single_kind_strategies_ignore_the_ratio_and_never_use_the_other_kind(tiny_ds):
    _, prov, stats = mix(tiny_ds, *_inputs(tiny_ds), MixConfig(strategy="synthetic_only", ratio=0.2))
    # 2 synthetic negatives per pair for 3 slots: the third is a random document, never a retrieved one
    assert stats["synthetic"] == 4 and stats["retrieved"] == 0 and stats["random"] == 2
    _, prov, stats = mix(tiny_ds, *_inputs(tiny_ds), MixConfig(strategy="retrieved_only", ratio=0.9))
    assert stats["synthetic"] == 0 and stats["retrieved"] == 6
    assert MixConfig(strategy="retrieved_only", ratio=0.9).synthetic_ratio == 0.0
    # where retrieved candidates run out, retrieved_only fills with random documents, hybrid at ratio 0 with
    # synthetic ones
    pairs, cand, syn = _inputs(tiny_ds)
    _, _, only = mix(tiny_ds, pairs, cand.iloc[:1], syn, MixConfig(strategy="retrieved_only"))
    _, _, hybrid0 = mix(tiny_ds, pairs, cand.iloc[:1], syn, MixConfig(ratio=0.0))
    assert only["synthetic"] == 0 and only["random"] == 5
    assert hybrid0["synthetic"] == 4 and hybrid0["random"] == 1


def test_missing_synthetic_is_filled_and_counted(tiny_ds):
    pairs, cand, syn = _inputs(tiny_ds)
    syn = syn[syn["query_id"] == "q1"]
    _, prov, stats = mix(tiny_ds, pairs, cand, syn, MixConfig())
    assert prov.loc[1, ["source_1", "source_2", "source_3"]].tolist() == ["retrieved"] * 3
    assert stats["fills"] == {"retrieved_for_missing_synthetic": 1}


def test_too_few_candidates_fall_back_to_random_non_positive_documents(tiny_ds):
    pairs, cand, syn = _inputs(tiny_ds)
    _, prov, stats = mix(tiny_ds, pairs, cand.iloc[:1], syn.iloc[:0], MixConfig(ratio=0.0))
    assert stats["random"] == 5
    for q, row in zip(prov["query_id"], prov[["doc_id_1", "doc_id_2", "doc_id_3"]].values.tolist()):
        assert len(set(row)) == 3 and not ({"d1"} if q == "q1" else {"d4"}) & set(row)


def test_bad_params_name_the_fix():
    with pytest.raises(ValueError, match="use one of hybrid, direct, synthetic_only, retrieved_only"):
        MixConfig(strategy="mixed")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MixConfig(ratio=1.5)


def test_hardest_takes_the_kept_synthetic_negatives_closest_to_their_positive_first(tiny_ds):
    pairs, cand, syn = _inputs(tiny_ds, syn_per_pair=3)
    syn = syn.assign(neg_score=[0.5, 0.9, 0.7, 0.2, None, 0.3], pos_score=1.0)
    first = mix(tiny_ds, pairs, cand, syn, MixConfig())[0]
    hardest = mix(tiny_ds, pairs, cand, syn, MixConfig(synthetic_sampling="hardest"))[0]
    assert first["negative_1"].tolist() == ["synthetic q1 0", "synthetic q2 0"]
    assert hardest["negative_1"].tolist() == ["synthetic q1 1", "synthetic q2 2"]  # unscored ones come last
    with pytest.raises(ValueError, match="mix.synthetic_sampling is 'best'; use 'first' or 'hardest'"):
        MixConfig(synthetic_sampling="best")
