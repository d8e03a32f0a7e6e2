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
