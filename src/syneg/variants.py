"""Generation variants compared on one seeded subset of training pairs: which synthesis a small model does well.

Each variant in ``variants.yaml`` is a set of params overrides (``synthesize.*``, ``reflect.*``, ``mix.*``,
``llm.*``) on top of params.yaml. For the same ``pairs`` training pairs (a seeded sample of the mine stage's
pairs) every variant is run through the pipeline's own code: :func:`syneg.synthesis.build_items` and the LLM
writer, :func:`syneg.reflection.reflect` with the critique, :func:`syneg.mixing.mix` (the subset's hybrid mix)
and :func:`syneg.diagnostics.quality`, so its row holds the negative-quality figures a full run reports: share
kept by reflection, kept negatives' score ratio against the retrieved ones the mix used, length ratio, share of
the asked synthetic slots filled, requests and generated tokens per kept negative, and the LLM's time.

Answers go to the stages' own stores (``data/<dataset>/llm_cache/{synthesize,reflect}``, committed), keyed by
the whole request as always: an interrupted run resumes without asking again, a rerun replays, the variant
that becomes the default reuses its answers in the full run, and the default run's answers serve its row
here (the next ``dvc repro`` re-records the stores, replaying). The table goes to
``metrics/<dataset>/variants.json`` and, as Markdown, to stdout (kept in ``docs/results.md``).

Example:
    >>> v = {variant.name: variant for variant in load_variants()}
    >>> dict(v["today"].params), dict(v["edit"].params)["synthesize.template"]
    ({}, 'synthesize_edit')

    On the command line (a long run: put it in the background, it shows progress and resumes)::

        python -m syneg.variants --only paper --only edit   # some variants
        python -m syneg.variants                             # every variant of variants.yaml
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import pandas as pd
import typer
import yaml

from syneg.errors import UserError

VARIANTS = Path(__file__).with_name("variants.yaml")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    params: tuple[tuple[str, Any], ...]


def load_variants(path: str | Path = VARIANTS) -> list[Variant]:
    """The variants of a variants file; a malformed one is a one-line error naming the variant."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for i, raw in enumerate(data.get("variants") or []):
        if not isinstance(raw, dict) or "name" not in raw:
            raise UserError(f"{path}: variant {i + 1} has no name; each variant needs name, description, params")
        out.append(Variant(str(raw["name"]), str(raw.get("description", "")),
                           tuple(sorted((raw.get("params") or {}).items()))))
    if not out:
        raise UserError(f"{path}: no variants; add a `variants:` list")
    return out


def apply(params: dict, overrides: tuple[tuple[str, Any], ...], source: str) -> dict:
    """``params`` with each dotted ``key: value`` of ``overrides`` set; a key params.yaml lacks is an error."""
    out = copy.deepcopy(params)
    for key, value in overrides:
        node = out
        *parents, last = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise UserError(f"{source}: '{key}' is not a key of params.yaml; fix the variant")
            node = node[part]
        if last not in node:
            raise UserError(f"{source}: '{key}' is not a key of params.yaml; fix the variant")
        node[last] = value
    return out


def sample_pairs(pairs: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` training pairs, a seeded sample kept in file order (the same for every variant)."""
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(pairs), size=min(n, len(pairs)), replace=False))
    return pairs.iloc[take].reset_index(drop=True)


def run_variant(variant: Variant, params: dict, ds, pairs: pd.DataFrame, candidates: pd.DataFrame, emb,
                dataset: str, stores: Path) -> dict[str, Any]:
    """One variant on ``pairs``: synthesize, reflect (with the critique), mix, measure."""
    from syneg import params as params_mod
    from syneg.diagnostics import diagnose, quality
    from syneg.llm import prompt
    from syneg.llm.cache import AnswerCache
    from syneg.llm.config import LLMConfig, make_asker
    from syneg.llm.critic import Critic
    from syneg.mixing import MixConfig, mix
    from syneg.reflection import ReflectConfig, critic_llm, reflect
    from syneg.synthesis import SynthesizeConfig, build_items, make_generator, synthesize

    values = apply(params, variant.params, f"variant '{variant.name}'")
    build = lambda cls, name, **extra: params_mod.build(cls, values[name], name, f"variant {variant.name}", **extra)  # noqa: E731
    scfg, rcfg, mcfg = build(SynthesizeConfig, "synthesize"), build(ReflectConfig, "reflect"), build(MixConfig, "mix")
    llm = build(LLMConfig, "llm", runtime=values.get("runtime", {}))
    if not llm.is_llm:
        raise UserError(f"variant {variant.name}: llm.backend is '{llm.backend}'; variants compare an LLM's writing")
    prompt.check(scfg.template, "critique")
    scfg.check_length(llm.max_tokens)
    model = values["model"]
    items = build_items(ds, pairs, candidates, scfg, dataset)

    start = time.perf_counter()
    cache = AnswerCache(stores / "synthesize")
    gen = make_generator(llm, scfg, cache)
    try:
        negatives, failures = synthesize(items, gen, scfg.batch, scfg.prompt)
        synth_stats = gen.stats()
    finally:
        gen.close()
        cache.close()
    synth_seconds = time.perf_counter() - start
    rcache = AnswerCache(stores / "reflect")
    critic = Critic(make_asker(critic_llm(llm, rcfg), rcache), rcfg.revise) if rcfg.critique else None
    start = time.perf_counter()
    try:
        kept, dropped, rstats = reflect(ds, negatives, rcfg, model["base"],
                                        model["max_seq_length"], values["runtime"].get("encode_batch_size", 64),
                                        critic, emb=emb, precision=model["precision"], backend=model["backend"])
        rstats["llm"] = critic.stats() if critic is not None else {}
    finally:
        if critic is not None:
            critic.close()
        rcache.close()
    critique_seconds = time.perf_counter() - start
    from syneg.judging import JudgeConfig, judge
    from syneg.mixing import without_flagged

    jcfg = build(JudgeConfig, "judge")
    judged: dict[str, Any] = {}
    pool = candidates
    if jcfg.retrieved:
        jcache = AnswerCache(stores / "judge")
        jcritic = Critic(make_asker(critic_llm(llm, rcfg), jcache), revise=False)
        start = time.perf_counter()
        try:
            flagged, judged = judge(ds, candidates, jcfg.candidates, rcfg, jcritic, model["base"],
                                    model["max_seq_length"], values["runtime"].get("encode_batch_size", 64), emb,
                                    model["precision"], model["backend"])
        finally:
            jcritic.close()
            jcache.close()
        judged["seconds"] = round(time.perf_counter() - start, 1)
        pool, dropped_stats = without_flagged(candidates, flagged)
        judged.update(dropped_stats)
    _, provenance, mstats = mix(ds, pairs, pool, kept, mcfg)
    synthetic = pd.concat([kept.assign(reason=""), dropped], ignore_index=True)
    from syneg.data.store import doc_texts

    dstats, _, _ = diagnose(synthetic, candidates, provenance, doc_texts(ds), rcfg.relative_margin)
    q = quality(synthetic, dstats, mstats, synth_stats, rstats)
    engine = synth_stats.get("engine") or {}
    return {"variant": variant.name, "description": variant.description, "params": dict(variant.params),
            "pairs": int(len(pairs)), "requests_planned": len(items), "failed_requests": int(len(failures)),
            **q, "score_ratio_kept": dstats["score_ratio"]["synthetic_kept"],
            "score_ratio_retrieved_used": dstats["score_ratio"]["retrieved_used"],
            "length_ratio_kept": dstats["length_ratio"]["kept"], "dropped_by_reason": rstats["dropped_by_reason"],
            "synthesize_seconds": round(synth_seconds, 1), "critique_seconds": round(critique_seconds, 1),
            "generated_tokens_this_run": int(engine.get("completion_tokens", 0)),
            "generated_tokens_per_second": engine.get("completion_tokens_per_second"),
            **({"judge": judged} if judged else {}),
            "llm": {"synthesize": synth_stats, "critique": rstats["llm"]}}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(rows: list[dict]) -> str:
    """The comparison table: one row per variant, the goals' figures first."""
    head = ["variant", "kept by reflect", "score ratio kept (p10 / median / p90)", "retrieved used (median)",
            "length ratio kept (median)", "synthetic slots filled", "requests / kept", "generated tokens / kept",
            "LLM minutes"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for r in rows:
        kept = r["score_ratio_kept"]
        ratio = f"{_fmt(kept.get('p10'))} / **{_fmt(kept.get('median'))}** / {_fmt(kept.get('p90'))}" if kept.get("n") else ""
        minutes = (r["synthesize_seconds"] + r["critique_seconds"]) / 60
        lines.append(f"| {r['variant']} | {r['kept']} of {r['synthetic_written']} ({_fmt(r['kept_share'])}) | {ratio} | "
                     f"{_fmt(r['score_ratio_retrieved_used_median'])} | {_fmt(r['length_ratio_kept_median'])} | "
                     f"{r['synthetic_slots_filled']} of {r['synthetic_slots_asked']} "
                     f"({_fmt(r['synthetic_slots_filled_share'])}) | {_fmt(r['llm_requests_per_kept'])} | "
                     f"{_fmt(r['generated_tokens_per_kept'], 0)} | {minutes:.1f} |")
    return "\n".join(lines)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    only: Optional[List[str]] = typer.Option(None, help="Run only these variants (repeat); default every one."),
    variants: Path = typer.Option(VARIANTS, help="The variants file."),
    pairs: int = typer.Option(100, help="Training pairs sampled (the same for every variant)."),
    seed: int = typer.Option(42, help="Seeds the sample of pairs."),
    dataset: str = typer.Option("scifact", help="A dataset of data.train, prepared and mined (dvc repro mine@...)."),
    params: Path = typer.Option(Path("params.yaml"), help="The params the variants override."),
    out: Optional[Path] = typer.Option(None, help="The JSON table (default metrics/<dataset>/variants.json); rows of "
                                       "variants not run keep their last figures."),
) -> None:
    """Run each variant on the same seeded subset of training pairs and print the comparison table."""
    import json

    from syneg.cli import setup
    from syneg.data import store
    from syneg.embeddings import Embeddings
    from syneg.io import read_parquet, write_json
    from syneg.params import read

    setup("variants")
    try:
        todo = [v for v in load_variants(variants) if not only or v.name in only]
        unknown = sorted(set(only or ()) - {v.name for v in todo})
        if unknown:
            raise UserError(f"--only {unknown[0]!r}: no such variant in {variants}")
        values = read(params)
        data = Path("data") / dataset
        ds = store.load(data / "prepared")
        subset = sample_pairs(read_parquet(data / "mined" / "pairs.parquet"), pairs, seed)
        candidates = read_parquet(data / "mined" / "candidates.parquet")
        candidates = candidates.merge(subset[["query_id", "pos_id"]], on=["query_id", "pos_id"])
        folder = data / "embeddings" / "base"
        emb = Embeddings.load(folder, ds) if folder.is_dir() else None  # reflect encodes what it needs without
        out = out or Path("metrics") / dataset / "variants.json"
        table = json.loads(out.read_text()) if out.is_file() else {"pairs": pairs, "seed": seed, "rows": {}}
        if (table.get("pairs"), table.get("seed")) != (pairs, seed):
            table = {"pairs": pairs, "seed": seed, "rows": {}}  # another subset: the old rows do not compare
        for variant in todo:
            typer.echo(f"variants: {variant.name}: {variant.description}", err=True)
            table["rows"][variant.name] = run_variant(variant, values, ds, subset, candidates, emb, dataset,
                                                      data / "llm_cache")
            write_json(out, table)  # after each variant: an interruption loses at most the one running
    except (UserError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    order = [v.name for v in load_variants(variants)]
    typer.echo(markdown([table["rows"][n] for n in order if n in table["rows"]]))


if __name__ == "__main__":
    app()
