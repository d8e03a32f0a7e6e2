"""evaluate: dense retrieval over the whole corpus with the fine-tuned model; BEIR metrics."""

from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.evaluation import curve, dense_metrics, write_curve, write_trec
from syneg.io import write_json
from syneg.params import for_stage

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    model_dir: Path = typer.Option(..., help="The train stage's model."),
    metrics: Path = typer.Option(..., help="Metrics of the fine-tuned model."),
    run: Path = typer.Option(..., help="The ranking, in TREC format."),
    curves: Path = typer.Option(..., help="Folder for nDCG@k / Recall@k curves (dvc plots)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys "
                                "syneg.params.STAGES lists for it."),
) -> None:
    """Encode the corpus with the fine-tuned model, search exactly for the 'evaluate.split' queries to depth
    'evaluate.depth', and score nDCG@10, MRR@10, R@10, R@100, MAP@100 with beir (pytrec_eval)."""
    setup("evaluate")
    p = for_stage("evaluate", params)
    ev = p.section("evaluate")
    ign = bool(ev["ignore_identical_ids"])
    ds = store.load(data)
    scores, ranking = dense_metrics(ds, ev["split"], str(model_dir), p.get("model.max_seq_length"),
                                    p.runtime("encode_batch_size"), ev["depth"], ign)
    write_trec(run, ranking, "syneg-finetuned")
    write_curve(curves / "finetuned.csv", curve(ds.relevant(ev["split"]), ranking, ign))
    out = {"split": ev["split"], "ignore_identical_ids": ign, "finetuned": scores}
    write_json(metrics, out)
    typer.echo(f"evaluate: {out}")


if __name__ == "__main__":
    run(app)
