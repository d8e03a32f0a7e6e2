import gzip
import json
import multiprocessing as mp

import pytest

from syneg.llm import cache as cache_mod
from syneg.llm.cache import AnswerCache, messages_sha256, request_key


def _req(i):
    return {"model": "m", "messages": [{"role": "user", "content": str(i)}]}


def _writer(path, start, n):
    cache = AnswerCache(path)
    for i in range(start, start + n):
        cache.put(request_key(_req(i)), _req(i), {"content": f"answer {i}"})
    cache.close()


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "answers")
    procs = [mp.get_context("spawn").Process(target=_writer, args=(path, k * 300, 300)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = AnswerCache(path)
    assert len(cache) == 900
    assert cache.get(request_key(_req(599))) == {"content": "answer 599"}


def test_key_covers_the_whole_request_and_batches_are_remembered(tmp_path):
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.7, "seed": 42}
    keys = {request_key(base), request_key({**base, "temperature": 0.0}), request_key({**base, "seed": 1}),
            request_key({**base, "model": "n"}), request_key({**base, "response_format": {"type": "json_object"}})}
    assert len(keys) == 5 and request_key(dict(reversed(list(base.items())))) == request_key(base)
    cache = AnswerCache(tmp_path / "c")
    cache.add_batch("batch_1", ["k1", "k2"])
    cache.close()
    again = AnswerCache(tmp_path / "c")
    assert again.open_batches() == [("batch_1", ["k1", "k2"])]
    again.close_batch("batch_1")
    assert again.open_batches() == []
    assert AnswerCache(tmp_path / "c").open_batches() == []


def test_a_store_is_small_git_friendly_files_and_reading_it_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "JOURNAL_PACK_BYTES", 20_000)  # fold the journal often
    monkeypatch.setattr(cache_mod, "MAX_PACK_BYTES", 6_000)
    path = tmp_path / "store"
    c = AnswerCache(path)
    for i in range(300):  # incompressible-ish answers, so packs must split
        c.put(request_key(_req(i)), _req(i), {"content": request_key(_req(-i)) * 3})
    assert len(list(path.glob("pack-*.jsonl.gz"))) > 1  # folded mid-run, not only at close
    c.close()
    files = sorted(p.name for p in path.iterdir())
    assert all(n.startswith("pack-") for n in files)  # the journal is folded in and gone
    assert all((path / n).stat().st_size <= 6_000 for n in files)
    packs = [[json.loads(line)["key"] for line in gzip.open(path / n, "rt")] for n in files if n.startswith("pack-")]
    assert sum(map(len, packs)) == 300 and all(keys == sorted(keys) for keys in packs)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    again = AnswerCache(path)
    assert len(again) == 300 and again.get(request_key(_req(7))) == {"content": request_key(_req(-7)) * 3}
    again.close()
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert not AnswerCache(tmp_path / "never").path.exists()  # a read of a missing store creates nothing


def test_a_line_torn_by_a_kill_is_cut_and_later_answers_are_kept(tmp_path):
    path = tmp_path / "store"
    c = AnswerCache(path)
    c.put(request_key(_req(1)), _req(1), {"content": "one"})
    with open(path / "journal.jsonl", "ab") as fh:  # what a kill in the middle of a write leaves
        fh.write(b'{"type": "answer", "key": "abc", "answ')
    c2 = AnswerCache(path)
    assert len(c2) == 1
    c2.put(request_key(_req(2)), _req(2), {"content": "two"})
    c3 = AnswerCache(path)
    assert c3.get(request_key(_req(2))) == {"content": "two"} and len(c3) == 2


def test_entries_say_which_conversation_each_answer_belongs_to(tmp_path):
    c = AnswerCache(tmp_path / "s")
    c.put(request_key(_req(3)), _req(3), {"content": "x", "prompt_tokens": 5}, model="qwen")
    (entry,) = c.entries()
    assert entry.model == "qwen" and entry.prompt_chars == 1 and entry.messages_sha256 == messages_sha256(_req(3))
    with pytest.raises(KeyError):
        c.entries()[0]._asdict()["request"]
