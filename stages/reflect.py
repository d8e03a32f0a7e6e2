"""reflect: check each synthetic negative; LLM critique (keep / revise / drop), then rule and model checks."""

import time
from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.embeddings import Embeddings
from syneg.io import split_timings, write_json, write_parquet, write_timings
from syneg.llm.asking import check_failed_share
from syneg.llm.cache import AnswerCache, ensure_store
from syneg.llm import prompt
from syneg.llm.config import LLM_KEYS, from_params, make_asker
from syneg.llm.critic import Critic
from syneg.params import for_stage
from syneg.reflection import ReflectConfig, critic_llm, read_candidates, reflect

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("model.base", "model.max_seq_length", "model.precision", "model.backend", *LLM_KEYS, "reflect")

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    synthetic: Path = typer.Option(..., help="The candidates file: the "
                                   "synthesize stage's table, or any parquet/JSONL/CSV with query_id, pos_id and "
                                   "text (or doc_id), optionally domain, difficulty, length."),
    embeddings: Path = typer.Option(..., help="The encode_base stage's folder (the model check's queries and "
                                    "positives)."),
    out: Path = typer.Option(..., help="Folder for kept.parquet and dropped.parquet."),
    llm_cache: Path = typer.Option(..., help="Store of every critique answer."),
    metrics: Path = typer.Option(..., help="Acceptance rate, counts per reason, LLM use."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """Keep a synthetic negative only if it is real text, not a near-copy of the positive
    ('reflect.max_copy_jaccard'), not a repeat, accepted (or revised) by the LLM's critique
    ('reflect.critique', with an LLM backend), and scored by the base model below the positive by
    'reflect.relative_margin'. Every drop is recorded with its reason."""
    setup("reflect")
    p = for_stage("reflect", PARAMS, params)
    cfg = p.build(ReflectConfig, "reflect")
    llm = from_params(p)
    if cfg.critique and llm.is_llm:
        prompt.check("critique")
    ds = store.load(data)
    candidates = read_candidates(synthetic, ds)
    cache = AnswerCache(llm_cache)
    critic = Critic(make_asker(critic_llm(llm, cfg), cache), cfg.revise) if cfg.critique and llm.is_llm else None
    start = time.perf_counter()
    try:
        kept, dropped, stats = reflect(ds, candidates, cfg, p.get("model.base"), p.get("model.max_seq_length"),
                                       p.runtime("encode_batch_size"), critic,
                                       emb=Embeddings.load(embeddings, ds) if cfg.model_check else None,
                                       precision=p.get("model.precision"), backend=p.get("model.backend"))
    finally:
        if critic is not None:
            critic.close()
        cache.close()
    if critic is not None:
        failed = dropped.loc[dropped["verdict"] == "failed", "critique_reason"].tolist()
        check_failed_share("reflect", stats["critiqued"], failed, llm.max_failed_share)
        stats["llm"] = critic.stats()
    elif cfg.critique:
        stats["critique"] = "skipped: llm.backend is offline, the rule-based stand-in has no LLM to ask"
    stats["wall_seconds"] = round(time.perf_counter() - start, 1)
    ensure_store(llm_cache)
    write_parquet(out / "kept.parquet", kept)
    write_parquet(out / "dropped.parquet", dropped)
    timings = split_timings(stats)
    write_json(metrics, stats)
    write_timings(metrics, timings)
    typer.echo(f"reflected: {stats} {timings}")


if __name__ == "__main__":
    run(app)
