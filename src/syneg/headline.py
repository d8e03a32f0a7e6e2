"""The committed headline comparison: hybrid (the default), retrieved only and direct, several training seeds
each, run as DVC experiments, archived into git as they finish, then compared query by query.

Each run is ``dvc exp run --temp -n headline-<system>-s<seed>`` with the system's params and ``train.seed``,
archived at once by :mod:`syneg.archive` into ``metrics/<dataset>/runs/<name>/`` (and committed with
``--commit``), so an interrupted series resumes where it stopped, in this clone or in a fresh one: a run whose
folder exists is not run again. The default's own seed is the workspace run (archived from HEAD when the
workspace is up to date with it). Finally :mod:`syneg.compare` pools the seeds of each system and writes
``metrics/<dataset>/headline.{json,md}``.

Example (the command line; hours on 2 CPU cores, about 25 minutes per run)::

    nohup python -m syneg.headline --commit > headline.log 2>&1 &
    python -m syneg.headline --dry-run   # what is archived and what would run

    >>> [name for name, _ in plan((42, 43))][:5]
    ['headline-retrieved-only-s42', 'headline-hybrid-s42', 'headline-retrieved-only-s43', 'headline-hybrid-s43', 'headline-direct-s42']
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Optional

import typer

from syneg import archive, compare
from syneg.commands import exp_run, run
from syneg.errors import UserError

#: The systems, the baseline first, with the params each sets on top of params.yaml.
SYSTEMS = {"retrieved-only": {"mix.ratio": 0}, "hybrid": {}, "direct": {"mix.strategy": "direct"}}
SEEDS = (42, 43, 44)


def plan(seeds=SEEDS) -> list[tuple[str, dict]]:
    """``(run name, params)`` of every run: the baseline and the default seed by seed, then direct, so an
    interrupted series has the comparison the README states (hybrid against retrieved only) at its first seeds
    rather than one system at all of them."""
    order = [(seed, system) for seed in seeds for system in SYSTEMS if system != "direct"]
    order += [(seed, "direct") for seed in seeds]
    return [(f"headline-{system}-s{seed}", {**SYSTEMS[system], "train.seed": seed}) for seed, system in order]


def _workspace_is(repo: Path, params: dict) -> bool:
    """Whether the workspace run is this one: params.yaml as committed gives these params and nothing is stale."""
    from syneg.params import lookup, read

    if not (repo / "params.yaml").is_file():
        return False
    committed = read(repo / "params.yaml")
    if any(lookup(committed, key, None) != value for key, value in params.items()):
        return False
    dirty = run(["git", "status", "--porcelain", "--", "params.yaml", "dvc.lock", "metrics"], repo).strip()
    return not dirty and "up to date" in run(["dvc", "status"], repo)


def _archive(repo: Path, rev: str, runs: Path, name: str, dataset: str, commit: bool) -> None:
    try:
        archive.write(runs / name, archive.collect(repo, rev, dataset, name))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if commit:
        rel = str((runs / name).resolve().relative_to(repo.resolve()))
        run(["git", "add", rel], repo)
        run(["git", "commit", "-qm", f"headline: archive {name}", "--", rel], repo)


def main(dataset: str = typer.Option("scifact", help="The dataset (one of data.train)."),
         seeds: Optional[List[int]] = typer.Option(None, "--seed", help="train.seed values (repeat); default "
                                                   "42, 43, 44."),
         commit: bool = typer.Option(False, "--commit", help="git commit each archived run as it finishes."),
         dry_run: bool = typer.Option(False, "--dry-run", help="Print what is archived and what would run."),
         max_runs: Optional[int] = typer.Option(None, help="Run at most this many experiments now (the rest "
                                                "later; the comparison is written once all are archived)."),
         repo: Path = typer.Option(Path("."), help="The project's git repository.")) -> None:
    """Run the missing headline runs one after another, archive each, then compare the systems."""
    seeds = tuple(seeds or SEEDS)
    if len(seeds) < 2:
        typer.echo(f"error: --seed given {len(seeds)} time(s); give at least 2 train.seed values", err=True)
        raise typer.Exit(1)
    runs = repo / "metrics" / dataset / "runs"
    todo = []
    for name, params in plan(seeds):
        if (runs / name / "run.json").is_file():
            typer.echo(f"archived  {name}")
        elif _workspace_is(repo, params):  # archived at once, before any experiment changes the workspace
            typer.echo(f"{'would archive' if dry_run else 'archiving'}  {name} (the workspace run, HEAD)")
            if not dry_run:
                _archive(repo, "HEAD", runs, name, dataset, commit)
        else:
            todo.append((name, params))
    for i, (name, params) in enumerate(todo):
        if max_runs is not None and i >= max_runs:
            typer.echo(f"left     {name} (--max-runs {max_runs})")
            continue
        typer.echo(f"{'would run' if dry_run else 'running'}  {name}")
        if dry_run:
            continue
        done = subprocess.run(exp_run(name, params), cwd=repo)  # its output stays on the terminal
        if done.returncode != 0:
            typer.echo(f"error: {name}: dvc exp run exited {done.returncode}; fix it and run this again (the "
                       f"archived runs are kept)", err=True)
            raise typer.Exit(1)
        _archive(repo, name, runs, name, dataset, commit)
    if dry_run or (max_runs is not None and len(todo) > max_runs):
        return
    specs = [",".join(str(runs / name) for name, _ in plan(seeds) if name.startswith(f"headline-{system}-"))
             for system in SYSTEMS]
    compare.main(specs=specs, dataset=dataset, system="finetuned", metric=None, name=list(SYSTEMS), seeds=True,
                 seed_sd=None, qrels=None, split=None, seed=42, resamples=compare.stats.RESAMPLES,
                 json_out=repo / "metrics" / dataset / "headline.json",
                 md_out=repo / "metrics" / dataset / "headline.md", repo=repo)


if __name__ == "__main__":
    typer.run(main)
