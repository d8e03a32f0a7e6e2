import multiprocessing as mp

from syneg.llm.cache import AnswerCache, request_key


def _writer(path, start, n):
    cache = AnswerCache(path)
    for i in range(start, start + n):
        req = {"model": "m", "messages": [{"role": "user", "content": str(i)}]}
        cache.put(request_key(req), req, {"content": f"answer {i}"})
    cache.close()


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "answers.sqlite")
    procs = [mp.get_context("spawn").Process(target=_writer, args=(path, k * 300, 300)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = AnswerCache(path)
    assert len(cache) == 900
    req = {"model": "m", "messages": [{"role": "user", "content": "599"}]}
    assert cache.get(request_key(req)) == {"content": "answer 599"}


def test_key_covers_the_whole_request_and_batches_are_remembered(tmp_path):
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.7, "seed": 42}
    keys = {request_key(base), request_key({**base, "temperature": 0.0}), request_key({**base, "seed": 1}),
            request_key({**base, "model": "n"}), request_key({**base, "response_format": {"type": "json_object"}})}
    assert len(keys) == 5 and request_key(dict(reversed(list(base.items())))) == request_key(base)
    cache = AnswerCache(tmp_path / "c.sqlite")
    cache.add_batch("batch_1", ["k1", "k2"])
    cache.close()
    again = AnswerCache(tmp_path / "c.sqlite")
    assert again.open_batches() == [("batch_1", ["k1", "k2"])]
    again.close_batch("batch_1")
    assert again.open_batches() == []
