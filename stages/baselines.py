"""baselines: score the BM25 and zero-shot base-model runs on the evaluation split (beir / pytrec_eval)."""

from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.evaluation import curve, evaluate, write_curve
from syneg.io import write_json
from syneg.params import for_stage
from syneg.retrieval.trec import read_trec

app = typer.Typer(add_completion=False)


@app.command()
def main(
    qrels: Path = typer.Option(..., help="The prepare stage's qrels.parquet."),
    bm25_run: Path = typer.Option(..., help="The retrieve_bm25 stage's run file."),
    zeroshot_run: Path = typer.Option(..., help="The retrieve_base stage's run file."),
    metrics: Path = typer.Option(..., help="Metrics of BM25 and the zero-shot model."),
    curves: Path = typer.Option(..., help="Folder for nDCG@k / Recall@k curves (dvc plots)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys "
                                "syneg.params.STAGES lists for it."),
) -> None:
    """nDCG@10, MRR@10, R@10, R@100, MAP@100 of Pyserini BM25 and of params 'model.base' without fine-tuning,
    on split 'evaluate.split', scored as the fine-tuned model is."""
    setup("baselines")
    p = for_stage("baselines", params)
    split, ign = p.get("evaluate.split"), bool(p.get("evaluate.ignore_identical_ids"))
    relevant = store.load_relevant(qrels, split)
    out = {"split": split, "ignore_identical_ids": ign}
    for name, path in (("bm25", bm25_run), ("zeroshot", zeroshot_run)):
        ranking = read_trec(path)
        out[name] = evaluate(relevant, ranking, ign)
        write_curve(curves / f"{name}.csv", curve(relevant, ranking, ign))
    write_json(metrics, out)
    typer.echo(f"baselines: {out}")


if __name__ == "__main__":
    run(app)
