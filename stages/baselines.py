"""baselines: BM25 and the zero-shot base model on the evaluation split (rerun only when they change)."""

from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.evaluation import bm25_metrics, curve, dense_metrics, write_curve
from syneg.io import write_json
from syneg.params import for_stage

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    metrics: Path = typer.Option(..., help="Metrics of BM25 and the zero-shot model."),
    curves: Path = typer.Option(..., help="Folder for nDCG@k / Recall@k curves (dvc plots)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys "
                                "syneg.params.STAGES lists for it."),
) -> None:
    """Pyserini BM25 (k1 'evaluate.bm25_k1', b 'evaluate.bm25_b') and params 'model.base' without
    fine-tuning, both on split 'evaluate.split', scored as the fine-tuned model is."""
    setup("baselines")
    p = for_stage("baselines", params)
    ev = p.section("evaluate")
    ds = store.load(data)
    ign = bool(ev["ignore_identical_ids"])
    bm25, bm25_run = bm25_metrics(ds, ev["split"], ev["bm25_k1"], ev["bm25_b"], ev["depth"], ign)
    zs, zs_run = dense_metrics(ds, ev["split"], p.get("model.base"), p.get("model.max_seq_length"),
                               p.runtime("encode_batch_size"),
                               ev["depth"], ign)
    qrels = ds.relevant(ev["split"])
    write_curve(curves / "bm25.csv", curve(qrels, bm25_run, ign))
    write_curve(curves / "zeroshot.csv", curve(qrels, zs_run, ign))
    out = {"split": ev["split"], "ignore_identical_ids": ign, "bm25": bm25, "zeroshot": zs}
    write_json(metrics, out)
    typer.echo(f"baselines: {out}")


if __name__ == "__main__":
    run(app)
