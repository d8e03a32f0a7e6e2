"""A sweep's table and plot: nDCG@10 against ``mix.ratio``, one line per ``mix.strategy``, over DVC experiments.

The sweep itself is DVC's (documented in the README)::

    dvc exp run --queue -S mix.strategy=hybrid,direct -S mix.ratio=0,0.25,0.5,0.75,1
    dvc queue start && dvc queue status

This module reads what ``dvc exp show --json`` says of every experiment (and the committed workspace),
keeps one row per (strategy, ratio), and writes a CSV, a Markdown table and an SVG plot.

Example:
    >>> rows = [{"experiment": "a", "mix.strategy": "hybrid", "mix.ratio": 0.5, "ndcg@10": 0.69}]
    >>> print(markdown(pd.DataFrame(rows)))
    | experiment | mix.strategy | mix.ratio | ndcg@10 |
    | --- | --- | --- | --- |
    | a | hybrid | 0.5 | 69.00 |

    On the command line::

        python -m syneg.sweep --out metrics/sweep     # writes sweep.csv, sweep.md, sweep.svg
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer

from syneg.commands import run
from syneg.io import atomic_path
from syneg.params import lookup

PARAMS = ("mix.strategy", "mix.ratio")
#: Per trained dataset, ``metrics/<dataset>/<file>`` (``metrics/<file>`` before datasets were a list).
METRICS = {"evaluate.json": ("finetuned.ndcg@10", "finetuned.mrr@10", "finetuned.recall@100"),
           "train.json": ("grad_norm_variance",)}


def _datasets(metrics: dict, params: dict) -> dict[str, str]:
    """``{dataset: metrics folder}`` of the datasets a revision evaluated a fine-tuned model on."""
    found = {}
    for path in metrics:
        folder, _, name = path.rpartition("/")
        if name == "evaluate.json":
            dataset = folder.rpartition("/")[2] if folder != "metrics" else lookup(params, "data.dataset", "?")
            found[dataset] = folder
    return found


#: Queue states whose experiment has no results of its own: DVC shows its parent's metrics for it.
UNFINISHED = {"queued", "running", "failed"}


def _records(node) -> list[dict]:
    """Every revision entry (workspace, commits, finished experiments) in ``dvc exp show --json``'s nested
    answer; a queued, running or failed experiment is left out (its metrics would be its parent's)."""
    out = []
    if isinstance(node, list):
        for item in node:
            out += _records(item)
    elif isinstance(node, dict):
        if ((node.get("executor") or {}).get("state")) in UNFINISHED:
            return out
        if isinstance(node.get("data"), dict):
            out.append(node)
        for key in ("experiments", "revs"):
            out += _records(node.get(key) or [])
    return out


def collect(exp_show: list) -> pd.DataFrame:
    """One row per revision with the sweep's params and metrics; rows without the metrics are left out,
    and of several revisions with the same params the first listed is kept (DVC lists the workspace
    first, then each commit with its experiments, newest first)."""
    rows = []
    for rec in _records(exp_show):
        data = rec["data"]
        params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
        rev = str(rec.get("rev", ""))
        short = rev[:7] if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev) else rev  # a commit sha
        metrics = data.get("metrics") or {}
        for dataset, folder in _datasets(metrics, params).items():
            row = {"experiment": rec.get("name") or short, "dataset": dataset}
            row.update({key: lookup(params, key, None) for key in PARAMS})
            for file, keys in METRICS.items():
                values = metrics.get(f"{folder}/{file}", {}).get("data") or {}
                row.update({key.split(".")[-1]: lookup(values, key, None) for key in keys})
            if row.get("ndcg@10") is not None:
                rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    keys = ["dataset", *PARAMS]
    table = table.drop_duplicates(subset=keys, keep="first")
    return table.sort_values(keys).reset_index(drop=True)


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, retrieval metrics x 100 with two decimals."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in table.itertuples(index=False):
        cells = []
        for col, value in zip(cols, row):
            if col in ("ndcg@10", "mrr@10", "recall@100") and value is not None:
                cells.append(f"{100 * float(value):.2f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(table: pd.DataFrame, path: str | Path) -> None:
    """nDCG@10 against mix.ratio, one line per strategy (and dataset, when there are several), as an SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if "dataset" not in table:
        table = table.assign(dataset="")
    several = table["dataset"].nunique() > 1
    for (dataset, strategy), part in table.groupby(["dataset", "mix.strategy"]):
        part = part.sort_values("mix.ratio")
        ax.plot(part["mix.ratio"], 100 * part["ndcg@10"].astype(float), marker="o",
                label=f"{dataset} {strategy}" if several else strategy)
    ax.set_xlabel("mix.ratio (synthetic share)")
    ax.set_ylabel("nDCG@10 x 100 (test)")
    ax.grid(alpha=0.3)
    ax.legend(title="mix.strategy")
    fig.tight_layout()
    plt.rcParams["svg.hashsalt"] = "syneg"  # stable ids: equal sweeps give equal files
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def main(out: Path = typer.Option(Path("metrics/sweep"), help="Prefix of the .csv, .md and .svg written."),
         repo: Path = typer.Option(Path("."), help="The DVC project."),
         commits: int = typer.Option(1, help="Also take the experiments of this many commits back from HEAD "
                                     "(dvc exp show -n): a sweep run before the latest commit.")) -> None:
    """Collect every experiment's mix params and metrics; write the sweep table and plot."""
    try:
        table = collect(json.loads(run(["dvc", "exp", "show", "--json", "-n", str(commits)], repo)))
    except RuntimeError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if table.empty:
        typer.echo("error: no experiment has metrics/<dataset>/evaluate.json yet; run the sweep first (see the "
                   "README)",
                   err=True)
        raise typer.Exit(1)
    with atomic_path(out.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(table) + "\n")
    with atomic_path(out.with_suffix(".svg")) as tmp:
        plot(table, tmp)
    typer.echo(markdown(table))


if __name__ == "__main__":
    typer.run(main)
