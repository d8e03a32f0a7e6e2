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
    ("split with no queries", lambda d: (d / "qrels/test.tsv").write_text("query-id\tcorpus-id\tscore\r\n"),
     "qrels/test.tsv: no judgements, so split 'test' has no queries. Add lines"),
    ("query with no positive", lambda d: _line(d, "qrels/train.tsv", 4, b"q2\td4\t0\r\n"),
     "qrels/train.tsv: query 'q2' has no positive (every score < 1; 1 such). Judge one document relevant"),
]


def _run(args, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update({"PYTHONPATH": str(ROOT / "src"), "SYNEG_CACHE_DIR": str(cwd / ".cache"), **(env_extra or {})})
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


MIX = ["stages/mix.py", "--data", "p", "--mined", "m", "--synthetic", "s.parquet", "--judged", "j.parquet", "--out", "o",
       "--metrics", "o.json"]
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
    ("precision the backend cannot run", ENCODE, {"model.backend": "onnx", "model.precision": "bf16"},
     "model.precision is 'bf16' with model.backend 'onnx'; onnx runs fp32 or int8: set model.precision to"),
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


SYNTH = ["stages/synthesize.py", "--data", "prepared", "--mined", "mined", "--out", "o", "--llm-cache", "c",
         "--metrics", "o.json"]
LLAMACPP = {"llm.backend": "llamacpp", "llm.llamacpp.model": "fake.gguf", "llm.llamacpp.sha256": "ab" * 32}


def _unknown_placeholder(src):
    p = src / "syneg/llm/prompts/synthesize.jinja2"
    lines = p.read_text().splitlines(keepends=True)
    assert "{{ num_negatives }}" in lines[6]
    lines[6] = lines[6].replace("{{ num_negatives }}", "{{ num_negative }}")  # a typo
    p.write_text("".join(lines))


# (case id, params overrides, environment, how to break a copy of the package, expected message fragment):
# synthesize with an LLM backend, on a prepared and mined dataset, so only the LLM's needs are wrong
LLM_CASES = [
    ("GGUF wrong checksum", LLAMACPP, {}, None, "fake.gguf: sha256 differs from llm.llamacpp.sha256 (abababababab"),
    ("unreachable base_url", {"llm.backend": "openai", "llm.openai.base_url": "http://127.0.0.1:9/v1"},
     {"OPENAI_API_KEY": "placeholder"}, None, "llm.openai.base_url is http://127.0.0.1:9/v1, which does not answer"),
    ("missing OPENAI_API_KEY", {"llm.backend": "openai"}, {}, None,
     "llm.backend is 'openai' but OPENAI_API_KEY is not set. Export it"),
    ("prompt template unknown placeholder", LLAMACPP, {}, _unknown_placeholder,
     "synthesize.jinja2:7: unknown placeholder 'num_negative'; this template may use attributes, "),
]


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    """The tiny dataset, prepared, encoded and mined: what synthesize reads."""
    from tests.conftest import write_beir

    root = tmp_path_factory.mktemp("mined")
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    write_beir(root / "raw")
    for args in (["prepare.py", "--source", "raw", "--out", "prepared"], ["encode.py", "--data", "prepared", "--out",
                 "emb"], ["mine.py", "--data", "prepared", "--embeddings", "emb", "--out", "mined", "--metrics", "m.json"]):
        res = _run([str(ROOT / "stages" / args[0]), *args[1:]], root)
        assert res.returncode == 0, res.stderr[-2000:]
    return root


@pytest.mark.parametrize("case, overrides, env, breaks, fragment", LLM_CASES, ids=[c[0] for c in LLM_CASES])
def test_what_the_llm_needs_is_checked_before_any_item_in_one_line(mined, tmp_path, case, overrides, env, breaks,
                                                                   fragment):
    for name in ("prepared", "mined"):
        shutil.copytree(mined / name, tmp_path / name)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(**overrides)))
    (tmp_path / "fake.gguf").write_bytes(b"GGUF not a model")
    extra = dict(env)
    if breaks:  # the user's own checkout with an edited template
        shutil.copytree(ROOT / "src/syneg", tmp_path / "src/syneg", ignore=shutil.ignore_patterns("__pycache__"))
        breaks(tmp_path / "src")
        extra["PYTHONPATH"] = str(tmp_path / "src")
    res = _run([str(ROOT / SYNTH[0]), *SYNTH[1:]], tmp_path, extra)
    _assert_one_line(res, fragment, tmp_path)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.json").exists()
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()], "an answer was stored"


def test_the_table_has_at_least_25_cases():
    assert len(DATA) + len(PARAM_CASES) + len(LLM_CASES) >= 25
