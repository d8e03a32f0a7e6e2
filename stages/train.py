"""train: fine-tune the base retriever with InfoNCE (MultipleNegativesRankingLoss, scale = 1/temperature)."""

from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.io import read_parquet, split_timings, write_json, write_timings
from syneg.params import for_stage
from syneg.training import TrainConfig, processes, train

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("model.base", "model.max_seq_length", "train")

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The mix stage's training table."),
    out: Path = typer.Option(..., help="Folder for the fine-tuned model."),
    metrics: Path = typer.Option(..., help="Steps, final loss, gradient-norm mean and variance."),
    live: Path = typer.Option(..., help="DVCLive folder for the loss curve."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """Fine-tune params 'model.base' on the mixed table: in-batch plus hard negatives, temperature
    'train.temperature', seeded by 'train.seed'; the curve goes to DVCLive."""
    setup("train")
    p = for_stage("train", PARAMS, params)
    cfg = p.build(TrainConfig, "train")
    summary = train(p.get("model.base"), read_parquet(data), cfg, out, str(live), p.get("model.max_seq_length"))
    if processes()[0] != 0:  # under torchrun, rank 0 writes
        return
    write_timings(metrics, split_timings(summary))
    write_json(metrics, summary)
    typer.echo(f"trained: {summary}")


if __name__ == "__main__":
    run(app)
