"""evaluate: score the fine-tuned model's run on the evaluation split with BEIR's metrics (pytrec_eval)."""

from pathlib import Path

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
    run_file: Path = typer.Option(..., "--run", help="The retrieve_finetuned stage's run file (TREC format)."),
    metrics: Path = typer.Option(..., help="Metrics of the fine-tuned model."),
    per_query: Path = typer.Option(..., help="Folder for per-query scores, NAME.csv (compared by python -m "
                                   "syneg.compare)."),
    curves: Path = typer.Option(..., help="Folder for nDCG@k / Recall@k curves (dvc plots)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """nDCG@10, MRR@10, R@10, R@100, MAP@100 of the fine-tuned model's ranking (exact search over the whole
    corpus, top 'evaluate.depth') for the 'evaluate.split' queries, with beir (pytrec_eval)."""
    setup("evaluate")
    p = for_stage("evaluate", PARAMS, params)
    split, ign = p.get("evaluate.split"), bool(p.get("evaluate.ignore_identical_ids"))
    relevant = store.load_relevant(qrels, split)
    out = {"split": split, "ignore_identical_ids": ign, "qrels_sha256": qrels_sha256(relevant),
           "finetuned": score_run_file(relevant, run_file, curves / "finetuned.csv",
                                               per_query / "finetuned.csv", ign)}
    write_json(metrics, out)
    typer.echo(f"evaluate: {out}")


if __name__ == "__main__":
    run(app)
