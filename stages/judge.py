"""judge: the reflection's LLM critique applied to the retrieved negatives the mix would use (judge.retrieved)."""

import time
from pathlib import Path

import pandas as pd
import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.embeddings import Embeddings
from syneg.io import read_parquet, split_timings, write_json, write_parquet, write_timings
from syneg.judging import FLAGGED, JudgeConfig, judge
from syneg.llm import prompt
from syneg.llm.asking import check_failed_share
from syneg.llm.cache import AnswerCache, ensure_store
from syneg.llm.config import LLM_KEYS, from_params, make_asker
from syneg.llm.critic import Critic
from syneg.params import for_stage
from syneg.reflection import ReflectConfig, critic_llm

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("model.base", "model.max_seq_length", "model.precision", "model.backend", *LLM_KEYS, "reflect", "judge")

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    mined: Path = typer.Option(..., help="The mine stage's folder (candidates.parquet)."),
    embeddings: Path = typer.Option(..., help="The encode_base stage's folder (the margin that gates the critique)."),
    out: Path = typer.Option(..., help="The flagged retrieved negatives (parquet)."),
    llm_cache: Path = typer.Option(..., help="Store of every judgement."),
    metrics: Path = typer.Option(..., help="How many were judged and flagged."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """With 'judge.retrieved', critique each pair's first 'judge.candidates' mined negatives as reflect critiques
    synthetic ones ('reflect.*': gated by the base model's margin) and list those judged to answer the query, for
    mix to leave out; without it, list none (no LLM is asked)."""
    setup("judge")
    p = for_stage("judge", PARAMS, params)
    cfg = p.build(JudgeConfig, "judge")
    rcfg = p.build(ReflectConfig, "reflect")
    llm = from_params(p)
    ensure_store(llm_cache)
    if not cfg.retrieved or not llm.is_llm:
        write_parquet(out, pd.DataFrame(columns=FLAGGED))
        why = "judge.retrieved is false" if not cfg.retrieved else "llm.backend is offline (the stand-in): no judge"
        write_json(metrics, {"retrieved": False, "skipped": why})
        typer.echo(f"judge: skipped ({why})")
        return
    prompt.check("critique")
    ds = store.load(data)
    cache = AnswerCache(llm_cache)
    critic = Critic(make_asker(critic_llm(llm, rcfg), cache), revise=False)  # a verdict only: nothing is rewritten
    start = time.perf_counter()
    try:
        flagged, stats = judge(ds, read_parquet(mined / "candidates.parquet"), cfg.candidates, rcfg, critic,
                               p.get("model.base"), p.get("model.max_seq_length"), p.runtime("encode_batch_size"),
                               Embeddings.load(embeddings, ds), p.get("model.precision"), p.get("model.backend"))
        stats["llm"] = critic.stats()
    finally:
        critic.close()
        cache.close()
    failed = stats["dropped_by_reason"].get("critique failed", 0)
    check_failed_share("judge", stats["critiqued"], ["critique failed"] * failed, llm.max_failed_share)
    stats["wall_seconds"] = round(time.perf_counter() - start, 1)
    write_parquet(out, flagged)
    timings = split_timings(stats)
    write_json(metrics, {"retrieved": True, **stats})
    write_timings(metrics, timings)
    typer.echo(f"judge: {stats}")


if __name__ == "__main__":
    run(app)
