"""synthesize: write synthetic hard negatives for every training pair with the configured LLM (or stand-in)."""

import time
from pathlib import Path
from typing import Optional

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.io import read_json, read_parquet, split_timings, write_json, write_parquet, write_timings
from syneg.llm.asking import check_failed_share
from syneg.llm.cache import AnswerCache, ensure_store
from syneg.llm import prompt
from syneg.llm.config import LLM_KEYS, from_params
from syneg.params import ParamsError, for_stage
from syneg.synthesis import SynthesizeConfig, build_items, dry_run, make_generator, synthesize

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = (*LLM_KEYS, "synthesize", "reflect.critique")

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    mined: Path = typer.Option(..., help="The mine stage's folder (pairs, neighbours)."),
    out: Path = typer.Option(..., help="Folder for negatives.parquet and failures.parquet."),
    llm_cache: Path = typer.Option(..., help="Store of every LLM answer (resume, replay)."),
    metrics: Path = typer.Option(..., help="Requests, cache hits, tokens, cost, failures."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
    dry_run_: bool = typer.Option(False, "--dry-run", help="Print the projected requests, tokens and cost of "
                                  "synthesize and reflect's critique, then exit. Sends nothing, writes nothing."),
    reflect_cache: Optional[Path] = typer.Option(None, help="With --dry-run: reflect's store."),
) -> None:
    """Sample attributes per instance (seeded), render the multi-attribute prompt, and ask 'llm.backend' for
    'synthesize.num_negatives' negatives per (query, positive). The default backend 'offline' is a no-LLM
    STAND-IN; its outputs say so."""
    setup("synthesize")
    p = for_stage("synthesize", PARAMS, params)
    cfg = p.build(SynthesizeConfig, "synthesize")
    llm = from_params(p)
    if llm.is_llm:
        prompt.check(cfg.template)
        try:
            cfg.check_length(llm.max_tokens)
        except ValueError as exc:
            raise ParamsError(f"{params}: {exc}") from None
    ds = store.load(data)
    dataset = read_json(data / "manifest.json")["dataset"]
    items = build_items(ds, read_parquet(mined / "pairs.parquet"), read_parquet(mined / "candidates.parquet"),
                        cfg, dataset)
    if dry_run_:
        if reflect_cache is None:
            raise typer.BadParameter("--dry-run needs --reflect-cache (reflect's answer store) to count what "
                                     "is already answered.", param_hint="--reflect-cache")
        typer.echo(dry_run(items, llm, cfg, llm_cache, reflect_cache, bool(p.get("reflect.critique"))))
        return
    cache = AnswerCache(llm_cache)
    gen = make_generator(llm, cfg, cache)
    start = time.perf_counter()
    try:
        negatives, failures = synthesize(items, gen, cfg.batch, cfg.prompt)
    finally:
        gen.close()
        cache.close()
    # Failure is never success: past the allowed share, exit non-zero so DVC records nothing.
    check_failed_share("synthesize", len(items), failures["reason"].tolist(), llm.max_failed_share)
    ensure_store(llm_cache)
    write_parquet(out / "negatives.parquet", negatives)
    write_parquet(out / "failures.parquet", failures)
    stats = {
        "backend": gen.name,
        "stand_in": gen.stand_in,
        "prompt": cfg.prompt,
        "template": cfg.template,
        "instances": len({(it.query_id, it.pos_id) for it in items}),
        "requests_planned": len(items),
        "negatives": int(len(negatives)),
        "failed_instances": int(len(failures)),
        "failures_by_reason": failures["reason"].str.split(":").str[0].value_counts().sort_index().to_dict(),
        **{k: v for k, v in gen.stats().items() if k != "failures_by_reason"},
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    timings = split_timings(stats)
    write_json(metrics, stats)
    write_timings(metrics, timings)
    typer.echo(f"synthesized: {stats} {timings}")


if __name__ == "__main__":
    run(app)
