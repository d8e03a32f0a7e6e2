"""Bad input, table-driven: each case runs a real stage script and must end with exit status 1, one line on
stderr that names the file / line / key / value and the fix, no traceback, and no output or temporary left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from syneg.sandbox import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _line(folder: Path, name: str, lineno: int, text: bytes) -> None:
    p = folder / name
    lines = p.read_bytes().splitlines(keepends=True)
    lines[lineno - 1] = text
    p.write_bytes(b"".join(lines))


def _params(**overrides) -> dict:
    data = json.loads(json.dumps(PARAMS))
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return data


# (case id, how to break the dataset folder, expected message fragment)
DATA = [
    ("missing folder", lambda d: shutil.rmtree(d), "no dataset folder. Fetch it with `python -m syneg.data.fetch`"),
    ("missing corpus", lambda d: (d / "corpus.jsonl").unlink(), "corpus.jsonl: not found. A BEIR folder needs"),
    ("empty corpus", lambda d: (d / "corpus.jsonl").write_text(""), "corpus.jsonl: holds no documents"),
    ("line not JSON", lambda d: _line(d, "corpus.jsonl", 2, b"{not json\n"), "corpus.jsonl:2: not valid JSON"),
    ("JSON array line", lambda d: _line(d, "corpus.jsonl", 2, b"[1, 2]\n"), "corpus.jsonl:2: a JSON list, expected"),
    ("missing _id", lambda d: _line(d, "corpus.jsonl", 2, b'{"text": "x"}\n'), "corpus.jsonl:2: no '_id'. Give every"),
    ("query without text", lambda d: _line(d, "queries.jsonl", 1, b'{"_id": "q1"}\n'),
     "queries.jsonl:1: query 'q1' has empty 'text'"),
    ("document without title or text", lambda d: _line(d, "corpus.jsonl", 2, b'{"_id": "d2"}\n'),
     "document 'd2' has neither title nor text"),
    ("duplicate id", lambda d: _line(d, "corpus.jsonl", 2, b'{"_id": "d1", "text": "again"}\n'),
     "corpus.jsonl:2: document id 'd1' repeats line 1. Ids must be unique"),
    ("non-UTF-8 byte", lambda d: _line(d, "corpus.jsonl", 2, b'{"_id": "d2", "text": "caf\xe9"}\n'),
     "corpus.jsonl:2: byte 0xe9 at column 27 is not UTF-8. Re-save the file as UTF-8"),
    ("qrels wrong column count", lambda d: _line(d, "qrels/train.tsv", 2, b"q1\td1\r\n"),
     "train.tsv:2: 2 tab-separated columns, expected 3"),
    ("qrels unknown query", lambda d: _line(d, "qrels/train.tsv", 2, b"q9\td1\t1\r\n"),
     "query id 'q9' is not in queries.jsonl (1 such lines). Add the query or drop its judgements"),
    ("qrels unknown document", lambda d: _line(d, "qrels/train.tsv", 2, b"q1\td9\t1\r\n"),
     "corpus id 'd9' is not in corpus.jsonl"),
    ("qrels non-integer score", lambda d: _line(d, "qrels/train.tsv", 2, b"q1\td1\t0.5\r\n"),
     "train.tsv:2: score '0.5' is not an integer"),
    ("no qrels files", lambda d: shutil.rmtree(d / "qrels"), "no <split>.tsv files. Add at least qrels/test.tsv"),
    ("query in two splits", lambda d: _line(d, "qrels/test.tsv", 2, b"q1\td3\t1\r\n"),
     "query 'q1' is judged in splits test, train"),
]


def _run(args, cwd, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SYNEG_CACHE_DIR": str(cwd / ".cache"), **(env or {})}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _assert_one_line(res, fragment, cwd):
    assert res.returncode == 1, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-2000:]
    assert fragment in lines[0], lines[0]
    assert not [p for p in cwd.rglob("*") if ".tmp-" in p.name], "a temporary was left"


@pytest.mark.parametrize("case, breaks, fragment", DATA, ids=[c[0] for c in DATA])
def test_a_bad_dataset_is_named_in_one_line_and_prepare_writes_nothing(tiny_beir, tmp_path, case, breaks, fragment):
    source = tmp_path / "data/raw/tiny"
    shutil.copytree(tiny_beir, source)
    breaks(source)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    res = _run([str(ROOT / "stages/prepare.py"), "--source", "data/raw/tiny", "--out", "data/tiny/prepared"], tmp_path)
    _assert_one_line(res, fragment, tmp_path)
    assert not (tmp_path / "data/tiny/prepared").exists()


@pytest.mark.parametrize("case, content", [
    ("byte-order mark", lambda d: [(d / n).write_bytes(b"\xef\xbb\xbf" + (d / n).read_bytes())
                                   for n in ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv")]),
    ("qrels without header", lambda d: [(d / f"qrels/{s}.tsv").write_text(
        "".join((d / f"qrels/{s}.tsv").read_text().splitlines(keepends=True)[1:])) for s in ("train", "test")]),
    ("very long document and non-ASCII text", lambda d: (d / "corpus.jsonl").write_text(
        (d / "corpus.jsonl").read_text() + json.dumps({"_id": "long", "title": "Ünïcödé – 统计 ✓",
                                                       "text": "word " * 200_000}, ensure_ascii=False) + "\n",
        encoding="utf-8")),
])
def test_input_that_is_unusual_but_valid_is_read(tiny_beir, tmp_path, case, content):
    source = tmp_path / "data/raw/tiny"
    shutil.copytree(tiny_beir, source)
    content(source)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    res = _run([str(ROOT / "stages/prepare.py"), "--source", "data/raw/tiny", "--out", "out"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest["counts"]["qrels_train"] == 3 and manifest["counts"]["documents"] >= 4


MIX = ["stages/mix.py", "--data", "p", "--mined", "m", "--synthetic", "s.parquet", "--out", "o", "--metrics", "o.json"]
TRAIN = ["stages/train.py", "--data", "t.parquet", "--out", "o", "--metrics", "o.json", "--live", "live"]
ENCODE = ["stages/encode.py", "--data", "prepared", "--out", "o"]
PARAM_CASES = [
    ("ratio not a number", MIX, {"mix.ratio": "abc"}, "mix.ratio is 'abc' (a string); expected a number"),
    ("negatives not whole", MIX, {"mix.num_negatives": 2.5}, "mix.num_negatives is 2.5 (a number); expected an integer"),
    ("unknown strategy", MIX, {"mix.strategy": "mixed"}, "mix.strategy is 'mixed'; use one of"),
    ("ratio out of range", MIX, {"mix.ratio": 1.5}, "mix.ratio is 1.5; use a share in [0, 1]"),
    ("unknown key", MIX, {"mix.ratoi": 1}, "unknown key(s) mix.ratoi; known:"),
    ("missing section", MIX, {"mix": KeyError}, "'mix' is missing. Add it"),
    ("zero epochs", TRAIN, {"train.epochs": 0}, "train.epochs is 0; use a whole number >= 1"),
    ("full warmup", TRAIN, {"train.warmup_ratio": 1.0}, "train.warmup_ratio is 1.0; use a value in [0, 1)"),
    ("batch of one", TRAIN, {"train.batch_size": 1}, "train.batch_size is 1; use a whole number >= 2"),
    ("missing max_seq_length", TRAIN, {"model.max_seq_length": KeyError}, "'model.max_seq_length' is missing"),
    ("encode batch size 0", ENCODE, {"runtime.encode_batch_size": 0}, "runtime.encode_batch_size is 0; use a whole"),
    ("base model not a model", ENCODE, {"model.base": "./not-a-model"},
     "model.base is './not-a-model', which is not a sentence-transformers model folder"),
    ("unknown backend", ["stages/synthesize.py", "--data", "p", "--mined", "m", "--out", "o", "--llm-cache", "c",
                         "--metrics", "o.json"], {"llm.backend": "anthropic"},
     "llm.backend is 'anthropic', which has no section llm.anthropic; use one of"),
]


@pytest.mark.parametrize("case, args, overrides, fragment", PARAM_CASES, ids=[c[0] for c in PARAM_CASES])
def test_a_bad_param_is_named_with_its_value_and_what_is_allowed(tiny_beir, tmp_path, case, args, overrides,
                                                                 fragment):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(**overrides)))
    if args is ENCODE:  # the model is loaded after the data: give it a prepared dataset
        ok = _run([str(ROOT / "stages/prepare.py"), "--source", str(tiny_beir), "--out", "prepared"], tmp_path)
        assert ok.returncode == 0, ok.stderr
    res = _run([str(ROOT / args[0]), *args[1:]], tmp_path)
    _assert_one_line(res, fragment, tmp_path)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.json").exists()


def test_the_table_has_at_least_25_cases():
    assert len(DATA) + len(PARAM_CASES) >= 25
