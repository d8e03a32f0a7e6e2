import pandas as pd

from syneg.llm.offline import OfflineGenerator
from syneg.synthesis import COLUMNS, SynthesizeConfig, build_items, synthesize

LISTS = {"tiny": {"domain": ["Epidemiology", "Virology"], "difficulty": ["Foundational"], "length": ["nearly the same as"]}}


def _inputs():
    pairs = pd.DataFrame({"query_id": ["q1", "q2"], "pos_id": ["d1", "d4"]})
    cand = pd.DataFrame({"query_id": ["q1", "q1", "q2"], "pos_id": ["d1", "d1", "d4"],
                         "doc_id": ["d2", "d3", "d5"], "rank": [1, 2, 1]})
    return pairs, cand


def test_items_follow_pairs_with_seeded_attributes_and_neighbours_in_rank_order(tiny_ds):
    pairs, cand = _inputs()
    items = build_items(tiny_ds, pairs, cand, SynthesizeConfig(attributes=LISTS), "tiny")
    assert [(i.query_id, i.pos_id) for i in items] == [("q1", "d1"), ("q2", "d4")]
    assert items[0].neighbors[0].startswith("Statin safety") and len(items[0].neighbors) == 2
    assert items[0].attributes["difficulty"] == "Foundational"
    again = build_items(tiny_ds, pairs, cand, SynthesizeConfig(attributes=LISTS), "tiny")
    assert [i.attributes for i in items] == [i.attributes for i in again]
    none = build_items(tiny_ds, pairs, cand, SynthesizeConfig(attributes=LISTS, prompt="no_attributes"), "tiny")
    assert all(i.attributes == {} for i in none)


def test_unknown_dataset_uses_the_default_lists(tiny_ds):
    cfg = SynthesizeConfig(attributes={"default": {"domain": ["General"]}})
    assert build_items(tiny_ds, *_inputs(), cfg, "other")[0].attributes == {"domain": "General"}


def test_table_labels_the_stand_in_and_records_failures(tiny_ds):
    pairs, cand = _inputs()
    items = build_items(tiny_ds, pairs, cand, SynthesizeConfig(attributes=LISTS), "tiny")
    items[1].neighbors = []
    neg, fails = synthesize(items, OfflineGenerator(), 2)
    assert list(neg.columns) == COLUMNS
    assert set(neg["backend"]) == {"offline"} and neg["stand_in"].all()
    assert set(neg["query_id"]) == {"q1"} and fails.to_dict("records") == [
        {"query_id": "q2", "pos_id": "d4", "reason": "no usable neighbour sentences"}]


def test_one_request_per_negative_each_with_its_own_attributes_and_numbered_across_the_pair(tiny_ds):
    import pytest

    pairs, cand = _inputs()
    lists = {"tiny": {**LISTS["tiny"], "change": ["the population studied", "the outcome measured"]}}
    cfg = SynthesizeConfig(attributes=lists, per_request=1, candidates=2)  # 2 negatives x 2 candidates per pair
    items = build_items(tiny_ds, pairs, cand, cfg, "tiny")
    assert [(i.query_id, i.request) for i in items] == [("q1", r) for r in range(4)] + [("q2", r) for r in range(4)]
    one = build_items(tiny_ds, pairs, cand, SynthesizeConfig(attributes=lists), "tiny")
    assert items[0].attributes == one[0].attributes  # request 0 draws as a pair's only request does
    assert len({tuple(sorted(i.attributes.items())) for i in items[:4]}) > 1
    neg, _ = synthesize(items, OfflineGenerator(), cfg.batch)
    assert sorted(neg.loc[neg["query_id"] == "q1", "neg_index"]) == [0, 1, 2, 3]
    for bad, message in (({"per_request": 3}, "does not divide the 4 negatives"),
                         ({"template": "nope"}, "synthesize.template is 'nope'; use one of synthesize, synthesize_edit"),
                         ({"candidates": 0}, "synthesize.candidates is 0")):
        with pytest.raises(ValueError, match=message):
            SynthesizeConfig(**{"candidates": 2, **bad})
    with pytest.raises(ValueError, match="need about 1300 tokens, more than llm.max_tokens 512"):
        SynthesizeConfig(template="synthesize_edit", max_words=250, per_request=2).check_length(512)
    SynthesizeConfig(template="synthesize_edit", max_words=250, per_request=1).check_length(2048)  # fits
    with pytest.raises(ValueError, match="synthesize.max_words and synthesize.worked_example work with a template"):
        SynthesizeConfig(max_words=250)  # the paper's template asks for no length in words


def test_the_paper_template_renders_as_before_the_edit_template_existed():
    from syneg.llm.prompt import render_synthesis

    attrs = {"domain": "Virology", "difficulty": "Foundational", "length": "nearly the same as",
             "change": "the population studied"}
    text = render_synthesis("Statins reduce stroke.", "Statins lowered stroke by a third in 4,000 adults.", attrs, 2)
    assert "the population studied" not in text and "; write about" not in text
    edit = render_synthesis("Statins reduce stroke.", "Statins lowered stroke by a third in 4,000 adults.", attrs, 1,
                            name="synthesize_edit", max_words=250)
    assert "In your document, change the population studied." in edit and edit.endswith("write about 9 words.\n")
    fixed = lambda t: t.split("Assume you are an expert")[0]  # noqa: E731 - the part a local model reuses
    other = render_synthesis("Another claim.", "Another positive text here.", attrs, 1, name="synthesize_edit")
    assert fixed(edit) == fixed(other)
