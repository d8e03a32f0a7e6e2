"""Keep an experiment's scores in git: its per-query tables and metrics, copied from the experiment's commit
into ``metrics/<dataset>/runs/<name>/``.

DVC keeps an experiment as a git ref (``refs/exps/...``) that lives in the clone it ran in; a fresh clone, or
the next work period on another checkout, has no such ref unless someone pushed it. A comparison that a
document quotes must stay reproducible from main, so the runs it pools are archived: the folder holds what
:mod:`syneg.compare` reads (``per_query/<system>.csv`` and the metrics files that say how they were scored) plus
``run.json`` (the experiment, its commit and baseline commit, and the ``mix`` and ``train`` params it ran with).
An archived folder is itself a run for ``python -m syneg.compare``.

Example (the command line)::

    python -m syneg.archive repro-retrieved-only-s43 repro-direct-s43
    python -m syneg.compare metrics/scifact/runs/repro-retrieved-only-s43 metrics/scifact/runs/repro-direct-s43

    >>> sorted(COPIED)
    ['baselines.json', 'evaluate.json', 'mix.json', 'train.json']
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
import yaml

from syneg.commands import experiments, git_show
from syneg.compare import CompareError, resolve
from syneg.errors import UserError

#: The metrics files copied beside the per-query tables: how each was scored, what the mix held, how it trained.
COPIED = ("evaluate.json", "baselines.json", "mix.json", "train.json")
SYSTEMS = ("finetuned", "bm25", "bm25_multifield", "zeroshot")


def collect(repo: Path, rev: str, dataset: str, name: str | None = None) -> dict:
    """What archiving experiment (or revision) ``rev`` as ``name`` (default ``rev``) writes: ``{relative path:
    text}`` plus ``run.json``.

    Raises:
        CompareError: ``name`` is no revision or experiment, or its commit has no fine-tuned per-query table.
    """
    name = name or rev
    commit = resolve(repo, rev)
    files = {f"per_query/{s}.csv": git_show(repo, commit, f"metrics/{dataset}/per_query/{s}.csv") for s in SYSTEMS}
    if files["per_query/finetuned.csv"] is None:
        raise CompareError(f"{name}: no metrics/{dataset}/per_query/finetuned.csv at {commit[:10]}; archive an "
                           f"experiment that ran evaluate@{dataset}")
    files.update({f: git_show(repo, commit, f"metrics/{dataset}/{f}") for f in COPIED})
    params = yaml.safe_load(git_show(repo, commit, "params.yaml") or "{}") or {}
    baseline = next((base for base, exp in experiments(repo, rev) if exp == commit), None)
    files["run.json"] = {"name": name, "commit": commit, "baseline_commit": baseline, "dataset": dataset,
                         "params": {k: params.get(k) for k in ("mix", "train")}}
    return {rel: text for rel, text in files.items() if text is not None}


def write(folder: Path, files: dict) -> Path:
    """Write ``collect``'s files into ``folder``, each through a temporary file."""
    from syneg.io import atomic_path, write_json

    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel == "run.json":
            write_json(folder / rel, text)
            continue
        with atomic_path(folder / rel) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return folder


app = typer.Typer(add_completion=False)


@app.command()
def main(names: List[str] = typer.Argument(..., help="DVC experiment names or git revisions to archive."),
         dataset: str = typer.Option("scifact", help="The dataset whose tables are copied."),
         out: Optional[Path] = typer.Option(None, help="The folder of archived runs (default metrics/<dataset>/runs)."),
         repo: Path = typer.Option(Path("."), help="The project's git repository.")) -> None:
    """Archive each run's per-query tables and metrics into git-trackable folders."""
    try:
        collected = {name: collect(repo, name, dataset) for name in names}  # every name checked before writing
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for name, files in collected.items():
        typer.echo(write((out or repo / "metrics" / dataset / "runs") / name, files))


if __name__ == "__main__":
    app()
