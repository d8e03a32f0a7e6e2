"""The synthesize stage as users run it: a subprocess against a local OpenAI-compatible server.

Covers the dry run (projected requests, tokens, cost; sends nothing) and ``kill -9`` in the middle of a run:
the rerun's output equals an uninterrupted run's, and no request whose answer was stored is sent again.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from syneg.data import store
from syneg.io import write_parquet
from syneg.llm.cache import AnswerCache, messages_sha256
from syneg.sandbox import ROOT, stage_args
from tests.llm.fake_openai import FakeOpenAI, completion, error

N = 40


def answer(body, n):
    """Deterministic per prompt, so an interrupted run and an uninterrupted one can be compared."""
    prompt = body["messages"][0]["content"]
    if "[Checks]" in prompt:  # the reflect stage's critique
        verdict = "drop" if "-1 discusses" in prompt else "keep"  # the second negative: judged a false negative
        return 200, completion(json.dumps({"answers_query": verdict == "drop", "on_topic": True,
                                           "keeps_attributes": True, "verdict": verdict, "reason": "test",
                                           "revised_document": ""})), {}
    h = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    docs = [f"Document {h}-{k} discusses statin prescriptions and cholesterol in older adults." for k in range(2)]
    return 200, completion(json.dumps({"reasoning": f"r {h}", "hard_negatives": docs})), {"x-sleep": "0.05"}


@pytest.fixture
def project(tmp_path):
    """A stage workspace: prepared data, mined pairs and a params file, for N training pairs."""
    ds = store.Dataset(
        corpus=pd.DataFrame({"doc_id": [f"d{i}" for i in range(N)], "title": "",
                             "text": [f"Finding {i}: statins changed outcome {i} in cohort {i}." for i in range(N)]}),
        queries=pd.DataFrame({"query_id": [f"q{i}" for i in range(N)],
                              "text": [f"Statins change outcome {i}." for i in range(N)]}),
        qrels=pd.DataFrame({"split": "train", "query_id": [f"q{i}" for i in range(N)],
                            "doc_id": [f"d{i}" for i in range(N)], "score": 1}),
    )
    store.save(ds, tmp_path / "data/scifact/prepared", {"dataset": "scifact"})
    write_parquet(tmp_path / "data/scifact/mined/pairs.parquet",
                  pd.DataFrame({"query_id": [f"q{i}" for i in range(N)], "pos_id": [f"d{i}" for i in range(N)]}))
    write_parquet(tmp_path / "data/scifact/mined/candidates.parquet",
                  pd.DataFrame({"query_id": [f"q{i}" for i in range(N)], "pos_id": [f"d{i}" for i in range(N)],
                                "doc_id": [f"d{(i + 1) % N}" for i in range(N)], "rank": 1}))
    return tmp_path


def write_params(folder, base_url, **llm):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["llm"].update(backend="openai", **llm)
    params["llm"]["openai"].update(base_url=base_url, model="gpt-4o-mini")
    params["runtime"]["openai"].update(concurrency=2, max_retries=0, timeout=10)
    params["reflect"]["model_check"] = False  # no encoder needed here; the check itself is tested elsewhere
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


def run_stage(folder, *args, wait=True, stage="synthesize"):
    script, *paths = stage_args(stage)
    cmd = [sys.executable, str(ROOT / script), *paths, *args]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "PYTHONPATH": str(ROOT / "src")}
    if wait:
        return subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stored_conversations(folder):
    """The messages (as their sha256) of every stored answer."""
    cache = AnswerCache(folder / "data/scifact/llm_cache/synthesize")
    entries = cache.entries()
    cache.close()
    return {e.messages_sha256 for e in entries}


def test_dry_run_projects_requests_tokens_and_cost_and_sends_nothing(project):
    with FakeOpenAI(answer) as srv:
        write_params(project, srv.base_url)
        res = run_stage(project, "--dry-run", "--reflect-cache", "data/scifact/llm_cache/reflect")
        assert res.returncode == 0, res.stderr
        assert srv.requests == [] and not (project / "data/scifact/llm_cache").exists()
        line = next(x for x in res.stdout.splitlines() if x.startswith("synthesize"))
        cols = line.split()
        assert cols[1:3] == [str(N), "0"] and float(cols[6]) > 0  # requests, cached, cost
        assert "reflect (critique, upper bound)" in res.stdout and "gpt-4o-mini" in res.stdout
        assert run_stage(project).returncode == 0
        sent = len(srv.requests)
        res = run_stage(project, "--dry-run", "--reflect-cache", "data/scifact/llm_cache/reflect")
        line = next(x for x in res.stdout.splitlines() if x.startswith("synthesize"))
        assert line.split()[1:3] == ["0", str(N)] and "store usage" in res.stdout
        assert len(srv.requests) == sent


def test_kill_9_mid_run_then_rerun_equals_an_uninterrupted_run_and_repeats_no_stored_request(project, tmp_path):
    with FakeOpenAI(answer) as srv:
        write_params(project, srv.base_url)
        proc = run_stage(project, wait=False)
        deadline = time.time() + 120
        while len(srv.requests) < N // 3 and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (project / "data/scifact/synthetic/negatives.parquet").exists()  # nothing half-written
        before = stored_conversations(project)
        assert 0 < len(before) < N
        first = len(srv.requests)
        res = run_stage(project)
        assert res.returncode == 0, res.stderr
        resent = {messages_sha256(r) for r in srv.requests[first:]}
        assert not resent & before and len(resent) == N - len(before)
        metrics = json.loads((project / "metrics/scifact/synthesize.json").read_text())
        assert metrics["cache_hits"] == len(before) and metrics["requests"] == N - len(before)
        sent = len(srv.requests)
        assert run_stage(project).returncode == 0  # warm: zero requests
        assert len(srv.requests) == sent
        assert json.loads((project / "metrics/scifact/synthesize.json").read_text())["requests"] == 0

        ws = tmp_path / "uninterrupted"
        ws.mkdir()
        subprocess.run(["cp", "-r", str(project / "data"), str(ws / "data")], check=True)
        subprocess.run(["rm", "-rf", str(ws / "data/scifact/llm_cache"), str(ws / "data/scifact/synthetic")], check=True)
        write_params(ws, srv.base_url)
        assert run_stage(ws).returncode == 0
    for name in ("negatives.parquet", "failures.parquet"):
        a = pd.read_parquet(project / "data/scifact/synthetic" / name)
        b = pd.read_parquet(ws / "data/scifact/synthetic" / name)
        pd.testing.assert_frame_equal(a, b)
    assert len(pd.read_parquet(ws / "data/scifact/synthetic/negatives.parquet")) == 2 * N


def test_reflect_stage_critiques_every_candidate_with_the_llm_and_reports_it(project):
    with FakeOpenAI(answer) as srv:
        write_params(project, srv.base_url)
        assert run_stage(project).returncode == 0
        first = len(srv.requests)
        res = run_stage(project, stage="reflect")
        assert res.returncode == 0, res.stderr
        m = json.loads((project / "metrics/scifact/reflect.json").read_text())
        assert m["llm"]["requests"] == 2 * N == len(srv.requests) - first
        assert m["verdicts"] == {"drop": N, "keep": N} and m["acceptance_rate"] == 0.5
        assert m["dropped_by_reason"] == {"critique drop": N} and m["llm"]["cost_usd"] > 0
        assert any((project / "data/scifact/llm_cache/reflect").glob("pack-*.jsonl.gz"))
        assert run_stage(project, stage="reflect").returncode == 0  # warm: no request
        assert len(srv.requests) == first + 2 * N


def test_too_many_failed_items_fail_the_stage_in_one_line_and_a_rerun_asks_only_for_them(project):
    down = {"on": True}

    def script(body, n):
        prompt = body["messages"][0]["content"]
        if down["on"] and any(f"outcome {i}." in prompt for i in range(10)):
            return error(500, "model overloaded")
        return answer(body, n)

    with FakeOpenAI(script) as srv:
        write_params(project, srv.base_url)
        res = run_stage(project)
        assert res.returncode == 1
        lines = res.stderr.strip().splitlines()
        assert lines[-1] == ("error: synthesize: 10 of 40 items failed (25.0% > llm.max_failed_share 2.0%); top "
                             "reasons: http_500 x10 (Error code: 500 - model overloaded). Fix the cause and run the stage "
                             "again: stored answers are kept and only the failed items are asked again.")
        assert not (project / "data/scifact/synthetic/negatives.parquet").exists()
        assert len(stored_conversations(project)) == 30
        down["on"] = False
        first = len(srv.requests)
        res = run_stage(project)
        assert res.returncode == 0, res.stderr
        assert len(srv.requests) - first == 10
        assert json.loads((project / "metrics/scifact/synthesize.json").read_text())["failed_instances"] == 0


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_one_line_before_any_item_is_sent(project):
    write_params(project, f"http://127.0.0.1:{_free_port()}/v1")  # nothing listens there
    res = run_stage(project)
    assert res.returncode == 1, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: llm.openai.base_url is http://127.0.0.1:"), res.stderr
    assert "which does not answer (APIConnectionError" in lines[0] and "start the server or fix" in lines[0]
    assert not (project / "metrics/scifact/synthesize.json").exists()


def test_a_missing_key_is_one_line_and_a_warm_rerun_needs_none(project):
    import os

    with FakeOpenAI(answer) as srv:
        write_params(project, srv.base_url)
        script, *paths = stage_args("synthesize")
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        env["PYTHONPATH"] = str(ROOT / "src")
        res = subprocess.run([sys.executable, str(ROOT / script), *paths], cwd=project, env=env,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 1 and srv.requests == []
        assert res.stderr.strip().splitlines() == [
            "error: llm.backend is 'openai' but OPENAI_API_KEY is not set. Export it (any placeholder for a local "
            "server that ignores keys); keys never go in params.yaml."]
        assert run_stage(project).returncode == 0  # with the key: asked once and stored
        res = subprocess.run([sys.executable, str(ROOT / script), *paths], cwd=project, env=env,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]  # every answer stored: no key, no server needed


def test_the_api_key_appears_in_no_file_the_stages_write_nor_in_their_output(project):
    import os

    import secrets

    secret = "-".join(["sk", "SYNEG", "canary", secrets.token_hex(8)])  # built here: no key-like text in git
    with FakeOpenAI(answer) as srv:
        write_params(project, srv.base_url)
        script, *paths = stage_args("synthesize")
        env = {**os.environ, "OPENAI_API_KEY": secret, "PYTHONPATH": str(ROOT / "src"),
               "SYNEG_CACHE_DIR": str(project / ".cache")}
        outputs = []
        for stage in ("synthesize", "reflect"):
            script, *paths = stage_args(stage)
            res = subprocess.run([sys.executable, str(ROOT / script), *paths], cwd=project, env=env,
                                 capture_output=True, text=True, timeout=300)
            assert res.returncode == 0, res.stderr[-2000:]
            outputs += [res.stdout, res.stderr]
        assert set(srv.auth) == {f"Bearer {secret}"}  # it was used ...
    written = [p for p in project.rglob("*") if p.is_file()]
    assert len(written) > 10
    for path in written:  # ... and is nowhere: answer store, metrics, timings, kept copies, params
        data = path.read_bytes()
        if path.suffix == ".gz":
            import gzip

            data = gzip.decompress(data)
        assert secret.encode() not in data, path
    assert not any(secret in text for text in outputs)
