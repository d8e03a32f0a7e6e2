"""Benchmarks, measured as ratios within one run (never as timed tests). `make bench` runs them all.

1. encode: folded into 5 (`encoding` measures the fp32 path against bare ``SentenceTransformer.encode``, goal >= 0.95).
2. llm: the openai backend's whole path (prompt, request through the real client, answer store, validation)
   against the local OpenAI-compatible server (tests/llm/fake_openai.py, its own process) answering after a
   fixed 100 ms. Goal: achieved requests/s at concurrency 32 >= 0.9 x the bound 32 / 0.1 s. Then a rerun of
   1,000 of those items with the warm answer store: goal 0 requests; its time per item is reported.
3. noop_repro: wall time of ``dvc repro`` when nothing changed, in a sandbox copy of the project that has
   run the pipeline once on a small SciFact cut. Goal: < 5 s.
4. matmul: the machine's limit (fp32 and bf16 matmul GFLOP/s, :mod:`limits`) that 5 and 6 are divided by.
5. encoding: bare fp32 encode, syneg's fp32 and bf16 paths and the exported backends (OpenVINO fp32 / bf16 /
   int8, ONNX Runtime fp32 / int8), rates and shares of the limit, and the nDCG@10 each gives (:mod:`encoding`).
   Goals: fp32 >= 0.95 x bare; a fast path >= 2 x fp32 within 0.3 nDCG@10 points (``goal_met`` per path).
6. training: syneg's trainer (fp32, bf16) against the bare sentence-transformers trainer on the pipeline's
   mixed table; the cached loss at batch 256 against the plain loss at 32 and 256, memory and speed
   (:mod:`training`). Goals: >= 0.95 x bare, >= 0.5 x the limit.
7. mining: a 100,000-document synthetic corpus mined with exact, IVF and HNSW search: time, peak memory
   above the data, recall of the approximate indexes (:mod:`mining`).

Results are printed and written to benchmarks/results/latest.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
app = typer.Typer(add_completion=False)


def _scifact() -> Path:
    return Path(os.environ.get("SYNEG_BEIR_DIR", ROOT.parent / "shared" / "data" / "beir")) / "scifact"


def bench_llm(n_items: int, concurrency: int, delay: float, warm_items: int) -> dict:
    import subprocess
    import urllib.request

    from syneg.llm.asking import Asker
    from syneg.llm.base import SynthesisItem
    from syneg.llm.cache import AnswerCache
    from syneg.llm.openai_backend import OpenAIBackend
    from syneg.llm.synthesizer import LLMSynthesizer

    import openai  # noqa: F401 - imported outside the timed region (0.5 s, once per process), as models are loaded

    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-placeholder")
    server = subprocess.Popen([sys.executable, "-m", "tests.llm.fake_openai", "--delay", str(delay)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        count = lambda: json.load(urllib.request.urlopen(url + "/_count"))["requests"]  # noqa: E731
        items = [SynthesisItem(f"q{i}", f"d{i}", f"Statin therapy changes outcome {i} in older adults.",
                               f"In a cohort of {i} patients, statins reduced outcome {i} by {i % 40}%. " * 6,
                               {"domain": "Epidemiology", "difficulty": "Intermediate", "length": "nearly the same as"})
                 for i in range(n_items)]
        store = Path(tempfile.mkdtemp(prefix="syneg-bench-")) / "answers"

        def writer():
            backend = OpenAIBackend(model="fake", base_url=url, concurrency=concurrency, timeout=30, max_retries=0)
            return LLMSynthesizer(Asker(backend, AnswerCache(store), "json_schema", 1))

        cold = writer()
        t0 = time.perf_counter()
        res = cold.generate(items, 2)
        wall = time.perf_counter() - t0
        failed = sum(bool(r.error) for r in res)
        cold.asker.cache.close()
        sent = count()
        warm = writer()
        t0 = time.perf_counter()
        res2 = warm.generate(items[:warm_items], 2)
        warm_wall = time.perf_counter() - t0
        bound = concurrency / delay
        return {"items": n_items, "concurrency": concurrency, "server_delay_s": delay, "failed": failed,
                "requests_per_s": round(sent / wall, 1), "bound_per_s": bound,
                "ratio_to_bound": round(sent / wall / bound, 3), "goal": ">= 0.9",
                "warm_items": warm_items, "warm_requests": count() - sent,
                "warm_failed": sum(bool(r.error) for r in res2),
                "warm_ms_per_item": round(1000 * warm_wall / warm_items, 3), "warm_goal": "0 requests"}
    finally:
        server.kill()


def _synthesis_prompts(n: int) -> list[str]:
    """The synthesize stage's prompts for the first ``n`` SciFact training pairs (default params)."""
    import pandas as pd

    from syneg.data.beir import load_folder
    from syneg.params import for_stage
    from syneg.llm.prompt import render_synthesis
    from syneg.synthesis import SynthesizeConfig, build_items

    ds = load_folder(_scifact())
    cfg = for_stage("synthesize", ("synthesize",), ROOT / "params.yaml").build(SynthesizeConfig, "synthesize")
    pairs = ds.qrels[(ds.qrels["split"] == "train") & (ds.qrels["score"] > 0)][["query_id", "doc_id"]]
    pairs = pairs.rename(columns={"doc_id": "pos_id"}).head(n)
    empty = pd.DataFrame({"query_id": [], "pos_id": [], "doc_id": []})
    items = build_items(ds, pairs, empty, cfg, "scifact")
    return [render_synthesis(it.query, it.positive, it.attributes, cfg.num_negatives, cfg.prompt) for it in items]


def bench_llamacpp(n_prompts: int, model: str, n_threads: int, parallel: int, modes: str) -> dict:
    """Generated tokens/s on the synthesize stage's own prompts: bare llama-cpp-python, the backend in process
    (goal >= 0.9 x bare), and the backend through llama-server with parallel slots."""
    from syneg.llm.answers import synthesis_spec
    from syneg.llm.asking import Asker
    from syneg.llm.cache import AnswerCache
    from syneg.llm.config import LLM_KEYS, from_params
    from syneg.llm.gguf import resolve
    from syneg.llm.llamacpp_backend import LlamaCppBackend
    from syneg.params import for_stage

    llm = from_params(for_stage("synthesize", LLM_KEYS, ROOT / "params.yaml"))
    prompts = _synthesis_prompts(n_prompts)
    spec = synthesis_spec(2)
    path = resolve(model)
    out: dict = {"model": model, "prompts": len(prompts), "n_threads": n_threads}
    keep = ("top_p", "top_k", "min_p", "repeat_penalty", "n_ctx")
    sampling = {"temperature": llm.temperature, "seed": llm.seed, "max_tokens": llm.max_tokens,
                **{k: v for k, v in (llm.llamacpp or {}).items() if k in keep}}
    backend_in = LlamaCppBackend(model, mode="in_process", n_threads=n_threads, **sampling)
    asker = Asker(backend_in, AnswerCache(tempfile.mkdtemp(prefix="syneg-bench-") + "/a"))
    bodies = [asker.request([{"role": "user", "content": p}], spec)[0] for p in prompts]
    if "bare" in modes:
        from llama_cpp import Llama

        bare = Llama(model_path=str(path), n_ctx=4096, n_threads=n_threads, n_threads_batch=n_threads,
                     verbose=False)
        bare.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=1)  # warm
        t0, tokens = time.perf_counter(), 0
        for body in bodies:
            tokens += bare.create_chat_completion(**body)["usage"]["completion_tokens"]
        wall = time.perf_counter() - t0
        out["bare"] = {"completion_tokens": tokens, "seconds": round(wall, 1), "tokens_per_s": round(tokens / wall, 2)}
        bare.close()
    if "in_process" in modes:
        backend_in._load().create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=1)
        t0 = time.perf_counter()
        asker.ask(prompts, spec)
        wall = time.perf_counter() - t0
        st = asker.stats()
        out["in_process"] = {"completion_tokens": st["completion_tokens"], "seconds": round(wall, 1),
                             "tokens_per_s": round(st["completion_tokens"] / wall, 2), "engine": st["engine"]}
        backend_in.close()
    if "server" in modes:
        backend_sv = LlamaCppBackend(model, mode="server", n_threads=n_threads, parallel=parallel, **sampling)
        sv = Asker(backend_sv, AnswerCache(tempfile.mkdtemp(prefix="syneg-bench-") + "/b"))
        sv.ask(["Say hi."], synthesis_spec(1))  # starts the server outside the timed region
        t0 = time.perf_counter()
        sv.ask(prompts, spec)
        wall = time.perf_counter() - t0
        st = sv.stats()
        out["server"] = {"parallel": parallel, "completion_tokens": st["completion_tokens"] - 0,
                         "seconds": round(wall, 1), "engine": st["engine"]}
        out["server"]["tokens_per_s"] = round((st["engine"]["completion_tokens"]) / wall, 2)
        backend_sv.close()
    if "bare" in out and "in_process" in out:
        out["in_process_vs_bare"] = round(out["in_process"]["tokens_per_s"] / out["bare"]["tokens_per_s"], 3)
        out["goal"] = "in_process_vs_bare >= 0.9"
    if "server" in out and "in_process" in out:
        out["server_vs_in_process"] = round(out["server"]["tokens_per_s"] / out["in_process"]["tokens_per_s"], 3)
    return out


#: The small sandbox pipeline: the offline stand-in instead of the LLM (no model runs; its answers for this
#: cut are not committed), as the end-to-end tests use it.
SANDBOX_PARAMS = {"model": {"max_seq_length": 32}, "mine": {"depth": 20, "keep": 5}, "train": {"batch_size": 8},
                  "llm": {"backend": "offline", "max_failed_share": 0.2}}


def _sandbox(prefix: str):
    """A temporary folder and, in it, the sandbox project (``proj``) over a small SciFact cut (``beir``)."""
    from syneg.data.subset import write_subset
    from syneg.sandbox import Sandbox

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    write_subset(_scifact(), tmp / "beir" / "scifact", {"train": 20, "test": 10}, extra_docs=50)
    return tmp, Sandbox.create(tmp / "proj", tmp / "beir", SANDBOX_PARAMS)


def bench_noop_repro(repeats: int) -> dict:
    _, box = _sandbox("syneg-bench-")
    t0 = time.perf_counter()
    box.run("dvc", "repro")
    first = time.perf_counter() - t0
    box.commit("run")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = box.run("dvc", "repro")
        times.append(time.perf_counter() - t0)
        assert "up to date" in out, out
    return {"first_repro_s": round(first, 1), "noop_repro_s": round(min(times), 2),
            "noop_repro_max_s": round(max(times), 2), "goal": "< 5 s"}


def bench_fresh_clone_exp(ratio: float = 0.5) -> dict:
    """``dvc exp run -S mix.ratio=<ratio>`` from a fresh clone of a project that has run the pipeline, on the
    sandbox's small SciFact cut: cold (nothing pulled: every stage runs), and after ``dvc pull --run-cache``
    from the project's DVC remote (a folder here): only the stages the ratio changes run."""
    import shutil

    from syneg.sandbox import Sandbox, ran_stages

    tmp, box = _sandbox("syneg-bench-clone-")
    box.run("dvc", "repro")
    box.commit("run")
    box.run("dvc", "remote", "add", "--local", "-d", "team", str(tmp / "remote"))
    box.run("dvc", "push", "--run-cache")
    out = {}
    for name, pull in (("cold", False), ("after_pull", True)):
        clone = Sandbox(tmp / name, {**box.env, "SYNEG_CACHE_DIR": str(tmp / name / ".cache" / "syneg")})
        box.run("git", "clone", "-q", str(box.path), str(clone.path))
        t0 = time.perf_counter()
        if pull:
            clone.run("dvc", "remote", "add", "--local", "-d", "team", str(tmp / "remote"))
            clone.run("dvc", "pull", "--run-cache")
        else:
            clone.run(sys.executable, "-m", "syneg.data.fetch")
        ran = ran_stages(clone.run("dvc", "exp", "run", "-S", f"mix.ratio={ratio}"))
        out[name] = {"seconds": round(time.perf_counter() - t0, 1), "stages_run": len(ran)}
    shutil.rmtree(tmp, ignore_errors=True)
    return out


@app.command()
def main(
    only: str = typer.Option("", help="Run some benchmarks (comma-separated): encode, llm, llamacpp, noop_repro, "
                             "matmul, encoding, training, cached, mining, fresh_clone_exp."),
    train_rows: int = typer.Option(96, help="Rows of the mixed table the training benchmark trains on."),
    train_max_len: int = typer.Option(128, help="Tokens per text in the training benchmark."),
    cached_max_len: int = typer.Option(64, help="Tokens per text in the cached-loss benchmark (plain at batch 256 "
                                       "must fit in memory too, to be compared)."),
    quality_docs: int = typer.Option(0, help="Documents of the sub-corpus the encoding nDCG is measured on (0: the "
                                     "whole corpus, whose fp32 nDCG@10 is the published 64.51)."),
    mine_docs: int = typer.Option(100_000, help="Documents of the mining benchmark's synthetic corpus."),
    llm_items: int = typer.Option(3000, help="Requests the llm benchmark sends (at the bound: 9.4 s)."),
    n_docs: int = typer.Option(1024, help="SciFact documents encoded by the encode benchmark."),
    repeats: int = typer.Option(3, help="Repeats per measurement (the best is kept)."),
    llamacpp_prompts: int = typer.Option(8, help="Synthesis prompts per llama.cpp engine."),
    llamacpp_model: str = typer.Option("qwen2.5-coder-1.5b-instruct-q4_k_m", help="GGUF model (llm.llamacpp.model)."),
    llamacpp_threads: int = typer.Option(2, help="llama.cpp threads (the machine's idle cores)."),
    llamacpp_parallel: int = typer.Option(4, help="llama-server slots."),
    llamacpp_modes: str = typer.Option("bare,in_process,server", help="Engines to measure."),
    out: Path = typer.Option(ROOT / "benchmarks" / "results" / "latest.json", help="Where results go."),
) -> None:
    """Run the benchmarks and print their ratios and times."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    chosen = set(filter(None, only.split(",")))
    want = lambda name: not chosen or name in chosen  # noqa: E731
    table = ROOT / "data" / "scifact" / "mixed" / "train.parquet"
    matmul = None
    if chosen & {"matmul", "encoding", "encode", "training"} or not chosen:
        import limits

        matmul = limits.matmul_gflops()
        results["matmul"] = {"fp32_gflops": round(matmul, 1),
                             "bf16_gflops": round(limits.matmul_gflops(dtype="bfloat16"), 1)}
        typer.echo(f"matmul: {results['matmul']}")
    if want("llm"):
        results["llm"] = bench_llm(llm_items, concurrency=32, delay=0.1, warm_items=1000)
        typer.echo(f"llm: {results['llm']}")
    if want("llamacpp"):
        results["llamacpp"] = bench_llamacpp(llamacpp_prompts, llamacpp_model, llamacpp_threads, llamacpp_parallel,
                                             llamacpp_modes)
        typer.echo(f"llamacpp: {results['llamacpp']}")
    if want("noop_repro"):
        results["noop_repro"] = bench_noop_repro(repeats)
        typer.echo(f"noop_repro: {results['noop_repro']}")
    if want("fresh_clone_exp"):
        results["fresh_clone_exp"] = bench_fresh_clone_exp()
        typer.echo(f"fresh_clone_exp: {results['fresh_clone_exp']}")
    if want("encoding") or want("encode"):  # "encode": its old name
        from encoding import bench_encoding

        results["encoding"] = bench_encoding(_scifact(), n_docs, repeats, quality_docs, matmul)
        typer.echo(f"encoding: {results['encoding']}")
    if want("training") or want("cached"):
        import training

        if not table.is_file():
            raise typer.BadParameter(f"{table} is missing: run `make repro` (or `dvc repro mix@scifact`) first.")
        if want("training"):
            results["training"] = training.bench_training(table, train_rows, train_max_len, matmul)
            typer.echo(f"training: {results['training']}")
        if want("cached"):
            results["cached"] = training.bench_cached(table, cached_max_len)
            typer.echo(f"cached: {results['cached']}")
    if want("mining"):
        from mining import bench_mining

        results["mining"] = bench_mining(docs=mine_docs)
        typer.echo(f"mining: {results['mining']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    app()
