"""reflect_check: how often reflect drops known false negatives and keeps known true negatives (labelled check)."""

from pathlib import Path
from typing import Optional

import pandas as pd
import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.embeddings import Embeddings
from syneg.io import read_json, read_parquet, split_timings, write_json, write_parquet, write_timings
from syneg.llm.asking import check_failed_share
from syneg.llm.cache import AnswerCache, ensure_store
from syneg.llm import prompt
from syneg.llm.config import LLM_KEYS, from_params, make_asker
from syneg.params import for_stage
from syneg.reflect_check import CheckConfig, dense_ranking, run_check
from syneg.reflection import ReflectConfig, critic_llm

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("model.base", "model.max_seq_length", "model.precision", "model.backend", *LLM_KEYS, "reflect",
          "reflect_check")

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    pairs: Path = typer.Option(..., help="Training pairs (query_id, pos_id)."),
    embeddings: Path = typer.Option(..., help="The encode_base stage's folder."),
    out: Path = typer.Option(..., help="Every labelled candidate with "
                             "each check's outcome."),
    llm_cache: Path = typer.Option(..., help="Store of the paraphrase and "
                                   "critique answers."),
    metrics: Path = typer.Option(..., help="Share of each label each check drops."),
    annotations: Optional[Path] = typer.Option(None, help="Folder of readings by hand: <dataset>_hard_true_"
                                               "negatives.csv (query_id, doc_id, answers_query: yes / no / unsure), "
                                               "when there is one, also gets reflection reported on it."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """For 'reflect_check.pairs' training pairs, let the LLM rewrite the positive (a false negative) and an
    unjudged, off-topic document (a true negative), run every reflect check on each, and report the share of
    each label that the margin check, the critique, and both drop."""
    setup("reflect_check")
    p = for_stage("reflect_check", PARAMS, params)
    cfg = p.build(CheckConfig, "reflect_check")
    rcfg = p.build(ReflectConfig, "reflect")
    llm = from_params(p)
    base, max_len, batch = p.get("model.base"), p.get("model.max_seq_length"), p.runtime("encode_batch_size")
    if not llm.is_llm:  # the stand-in cannot paraphrase: say so in the metrics instead of measuring it
        ensure_store(llm_cache)
        write_parquet(out, pd.DataFrame({"query_id": [], "pos_id": [], "label": [], "text": [], "reason": []}))
        write_json(metrics, {"skipped": "llm.backend is offline, the rule-based stand-in: no LLM to paraphrase "
                                        "or critique"})
        typer.echo("reflect_check: skipped (offline stand-in)")
        return
    prompt.check("paraphrase", "critique")
    ds = store.load(data)
    dataset = read_json(data / "manifest.json")["dataset"]
    train = read_parquet(pairs)
    emb = Embeddings.load(embeddings, ds)
    ranked = dense_ranking(emb, sorted(set(train["query_id"])), cfg.exclude_top)
    cache = AnswerCache(llm_cache)
    asker = make_asker(llm, cache)
    judge = make_asker(critic_llm(llm, rcfg), cache)
    try:
        readings = annotations / f"{dataset}_hard_true_negatives.csv" if annotations is not None else None
        read = pd.read_csv(readings, dtype=str) if readings is not None and readings.is_file() else None
        results, stats = run_check(ds, train, ranked, cfg, rcfg, asker, judge, base, max_len, batch, emb,
                                   p.get("model.precision"), p.get("model.backend"), read)
    finally:
        asker.backend.close()
        judge.backend.close()
        cache.close()
    check_failed_share("reflect_check", stats["candidates"], stats.pop("failures"), llm.max_failed_share)
    write_parquet(out, results)
    write_timings(metrics, split_timings(stats))
    write_json(metrics, stats)
    typer.echo(f"reflect_check: FN dropped {stats.get('false_negatives_dropped')}, "
               f"TN kept {stats.get('true_negatives_kept')}")


if __name__ == "__main__":
    run(app)
