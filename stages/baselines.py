"""baselines: score the runs of BM25 (flat and multifield) and the zero-shot base model on the evaluation split."""

from pathlib import Path
from typing import List

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.evaluation import qrels_sha256, score_run_file
from syneg.io import write_json
from syneg.params import for_stage

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("evaluate.split", "evaluate.ignore_identical_ids")

app = typer.Typer(add_completion=False)


@app.command()
def main(
    qrels: Path = typer.Option(..., help="The prepare stage's qrels.parquet."),
    runs: List[str] = typer.Option(..., "--run", help="NAME=PATH: a retrieve stage's run file, scored under NAME "
                                   "(repeat the option for each)."),
    metrics: Path = typer.Option(..., help="Metrics of every run, under its NAME."),
    per_query: Path = typer.Option(..., help="Folder for per-query scores, NAME.csv (compared by python -m "
                                   "syneg.compare)."),
    curves: Path = typer.Option(..., help="Folder for nDCG@k / Recall@k curves, NAME.csv (dvc plots)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """nDCG@10, MRR@10, R@10, R@100, MAP@100 of each run on split 'evaluate.split' (beir / pytrec_eval),
    scored as the fine-tuned model is."""
    setup("baselines")
    p = for_stage("baselines", PARAMS, params)
    split, ign = p.get("evaluate.split"), bool(p.get("evaluate.ignore_identical_ids"))
    relevant = store.load_relevant(qrels, split)
    out = {"split": split, "ignore_identical_ids": ign, "qrels_sha256": qrels_sha256(relevant)}
    for spec in runs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"'{spec}': write NAME=PATH, e.g. bm25=data/scifact/runs/bm25.trec", param_hint="--run")
        out[name] = score_run_file(relevant, path, curves / f"{name}.csv", per_query / f"{name}.csv", ign)
    write_json(metrics, out)
    typer.echo(f"baselines: {out}")


if __name__ == "__main__":
    run(app)
