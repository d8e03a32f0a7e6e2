from syneg.llm.base import SynthesisItem
from syneg.llm.offline import OfflineGenerator, _terms, sentences

POSITIVE = "Statin therapy reduced ischemic stroke by 21% in adults over 65. The effect held in all subgroups."
NEIGHBORS = [
    "Statins are widely prescribed for cholesterol in older adults. Muscle pain is a common side effect. "
    "Statin therapy reduced ischemic stroke by 21% in adults over 65 in one trial.",
    "Stroke risk rises with age and blood pressure. Rehabilitation after stroke improves function.",
    "Aspirin lowers the risk of a second heart attack. Bleeding risk rises with dose.",
]


def _item(length="approximately the same as"):
    return SynthesisItem("q1", "d1", "Statins reduce stroke risk in older adults.", POSITIVE,
                         {"domain": "Epidemiology", "length": length}, NEIGHBORS)


def test_is_deterministic_and_labelled_as_stand_in():
    gen = OfflineGenerator()
    assert gen.stand_in and gen.name == "offline"
    a = gen.generate([_item()], 2)[0]
    b = OfflineGenerator().generate([_item()], 2)[0]
    assert a.negatives == b.negatives and len(a.negatives) == 2
    assert "STAND-IN" in a.reasoning


def test_never_uses_a_sentence_that_overlaps_the_positive():
    res = OfflineGenerator().generate([_item()], 2)[0]
    pos = [_terms(s) for s in sentences(POSITIVE)]
    for neg in res.negatives:
        assert "21%" not in neg
        for s in sentences(neg):
            t = _terms(s)
            assert all(len(t & p) / len(t) <= 0.5 for p in pos)


def test_on_topic_and_negatives_of_one_instance_differ():
    res = OfflineGenerator().generate([_item()], 2)[0]
    assert res.negatives[0] != res.negatives[1]
    assert any("stroke" in n.lower() or "statin" in n.lower() for n in res.negatives)


def test_honours_the_length_attribute():
    long = SynthesisItem("q", "d", "stroke risk statins", " ".join(["word"] * 20), {"length": "shorter than"},
                         [". ".join(f"Stroke sentence number {i} about statins and risk" for i in range(40))])
    same = SynthesisItem("q", "d", "stroke risk statins", " ".join(["word"] * 20), {"length": "approximately the same as"},
                         long.neighbors)
    n_short = len(OfflineGenerator().generate([long], 1)[0].negatives[0].split())
    n_same = len(OfflineGenerator().generate([same], 1)[0].negatives[0].split())
    assert n_short < n_same
    assert 16 <= n_same <= 24  # within 20% of the positive's 20 words


def test_no_neighbours_is_a_recorded_failure():
    res = OfflineGenerator().generate([SynthesisItem("q", "d", "x", "y", {}, [])], 2)[0]
    assert res.negatives == [] and res.error
