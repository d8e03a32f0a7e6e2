"""llama.cpp's speed knobs on the synthesize stage's own prompts: generated tokens per second of each setting
against today's (4 slots, no speculation), and what the answers are worth, so a faster setting that writes
worse negatives is seen as such.

Every setting answers the same prompts into an answer store of its own (nothing is replayed), through the
project's backend (``runtime.llamacpp`` knobs, ``llama-server``). Quality, per setting, from the negatives it
wrote: how many, the share that pass reflect's text checks, the base model's score ratio to the positive
(median, and the share above the margin: likely false negatives) and the length ratio. Two prompt sets: the
paper's template (today's default) and ``synthesize_edit`` (one negative per request), whose answers reuse much
of the prompt's text, the case prompt-lookup speculation (``ngram``) is for.

    python benchmarks/llm_knobs.py --prompts 16      # writes benchmarks/results/llm_knobs.json
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # the first is today's, what the others are divided by
    "today-4-slots": {},
    "2-slots": {"parallel": 2},
    "8-slots": {"parallel": 8},
    "draft-0.5b-4": {"speculative": "draft", "draft_max": 4},
    "draft-0.5b-8": {"speculative": "draft", "draft_max": 8},
    "ngram-16": {"speculative": "ngram", "draft_max": 16},
}
app = typer.Typer(add_completion=False)


def _items(n: int, template: str):
    """The first ``n`` mined SciFact training pairs as the synthesize stage builds them, with ``template``."""
    from syneg.data import store
    from syneg.io import read_parquet
    from syneg.params import for_stage
    from syneg.synthesis import SynthesizeConfig, build_items

    ds = store.load(ROOT / "data/scifact/prepared")
    cfg = for_stage("synthesize", ("synthesize",), ROOT / "params.yaml").build(SynthesizeConfig, "synthesize")
    if template != cfg.template:
        cfg.template, cfg.per_request, cfg.max_words = template, 1, 250
    pairs = read_parquet(ROOT / "data/scifact/mined/pairs.parquet").head(n)
    cand = read_parquet(ROOT / "data/scifact/mined/candidates.parquet")
    return ds, cfg, build_items(ds, pairs, cand, cfg, "scifact")


def _quality(ds, cfg, items, negatives, params: dict) -> dict:
    """The negatives' worth: text checks, the base model's score ratio and margin flags, the length ratio."""
    import numpy as np

    from syneg.data.store import doc_texts
    from syneg.embeddings import Embeddings, encode
    from syneg.margins import relative_threshold
    from syneg.text_checks import garbled, meta_text, shingle_jaccard

    dtext = doc_texts(ds)
    texts = negatives["text"].tolist()
    if not texts:
        return {"negatives": 0}
    reflect, model = params["reflect"], params["model"]
    passed = [not (garbled(t, reflect["min_words"]) or meta_text(t))
              and shingle_jaccard(t, dtext[p]) <= reflect["max_copy_jaccard"] for t, p in zip(texts, negatives["pos_id"])]
    emb = Embeddings.load(ROOT / "data/scifact/embeddings/base", ds)
    q = emb.queries_of(list(negatives["query_id"]))
    rows = {d: i for i, d in enumerate(ds.corpus["doc_id"])}
    pos = emb.corpus[[rows[p] for p in negatives["pos_id"]]]
    neg = encode(model["base"], texts, model["max_seq_length"], 64)
    ns, ps = np.einsum("ij,ij->i", q, neg), np.einsum("ij,ij->i", q, pos)
    ratio = ns / ps
    above = ns > relative_threshold(ps, reflect["relative_margin"])
    length = [len(t.split()) / max(1, len(dtext[p].split())) for t, p in zip(texts, negatives["pos_id"])]
    return {"negatives": len(texts), "pass_text_checks": round(float(np.mean(passed)), 3),
            "score_ratio_median": round(float(np.median(ratio)), 3), "above_margin": round(float(np.mean(above)), 3),
            "length_ratio_median": round(statistics.median(length), 3)}


def bench(n: int, template: str, settings: dict[str, dict]) -> dict:
    import dataclasses

    from syneg.llm.answers import synthesis_spec
    from syneg.llm.cache import AnswerCache
    from syneg.llm.config import from_params, make_asker
    from syneg.llm.synthesizer import LLMSynthesizer
    from syneg.llm.config import LLM_KEYS
    from syneg.params import for_stage, read
    from syneg.synthesis import synthesize

    ds, cfg, items = _items(n, template)
    llm = from_params(for_stage("synthesize", LLM_KEYS, ROOT / "params.yaml"))
    params = read(ROOT / "params.yaml")
    out = {"template": template, "requests": len(items)}
    base_tps = None
    for name, knobs in settings.items():
        runtime = {**llm.runtime, "llamacpp": {**llm.runtime.get("llamacpp", {}), **knobs}}
        cache = AnswerCache(Path(tempfile.mkdtemp(prefix="syneg-knobs-")) / "store")
        writer = LLMSynthesizer(make_asker(dataclasses.replace(llm, runtime=runtime), cache), cfg.prompt,
                                cfg.template, cfg.max_words, cfg.worked_example)
        writer.asker.ask(["Say hi."], synthesis_spec(1))  # starts the server outside the timed part
        before = dict(writer.asker.backend.engine)
        t0 = time.perf_counter()
        negatives, failures = synthesize(items, writer, cfg.batch, cfg.prompt)
        wall = time.perf_counter() - t0
        engine = {k: v - before.get(k, 0) for k, v in writer.asker.backend.engine.items()}
        writer.close()
        cache.close()
        tokens = engine.get("completion_tokens", 0)
        row = {"knobs": knobs, "seconds": round(wall, 1), "generated_tokens": tokens,
               "tokens_per_s": round(tokens / wall, 2), "failed": int(len(failures)),
               "draft_tokens": engine.get("draft_tokens", 0), "draft_accepted": engine.get("draft_tokens_accepted", 0),
               **_quality(ds, cfg, items, negatives, params)}
        if name == next(iter(SETTINGS)):
            base_tps = row["tokens_per_s"]
        row["vs_today"] = round(row["tokens_per_s"] / base_tps, 3) if base_tps else None
        out[name] = row
        typer.echo(f"{template} {name}: {row}", err=True)
    return out


@app.command()
def main(prompts: int = typer.Option(16, help="Training pairs asked (the first of the mine stage's)."),
         only: str = typer.Option("", help="Settings to run (comma-separated names); default all."),
         templates: str = typer.Option("synthesize,synthesize_edit", help="Prompt templates."),
         out: Path = typer.Option(ROOT / "benchmarks/results/llm_knobs.json", help="Where results go.")) -> None:
    """Tokens per second and answer quality of each llama.cpp setting."""
    first = next(iter(SETTINGS))  # always measured: the others are divided by it
    chosen = {k: v for k, v in SETTINGS.items() if not only or k == first or k in only.split(",")}
    results = {t: bench(prompts, t, chosen) for t in templates.split(",")}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    typer.echo(json.dumps(results, indent=2))


if __name__ == "__main__":
    app()
