import json

import pytest

from syneg.data.beir import DataError, file_manifest, load_folder, locate
from tests.conftest import SCIFACT, write_beir


def test_loads_graded_qrels_empty_titles_and_id_collisions(tiny_ds):
    assert tiny_ds.splits() == ["test", "train"]
    assert set(tiny_ds.corpus["doc_id"]) >= {"d3", "q1"}  # a doc id equal to a query id is kept
    assert tiny_ds.corpus.set_index("doc_id").loc["d3", "title"] == ""
    # graded: score 0 is judged but not relevant; score 2 is relevant
    assert tiny_ds.relevant("train") == {"q1": {"d1": 1, "d2": 0}, "q2": {"d4": 2}}
    pos = tiny_ds.positives("train")
    assert list(zip(pos["query_id"], pos["doc_id"])) == [("q1", "d1"), ("q2", "d4")]


def test_crlf_is_stripped(tiny_ds):
    assert not any("\r" in s for s in tiny_ds.qrels["doc_id"])


def test_unknown_split_names_the_fix(tiny_ds):
    with pytest.raises(DataError, match="no qrels for split 'dev'.*test, train"):
        tiny_ds.positives("dev")


def test_test_only_dataset_loads(tmp_path):
    ds = load_folder(write_beir(tmp_path / "t", qrels={"test": [("q3", "d3", 1)]}))
    assert ds.splits() == ["test"]
    with pytest.raises(DataError, match="split 'train'"):
        ds.positives("train")


def _corrupt(folder, name, lineno, text):
    p = folder / name
    lines = p.read_text().splitlines(keepends=True)
    lines[lineno - 1] = text
    p.write_text("".join(lines))


@pytest.mark.parametrize(
    "name, lineno, text, match",
    [
        ("corpus.jsonl", 2, "{not json\n", r"corpus.jsonl:2: not valid JSON"),
        ("corpus.jsonl", 3, json.dumps({"title": "x", "text": "y"}) + "\n", r"corpus.jsonl:3: no '_id'"),
        ("corpus.jsonl", 3, json.dumps({"_id": "d1", "text": "y"}) + "\n", r"corpus.jsonl:3: document id 'd1' repeats line 1"),
        ("queries.jsonl", 2, json.dumps({"_id": "q2", "text": " "}) + "\n", r"queries.jsonl:2: query 'q2' has empty 'text'"),
        ("qrels/train.tsv", 2, "q1\td1\r\n", r"train.tsv:2: 2 tab-separated columns"),
        ("qrels/train.tsv", 2, "q1\td1\tyes\r\n", r"train.tsv:2: score 'yes' is not an integer"),
        ("qrels/train.tsv", 3, "q1\td1\t1\r\n", r"train.tsv:3: pair \(q1, d1\) repeats line 2"),
        ("qrels/train.tsv", 2, "q9\td1\t1\r\n", r"train.tsv: query id 'q9' is not in queries.jsonl"),
        ("qrels/train.tsv", 2, "q1\td9\t1\r\n", r"train.tsv: corpus id 'd9' is not in corpus.jsonl"),
        ("qrels/test.tsv", 2, "q1\td3\t1\r\n", r"query 'q1' is judged in splits test, train"),
    ],
)
def test_bad_input_names_file_line_and_fix(tiny_beir, name, lineno, text, match):
    _corrupt(tiny_beir, name, lineno, text)
    with pytest.raises(DataError, match=match):
        load_folder(tiny_beir)


def test_missing_file_and_folder(tmp_path, tiny_beir):
    with pytest.raises(DataError, match="no such folder"):
        load_folder(tmp_path / "nope")
    (tiny_beir / "queries.jsonl").unlink()
    with pytest.raises(DataError, match="queries.jsonl: not found"):
        load_folder(tiny_beir)


def test_locate_uses_env_folder_and_explains_a_wrong_one(tmp_path, monkeypatch, tiny_beir):
    monkeypatch.setenv("SYNEG_BEIR_DIR", str(tiny_beir.parent))
    assert locate("tiny") == tiny_beir
    with pytest.raises(DataError, match="no folder 'scifact'.*unset SYNEG_BEIR_DIR"):
        locate("scifact")


def test_manifest_is_independent_of_location(tmp_path, tiny_beir):
    import shutil

    copy = shutil.copytree(tiny_beir, tmp_path / "elsewhere" / "tiny")
    assert file_manifest(copy) == file_manifest(tiny_beir)


@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason="SciFact not available")
def test_real_scifact_counts():
    ds = load_folder(SCIFACT)
    assert len(ds.corpus) == 5183 and len(ds.queries) == 1109
    assert (ds.qrels["split"] == "train").sum() == 919 and (ds.qrels["split"] == "test").sum() == 339
    assert file_manifest(SCIFACT)["corpus.jsonl"]["sha256"].startswith("dec31c8182f3d744")


def test_a_byte_order_mark_is_read_and_a_non_utf8_byte_is_named_with_line_and_column(tiny_beir):
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv"):
        p = tiny_beir / name
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())  # what Windows editors save
    ds = load_folder(tiny_beir)
    assert ds.corpus["doc_id"].iloc[0] == "d1" and ds.splits() == ["test", "train"]
    p = tiny_beir / "corpus.jsonl"
    lines = p.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"}", b', "x": "caf\xe9"}')  # latin-1 e-acute
    p.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match=r"corpus.jsonl:2: byte 0xe9 at column \d+ is not UTF-8\. Re-save the file "
                                        r"as UTF-8"):
        load_folder(tiny_beir)
